"""Flax linen modules over seqjax's pure functions."""

from seqjax.nn.attention import Attention
from seqjax.nn.conv import BatchNorm, Conv1D, avg_pool1d, local_response_normalization, max_pool1d
from seqjax.nn.embedding import FROZEN, Embedded, Embedding, keras_uniform, padding_lengths, set_embedding
from seqjax.nn.layers import MLP, Dense, flatten, global_avg_pool, global_max_pool
from seqjax.nn.recurrent import CELLS, RNN, make_cell

__all__ = [
    "Conv1D",
    "max_pool1d",
    "avg_pool1d",
    "BatchNorm",
    "local_response_normalization",
    "Attention",
    "Embedding",
    "Embedded",
    "FROZEN",
    "keras_uniform",
    "padding_lengths",
    "set_embedding",
    "RNN",
    "CELLS",
    "make_cell",
    "Dense",
    "MLP",
    "flatten",
    "global_max_pool",
    "global_avg_pool",
]
