"""The fused LSTM (hand-written backward pass) against autodiff of the plain scan."""

import jax
import jax.numpy as jnp
import pytest

import seqjax as sj
from helpers import assert_close

# Everything here is about XLA's fused LSTM, which sj.scan runs where the compiled kernel
# (seqjax.native_lstm, tests/test_native_lstm.py) is unavailable.
pytestmark = pytest.mark.usefixtures("without_native_lstm")

T, F, H = 7, 3, 5
LENGTHS = jnp.array([[7, 3], [0, 5]])


def setup(batch_shape=(2, 2)):
    cell = sj.cells.lstm(H)
    params = cell.init(jax.random.key(0), F)
    params = params._replace(bias=jax.random.normal(jax.random.key(1), params.bias.shape))
    xs = jax.random.normal(jax.random.key(2), (T, *batch_shape, F))
    carry = jax.tree.map(lambda a: jax.random.normal(jax.random.key(3), a.shape), cell.initial_carry(batch_shape))
    return cell, params, xs, carry


def uses_fused(fn, *args) -> bool:
    return "custom_vjp_call" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("options", [{}, {"lengths": LENGTHS, "reverse": True}, {"lengths": LENGTHS, "unroll": 3}])
def test_fused_equals_autodiff_of_the_scan(options):
    cell, params, xs, carry = setup()

    def run(implementation):
        return lambda p, x, c: sj.scan(cell, p, x, carry=c, implementation=implementation, **options)

    assert uses_fused(run(None), params, xs, carry)  # the default on the CPU
    assert not uses_fused(run("scan"), params, xs, carry)
    assert_close(run(None)(params, xs, carry), run("scan")(params, xs, carry), atol=1e-6, rtol=1e-6)

    def loss(implementation):
        def value(p, x, c):
            final, ys = run(implementation)(p, x, c)
            return jnp.sum(jnp.sin(ys)) + jnp.sum(final.h * final.c) + jnp.sum(final.c ** 2)

        return value

    grads = jax.grad(loss(None), argnums=(0, 1, 2))(params, xs, carry)
    want = jax.grad(loss("scan"), argnums=(0, 1, 2))(params, xs, carry)
    assert_close(grads, want, atol=1e-5, rtol=1e-5)
    if "lengths" in options:  # a sequence with no real step: no gradient reaches its inputs
        assert float(jnp.abs(grads[1][:, 1, 0]).max()) == 0.0


def test_fused_without_batch_dims_under_vmap_and_second_order():
    cell, params, xs, _ = setup(batch_shape=(4,))
    single = lambda p, x: sj.scan(cell, p, x)[1]  # noqa: E731  x [T, F]
    batched = jax.vmap(single, in_axes=(None, 1), out_axes=1)
    assert_close(batched(params, xs), sj.scan(cell, params, xs, implementation="scan")[1], atol=1e-6)
    loss = lambda fn: lambda p: jnp.sum(jnp.tanh(fn(p, xs)) ** 2)  # noqa: E731
    plain = jax.vmap(lambda p, x: sj.scan(cell, p, x, implementation="scan")[1], in_axes=(None, 1), out_axes=1)
    assert_close(jax.grad(loss(batched))(params), jax.grad(loss(plain))(params), atol=1e-5, rtol=1e-5)
    # forward over reverse (jax.hessian) works through the custom backward
    bias_loss = lambda fn: lambda b: loss(fn)(params._replace(bias=b))  # noqa: E731
    assert_close(jax.hessian(bias_loss(batched))(params.bias), jax.hessian(bias_loss(plain))(params.bias),
                 atol=1e-4, rtol=1e-4)


def test_when_the_fused_lstm_runs():
    cell, params, xs, carry = setup()
    assert not uses_fused(lambda p: sj.scan(cell, p, xs, remat=True), params)  # recomputation keeps the scan
    long_xs = jnp.zeros((200, 2, F))  # auto_remat: long sequences of small cells recompute
    assert not uses_fused(lambda p: sj.scan(cell, p, long_xs), params)
    assert uses_fused(lambda p: sj.scan(cell, p, long_xs, remat=False), params)
    for other in (sj.cells.gru(H), sj.cells.elman(H), sj.cells.lstm(H, activation="relu")):
        other_params = other.init(jax.random.key(0), F)
        assert not uses_fused(lambda p, o=other: sj.scan(o, p, xs), other_params)


def test_fused_requests_that_cannot_be_met_and_forward_mode():
    cell, params, xs, _ = setup()
    gru = sj.cells.gru(H)
    with pytest.raises(ValueError, match="implementation='fused' needs a standard sj.cells.lstm"):
        sj.scan(gru, gru.init(jax.random.key(0), F), xs, implementation="fused")
    with pytest.raises(ValueError, match=r"cannot recompute them \(remat=True\)"):
        sj.scan(cell, params, xs, implementation="fused", remat=True)
    with pytest.raises(ValueError, match="implementation='nope' is not one of"):
        sj.scan(cell, params, xs, implementation="nope")
    # forward mode: the fused LSTM is a custom_vjp; implementation="scan" is the documented way
    tangent = jnp.ones_like(xs)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda x: sj.scan(cell, params, x)[1], (xs,), (tangent,))
    _, jvp = jax.jvp(lambda x: sj.scan(cell, params, x, implementation="scan")[1], (xs,), (tangent,))
    assert jvp.shape == (T, 2, 2, H)


def test_models_choose_the_implementation_from_the_config():
    from seqjax.models import build_model
    from seqjax.train.config import base_config

    assert base_config().model.implementation == "auto"
    ids = jnp.ones((2, 9), jnp.int32)
    fields = dict(kind="rnn", vocab_size=20, embedding_dim=4, cell="lstm", hidden_sizes=(5,), num_outputs=1,
                  bidirectional=True)
    for implementation, fused in (("auto", True), ("scan", False)):
        model = build_model({**fields, "implementation": implementation})
        variables = model.init(jax.random.key(0), ids)
        train = lambda v: model.apply(v, ids, deterministic=False)  # noqa: E731
        assert uses_fused(train, variables) is fused
    with pytest.raises(ValueError, match="model.implementation='fast' is not one of"):
        build_model({**fields, "implementation": "fast"})
