"""imdb_conv_gru: a convnet, then a GRU, for long sequences: whole IMDB reviews (first 1,000 words)
-> Embedding(10,000, 32) -> Conv1D(32, 7) relu -> MaxPooling1D(5) -> Conv1D(32, 7) relu -> GRU(32)
-> Dense(1) sigmoid; RMSprop.

The convolutions shorten the sequence fivefold before the GRU reads it (the course's
recipe for sequences too long for a recurrent layer alone). 10 epochs, batch 128, the
last 20% of the training reviews for validation.

Command: python scripts/train.py --config configs/imdb_conv_gru.py --workdir runs/imdb_conv_gru
Expected: no course figure (the course's LSTM reaches 0.89 validation accuracy); measured results
and wall time on 2 CPU cores: docs/RESULTS.md (1D convnets).
"""

from seqjax.train.config import apply_variant, base_config, imdb_ids


def get_config(variant=None):
    c = imdb_ids(base_config(), maxlen=1000)
    c.epochs = 10
    c.model.kind = "conv"
    c.model.embedding_dim = 32
    c.model.conv_filters = (32, 32)
    c.model.conv_kernel = 7
    c.model.pool_size = 5
    c.model.cell = "gru"
    c.model.hidden_sizes = (32,)
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {})
