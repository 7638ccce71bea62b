"""The Flax modules: they call sj.scan (no second cell), mask padding, drop out per sequence."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
import seqjax.nn as sjnn
from helpers import assert_close


def test_padding_lengths_right_and_left_padding():
    ids = jnp.array([[5, 3, 0, 0], [0, 0, 7, 8], [0, 0, 0, 0], [1, 2, 3, 4]])
    assert sjnn.padding_lengths(ids).tolist() == [2, 4, 0, 4]


def test_embedding_mask_zero_and_frozen_collection():
    emb = sjnn.Embedding(10, 3, mask_zero=True)
    ids = jnp.array([[1, 2, 0]])
    variables = emb.init(jax.random.key(0), ids)
    out = emb.apply(variables, ids)
    assert out.x.shape == (1, 3, 3) and out.lengths.tolist() == [2]
    table = variables["params"]["embedding"]
    assert float(jnp.abs(table).max()) <= 0.05
    frozen = sjnn.Embedding(10, 3, trainable=False)
    fv = frozen.init(jax.random.key(0), ids)
    assert "params" not in fv and fv[sjnn.FROZEN]["embedding"].shape == (10, 3)
    assert frozen.apply(fv, ids).lengths.tolist() == [3]


def test_set_embedding_checks_shape():
    emb = sjnn.Embedding(4, 2, trainable=False)
    variables = {sjnn.FROZEN: {"Embedding_0": emb.init(jax.random.key(0), jnp.zeros((1, 1), jnp.int32))[sjnn.FROZEN]}}
    new = sjnn.set_embedding(variables, np.ones((4, 2)))
    assert float(new[sjnn.FROZEN]["Embedding_0"]["embedding"].sum()) == 8
    with pytest.raises(ValueError, match=r"pretrained matrix must have shape \(4, 2\)"):
        sjnn.set_embedding(variables, np.ones((5, 2)))


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_rnn_module_equals_sj_scan(cell):
    xs = jax.random.normal(jax.random.key(0), (3, 6, 4))
    lengths = jnp.array([6, 2, 4])
    layer = sjnn.RNN(cell, 5, return_sequences=True, return_state=True)
    variables = layer.init(jax.random.key(1), xs, lengths)
    (ys, carry) = layer.apply(variables, xs, lengths)
    params = variables["params"]["forward"]
    ref_carry, ref_ys = sj.scan(sjnn.make_cell(cell, 5), params, jnp.swapaxes(xs, 0, 1), lengths=lengths)
    assert_close((ys, carry), (jnp.swapaxes(ref_ys, 0, 1), ref_carry), atol=1e-6)
    last = sjnn.RNN(cell, 5).apply(variables, xs, lengths)
    assert_close(last, ref_carry.h, atol=1e-6)


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_rnn_module_over_tokens_equals_over_embedded_inputs(cell, without_native_lstm):
    table = jax.random.normal(jax.random.key(0), (5, 4))
    ids = jax.random.randint(jax.random.key(1), (3, 8), 0, 5)
    lengths = jnp.array([8, 2, 5])
    layer = sjnn.RNN(cell, 6, return_sequences=True, return_state=True)
    variables = layer.init(jax.random.key(2), table[ids], lengths)
    got = layer.apply(variables, table[ids], lengths, tokens=(table, ids))
    width = variables["params"]["forward"].kernel.shape[1]
    assert f"f32[5,{width}]" in str(jax.make_jaxpr(  # the projected table [V, G]
        lambda v: layer.apply(v, table[ids], lengths, tokens=(table, ids)))(variables))
    assert_close(got, layer.apply(variables, table[ids], lengths), atol=1e-6)
    with pytest.raises(ValueError, match=r"tokens must be \(table \[V, F\], ids \[B, T\]\)"):
        layer.apply(variables, table[ids], lengths, tokens=(table[:, :3], ids))
    with pytest.raises(TypeError, match="tokens must be a pair"):
        layer.apply(variables, table[ids], lengths, tokens=table)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_over_tokens_gathers_time_major_with_the_same_values_and_gradients(cell):
    table = jax.random.normal(jax.random.key(0), (5, 4))
    ids = jax.random.randint(jax.random.key(1), (3, 8), 0, 5)
    layer = sjnn.RNN(cell, 6, return_sequences=True, dropout=0.3)
    variables = layer.init(jax.random.key(2), table[ids])
    rngs = {"dropout": jax.random.key(3)}

    def loss(params, table, tokens):
        out = layer.apply({"params": params}, table[ids], deterministic=False, rngs=rngs,
                          tokens=(table, ids) if tokens else None)
        return jnp.sum(jnp.sin(out))

    for argnums in (0, 1):  # the layer's weights and the embedding table
        got = jax.grad(loss, argnums)(variables["params"], table, True)
        assert_close(got, jax.grad(loss, argnums)(variables["params"], table, False), atol=1e-6)
    assert_close(loss(variables["params"], table, True), loss(variables["params"], table, False), atol=1e-6)
    # the rows are gathered with transposed ids: no [B, T, F] -> [T, B, F] transpose of the inputs
    jaxpr = str(jax.make_jaxpr(lambda t: loss(variables["params"], t, True))(table))
    assert "f32[8,3,4] = transpose" not in jaxpr and "i32[8,3] = transpose" in jaxpr
    assert "f32[8,3,4] = transpose" in str(jax.make_jaxpr(lambda t: loss(variables["params"], t, False))(table))


def test_classifier_inference_over_tokens_equals_the_layer_by_layer_computation():
    from seqjax.models import build_model

    ids = jax.random.randint(jax.random.key(0), (4, 30), 1, 20).at[:, 25:].set(0)
    for mask_zero in (True,):  # with lengths; without them is test_rnn_module_over_tokens_equals_over_embedded_inputs
        model = build_model(dict(kind="rnn", vocab_size=20, embedding_dim=6, cell="lstm", hidden_sizes=(5, 3),
                                 num_outputs=2, mask_zero=mask_zero))
        variables = model.init(jax.random.key(1), ids)
        lengths = sjnn.padding_lengths(ids) if mask_zero else None

        def layer_by_layer(params):
            x = params["Embedding_0"]["embedding"][ids]
            hidden = sjnn.RNN("lstm", 5, return_sequences=True).apply({"params": params["RNN_0"]}, x, lengths)
            last = sjnn.RNN("lstm", 3).apply({"params": params["RNN_1"]}, hidden, lengths)
            return last @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]

        params = variables["params"]
        assert_close(model.apply(variables, ids), layer_by_layer(params), atol=1e-6)
        # differentiating the model differentiates scan's path: the same gradients
        loss = lambda f: lambda p: jnp.sum(jnp.sin(f(p)))  # noqa: E731
        grads = jax.grad(loss(lambda p: model.apply({"params": p}, ids)))(params)
        assert_close(grads, jax.grad(loss(layer_by_layer))(params), atol=1e-6)


def test_bidirectional_module_last_output_is_both_final_states():
    xs = jax.random.normal(jax.random.key(0), (2, 5, 3))
    lengths = jnp.array([5, 3])
    layer = sjnn.RNN("gru", 4, bidirectional=True)
    variables = layer.init(jax.random.key(1), xs, lengths)
    out = layer.apply(variables, xs, lengths)
    p = variables["params"]
    carry, _ = sj.bidirectional(
        sj.cells.gru(4), sj.BidirectionalParams(p["forward"], p["backward"]), jnp.swapaxes(xs, 0, 1), lengths=lengths
    )
    assert out.shape == (2, 8)
    assert_close(out, jnp.concatenate([carry.forward.h, carry.backward.h], -1), atol=1e-6)


def test_dropout_masks_are_per_sequence_and_off_at_eval():
    xs = jnp.ones((2, 6, 3))
    layer = sjnn.RNN("lstm", 4, return_sequences=True, dropout=0.5, recurrent_dropout=0.5)
    variables = layer.init(jax.random.key(0), xs)
    plain = sjnn.RNN("lstm", 4, return_sequences=True).apply(variables, xs)
    assert_close(layer.apply(variables, xs, deterministic=True), plain)
    a = layer.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(3)})
    b = layer.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(3)})
    assert_close(a, b)
    assert not np.allclose(a, plain)
    # Input dropout draws one mask per sequence: with a linear Elman cell and no recurrence,
    # y_t = (x_t * mask) K, so a constant input gives the same output at every step.
    linear = sjnn.RNN("elman", 8, return_sequences=True, dropout=0.5, activation="linear")
    lv = linear.init(jax.random.key(0), xs)
    p = lv["params"]["forward"]
    lv = {"params": {"forward": p._replace(recurrent_kernel=jnp.zeros_like(p.recurrent_kernel))}}
    ys = linear.apply(lv, xs, deterministic=False, rngs={"dropout": jax.random.key(5)})
    assert_close(ys, jnp.broadcast_to(ys[:, :1], ys.shape))
    assert not np.allclose(ys[0], ys[1]), "each sequence has its own mask"


def test_rnn_module_takes_any_cell_factory():
    import functools

    factory = functools.partial(sj.cells.elman, activation="relu")
    xs = jax.random.normal(jax.random.key(0), (2, 4, 3))
    layer = sjnn.RNN(factory, 5, return_sequences=True)
    variables = layer.init(jax.random.key(1), xs)
    ref = sj.scan(factory(5), variables["params"]["forward"], jnp.swapaxes(xs, 0, 1))[1]
    assert_close(layer.apply(variables, xs), jnp.swapaxes(ref, 0, 1), atol=1e-6)
    assert float(layer.apply(variables, xs).min()) >= 0.0
    with pytest.raises(TypeError, match="must return a seqjax Cell"):
        sjnn.RNN(lambda h: None, 5).init(jax.random.key(1), xs)


def test_rnn_module_errors():
    with pytest.raises(ValueError, match="cell='transformer' is not a known cell"):
        sjnn.RNN("transformer", 4).init(jax.random.key(0), jnp.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"recurrent_dropout must be a dropout rate in \[0, 1\); got 1.0"):
        sjnn.RNN("lstm", 4, recurrent_dropout=1.0).init(jax.random.key(0), jnp.ones((1, 2, 3)))
    with pytest.raises(ValueError, match=r"RNN input must be \[B, T, F\]"):
        sjnn.RNN("lstm", 4).init(jax.random.key(0), jnp.ones((2, 3)))


def test_masked_pooling():
    x = jnp.array([[[1.0], [5.0], [100.0]]])
    assert sjnn.global_max_pool(x, jnp.array([2])).tolist() == [[5.0]]
    assert sjnn.global_avg_pool(x, jnp.array([2])).tolist() == [[3.0]]


def test_gru_recurrent_dropout_masks_only_the_recurrent_kernel_input():
    """Keras's GRU recurrent_dropout: the mask hits h where it meets the recurrent kernel;
    the z * h carry-over reads the unmasked state, so a long sequence stays bounded."""
    from helpers import np_gru_step

    cell = sj.cells.gru(4)
    params = cell.init(jax.random.key(0), 3)
    params = params._replace(bias=params.bias.at[0, :4].set(3.0))  # z near 1: the carry-over dominates
    h = jax.random.normal(jax.random.key(1), (2, 4))
    x = jax.random.normal(jax.random.key(2), (2, 3))
    mask = jnp.array([[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 2.0, 0.0]])
    _, y = cell.apply(params, sj.cells.GRUCarry(h), x, recurrent_mask=mask)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    hn = np.asarray(h, np.float64)
    a = np.asarray(x, np.float64) @ p.kernel + p.bias[0]
    u = (hn * np.asarray(mask)) @ p.recurrent_kernel + p.bias[1]
    z = 1 / (1 + np.exp(-(a[:, :4] + u[:, :4])))
    r = 1 / (1 + np.exp(-(a[:, 4:8] + u[:, 4:8])))
    ref = z * hn + (1 - z) * np.tanh(a[:, 8:] + r * u[:, 8:])
    assert_close(y, ref.astype(np.float32), atol=1e-5, rtol=1e-5)
    assert_close(cell.apply(params, sj.cells.GRUCarry(h), x)[1], np_gru_step(p, hn, np.asarray(x)).astype(np.float32),
                 atol=1e-5, rtol=1e-5)
    layer = sjnn.RNN("gru", 8, return_sequences=True, recurrent_dropout=0.5)
    xs = jnp.ones((4, 500, 3))
    variables = layer.init(jax.random.key(0), xs)
    ys = layer.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(3)})
    assert bool(jnp.isfinite(ys).all()) and float(jnp.abs(ys).max()) <= 1.0 + 1e-6


def test_recurrent_dropout_on_a_linear_cell_is_refused():
    with pytest.raises(ValueError, match="recurrent_dropout needs a recurrent kernel"):
        sjnn.RNN("min_gru", 4, recurrent_dropout=0.2).init(jax.random.key(0), jnp.ones((1, 5, 3)))
