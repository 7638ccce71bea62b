"""Summing a pytree over a mapped axis in as few all-reduce buffers as possible.

XLA:CPU runs an all-reduce of a tuple one buffer at a time, and each buffer is a
rendezvous of every device's thread. A ``psum`` of a small model's gradients and metrics
is one all-reduce of every leaf: 8 buffers for the SST LSTM (embedding, LSTM kernel,
recurrent kernel and bias, dense kernel and bias, two metrics), so 8 rendezvous a step.
:func:`psum_packed` sends the small leaves as one vector per dtype and the large ones on
their own: 2 buffers there. The trainer's two-device step sums with it once a step
(:func:`seqjax.train.steps.make_train_step`); on 2 CPU cores that step's median moved by
0.99-1.03x at the SST LSTM's shape (seven interleaved runs, about 1% faster), 2.7% at IMDB's
LSTM and 1.7% at its GRU (one run each), and tied at LSTM(256) (docs/BENCHMARKS.md).

Large leaves are not packed: XLA:CPU emits the concatenation of large raveled arrays
slowly (162,722 floats in 4.1 ms on one core, against 0.07 ms to copy them), which made the
whole step 4x slower when the 154,336-float embedding gradient was packed too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["PACK_MAX_SIZE", "psum_packed"]

PACK_MAX_SIZE = 16_384
"""Leaves with at most this many elements are packed; larger ones get a buffer each."""


def psum_packed(tree: Any, axis_name: str, max_size: int = PACK_MAX_SIZE) -> Any:
    """``jax.lax.psum(tree, axis_name)`` with the leaves of at most ``max_size`` elements
    concatenated into one ``[n]`` vector per dtype for the all-reduce, then split back.

    Args:
      tree: a pytree of arrays (any shapes, any dtypes), inside ``shard_map`` or another
        context where ``axis_name`` is bound.
      axis_name: the mapped axis to sum over.
      max_size: the largest leaf (in elements) to pack.

    Returns:
      ``tree`` summed over ``axis_name``: the same structure, shapes and dtypes. The sums are
      the ones ``psum`` computes, element for element.
    """
    leaves, treedef = jax.tree.flatten(tree)
    leaves = [jnp.asarray(leaf) for leaf in leaves]
    summed: list[Any] = [None] * len(leaves)
    groups: dict[Any, list[int]] = {}
    for i, leaf in enumerate(leaves):
        if leaf.size > max_size:
            summed[i] = jax.lax.psum(leaf, axis_name)
        else:
            groups.setdefault(leaf.dtype, []).append(i)
    for indices in groups.values():
        vector = jax.lax.psum(jnp.concatenate([leaves[i].ravel() for i in indices]), axis_name)
        offset = 0
        for i in indices:
            size = leaves[i].size
            summed[i] = vector[offset:offset + size].reshape(leaves[i].shape)
            offset += size
    return jax.tree.unflatten(treedef, summed)
