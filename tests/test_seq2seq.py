"""Sequence to sequence: teacher forcing against a step loop, greedy and beam search under jit,
and the generated dates task."""

import datetime as dt

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
from seqjax.data import dates
from seqjax.seq2seq import seq2seq, sequence_loss, trim_after_eos
from helpers import assert_close, assert_shape


def _model(attention=True, cell=None):
    return seq2seq(cell or sj.cells.gru(12), source_vocab=20, target_vocab=9, embedding_dim=6,
                   attention=sj.attention.additive(8) if attention else None, bos_id=1, eos_id=2)


def _batch():
    src = jax.random.randint(jax.random.key(1), (3, 7), 3, 20)
    lengths = jnp.array([7, 4, 1])
    src = jnp.where(jnp.arange(7) < lengths[:, None], src, 0)
    targets = jax.random.randint(jax.random.key(2), (3, 5), 3, 9)
    return src, lengths, targets


@pytest.mark.parametrize("attention", [True, False])
def test_teacher_forcing_equals_a_loop_over_the_step(attention):
    model = _model(attention)
    params = model.init(jax.random.key(0))
    src, lengths, targets = _batch()
    logits, weights = model.teacher_forcing(params, src, lengths, targets)
    assert_shape(logits, (3, 5, 9))
    memory = model.encode(params, src, lengths)
    carry, token = memory.carry, jnp.full((3,), 1)
    for t in range(5):
        carry, step_logits, step_weights = model.step(params, memory, carry, token)
        assert_close(logits[:, t], step_logits, atol=1e-5, rtol=1e-5)
        assert_close(weights[:, t], step_weights, atol=1e-6)
        token = targets[:, t]
    if attention:
        assert np.all(np.asarray(weights)[1, :, 4:] == 0.0), "padded source positions get no weight"
        assert_close(weights.sum(-1), jnp.ones((3, 5)), atol=1e-5)


def test_greedy_is_argmax_fed_back_and_compiles_without_a_python_loop():
    model = _model(cell=sj.cells.lstm(10))
    params = model.init(jax.random.key(3))
    src, lengths, _ = _batch()
    tokens, weights = jax.jit(model.greedy, static_argnums=3)(params, src, lengths, 6)
    assert_shape(weights, (3, 6, 7))
    memory = model.encode(params, src, lengths)
    carry, token, expected = memory.carry, jnp.full((3,), 1), []
    for _ in range(6):
        carry, logits, _ = model.step(params, memory, carry, token)
        token = jnp.argmax(logits, -1)
        expected.append(token)
    assert np.array_equal(np.asarray(tokens), np.asarray(trim_after_eos(jnp.stack(expected, 1), 2)))
    jaxpr = str(jax.make_jaxpr(model.greedy, static_argnums=3)(params, src, lengths, 6))
    assert jaxpr.count(" scan[") >= 1 and jaxpr.count("dot_general") < 20, "one scanned step, not 6 unrolled"


def _log_prob(model, params, src, lengths, tokens):
    """Log-probability of ``tokens`` (up to and including eos) under the model."""
    logits, _ = model.teacher_forcing(params, src, lengths, tokens)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[..., None], -1)[..., 0]
    keep = jnp.cumsum(tokens == 2, axis=1) - (tokens == 2) == 0
    return jnp.sum(jnp.where(keep, logp, 0.0), axis=1)


def test_beam_search_of_one_is_greedy_and_wider_beams_score_at_least_as_well():
    model = _model()
    params = model.init(jax.random.key(4))
    src, lengths, _ = _batch()
    beam = jax.jit(model.beam_search, static_argnums=(3, 4))
    greedy_tokens, _ = model.greedy(params, src, lengths, 5)
    one, _ = beam(params, src, lengths, 5, 1)
    assert np.array_equal(np.asarray(one), np.asarray(greedy_tokens))
    four, score = beam(params, src, lengths, 5, 4)
    assert_close(score, _log_prob(model, params, src, lengths, four), atol=1e-4, rtol=1e-4)
    assert np.all(np.asarray(score) >= np.asarray(_log_prob(model, params, src, lengths, greedy_tokens)) - 1e-5)


def test_a_few_pairs_are_learned_by_gradient_descent():
    import optax

    model = _model()
    params = model.init(jax.random.key(5))
    src, lengths, _ = _batch()
    targets = jnp.array([[3, 4, 5, 6, 2], [6, 5, 4, 3, 2], [8, 8, 7, 2, 0]])
    tx = optax.adam(3e-2)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt):
        loss, grads = jax.value_and_grad(
            lambda p: sequence_loss(model.teacher_forcing(p, src, lengths, targets)[0], targets, targets > 0))(params)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt, loss

    for _ in range(150):
        params, opt, loss = step(params, opt)
    tokens, _ = model.greedy(params, src, lengths, 5)
    assert np.array_equal(np.asarray(tokens), np.asarray(targets)), f"loss {float(loss):.3f}"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="target_vocab must be a positive int"):
        seq2seq(sj.cells.gru(4), source_vocab=5, target_vocab=0, embedding_dim=3)
    model = _model()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match="src must be integer ids"):
        model.greedy(params, jnp.ones((2, 3)), jnp.array([3, 3]), 4)
    with pytest.raises(ValueError, match="beam_size must be a positive int"):
        model.beam_search(params, jnp.ones((2, 3), jnp.int32), jnp.array([3, 3]), 4, 0)


# --- the dates task ------------------------------------------------------------------------


def test_dates_are_deterministic_and_every_format_names_the_same_day():
    a, b = dates.DatePairs("train", 50, seed=3), dates.DatePairs("train", 50, seed=3)
    assert [a[i]["text"] for i in range(50)] == [b[i]["text"] for i in range(50)]
    day = dt.date(2026, 11, 22)
    texts = {f(day, True) for f in dates.FORMATS} | {f(day, False) for f in dates.FORMATS}
    assert {"22 Nov 2026", "november 22, 2026", "22/11/2026", "2026-11-22", "the 22nd of November, 2026"} <= texts
    for text in texts:
        assert len(text) <= dates.MAX_SOURCE_LENGTH
        dates.encode_source(text)  # every character is in the vocabulary
    example = a[0]
    assert dates.decode_target(example["target"]) == example["iso"]
    assert example["target"][-1] == dates.EOS and len(example["target"]) == dates.TARGET_LENGTH


def test_test_dates_are_held_out_of_training():
    train = {dates.DatePairs("train", 3000, 0)[i]["iso"] for i in range(3000)}
    test = {dates.DatePairs("test", 500, 0)[i]["iso"] for i in range(500)}
    assert not train & test


def test_date_text_errors_are_clear():
    with pytest.raises(ValueError, match="empty"):
        dates.encode_source("  ")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        dates.encode_source("22 Nov 2026!")
    with pytest.raises(ValueError, match="split="):
        dates.DatePairs("dev")
