"""imdb_min_gru: the parallel-scan minGRU on a course task: Embedding(10,000, 32) -> minGRU(64) -> Dense(1)
sigmoid on the first 500 words; RMSprop.

minGRU (Feng et al. 2024) trains as a log-depth ``lax.associative_scan`` over the 500
steps instead of 500 sequential steps. Post-padding with the padding masked, so the
final state is the one after each review's last word. 10 epochs, batch 128, the last
20% of the training reviews for validation (the imdb_lstm protocol).

Command: python scripts/train.py --config configs/imdb_min_gru.py --workdir runs/imdb_min_gru
Measured results and wall time on 2 CPU cores: docs/RESULTS.md (parallel-scan cells).
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
    c.data.padding = "post"
    c.data.validation_fraction = 0.2
    c.model.kind = "rnn"
    c.model.embedding_dim = 32
    c.model.mask_zero = True
    c.model.cell = "min_gru"
    c.model.hidden_sizes = (64,)
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {})
