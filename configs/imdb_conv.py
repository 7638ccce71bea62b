"""imdb_conv: the course's 1D convnet on IMDB: Embedding(10,000, 128) -> Conv1D(32, 7) relu -> MaxPooling1D(5)
-> Conv1D(32, 7) relu -> GlobalMaxPooling1D -> Dense(1) sigmoid; RMSprop lr 1e-4.

First 500 words, 10 epochs, batch 128, the last 20% of the training reviews for validation.

Command: python scripts/train.py --config configs/imdb_conv.py --workdir runs/imdb_conv
Expected: no course figure (the course's LSTM reaches 0.89 validation accuracy); measured results
and wall time on 2 CPU cores: docs/RESULTS.md (1D convnets).
"""

from seqjax.train.config import apply_variant, base_config, imdb_ids


def get_config(variant=None):
    c = imdb_ids(base_config(), maxlen=500)
    c.epochs = 10
    c.model.kind = "conv"
    c.model.embedding_dim = 128
    c.model.conv_filters = (32, 32)
    c.model.conv_kernel = 7
    c.model.pool_size = 5
    c.model.hidden_sizes = ()  # global max pooling after the convolutions
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 1e-4
    return apply_variant(c, variant, {})
