"""The standard LSTM over a whole sequence with a hand-written backward pass.

Reverse-mode autodiff of ``lax.scan`` over the LSTM step keeps 12 ``[*B, H]`` arrays per
step and runs the backward matmuls separately for the input and the recurrent kernel.
:func:`lstm_sequence` computes the same values and gradients with

- one packed residual per step, ``[*B, 5H]`` (the gates ``i, f, g, o`` and the state ``c``
  they updated); the previous ``h`` is the forward's own output ``ys[t - 1]`` and
  ``tanh(c')`` is recomputed from the gates. Each step's residual, input and ``h`` are read
  one step ahead into the backward loop's carry (XLA:CPU runs a slice fused into the gate
  arithmetic several times slower than a slice on its own);
- per step, one matmul with the stacked kernel ``W = [[K], [R]]`` (``[I + H, 4H]``) for
  the input and state gradients, and one for the weight gradient.

On 2 CPU cores that made the LSTM's gradient 13% faster than autodiff's at ``LSTM(256)``,
batch 64, length 200 (259 vs 298 ms; docs/BENCHMARKS.md). Every byte of residual counts:
XLA zero-fills the ``[T, *B, 5H]`` stack before the loop, writes it and reads it back; a
``[*B, 7H]`` residual that also kept ``tanh(c')`` and ``h`` made that gradient 11% slower
(285 vs 257 ms). It is the cell's own arithmetic (``sj.cells.lstm`` with tanh and sigmoid);
gradients agree with autodiff of the cell up to float rounding (tests). Forward-mode autodiff
(``jax.jvp``, ``jax.jacfwd``) is not defined for it (a ``custom_vjp``); :func:`seqjax.scan`
with ``implementation="scan"`` keeps the plain scan for that. Reverse mode,
forward-over-reverse (``jax.hessian``), ``vmap`` and ``jit`` work.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from seqjax._mesh_types import vary, varying_axes
from seqjax.cells import LSTMCarry, LSTMParams

Array = jax.Array

__all__ = ["lstm_sequence"]

_sigmoid = jax.nn.sigmoid


def lstm_sequence(params: LSTMParams, xs: Array, carry: LSTMCarry, lengths: Array | None = None,
                  unroll: int | bool = 1) -> tuple[LSTMCarry, Array]:
    """``sj.scan(sj.cells.lstm(H), params, xs, carry=carry, lengths=lengths)`` for the
    default activations, with the backward pass written out (module docstring).

    Args:
      params: :class:`~seqjax.cells.LSTMParams` ``kernel [I, 4H]``, ``recurrent_kernel
        [H, 4H]``, ``bias [4H]``.
      xs: ``[T, *B, I]``.
      carry: :class:`~seqjax.cells.LSTMCarry` with ``h, c [*B, H]``.
      lengths: ``None`` or integer ``[*B]`` real steps per sequence (checked by the caller):
        from a sequence's length on its carry stays and its outputs are zero.
      unroll: passed to both loops' ``lax.scan``.

    Returns:
      ``(final_carry, ys)`` with ``ys [T, *B, H]``.
    """
    # Inside shard_map every input varies over the same axes, so the loops' carries keep one
    # type and the cast's transpose sums the replicated weights' gradient (seqjax._mesh_types).
    params, xs, carry = vary((tuple(params), xs, carry), varying_axes(params, xs, carry, lengths))
    h, c, ys = _sequence(unroll, lengths is not None)(params, xs, carry.h, carry.c, lengths)
    return LSTMCarry(h, c), ys


@functools.lru_cache(maxsize=None)
def _sequence(unroll: int | bool, masked: bool):
    """The ``custom_vjp`` function for one ``unroll`` and with or without lengths."""

    @jax.custom_vjp
    def sequence(params, xs, h0, c0, lengths):
        return _forward(params, xs, h0, c0, lengths, unroll)[0]

    def fwd(params, xs, h0, c0, lengths):
        out, packed = _forward(params, xs, h0, c0, lengths, unroll)
        return out, (params, xs, h0, out[2], packed, lengths)

    def bwd(saved, cotangents):
        grads = _backward(*saved, cotangents, unroll)
        return (*grads, None)

    sequence.defvjp(fwd, bwd)
    return sequence


def _keep(real: Array | None, new: Array, old: Array | float) -> Array:
    """``new`` where the step is real (``real [*B]``), else ``old`` (an array or ``0``)."""
    return new if real is None else jnp.where(real[..., None], new, old)


def _forward(params, xs, h0, c0, lengths, unroll):
    kernel, recurrent_kernel, bias = params

    def step(carry, inputs):
        h, c = carry
        t, x = inputs
        z_i, z_f, z_g, z_o = jnp.split(x @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        i, f, g, o = _sigmoid(z_i), _sigmoid(z_f), jnp.tanh(z_g), _sigmoid(z_o)
        new_c = f * c + i * g
        new_h = o * jnp.tanh(new_c)
        real = None if lengths is None else t < lengths
        packed = jnp.concatenate([i, f, g, o, c], axis=-1)
        return (_keep(real, new_h, h), _keep(real, new_c, c)), (_keep(real, new_h, 0), packed)

    (h, c), (ys, packed) = lax.scan(step, (h0, c0), (jnp.arange(xs.shape[0]), xs), unroll=unroll)
    return (h, c, ys), packed


def _backward(params, xs, h0, ys, packed, lengths, cotangents, unroll):
    kernel, recurrent_kernel, bias = params
    d_h_last, d_c_last, d_ys = cotangents
    steps, inputs = xs.shape[0], xs.shape[-1]
    stacked = jnp.concatenate([kernel, recurrent_kernel], axis=0)  # W [I + H, 4H]

    def at(t):
        """Step ``t``'s residual, input, output cotangent and previous state ``h`` (``ys[t - 1]``:
        where step ``t`` is real so is step ``t - 1``, whose output is its state)."""
        saved, x, d_y = (lax.dynamic_index_in_dim(a, t, keepdims=False) for a in (packed, xs, d_ys))
        h_prev = lax.dynamic_index_in_dim(ys, jnp.maximum(t - 1, 0), keepdims=False)
        return saved, x, d_y, jnp.where(t > 0, h_prev, h0)

    def step(carry, t):
        d_h, d_c, d_w, d_b, (saved, x, d_y, h) = carry
        upcoming = at(jnp.maximum(t - 1, 0))  # read ahead: the fused-slice slowness (module docstring)
        i, f, g, o, c = jnp.split(saved, 5, axis=-1)
        tanh_c = jnp.tanh(f * c + i * g)  # the forward's new cell state, recomputed
        d_h_total = d_h + d_y
        d_o = d_h_total * tanh_c
        d_c_total = d_c + d_h_total * o * (1 - tanh_c * tanh_c)
        real = None if lengths is None else t < lengths
        d_z = _keep(real, jnp.concatenate([
            d_c_total * g * i * (1 - i), d_c_total * c * f * (1 - f), d_c_total * i * (1 - g * g), d_o * o * (1 - o),
        ], axis=-1), 0)
        d_xh = d_z @ stacked.T  # [*B, I + H]
        flat_z = d_z.reshape(-1, d_z.shape[-1])
        # [x, h] transposed on its own (the barrier keeps XLA from folding the transpose back into
        # the dot): a plain [I + H, B] x [B, 4H] product runs in XLA:CPU's YNNPACK fusion instead
        # of its generic transposed-operand dot; 1.5-2% of the LSTM's gradient at LSTM(256).
        inputs_t = lax.optimization_barrier(jnp.concatenate([x, h], axis=-1).reshape(flat_z.shape[0], -1).T)
        d_w = d_w + inputs_t @ flat_z
        new_d_h = _keep(real, d_xh[..., inputs:], d_h)
        new_d_c = _keep(real, d_c_total * f, d_c)
        return (new_d_h, new_d_c, d_w, d_b + flat_z.sum(0), upcoming), d_xh[..., :inputs]

    start = (d_h_last, d_c_last, jnp.zeros_like(stacked), jnp.zeros_like(bias), at(steps - 1))
    (d_h0, d_c0, d_w, d_b, _), d_xs = lax.scan(step, start, jnp.arange(steps), reverse=True, unroll=unroll)
    return (d_w[:inputs], d_w[inputs:], d_b), d_xs, d_h0, d_c0


def applies(cell: Any, params: Any, *, remat: bool | None, implementation: str | None,
            split_batch: bool = False) -> bool:
    """Whether :func:`seqjax.scan` runs :func:`lstm_sequence`: ``implementation="fused"``, or by
    default on the CPU for a standard LSTM (``sj.cells.lstm`` with tanh and sigmoid, no
    wrapper) whose steps are not recomputed (``remat`` measured faster for long sequences of
    small cells: on IMDB's LSTM(32) x 500 steps this backward took 64.9 ms a train step against
    remat's 42.9) and whose batch no explicit-sharding mesh splits (``split_batch``: its weight
    gradient sums over the batch rows, which JAX's sharding types would need spelled out);
    raises for an impossible request."""
    from seqjax import cudnn

    standard = cudnn.eligible(cell, params)
    if implementation == "fused" and split_batch:
        raise ValueError("implementation='fused' cannot run on a batch split by an explicit-sharding mesh "
                         "(jax.set_mesh with Explicit axes). Use implementation=None or 'scan' there, or split "
                         "the batch with jax.shard_map, where the fused LSTM runs per device.")
    if implementation == "fused":
        if not standard:
            raise ValueError("implementation='fused' needs a standard sj.cells.lstm (tanh, sigmoid, no recurrent "
                             "dropout); this call has none. Use implementation=None to pick automatically.")
        if remat:
            raise ValueError("implementation='fused' keeps its residuals; it cannot recompute them (remat=True). "
                             "Use remat=None or False, or implementation=None.")
        return True
    return implementation is None and not remat and not split_batch and jax.default_backend() == "cpu" and standard
