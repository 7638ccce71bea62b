"""Feed-forward layers with Keras defaults: Dense, MLP, Flatten, masked global pooling."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "gelu": nn.gelu,
    "linear": lambda x: x,
}


def Dense(features: int, **kwargs) -> nn.Dense:  # noqa: N802  (a layer constructor)
    """``flax.linen.Dense`` with Keras's initialisers (glorot-uniform kernel, zero bias)."""
    return nn.Dense(features, kernel_init=nn.initializers.glorot_uniform(), **kwargs)


class MLP(nn.Module):
    """Hidden ``Dense -> activation [-> Dropout]`` blocks: ``[..., F] -> [..., sizes[-1]]``."""

    sizes: Sequence[int]
    activation: str = "relu"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool = True) -> jax.Array:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not one of {sorted(ACTIVATIONS)}.")
        for size in self.sizes:
            x = ACTIVATIONS[self.activation](Dense(size)(x))
            if self.dropout:
                x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
        return x


def flatten(x: jax.Array) -> jax.Array:
    """``[B, ...] -> [B, prod(...)]``."""
    return x.reshape(x.shape[0], -1)


def _time_mask(x: jax.Array, lengths: jax.Array | None) -> jax.Array:
    steps = jnp.arange(x.shape[1])
    if lengths is None:
        return jnp.ones(x.shape[:2], bool)
    return steps[None, :] < lengths[:, None]


def global_max_pool(x: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
    """Max over time of ``x [B, T, F]`` ignoring steps at or past ``lengths [B]``."""
    mask = _time_mask(x, lengths)[..., None]
    return jnp.max(jnp.where(mask, x, -jnp.inf), axis=1)


def global_avg_pool(x: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
    """Mean over the real steps of ``x [B, T, F]``."""
    mask = _time_mask(x, lengths)[..., None]
    return jnp.sum(jnp.where(mask, x, 0.0), axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1)
