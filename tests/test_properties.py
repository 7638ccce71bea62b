"""Property tests (hypothesis) of the scan's masking invariants."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import seqjax as sj

CELL = sj.cells.gru(3)
PARAMS = CELL.init(jax.random.key(0), 2)
T = 6


@st.composite
def padded_batches(draw):
    batch = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(0, T), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    reverse = draw(st.booleans())
    return np.array(lengths, np.int32), seed, reverse


@settings(max_examples=40, deadline=None)
@given(padded_batches())
def test_outputs_past_length_are_zero_and_carry_ignores_padding(case):
    lengths, seed, reverse = case
    xs = jax.random.normal(jax.random.key(seed), (T, len(lengths), 2))
    carry, ys = sj.scan(CELL, PARAMS, xs, lengths=lengths, reverse=reverse)
    steps = np.arange(T)[:, None]
    padding = steps >= lengths[None, :]
    assert not np.any(np.asarray(ys)[padding]), "outputs at and past each length are zero"
    noise = jax.random.normal(jax.random.key(seed + 1), xs.shape) * 100
    noisy = jnp.where(jnp.asarray(padding)[..., None], noise, xs)
    carry2, ys2 = sj.scan(CELL, PARAMS, noisy, lengths=lengths, reverse=reverse)
    np.testing.assert_array_equal(np.asarray(carry.h), np.asarray(carry2.h))
    np.testing.assert_array_equal(np.asarray(ys), np.asarray(ys2))
    empty = lengths == 0
    assert not np.any(np.asarray(carry.h)[empty]), "a zero-length sequence keeps the initial carry"
