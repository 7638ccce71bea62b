"""1D convolution layers for sequences, batch-first like Keras: ``x [B, T, C]``.

``Conv1D`` (valid / same / causal padding, dilation, Keras initialisers), max and
average pooling, ``BatchNorm`` with Keras's defaults, and local response
normalisation as a function (the lecture's AlexNet-era layer). Global pooling
lives in :mod:`seqjax.nn.layers` (``global_max_pool``, ``global_avg_pool``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.nn.layers import ACTIVATIONS

PADDINGS = ("valid", "same", "causal")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return value


def _check_input(name: str, x: jax.Array) -> None:
    if x.ndim != 3:
        raise ValueError(f"{name} input must be [B, T, C] (batch, time, channels); got shape {tuple(x.shape)}.")


class Conv1D(nn.Module):
    """Keras ``Conv1D``: ``[B, T, C] -> [B, T', filters]``.

    Attributes:
      filters: output channels.
      kernel_size: taps per filter.
      strides: step between windows.
      padding: ``"valid"`` (``T' = (T - d (k - 1) - 1) // s + 1``), ``"same"`` or
        ``"causal"`` (left padding only, so output ``t`` sees inputs ``<= t``).
      dilation_rate: spacing of the taps.
      activation: a name from :data:`seqjax.nn.layers.ACTIVATIONS`.
    """

    filters: int
    kernel_size: int
    strides: int = 1
    padding: str = "valid"
    dilation_rate: int = 1
    activation: str = "linear"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_input("Conv1D", x)
        _positive("filters", self.filters)
        k = _positive("kernel_size", self.kernel_size)
        if self.padding not in PADDINGS:
            raise ValueError(f"padding={self.padding!r} is not one of {PADDINGS}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not one of {sorted(ACTIVATIONS)}.")
        padding = self.padding.upper()
        if self.padding == "causal":
            padding = [(self.dilation_rate * (k - 1), 0)]
        y = nn.Conv(
            self.filters, (k,), strides=(_positive("strides", self.strides),), padding=padding,
            kernel_dilation=(_positive("dilation_rate", self.dilation_rate),),
            kernel_init=nn.initializers.glorot_uniform(), name="conv",
        )(x)
        return ACTIVATIONS[self.activation](y)


def _pool(kind: str, x: jax.Array, pool_size: int, strides: int | None, padding: str) -> jax.Array:
    _check_input(kind, x)
    size = _positive("pool_size", pool_size)
    stride = _positive("strides", strides) if strides is not None else size
    if padding not in ("valid", "same"):
        raise ValueError(f"padding={padding!r} is not one of ('valid', 'same').")
    fn = nn.max_pool if kind == "max_pool1d" else nn.avg_pool
    kwargs = {"count_include_pad": False} if kind == "avg_pool1d" else {}
    return fn(x, (size,), strides=(stride,), padding=padding.upper(), **kwargs)


def max_pool1d(x: jax.Array, pool_size: int = 2, strides: int | None = None, padding: str = "valid") -> jax.Array:
    """Keras ``MaxPooling1D``: ``[B, T, C] -> [B, T', C]``; ``strides`` defaults to ``pool_size``."""
    return _pool("max_pool1d", x, pool_size, strides, padding)


def avg_pool1d(x: jax.Array, pool_size: int = 2, strides: int | None = None, padding: str = "valid") -> jax.Array:
    """Keras ``AveragePooling1D`` (padded positions not counted): ``[B, T, C] -> [B, T', C]``."""
    return _pool("avg_pool1d", x, pool_size, strides, padding)


def BatchNorm(**kwargs) -> nn.BatchNorm:  # noqa: N802  (a layer constructor)
    """``flax.linen.BatchNorm`` with Keras's defaults (momentum 0.99, epsilon 1e-3).

    Call it with ``use_running_average=not training``; its statistics live in the
    ``batch_stats`` collection, updated with ``mutable=["batch_stats"]`` in training.
    """
    kwargs.setdefault("momentum", 0.99)
    kwargs.setdefault("epsilon", 1e-3)
    return nn.BatchNorm(**kwargs)


def local_response_normalization(
    x: jax.Array, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0, beta: float = 0.5
) -> jax.Array:
    """Local response normalisation over the last (channel) axis, as ``tf.nn.local_response_normalization``.

    ``y_c = x_c / (bias + alpha * sum_{|c' - c| <= depth_radius} x_{c'}^2) ** beta`` for
    ``x [..., C]`` (Krizhevsky et al. 2012 used ``depth_radius=2, bias=2, alpha=1e-4, beta=0.75``).
    """
    if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
        raise ValueError(f"depth_radius must be an int >= 0; got {depth_radius!r}.")
    squares = jnp.square(x)
    channels = x.shape[-1]
    padded = jnp.pad(squares, [(0, 0)] * (x.ndim - 1) + [(depth_radius, depth_radius)])
    window = sum(padded[..., i : i + channels] for i in range(2 * depth_radius + 1))
    return x / (bias + alpha * window) ** beta
