"""The LSTM on cuDNN through ``jax.experimental.rnn``, with seqjax's Keras layout.

:func:`seqjax.scan` hands a standard LSTM (``sj.cells.lstm`` with its default tanh /
sigmoid activations) to cuDNN when it runs on a GPU, and keeps ``lax.scan``
everywhere else. The parameters are the same: Keras's ``kernel [I, 4H]``,
``recurrent_kernel [H, 4H]``, ``bias [4H]`` (gates ``i, f, c, o``) map onto cuDNN's
packed vector ``(W_ih [4H, I], W_hh [4H, H], b_ih [4H], b_hh [4H])`` (gates
``i, f, g, o``, the same order) by transposing, with ``b_hh = 0``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from seqjax.cells import Cell, LSTMCarry, LSTMParams

Array = jax.Array

IMPLEMENTATIONS = (None, "scan", "cudnn", "fused", "native")


def to_cudnn_weights(params: LSTMParams) -> Array:
    """Keras-layout LSTM params -> cuDNN's packed weight vector ``[4H (I + H) + 8H]``."""
    hidden = params.recurrent_kernel.shape[0]
    return jnp.concatenate([
        params.kernel.T.reshape(-1), params.recurrent_kernel.T.reshape(-1),
        params.bias, jnp.zeros((4 * hidden,), params.bias.dtype),
    ])


def from_cudnn_weights(weights: Array, input_size: int, hidden_size: int) -> LSTMParams:
    """cuDNN's packed weight vector (one layer, one direction) -> Keras-layout params (biases summed)."""
    from jax.experimental import rnn

    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, 1, False)
    return LSTMParams(w_ih[0].T, w_hh[0].T, b_ih[0] + b_hh[0])


def eligible(cell: Cell, params: Any) -> bool:
    """Whether cuDNN computes exactly this cell: a standard LSTM (tanh, sigmoid, no wrapper)."""
    return getattr(cell.apply, "cudnn_compatible", False) and isinstance(params, LSTMParams)


def use_cudnn(cell: Cell, params: Any, implementation: str | None) -> bool:
    """The dispatch decision of :func:`seqjax.scan`; raises for an impossible request."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={implementation!r} is not one of {IMPLEMENTATIONS}.")
    if implementation in ("scan", "fused", "native"):
        return False
    ok, on_gpu = eligible(cell, params), jax.default_backend() == "gpu"
    if implementation == "cudnn" and not (ok and on_gpu):
        why = "a standard sj.cells.lstm (tanh, sigmoid, no recurrent dropout)" if not ok else "a GPU"
        raise ValueError(f"implementation='cudnn' needs {why}; this call has none. "
                         "Use implementation=None to fall back to lax.scan automatically.")
    return ok and on_gpu


def lstm_scan(params: LSTMParams, xs: Array, carry: LSTMCarry, lengths: Array | None,
              reverse: bool, flip_padded) -> tuple[LSTMCarry, Array]:
    """:func:`seqjax.scan`'s contract on cuDNN: ``xs [T, *B, I]`` -> ``(carry, ys [T, *B, H])``."""
    from jax.experimental import rnn

    num_steps, batch_shape, input_size = xs.shape[0], xs.shape[1:-1], xs.shape[-1]
    hidden = params.recurrent_kernel.shape[0]
    batch = math.prod(batch_shape)
    flat = xs.reshape(num_steps, batch, input_size)
    seq_lengths = (jnp.full((batch,), num_steps, jnp.int32) if lengths is None
                   else jnp.asarray(lengths, jnp.int32).reshape(batch))
    if reverse:
        flat = flip_padded(flat, seq_lengths)
    y, h, c = rnn.lstm(
        jnp.swapaxes(flat, 0, 1), carry.h.reshape(1, batch, hidden), carry.c.reshape(1, batch, hidden),
        to_cudnn_weights(params), seq_lengths, input_size=input_size, hidden_size=hidden, num_layers=1,
        dropout=0.0, bidirectional=False,
    )
    ys = jnp.swapaxes(y, 0, 1)
    if lengths is not None:  # cuDNN leaves padded outputs unspecified on some versions: zero them
        ys = jnp.where((jnp.arange(num_steps)[:, None] < seq_lengths)[..., None], ys, 0.0)
    if reverse:
        ys = flip_padded(ys, seq_lengths)
    empty = (seq_lengths == 0)[:, None]  # no real step: the carry passes through unchanged
    h = jnp.where(empty, carry.h.reshape(batch, hidden), h[0])
    c = jnp.where(empty, carry.c.reshape(batch, hidden), c[0])
    final = LSTMCarry(h.reshape(*batch_shape, hidden), c.reshape(*batch_shape, hidden))
    return final, ys.reshape(num_steps, *batch_shape, hidden)
