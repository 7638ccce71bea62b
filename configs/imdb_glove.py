"""imdb_glove: Embedding(10,000, 100) from GloVe vectors, frozen, on 100 words -> Flatten -> Dense(32) relu -> Dense(1).

Command: python scripts/train.py --config configs/imdb_glove.py --config.data.glove_path=glove.6B.100d.txt --workdir runs/imdb_glove
200 training reviews, 10,000 validation reviews (as the course), RMSprop, 10 epochs, batch 32.
Any GloVe-format text file works ("word v1 ... v100" per line). No GloVe file is available on this
project's machines, so docs/RESULTS.md marks the row as not measured. Expected: course test accuracy 0.56.
Wall time on this project's machine (2 CPU cores, data already prepared): not measured (no GloVe file here).
"""

import os

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "binary"
    c.epochs = 10
    c.batch_size = 32
    c.data.name = "imdb_reviews"
    c.data.encoding = "tokenizer"
    c.data.field = "text"
    c.data.num_words = 10_000
    c.data.maxlen = 100
    c.data.validation_count = 10_000
    c.data.max_train_examples = 200
    c.data.glove_path = os.environ.get("SEQJAX_GLOVE", "")
    c.model.kind = "embedding_flatten"
    c.model.embedding_dim = 100
    c.model.embedding_trainable = False
    c.model.dense = (32,)
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {})
