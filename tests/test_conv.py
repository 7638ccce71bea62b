"""1D convnet layers against NumPy references: Conv1D paddings, pooling, batch norm, LRN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax.nn as sjnn
from helpers import assert_close, assert_shape


def np_conv1d(x, kernel, bias, dilation=1):
    """Valid cross-correlation: x [B, T, C], kernel [K, C, F]."""
    k = kernel.shape[0]
    span = dilation * (k - 1)
    out = np.zeros((x.shape[0], x.shape[1] - span, kernel.shape[2]))
    for t in range(out.shape[1]):
        taps = x[:, t : t + span + 1 : dilation]  # [B, K, C]
        out[:, t] = np.einsum("bkc,kcf->bf", taps, kernel) + bias
    return out


@pytest.mark.parametrize("padding, dilation, expected_t", [("valid", 1, 8), ("same", 1, 12), ("causal", 2, 12)])
def test_conv1d_matches_numpy_and_keeps_its_padding_promise(padding, dilation, expected_t):
    x = jax.random.normal(jax.random.key(0), (2, 12, 3))
    layer = sjnn.Conv1D(4, 5, padding=padding, dilation_rate=dilation)
    variables = layer.init(jax.random.key(1), x)
    kernel = np.asarray(variables["params"]["conv"]["kernel"])
    assert kernel.shape == (5, 3, 4)
    y = layer.apply(variables, x)
    assert_shape(y, (2, expected_t, 4))
    xn = np.asarray(x, np.float64)
    if padding == "causal":
        xn = np.pad(xn, [(0, 0), (dilation * 4, 0), (0, 0)])
    elif padding == "same":
        xn = np.pad(xn, [(0, 0), (2, 2), (0, 0)])
    assert_close(y, np_conv1d(xn, kernel, 0.0, dilation).astype(np.float32), atol=1e-5, rtol=1e-5)
    if padding == "causal":  # output t must not see inputs after t
        x2 = x.at[:, 7:].set(100.0)
        assert_close(layer.apply(variables, x2)[:, :7], y[:, :7])


def test_pooling_matches_numpy():
    x = jnp.arange(2 * 10 * 3, dtype=jnp.float32).reshape(2, 10, 3) % 7
    xn = np.asarray(x)
    assert_close(sjnn.max_pool1d(x, 3), np.stack([xn[:, i:i + 3].max(1) for i in (0, 3, 6)], 1))
    assert_close(sjnn.avg_pool1d(x, 2, strides=4), np.stack([xn[:, i:i + 2].mean(1) for i in (0, 4, 8)], 1))
    assert_shape(sjnn.max_pool1d(x, 3, padding="same"), (2, 4, 3))
    with pytest.raises(ValueError, match=r"\[B, T, C\]"):
        sjnn.max_pool1d(x[0], 2)


def test_local_response_normalization_matches_its_formula():
    x = jax.random.normal(jax.random.key(0), (2, 5, 7))
    y = sjnn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-1, beta=0.75)
    xn = np.asarray(x, np.float64)
    ref = np.empty_like(xn)
    for c in range(7):
        lo, hi = max(0, c - 2), min(7, c + 3)
        ref[..., c] = xn[..., c] / (2.0 + 1e-1 * (xn[..., lo:hi] ** 2).sum(-1)) ** 0.75
    assert_close(y, ref.astype(np.float32), atol=1e-5, rtol=1e-5)


def test_batch_norm_has_keras_defaults_and_updates_running_statistics():
    bn = sjnn.BatchNorm(use_running_average=False)
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)
    x = jax.random.normal(jax.random.key(0), (64, 10, 3)) * 3 + 5
    variables = bn.init(jax.random.key(1), x)
    y, updated = bn.apply(variables, x, mutable=["batch_stats"])
    assert_close(jnp.mean(y, axis=(0, 1)), jnp.zeros(3), atol=1e-4)
    mean = updated["batch_stats"]["mean"]
    assert_close(mean, 0.01 * jnp.mean(x, axis=(0, 1)), atol=1e-4)


def test_conv_layer_errors_name_the_field():
    x = jnp.ones((1, 8, 2))
    with pytest.raises(ValueError, match="padding="):
        sjnn.Conv1D(2, 3, padding="full").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        sjnn.Conv1D(2, 0).init(jax.random.key(0), x)
