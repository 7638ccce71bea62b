"""minGRU / minLSTM: NumPy references, and the associative scan equal to the step-by-step scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
import seqjax.nn  # noqa: F401  (the Flax layers)
from helpers import assert_close, assert_shape, sigmoid

MIN_CELLS = {"min_gru": sj.cells.min_gru, "min_lstm": sj.cells.min_lstm}


def np_min_step(name, p, h, x):
    """minGRU: h' = (1 - z) h + z k_h; minLSTM: h' = f/(f+i) h + i/(f+i) k_h."""
    k = np.asarray(x, np.float64) @ np.asarray(p.kernel, np.float64) + np.asarray(p.bias, np.float64)
    H = h.shape[-1]
    blk = lambda j: k[..., j * H:(j + 1) * H]  # noqa: E731
    if name == "min_gru":
        z = sigmoid(blk(0))
        return (1 - z) * h + z * blk(1)
    f, i = sigmoid(blk(0)), sigmoid(blk(1))
    return f / (f + i) * h + i / (f + i) * blk(2)


def _params(cell, key, input_size):
    params = cell.init(key, input_size)
    return params._replace(bias=jax.random.normal(jax.random.fold_in(key, 1), params.bias.shape))


@pytest.mark.parametrize("name", sorted(MIN_CELLS))
def test_step_matches_numpy_and_keeps_the_layout(name):
    cell = MIN_CELLS[name](6)
    params = _params(cell, jax.random.key(0), 4)
    blocks = 2 if name == "min_gru" else 3
    assert_shape(params.kernel, (4, blocks * 6))
    assert_shape(params.bias, (blocks * 6,))
    h = jax.random.normal(jax.random.key(2), (3, 6))
    x = jax.random.normal(jax.random.key(3), (3, 4))
    carry, y = cell.apply(params, sj.cells.MinCarry(h), x)
    ref = np_min_step(name, params, np.asarray(h, np.float64), x)
    assert_close(y, ref.astype(np.float32), atol=1e-5, rtol=1e-5)
    assert_close(carry.h, y)


@pytest.mark.parametrize("name", sorted(MIN_CELLS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_parallel_scan_equals_step_by_step(name, reverse, with_lengths):
    cell = MIN_CELLS[name](8)
    params = _params(cell, jax.random.key(0), 5)
    xs = jax.random.normal(jax.random.key(1), (37, 4, 5))
    carry = sj.cells.MinCarry(jax.random.normal(jax.random.key(2), (4, 8)))
    lengths = jnp.array([37, 0, 9, 20]) if with_lengths else None
    par = sj.scan(cell, params, xs, carry=carry, lengths=lengths, reverse=reverse, parallel=True)
    seq = sj.scan(cell, params, xs, carry=carry, lengths=lengths, reverse=reverse, parallel=False)
    assert_close(par, seq, atol=1e-5, rtol=1e-5)
    if with_lengths:
        assert float(jnp.abs(par[1][9:, 2]).max()) == 0.0  # outputs past a length are zero
        assert_close(par[0].h[1], carry.h[1])  # length 0: the carry passes through


def test_parallel_path_really_is_an_associative_scan_and_the_default_follows_the_backend(monkeypatch):
    cell = sj.cells.min_gru(4)
    params = cell.init(jax.random.key(0), 3)
    xs = jnp.ones((64, 3))
    par = str(jax.make_jaxpr(lambda x: sj.scan(cell, params, x, parallel=True))(xs))
    seq = str(jax.make_jaxpr(lambda x: sj.scan(cell, params, x, parallel=False))(xs))
    assert " scan[" not in par and " scan[" in seq
    assert " scan[" in str(jax.make_jaxpr(lambda x: sj.scan(cell, params, x))(xs))  # CPU: step by step
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert " scan[" not in str(jax.make_jaxpr(lambda x: sj.scan(cell, params, x))(xs))  # accelerators: parallel


@pytest.mark.parametrize("name", sorted(MIN_CELLS))
def test_gradients_agree_and_work_under_jit_and_vmap(name):
    cell = MIN_CELLS[name](5)
    params = _params(cell, jax.random.key(0), 3)
    xs = jax.random.normal(jax.random.key(1), (16, 2, 3))

    def loss(p, parallel):
        return jnp.sum(sj.scan(cell, p, xs, lengths=jnp.array([16, 7]), parallel=parallel)[1] ** 2)

    g_par = jax.jit(jax.grad(loss), static_argnums=1)(params, True)
    g_seq = jax.grad(loss)(params, False)
    assert_close(g_par, g_seq, atol=1e-4, rtol=1e-4)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(g_par))
    batched = jax.vmap(lambda x: sj.scan(cell, params, x)[1], in_axes=1, out_axes=1)(xs)
    assert_close(batched, sj.scan(cell, params, xs)[1], atol=1e-6, rtol=1e-6)


def test_parallel_true_on_a_nonlinear_cell_is_refused():
    cell = sj.cells.gru(4)
    with pytest.raises(ValueError, match="parallel=True needs a cell linear in its carry"):
        sj.scan(cell, cell.init(jax.random.key(0), 3), jnp.ones((5, 3)), parallel=True)


def test_min_cells_in_the_flax_rnn_layer():
    layer = sj.nn.RNN("min_gru", 6, return_sequences=True)
    xs = jnp.ones((2, 10, 3))
    variables = layer.init(jax.random.key(0), xs)
    ys = layer.apply(variables, xs, jnp.array([10, 4]))
    assert_shape(ys, (2, 10, 6))
    assert float(jnp.abs(ys[1, 4:]).max()) == 0.0
