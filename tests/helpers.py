"""Test helpers: chex assertions and NumPy reference cells written from the equations."""

from __future__ import annotations

import chex
import jax
import numpy as np

import seqjax as sj

assert_close = chex.assert_trees_all_close
assert_shape = chex.assert_shape

CELLS = {
    "elman": sj.cells.elman,
    "lstm": sj.cells.lstm,
    "gru": sj.cells.gru,
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_elman_step(p, h, x):
    """h' = tanh(x K + h R + b)."""
    return np.tanh(x @ p.kernel + h @ p.recurrent_kernel + p.bias)


def np_lstm_step(p, h, c, x):
    """Keras LSTM, gates i, f, c, o."""
    H = h.shape[-1]
    z = x @ p.kernel + h @ p.recurrent_kernel + p.bias
    i, f, g, o = (z[..., k * H:(k + 1) * H] for k in range(4))
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def np_gru_step(p, h, x):
    """Keras GRU reset_after=True, gates z, r, h; bias [2, 3H]."""
    H = h.shape[-1]
    a = x @ p.kernel + p.bias[0]
    u = h @ p.recurrent_kernel + p.bias[1]
    blk = lambda m, k: m[..., k * H:(k + 1) * H]  # noqa: E731
    z = sigmoid(blk(a, 0) + blk(u, 0))
    r = sigmoid(blk(a, 1) + blk(u, 1))
    hh = np.tanh(blk(a, 2) + r * blk(u, 2))
    return z * h + (1 - z) * hh


def np_step(name, params, carry, x):
    """One NumPy reference step on the cell's carry NamedTuple; returns (carry, y)."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    x = np.asarray(x, np.float64)
    if name == "elman":
        h = np_elman_step(p, np.asarray(carry.h, np.float64), x)
        return sj.cells.ElmanCarry(h), h
    if name == "lstm":
        h, c = np_lstm_step(p, np.asarray(carry.h, np.float64), np.asarray(carry.c, np.float64), x)
        return sj.cells.LSTMCarry(h, c), h
    h = np_gru_step(p, np.asarray(carry.h, np.float64), x)
    return sj.cells.GRUCarry(h), h


def random_params(cell, key, input_size):
    """Params with random (non-default) biases so every term is exercised."""
    params = cell.init(key, input_size)
    bias_key = jax.random.fold_in(key, 1)
    return params._replace(bias=jax.random.normal(bias_key, params.bias.shape) * 0.5)
