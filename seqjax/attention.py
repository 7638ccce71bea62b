"""Attention over a source sequence, pure: additive (Bahdanau) and multiplicative (Luong).

An attention is a factory returning :class:`Attention(init, apply)`, like a cell::

    att = sj.attention.additive(units=16)
    params = att.init(key, query_size=32, key_size=64)
    out = att.apply(params, query, keys, values, mask=mask)   # AttentionOutput(context, weights)

Shapes: ``query [..., Hq]``, ``keys [..., S, Hk]``, ``values [..., S, Hv]``,
``mask [..., S]`` (``True`` = a real source position) -> ``context [..., Hv]`` and
``weights [..., S]`` (a softmax over the real positions; padded positions get
exactly zero weight, and a row with no real position gets all zeros).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "Attention",
    "AttentionOutput",
    "AdditiveParams",
    "GeneralParams",
    "additive",
    "dot",
    "general",
    "masked_softmax",
    "attend",
    "length_mask",
    "SCORES",
]


class Attention(NamedTuple):
    """``init(key, query_size, key_size, dtype=float32) -> params`` and
    ``apply(params, query, keys, values, mask=None) -> AttentionOutput``."""

    init: Callable[..., Any]
    apply: Callable[..., "AttentionOutput"]


class AttentionOutput(NamedTuple):
    """``context [..., Hv]`` (the weighted sum of values) and ``weights [..., S]``."""

    context: Array
    weights: Array


class AdditiveParams(NamedTuple):
    """Bahdanau: ``query_kernel [Hq, A]``, ``key_kernel [Hk, A]``, ``v [A]``."""

    query_kernel: Array
    key_kernel: Array
    v: Array


class GeneralParams(NamedTuple):
    """Luong "general": ``kernel [Hq, Hk]``."""

    kernel: Array


_glorot = jax.nn.initializers.glorot_uniform()


def length_mask(lengths: Array, num_positions: int) -> Array:
    """``[...]`` lengths -> ``[..., S]`` mask, ``True`` for positions below the length."""
    return jnp.arange(num_positions) < jnp.asarray(lengths)[..., None]


def masked_softmax(scores: Array, mask: Array | None = None) -> Array:
    """Softmax over the last axis of ``scores [..., S]`` restricted to ``mask [..., S]``.

    Masked positions get weight 0 exactly; an all-masked row gets all zeros (not NaN).
    """
    if mask is None:
        return jax.nn.softmax(scores, axis=-1)
    mask = jnp.broadcast_to(mask, scores.shape)
    scores = jnp.where(mask, scores, -jnp.inf)
    peak = jnp.max(scores, axis=-1, keepdims=True)
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
    e = jnp.where(mask, jnp.exp(scores - jax.lax.stop_gradient(peak)), 0.0)
    return e / jnp.maximum(jnp.sum(e, axis=-1, keepdims=True), jnp.finfo(e.dtype).tiny)


def attend(scores: Array, values: Array, mask: Array | None = None) -> AttentionOutput:
    """Weights from ``scores [..., S]`` and the context ``[..., Hv]`` from ``values [..., S, Hv]``."""
    weights = masked_softmax(scores, mask)
    return AttentionOutput(jnp.einsum("...s,...sv->...v", weights, values), weights)


def _check(query: Array, keys: Array, values: Array, mask: Array | None) -> None:
    if keys.ndim < 2 or values.ndim < 2 or keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"keys [..., S, Hk] and values [..., S, Hv] must share S; got keys {tuple(keys.shape)} "
            f"and values {tuple(values.shape)}."
        )
    if query.shape[:-1] != keys.shape[:-2]:
        raise ValueError(
            f"query [..., Hq] and keys [..., S, Hk] must share the batch dims; got query "
            f"{tuple(query.shape)} and keys {tuple(keys.shape)}. Add a source axis to keys, not to query."
        )
    if mask is not None and tuple(jnp.shape(mask)) != tuple(keys.shape[:-1]):
        raise ValueError(
            f"mask must have shape {tuple(keys.shape[:-1])} (keys without the feature axis); got "
            f"{tuple(jnp.shape(mask))}. Build it with sj.attention.length_mask(lengths, S)."
        )


def additive(units: int) -> Attention:
    """Bahdanau (additive) attention: ``score_s = v · tanh(q W_q + k_s W_k)``."""
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be a positive int (the attention's hidden size); got {units!r}.")

    def init(key: Array, query_size: int, key_size: int, dtype: Any = jnp.float32) -> AdditiveParams:
        k1, k2, k3 = jax.random.split(key, 3)
        return AdditiveParams(
            _glorot(k1, (query_size, units), dtype),
            _glorot(k2, (key_size, units), dtype),
            jax.random.uniform(k3, (units,), dtype, -(units**-0.5), units**-0.5),
        )

    def apply(params: AdditiveParams, query, keys, values, mask=None) -> AttentionOutput:
        _check(query, keys, values, mask)
        hidden = jnp.tanh((query @ params.query_kernel)[..., None, :] + keys @ params.key_kernel)
        return attend(hidden @ params.v, values, mask)

    return Attention(init, apply)


def dot(scaled: bool = False) -> Attention:
    """Luong "dot" attention: ``score_s = q · k_s`` (``/ sqrt(H)`` when ``scaled``); no params."""

    def init(key: Array, query_size: int, key_size: int, dtype: Any = jnp.float32) -> tuple:
        if query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size; got {query_size} and {key_size}. "
                "Use sj.attention.general() to learn a projection between them."
            )
        return ()

    def apply(params, query, keys, values, mask=None) -> AttentionOutput:
        _check(query, keys, values, mask)
        scores = jnp.einsum("...h,...sh->...s", query, keys)
        if scaled:
            scores = scores / jnp.sqrt(jnp.asarray(query.shape[-1], scores.dtype))
        return attend(scores, values, mask)

    return Attention(init, apply)


def general() -> Attention:
    """Luong "general" attention: ``score_s = q W · k_s``."""

    def init(key: Array, query_size: int, key_size: int, dtype: Any = jnp.float32) -> GeneralParams:
        return GeneralParams(_glorot(key, (query_size, key_size), dtype))

    def apply(params: GeneralParams, query, keys, values, mask=None) -> AttentionOutput:
        _check(query, keys, values, mask)
        return attend(jnp.einsum("...h,...sh->...s", query @ params.kernel, keys), values, mask)

    return Attention(init, apply)


SCORES: dict[str, Callable[..., Attention]] = {"additive": additive, "bahdanau": additive, "dot": dot,
                                               "luong": dot, "general": general}
