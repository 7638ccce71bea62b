"""Attention scores against NumPy references; masked positions get exactly zero weight."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
import seqjax.nn  # noqa: F401  (the Flax layers)
from helpers import assert_close, assert_shape


def np_softmax_masked(scores, mask):
    s = np.where(mask, scores, -np.inf)
    e = np.where(mask, np.exp(s - s.max(-1, keepdims=True)), 0.0)
    return e / e.sum(-1, keepdims=True)


def _inputs():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, 6)).astype(np.float32)
    k = rng.normal(size=(3, 5, 6)).astype(np.float32)
    v = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.arange(5)[None, :] < np.array([5, 2, 4])[:, None]
    return q, k, v, mask


def np_scores(kind, params, q, k):
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    if kind == "additive":
        p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        return np.tanh((q64 @ p.query_kernel)[:, None, :] + k64 @ p.key_kernel) @ p.v
    if kind == "dot":
        return np.einsum("bh,bsh->bs", q64, k64)
    return np.einsum("bh,bsh->bs", q64 @ np.asarray(params.kernel, np.float64), k64)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_scores_weights_and_context_match_numpy(kind):
    q, k, v, mask = _inputs()
    att = sj.attention.additive(7) if kind == "additive" else getattr(sj.attention, kind)()
    params = att.init(jax.random.key(0), 6, 6)
    out = att.apply(params, q, k, v, mask=mask)
    weights = np_softmax_masked(np_scores(kind, params, q, k), mask)
    assert_shape(out.context, (3, 4))
    assert_close(out.weights, weights.astype(np.float32), atol=1e-5, rtol=1e-5)
    assert_close(out.context, np.einsum("bs,bsv->bv", weights, v).astype(np.float32), atol=1e-5, rtol=1e-5)
    assert np.all(np.asarray(out.weights)[~mask] == 0.0)
    assert_close(np.asarray(out.weights).sum(-1), np.ones(3, np.float32), atol=1e-6)


def test_masked_keys_do_not_change_the_context_or_the_gradient_path():
    q, k, v, mask = _inputs()
    att = sj.attention.additive(4)
    params = att.init(jax.random.key(1), 6, 6)
    k2 = np.where(mask[..., None], k, 1e3).astype(np.float32)  # garbage in padded positions
    a = att.apply(params, q, k, v, mask=mask)
    b = att.apply(params, q, k2, v, mask=mask)
    assert_close(a, b, atol=1e-6)
    grad = jax.grad(lambda kk: att.apply(params, q, kk, v, mask=mask).context.sum())(k)
    assert np.all(np.asarray(grad)[~mask] == 0.0) and np.all(np.isfinite(np.asarray(grad)))


def test_fully_masked_row_gives_zeros_not_nan():
    w = sj.attention.masked_softmax(jnp.ones((2, 3)), jnp.array([[False] * 3, [True, False, True]]))
    assert_close(w, jnp.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5]]))


def test_scaled_dot_and_flax_layer():
    q, k, v, mask = _inputs()
    out = sj.attention.dot(scaled=True).apply((), q, k, v, mask=mask)
    ref = np_softmax_masked(np_scores("dot", None, q, k) / np.sqrt(6), mask)
    assert_close(out.weights, ref.astype(np.float32), atol=1e-5, rtol=1e-5)
    layer = sj.nn.Attention("general")
    variables = layer.init(jax.random.key(0), q, k, v, mask)
    assert_shape(layer.apply(variables, q, k, v, mask).context, (3, 4))


def test_bad_shapes_are_named():
    q, k, v, mask = _inputs()
    att = sj.attention.dot()
    with pytest.raises(ValueError, match="must share S"):
        att.apply((), q, k, v[:, :3], mask=mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        att.apply((), q, k, v, mask=mask[:, :2])
    with pytest.raises(ValueError, match="query_size == key_size"):
        att.init(jax.random.key(0), 6, 5)
    with pytest.raises(ValueError, match="units must be a positive int"):
        sj.attention.additive(0)
