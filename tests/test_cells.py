"""The cells against NumPy references written from their equations, and Keras layouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
from helpers import CELLS, assert_close, assert_shape, np_step, random_params


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)])
def test_step_matches_numpy_reference(name, batch_shape):
    cell = CELLS[name](hidden_size=5)
    key = jax.random.key(0)
    params = random_params(cell, key, input_size=4)
    x = jax.random.normal(jax.random.key(1), (*batch_shape, 4))
    carry = jax.tree.map(
        lambda a: jax.random.normal(jax.random.key(2), a.shape), cell.initial_carry(batch_shape)
    )
    new_carry, y = cell.apply(params, carry, x)
    ref_carry, ref_y = np_step(name, params, carry, x)
    assert type(new_carry) is type(carry)
    assert_shape(y, (*batch_shape, 5))
    assert_close(y, ref_y.astype(np.float32), atol=1e-5, rtol=1e-5)
    assert_close(tuple(new_carry), tuple(c.astype(np.float32) for c in ref_carry), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "factory, input_size, hidden, expected",
    [
        (sj.cells.lstm, 1, 32, 4_352),
        (sj.cells.lstm, 100, 32, 17_024),
        (sj.cells.lstm, 32, 32, 8_320),
        (sj.cells.elman, 32, 32, 2_080),
        (sj.cells.gru, 32, 32, 6_336),
    ],
)
def test_parameter_counts_match_keras(factory, input_size, hidden, expected):
    params = factory(hidden).init(jax.random.key(0), input_size)
    assert sum(p.size for p in jax.tree.leaves(params)) == expected


def test_keras_layouts_and_initialisers():
    H, I = 8, 5
    p = sj.cells.lstm(H).init(jax.random.key(0), I)
    assert isinstance(p, sj.cells.LSTMParams)
    assert p.kernel.shape == (I, 4 * H) and p.recurrent_kernel.shape == (H, 4 * H)
    # unit forget bias: gates i, f, c, o -> only the second block is one
    np.testing.assert_array_equal(p.bias, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    # glorot_uniform bound sqrt(6 / (fan_in + fan_out))
    assert float(jnp.abs(p.kernel).max()) <= np.sqrt(6 / (I + 4 * H))
    # orthogonal recurrent kernel [H, 4H]: rows orthonormal
    assert_close(p.recurrent_kernel @ p.recurrent_kernel.T, jnp.eye(H), atol=1e-5)

    g = sj.cells.gru(H).init(jax.random.key(0), I)
    assert g.kernel.shape == (I, 3 * H) and g.bias.shape == (2, 3 * H)
    e = sj.cells.elman(H).init(jax.random.key(0), I)
    assert e.kernel.shape == (I, H) and e.recurrent_kernel.shape == (H, H) and e.bias.shape == (H,)
    assert_close(e.recurrent_kernel @ e.recurrent_kernel.T, jnp.eye(H), atol=1e-5)


def test_lstm_without_unit_forget_bias_has_zero_bias():
    p = sj.cells.lstm(4, unit_forget_bias=False).init(jax.random.key(0), 3)
    np.testing.assert_array_equal(p.bias, np.zeros(16))


def test_initial_carry_is_named_zeros():
    carry = sj.cells.lstm(6).initial_carry((2, 3))
    assert carry._fields == ("h", "c")
    assert_shape(carry.h, (2, 3, 6))
    assert not np.any(np.asarray(carry.c))
    assert sj.cells.gru(6).initial_carry().h.shape == (6,)
    assert sj.cells.elman(6).initial_carry(dtype=jnp.bfloat16).h.dtype == jnp.bfloat16


def test_elman_activation_is_selectable():
    cell = sj.cells.elman(3, activation="relu")
    params = random_params(cell, jax.random.key(0), 2)
    x = jnp.array([1.0, -2.0])
    _, y = cell.apply(params, cell.initial_carry(), x)
    assert_close(y, jax.nn.relu(x @ params.kernel + params.bias), atol=1e-6)
    custom = sj.cells.elman(3, activation=jnp.sin)
    _, y2 = custom.apply(params, custom.initial_carry(), x)
    assert_close(y2, jnp.sin(x @ params.kernel + params.bias), atol=1e-6)


def test_init_is_deterministic_and_key_dependent():
    cell = sj.cells.gru(4)
    a, b, c = (cell.init(jax.random.key(k), 3) for k in (0, 0, 1))
    assert_close(a, b)
    assert not np.allclose(a.kernel, c.kernel)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_apply_jit_matches_eager_and_grad_is_finite(name):
    cell = CELLS[name](4)
    params = random_params(cell, jax.random.key(0), 3)
    x = jax.random.normal(jax.random.key(1), (2, 3))
    carry = cell.initial_carry((2,))
    assert_close(jax.jit(cell.apply)(params, carry, x), cell.apply(params, carry, x), atol=1e-6)
    grads = jax.grad(lambda p: jnp.sum(cell.apply(p, carry, x)[1] ** 2))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, "32", True])
def test_bad_hidden_size(bad):
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        sj.cells.lstm(bad)


def test_bad_input_size():
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        sj.cells.gru(4).init(jax.random.key(0), 0)


def test_unknown_activation_lists_known():
    with pytest.raises(ValueError, match=r"activation='tanhh'.*'tanh'"):
        sj.cells.elman(4, activation="tanhh")
    with pytest.raises(ValueError, match="recurrent_activation"):
        sj.cells.lstm(4, recurrent_activation="nope")


def test_apply_rejects_wrong_feature_size():
    cell = sj.cells.lstm(4)
    params = cell.init(jax.random.key(0), 3)
    with pytest.raises(ValueError, match=r"x must have shape \[\.\.\., 3\].*got shape \(5,\)"):
        cell.apply(params, cell.initial_carry(), jnp.zeros(5))


def test_apply_rejects_wrong_carry_type_and_shape():
    cell = sj.cells.lstm(4)
    params = cell.init(jax.random.key(0), 3)
    with pytest.raises(TypeError, match=r"carry must be a LSTMCarry.*got tuple"):
        cell.apply(params, (jnp.zeros(4), jnp.zeros(4)), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"carry.h must have shape \[\.\.\., 4\]"):
        cell.apply(params, sj.cells.LSTMCarry(jnp.zeros(5), jnp.zeros(4)), jnp.zeros(3))


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("activations", [{}, {"activation": "relu"}])
def test_input_split_recomposes_apply(name, activations):
    cell = CELLS[name](5, **activations)
    params = random_params(cell, jax.random.key(0), 4)
    x = jax.random.normal(jax.random.key(1), (3, 4))
    carry = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape), cell.initial_carry((3,)))
    projected = cell.split.project(params, x)
    assert projected.shape == (3, params.kernel.shape[1])
    split_carry, split_y = cell.split.recur(params, carry, projected)
    ref_carry, ref_y = cell.apply(params, carry, x)
    assert type(split_carry) is type(ref_carry)
    assert_close((tuple(split_carry), split_y), (tuple(ref_carry), ref_y), atol=1e-6, rtol=1e-6)
    # the projection is linear in x: a table's rows project to the rows' projections
    assert_close(cell.split.project(params, x)[1], cell.split.project(params, x[1]), atol=1e-6)


def test_parallel_cells_have_no_input_split():
    assert sj.cells.min_gru(3).split is None and sj.cells.min_lstm(3).split is None
