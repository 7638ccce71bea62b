"""Flax linen attention layers over the pure functions in :mod:`seqjax.attention`."""

from __future__ import annotations

import flax.linen as nn
import jax

from seqjax import attention as sj_attention


class Attention(nn.Module):
    """``(query [B, Hq], keys [B, S, Hk], values [B, S, Hv] = keys, mask [B, S])``
    -> :class:`~seqjax.attention.AttentionOutput` ``(context [B, Hv], weights [B, S])``.

    Attributes:
      score: ``"additive"`` (Bahdanau), ``"dot"`` or ``"general"`` (Luong).
      units: the additive score's hidden size.
    """

    score: str = "additive"
    units: int = 32

    @nn.compact
    def __call__(self, query: jax.Array, keys: jax.Array, values: jax.Array | None = None,
                 mask: jax.Array | None = None) -> sj_attention.AttentionOutput:
        if self.score not in sj_attention.SCORES:
            raise ValueError(f"score={self.score!r} is not one of {sorted(sj_attention.SCORES)}.")
        factory = sj_attention.SCORES[self.score]
        att = factory(self.units) if factory is sj_attention.additive else factory()
        params = self.param("attention", lambda key: att.init(key, query.shape[-1], keys.shape[-1]))
        return att.apply(params, query, keys, keys if values is None else values, mask=mask)
