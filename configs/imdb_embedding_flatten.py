"""imdb_embedding_flatten: Embedding(10,000, 8) on the first 20 words -> Flatten -> Dense(1) sigmoid; RMSprop.

Command: python scripts/train.py --config configs/imdb_embedding_flatten.py --workdir runs/imdb_embedding_flatten
10 epochs, batch 32, the last 20% of the training reviews for validation (Keras validation_split=0.2).
Expected: course validation accuracy about 0.76 (see docs/RESULTS.md).
Measured: seqjax best validation accuracy 0.767 ± 0.001 (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 120 s.
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "binary"
    c.epochs = 10
    c.batch_size = 32
    c.data.name = "imdb_reviews"
    c.data.encoding = "ids"
    c.data.field = "ids"
    c.data.num_words = 10_000
    c.data.maxlen = 20
    c.data.validation_fraction = 0.2
    c.model.kind = "embedding_flatten"
    c.model.embedding_dim = 8
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {})
