"""The cuDNN LSTM path: the layout conversion against jax.experimental.rnn.lstm_ref, the dispatch
glue (run on CPU with lstm_ref standing in for the cuDNN kernel), and the fallback."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

import seqjax as sj
from seqjax import cudnn
from helpers import assert_close, random_params


def _ref_lstm(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional,
              precision=None):
    """What rnn.lstm computes on a GPU, from jax's own reference, on any backend."""
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
    return rnn.lstm_ref(x, h_0, c_0, w_ih, w_hh, b_ih, b_hh, seq_lengths, input_size, hidden_size, num_layers,
                        dropout, bidirectional)


def test_keras_layout_maps_onto_cudnn_weights_and_back():
    cell = sj.cells.lstm(6)
    params = random_params(cell, jax.random.key(0), 4)
    flat = cudnn.to_cudnn_weights(params)
    assert flat.shape == (rnn.get_num_params_in_lstm(4, 6, 1, False),)
    assert_close(cudnn.from_cudnn_weights(flat, 4, 6), params)


def test_lstm_ref_with_converted_weights_equals_the_scan():
    cell = sj.cells.lstm(6)
    params = random_params(cell, jax.random.key(0), 4)
    xs = jax.random.normal(jax.random.key(1), (3, 9, 4))  # batch-first for rnn
    lengths = jnp.array([9, 5, 1], jnp.int32)
    h0 = jax.random.normal(jax.random.key(2), (1, 3, 6))
    c0 = jax.random.normal(jax.random.key(3), (1, 3, 6))
    y, h, c = _ref_lstm(xs, h0, c0, cudnn.to_cudnn_weights(params), lengths, 4, 6, 1, 0.0, False)
    carry, ys = sj.scan(cell, params, jnp.swapaxes(xs, 0, 1), carry=sj.cells.LSTMCarry(h0[0], c0[0]),
                        lengths=lengths, implementation="scan")
    mask = (jnp.arange(9)[None, :] < lengths[:, None])[..., None]
    assert_close(jnp.where(mask, y, 0.0), jnp.swapaxes(ys, 0, 1), atol=1e-5, rtol=1e-5)
    assert_close((h[0], c[0]), tuple(carry), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_dispatches_a_standard_lstm_to_cudnn_on_gpu(monkeypatch, reverse):
    cell = sj.cells.lstm(5)
    params = random_params(cell, jax.random.key(0), 3)
    xs = jax.random.normal(jax.random.key(1), (8, 2, 2, 3))  # two batch dims
    lengths = jnp.array([[8, 3], [0, 6]])
    expected = sj.scan(cell, params, xs, lengths=lengths, reverse=reverse, implementation="scan")
    calls = []
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(rnn, "lstm", lambda *a, **k: calls.append(1) or _ref_lstm(*a, **k))
    got = sj.scan(cell, params, xs, lengths=lengths, reverse=reverse)
    assert calls, "the standard LSTM went to cuDNN"
    assert_close(got, expected, atol=1e-5, rtol=1e-5)
    grads = jax.grad(lambda p: sj.scan(cell, p, xs, lengths=lengths, reverse=reverse)[1].sum())(params)
    ref_grads = jax.grad(lambda p: sj.scan(cell, p, xs, lengths=lengths, reverse=reverse,
                                           implementation="scan")[1].sum())(params)
    assert_close(grads, ref_grads, atol=1e-4, rtol=1e-4)


def test_other_cells_and_cpu_fall_back_to_lax_scan(monkeypatch):
    params_in = jnp.ones((4, 2, 3))
    lstm = sj.cells.lstm(4)
    params = lstm.init(jax.random.key(0), 3)
    jaxpr = str(jax.make_jaxpr(lambda x: sj.scan(lstm, params, x))(params_in))
    assert " scan[" in jaxpr or "ffi_call" in jaxpr  # CPU: lax.scan or the compiled kernel
    assert not cudnn.eligible(sj.cells.lstm(4, activation="relu"), params)
    assert not cudnn.eligible(sj.cells.gru(4), sj.cells.gru(4).init(jax.random.key(0), 3))
    with pytest.raises(ValueError, match="implementation='cudnn' needs a GPU"):
        sj.scan(lstm, params, params_in, implementation="cudnn")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    relu = sj.cells.lstm(4, activation="relu")
    with pytest.raises(ValueError, match="needs a standard sj.cells.lstm"):
        sj.scan(relu, relu.init(jax.random.key(0), 3), params_in, implementation="cudnn")
    with pytest.raises(ValueError, match="implementation="):
        sj.scan(lstm, params, params_in, implementation="fast")
