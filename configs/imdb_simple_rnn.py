"""imdb_simple_rnn: Embedding(10,000, 32) -> SimpleRNN(32) -> Dense(1) sigmoid on the first 500 words; RMSprop.

Command: python scripts/train.py --config configs/imdb_simple_rnn.py --workdir runs/imdb_simple_rnn
10 epochs, batch 128, the last 20% of the training reviews for validation.
Expected: course validation accuracy about 0.85 (see docs/RESULTS.md).
Measured: seqjax 0.872 ± 0.004 (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 165 s.
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "binary"
    c.epochs = 10
    c.batch_size = 128
    c.data.name = "imdb_reviews"
    c.data.encoding = "ids"
    c.data.field = "ids"
    c.data.num_words = 10_000
    c.data.maxlen = 500
    c.data.validation_fraction = 0.2
    c.model.kind = "rnn"
    c.model.embedding_dim = 32
    c.model.cell = "elman"
    c.model.hidden_sizes = (32,)
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {})
