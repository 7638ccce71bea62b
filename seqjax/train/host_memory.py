"""Reusing freed host memory between CPU train steps (opt-in).

XLA:CPU allocates one temporary buffer per call of a compiled step. Where it is larger
than glibc's mmap threshold (at most 32 MiB; a ``[T, B, 5H]`` LSTM residual at
``LSTM(256)``, batch 64, length 200 is 65 MiB), glibc maps fresh pages for it on every call
and unmaps them after, so each step pays a page fault per 4 KiB touched (27,000 a step there).
:func:`reuse_freed_memory` keeps freed memory in the process instead:

- ``mallopt(M_MMAP_MAX, 0)``: large blocks come from the heap, not from fresh mappings;
- ``mallopt(M_TRIM_THRESHOLD, keep_bytes)``: up to ``keep_bytes`` of freed heap stays
  mapped for the next step;
- ``jax_cpu_enable_async_dispatch=False``: single-device computations run on the calling
  thread, whose heap is glibc's main one (the worker threads' own heaps cannot hold a
  block over 64 MiB, so they map it afresh whatever the settings).

Measured on 2 CPU cores (docs/BENCHMARKS.md): the ``LSTM(256)`` train step 252-256 ->
226 ms, and ties for the small models, whose buffers fit the heap already. It is off by
default because it is process-wide: it applies to every library in the process (PyTorch's
big buffers too), the process keeps up to ``keep_bytes`` of freed memory, and CPU
computations no longer overlap with Python. The scripts turn it on with
``SEQJAX_REUSE_MEMORY=1`` (:func:`reuse_freed_memory_if_asked`);
``python scripts/bench.py --reuse_memory`` turns it on for every framework in the run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

import jax

__all__ = ["REUSE_MEMORY_ENV", "reuse_freed_memory", "reuse_freed_memory_if_asked"]

REUSE_MEMORY_ENV = "SEQJAX_REUSE_MEMORY"

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


def reuse_freed_memory(keep_bytes: int = 1 << 30) -> bool:
    """Keeps freed host memory for reuse across steps (module docstring).

    Call it first thing, before JAX starts its backends (the first ``jax.devices()`` or
    array). Returns ``True`` where it took effect and ``False`` where the C library is not
    glibc on Linux (nothing is changed there).

    Args:
      keep_bytes: freed heap memory kept mapped, ``1 .. 2**31 - 1`` (default 1 GiB).

    Raises:
      ValueError: ``keep_bytes`` out of range.
      RuntimeError: JAX's backends have already started.
    """
    from jax._src import xla_bridge

    if isinstance(keep_bytes, bool) or not isinstance(keep_bytes, int) or not 1 <= keep_bytes <= _INT_MAX:
        raise ValueError(f"keep_bytes must be an int in 1 .. {_INT_MAX} (bytes of freed memory kept mapped); "
                         f"got {keep_bytes!r}.")
    if xla_bridge.backends_are_initialized():
        raise RuntimeError("reuse_freed_memory() must run before JAX starts its backends (before the first "
                           "jax.devices() call or array); call it first thing in the script.")
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not (libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, keep_bytes)):
        return False
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True


def reuse_freed_memory_if_asked() -> bool:
    """:func:`reuse_freed_memory` when ``$SEQJAX_REUSE_MEMORY`` is ``1`` (the scripts call this
    first thing); ``0`` or unset leaves the allocator alone. Returns whether it took effect."""
    value = os.environ.get(REUSE_MEMORY_ENV, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{REUSE_MEMORY_ENV}={value!r} must be 1 (keep freed host memory for reuse across "
                         "steps) or 0 (leave the allocator alone).")
    return value == "1" and reuse_freed_memory()
