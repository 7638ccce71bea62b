"""The standard LSTM over a whole sequence as one compiled CPU kernel (``seqjax/csrc/lstm_cpu.cc``).

XLA:CPU runs a ``lax.scan`` step as a chain of small kernels, each dispatched on its own
and its matmuls at ``[B, H] x [H, 4H]`` far below the machine's rate (docs/BENCHMARKS.md:
89-128 GFLOP/s for C's recurrent product on two AVX-512 cores, where PyTorch's oneDNN gets
280-300). Here the whole sequence is one XLA FFI custom call per direction:

- the forward pass runs every step in C++, its products through a register-blocked matrix
  kernel over weights packed once per call (about 150 GFLOP/s a core at ``[32, 256] x
  [256, 1024]``), the gate functions vectorised;
- rows are independent, so a call splits its rows into chunks, each running the whole
  sequence on its own core (XLA's intra-op pool), with no synchronisation per step;
- the backward pass is :mod:`seqjax.fused_lstm`'s (the same ``[B, 5H]`` residual and the
  same arithmetic), the weight gradient summed over the chunks at the end.

Values equal the reference cell's up to float rounding (the gate functions are polynomial
approximations of the same accuracy as XLA's; tests compare them with ``sj.cells.lstm``).
Forward-mode derivatives (``jax.jvp``, ``jax.hessian``) of the kernels are those of
:mod:`seqjax.fused_lstm`'s XLA loops, so every derivative order works; ``vmap`` runs the
kernel once per mapped element. :func:`applies` says when :func:`seqjax.scan` uses it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import fused_lstm, native_build
from seqjax._mesh_types import vary, varying_axes
from seqjax.cells import LSTMCarry, LSTMParams

Array = jax.Array

__all__ = ["lstm_sequence", "available", "applies", "chunks_for", "MIN_ROWS_PER_CHUNK"]

_LIBRARY = "lstm_cpu"
_TARGETS = {
    "seqjax_lstm_forward": "SeqjaxLstmForward",
    "seqjax_lstm_infer": "SeqjaxLstmInfer",
    "seqjax_lstm_backward": "SeqjaxLstmBackward",
}

#: Fewer rows than this per chunk are not worth another thread (their matrix kernel runs
#: below a full register block of rows).
MIN_ROWS_PER_CHUNK = 8


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """Whether the kernel is compiled and registered with XLA here (compiles it on first
    call; ``seqjax.native_build.unavailable_reason("lstm_cpu")`` says why not)."""
    library = native_build.load(_LIBRARY)
    if library is None:
        return False
    for target, symbol in _TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")
    return True


def applies(cell: Any, params: Any, dtype: Any, *, remat: bool | None, implementation: str | None,
            split_batch: bool = False) -> bool:
    """Whether :func:`seqjax.scan` runs :func:`lstm_sequence`: ``implementation="native"``, or
    by default (``implementation=None``, ``remat`` not ``True``) for a standard float32 LSTM
    (``sj.cells.lstm`` with tanh and sigmoid, no wrapper) on the CPU when the kernel could be
    built here and no explicit-sharding mesh splits the batch; raises for an impossible request."""
    from seqjax import cudnn

    standard = cudnn.eligible(cell, params) and jnp.dtype(dtype) == jnp.float32
    if implementation != "native":
        return (implementation is None and remat is not True and not split_batch and standard
                and jax.default_backend() == "cpu" and available())
    problems = [
        (not cudnn.eligible(cell, params), "a standard sj.cells.lstm (tanh, sigmoid, no recurrent dropout)"),
        (jnp.dtype(dtype) != jnp.float32, f"float32 parameters and inputs (got {jnp.dtype(dtype)})"),
        (bool(remat), "remat=None or False (it keeps its residuals; it cannot recompute them)"),
        (split_batch, "a batch not split by an explicit-sharding mesh (use jax.shard_map to split it)"),
        (jax.default_backend() != "cpu", f"the CPU backend (this is {jax.default_backend()})"),
    ]
    for bad, need in problems:
        if bad:
            raise ValueError(f"implementation='native' needs {need}. Use implementation=None to pick automatically.")
    if not available():
        raise ValueError(f"implementation='native' needs the compiled kernel, which is unavailable here: "
                         f"{native_build.unavailable_reason(_LIBRARY)}. Use implementation=None or 'fused'.")
    return True


def chunks_for(rows: int, devices: int = 1, cores: int | None = None) -> int:
    """How many chunks of rows a call splits into: one per core that the program's share of
    the machine has (``cores // devices``: the devices of a ``shard_map`` run their calls at
    the same time), with at least :data:`MIN_ROWS_PER_CHUNK` rows each."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores // max(devices, 1), rows // MIN_ROWS_PER_CHUNK))


