"""The mesh part of an array's type, where a recurrent loop has to respect it.

JAX types arrays by the mesh in two places, and ``lax.scan`` insists that a loop's carry
comes out with the type it went in with:

- **Inside ``jax.shard_map``** (``check_vma=True``, the default) by the manual axes an
  array varies over. A zero initial carry does not vary, while the carry a step returns
  varies with the per-device inputs; :func:`vary` casts the carry, inputs and weights to
  vary over the same axes before the loop (``lax.pcast(..., to="varying")``: a no-op at run
  time whose transpose sums the weights' gradient over those axes once, after the loop,
  where a cast JAX inserts inside the step would sum it at every step).
- **Under an explicit-sharding mesh** (``jax.set_mesh`` on a mesh with ``Explicit`` axes,
  ``jax.make_mesh``'s default) by the sharding itself. A zero carry is replicated, while
  the carry a step returns is split like the inputs' batch; :func:`shard_like_batch`
  reshards the carry to match before the loop.

Outside both (plain ``jit``, ``Auto`` meshes, ``check_vma=False``) every helper here returns
its input unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec


def _aval(leaf: Any) -> Any:
    try:
        return jax.typeof(leaf)
    except TypeError:  # not an array-like
        return None


def _axes_of(leaf: Any) -> frozenset:
    """The manual axes ``leaf`` varies over (empty outside ``shard_map``)."""
    aval = _aval(leaf)
    types = getattr(aval, "manual_axis_type", None)  # jax >= 0.10
    if types is not None:
        return frozenset(types.varying)
    return frozenset(getattr(aval, "vma", ()))  # earlier jax


def varying_axes(*trees: Any) -> tuple[str, ...]:
    """The union, sorted, of the manual axes any array leaf of ``trees`` varies over."""
    axes: set = set()
    for leaf in jax.tree.leaves(trees):
        axes |= _axes_of(leaf)
    return tuple(sorted(axes))


def vary(tree: Any, axes: tuple[str, ...]) -> Any:
    """``tree`` with every array leaf cast to vary over ``axes`` as well (no-op if empty)."""
    if not axes:
        return tree

    def cast(leaf: Any) -> Any:
        missing = tuple(axis for axis in axes if axis not in _axes_of(leaf))
        if not missing:
            return leaf
        if hasattr(lax, "pcast"):
            return lax.pcast(leaf, missing, to="varying")
        return lax.pvary(leaf, missing)  # jax < 0.8

    return jax.tree.map(cast, tree)


def _spec(leaf: Any) -> tuple | None:
    """``leaf``'s explicit sharding spec, one entry per dimension (``None``: not split)."""
    aval = _aval(leaf)
    spec = getattr(getattr(aval, "sharding", None), "spec", None)
    if aval is None or spec is None:
        return None
    return tuple(spec) + (None,) * (aval.ndim - len(spec))


def _sharding(like: Any, spec: tuple) -> NamedSharding:
    """``spec`` on the mesh ``like`` is typed with (no ``jax.set_mesh`` context needed)."""
    return NamedSharding(jax.typeof(like).sharding.mesh, PartitionSpec(*spec))


def explicit_batch_spec(xs: Any, feature_dims: int) -> tuple | None:
    """How an explicit-sharding mesh splits ``xs [T, *B, (F)]``'s batch dimensions (the
    spec entries of ``*B``; ``feature_dims`` trailing dimensions are not batch), or ``None``
    when none of them is split."""
    spec = _spec(xs)
    if spec is None:
        return None
    batch = spec[1:len(spec) - feature_dims]
    return batch if any(entry is not None for entry in batch) else None


def shard_like_batch(carry: Any, batch_spec: tuple | None, like: Any) -> Any:
    """``carry`` (leaves ``[*B, H]``) resharded so its batch dimensions are split as
    ``batch_spec`` says (on the mesh of ``like``, the array it came from) and its features
    are not (no-op when ``batch_spec`` is ``None``)."""
    if batch_spec is None:
        return carry

    def reshard(leaf: Any) -> Any:
        want = tuple(batch_spec) + (None,) * (jnp.ndim(leaf) - len(batch_spec))
        return leaf if _spec(leaf) == want else jax.sharding.reshard(leaf, _sharding(like, want))

    return jax.tree.map(reshard, carry)


def take_rows(table: Any, ids: Any) -> Any:
    """``jnp.take(table, ids, axis=0)`` (``[V, F]`` rows for ids ``[...]``; out-of-range ids
    give NaN rows), with the output split like ``ids`` under an explicit-sharding mesh, where
    JAX cannot infer a gather's output sharding by itself."""
    spec = _spec(ids)
    if spec is None or all(entry is None for entry in spec):
        return jnp.take(table, ids, axis=0)
    out = _sharding(ids, spec + (None,) * (jnp.ndim(table) - 1))
    return jnp.asarray(table).at[ids].get(mode="fill", out_sharding=out)


def like_inputs(state: Any, inputs: Any, feature_dims: int, *others: Any) -> Any:
    """A loop's first ``state`` (leaves ``[*B, ...]``) typed like its ``inputs [T, *B, (F)]``:
    split like their batch under an explicit-sharding mesh (:func:`shard_like_batch`), and
    varying over every axis that ``inputs``, ``state`` or ``others`` vary over inside
    ``shard_map`` (:func:`vary`)."""
    state = shard_like_batch(state, explicit_batch_spec(inputs, feature_dims), inputs)
    return vary(state, varying_axes(inputs, state, *others))
