"""Which manual mesh axes a value varies over, inside ``jax.shard_map``.

With ``check_vma=True`` (``shard_map``'s default) JAX types every array by the manual
axes it varies over, and ``lax.scan`` insists that a loop's carry comes out with the
type it went in with. A zero initial carry does not vary, while the carry a step
returns varies with the per-device inputs, so the scan must start from a carry that
already varies over the same axes (``lax.pcast(..., to="varying")``; a no-op at run
time whose transpose sums the gradient over those axes, as JAX's implicit casts do).
Outside ``shard_map``, or with ``check_vma=False``, nothing varies and these helpers
return their inputs unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
from jax import lax


def _axes_of(leaf: Any) -> frozenset:
    """The manual axes ``leaf`` varies over (empty outside ``shard_map``)."""
    try:
        aval = jax.typeof(leaf)
    except TypeError:  # not an array (None, a Python scalar's absence of a type)
        return frozenset()
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


def vary_together(*trees: Any) -> tuple[Any, ...]:
    """``trees``, each cast to vary over every axis any of them varies over."""
    axes = varying_axes(*trees)
    return tuple(vary(tree, axes) for tree in trees)