def lstm_sequence(params: LSTMParams, xs: Array, carry: LSTMCarry,
                  lengths: Array | None = None) -> tuple[LSTMCarry, Array]:
    """``sj.scan(sj.cells.lstm(H), params, xs, carry=carry, lengths=lengths)`` for float32 and
    the default activations, as one kernel call per pass (module docstring). Arguments
    (``xs [T, *B, I]``, ``carry.h, carry.c [*B, H]``, ``lengths [*B]`` or ``None``) and the
    result ``(final_carry, ys [T, *B, H])`` as :func:`seqjax.fused_lstm.lstm_sequence`'s.
    """
    axes = varying_axes(params, xs, carry, lengths)
    # float32 throughout, as the scan promotes (say bfloat16 inputs to float32 weights)
    params, xs, carry = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), (tuple(params), xs, carry))
    params, xs, carry = vary((params, xs, carry), axes)
    steps, batch_shape, hidden = xs.shape[0], tuple(xs.shape[1:-1]), carry.h.shape[-1]
    rows = int(np.prod(batch_shape, dtype=np.int64))
    if lengths is None:
        lengths = jnp.full(batch_shape, steps, jnp.int32)
    lengths = vary(jnp.asarray(lengths, jnp.int32).reshape(rows), axes)
    h, c, ys = _sequence(chunks_for(rows, _devices_running_alongside()))(
        *params, xs.reshape(steps, rows, xs.shape[-1]), carry.h.reshape(rows, hidden),
        carry.c.reshape(rows, hidden), lengths)
    return (LSTMCarry(h.reshape(*batch_shape, hidden), c.reshape(*batch_shape, hidden)),
            ys.reshape(steps, *batch_shape, hidden))


def _devices_running_alongside() -> int:
    """How many devices run this program at once: inside ``shard_map``, the product of its
    manual mesh axes (with or without ``check_vma``); else 1."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return 1
    return int(np.prod([mesh.shape[axis] for axis in getattr(mesh, "manual_axes", ())], dtype=np.int64))


def _result(like: Array, *dims: int) -> Any:
    """A float32 result ``[*dims]`` typed like ``like`` otherwise (inside ``shard_map``, the
    mesh axes it varies over, which every input of a call shares)."""
    return jax.typeof(like).update(shape=tuple(dims), dtype=jnp.dtype(jnp.float32), weak_type=False)


def _call(target: str, results: tuple, chunks: int, *args: Array) -> Any:
    return jax.ffi.ffi_call(target, results, vmap_method="sequential")(*args, chunks=np.int64(chunks))


def _with_xla_derivatives(kernel_fn, reference_fn):
    """``kernel_fn`` whose forward-mode derivative is that of ``reference_fn`` (the same
    function written in XLA operations): the FFI call has no derivative of its own."""
    wrapped = jax.custom_jvp(kernel_fn)
    wrapped.defjvp(lambda primals, tangents: jax.jvp(reference_fn, primals, tangents))
    return wrapped


@functools.lru_cache(maxsize=None)
def _sequence(chunks: int):
    """The ``custom_vjp`` function over flat rows (``xs [T, B, I]``, ``h0, c0 [B, H]``) for
    one chunk count."""

    def infer_kernel(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        (steps, rows, _), hidden = xs.shape, h0.shape[-1]
        ys, h, c = _call("seqjax_lstm_infer", (_result(xs, steps, rows, hidden), _result(xs, rows, hidden),
                                               _result(xs, rows, hidden)),
                         chunks, xs, kernel, recurrent_kernel, bias, h0, c0, lengths)
        return h, c, ys

    def infer_reference(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        return fused_lstm._forward((kernel, recurrent_kernel, bias), xs, h0, c0, lengths, 1)[0]

    def forward_kernel(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        (steps, rows, _), hidden = xs.shape, h0.shape[-1]
        ys, h, c, packed = _call(
            "seqjax_lstm_forward",
            (_result(xs, steps, rows, hidden), _result(xs, rows, hidden), _result(xs, rows, hidden),
             _result(xs, steps, rows, 5 * hidden)),
            chunks, xs, kernel, recurrent_kernel, bias, h0, c0, lengths)
        return (h, c, ys), packed

    def forward_reference(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        return fused_lstm._forward((kernel, recurrent_kernel, bias), xs, h0, c0, lengths, 1)

    def backward_kernel(kernel, recurrent_kernel, bias, xs, h0, ys, packed, lengths, d_h, d_c, d_ys):
        del bias
        return _call("seqjax_lstm_backward",
                     (_result(xs, *kernel.shape), _result(xs, *recurrent_kernel.shape), _result(xs, kernel.shape[1]),
                      _result(xs, *xs.shape), _result(xs, *h0.shape), _result(xs, *h0.shape)),
                     chunks, kernel, recurrent_kernel, xs, h0, ys, packed, lengths, d_h, d_c, d_ys)

    def backward_reference(kernel, recurrent_kernel, bias, xs, h0, ys, packed, lengths, d_h, d_c, d_ys):
        (d_k, d_r, d_b), d_xs, d_h0, d_c0 = fused_lstm._backward(
            (kernel, recurrent_kernel, bias), xs, h0, ys, packed, lengths, (d_h, d_c, d_ys), 1)
        return d_k, d_r, d_b, d_xs, d_h0, d_c0

    infer = _with_xla_derivatives(infer_kernel, infer_reference)
    forward = _with_xla_derivatives(forward_kernel, forward_reference)
    backward = _with_xla_derivatives(backward_kernel, backward_reference)

    @jax.custom_vjp
    def sequence(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        return infer(kernel, recurrent_kernel, bias, xs, h0, c0, lengths)

    def fwd(kernel, recurrent_kernel, bias, xs, h0, c0, lengths):
        out, packed = forward(kernel, recurrent_kernel, bias, xs, h0, c0, lengths)
        return out, (kernel, recurrent_kernel, bias, xs, h0, out[2], packed, lengths)

    def bwd(saved, cotangents):
        kernel, recurrent_kernel, bias, xs, h0, ys, packed, lengths = saved
        grads = backward(kernel, recurrent_kernel, bias, xs, h0, ys, packed, lengths, *cotangents)
        return (*grads, None)

    sequence.defvjp(fwd, bwd)
    return sequence
