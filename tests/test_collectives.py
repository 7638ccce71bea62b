"""psum_packed: the sums of jax.lax.psum, with the small leaves in one buffer per dtype."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.train.collectives import PACK_MAX_SIZE, psum_packed


def _tree(rng, devices):
    """A per-device stack of a pytree with small and large float leaves, ints and scalars."""
    return {
        "kernel": rng.normal(size=(devices, 7, 5)).astype(np.float32),
        "bias": rng.normal(size=(devices, 5)).astype(np.float32),
        "embedding": rng.normal(size=(devices, PACK_MAX_SIZE + 3)).astype(np.float32),
        "metrics": {"count": rng.normal(size=(devices,)).astype(np.float32),
                    "correct": rng.integers(0, 9, size=(devices,)).astype(np.int32),
                    "hits": rng.integers(0, 9, size=(devices, 2)).astype(np.int32)},
        "alone": rng.normal(size=(devices, 3)).astype(np.float16),
    }


@pytest.mark.parametrize("max_size", [PACK_MAX_SIZE, 0, 10**9])
def test_psum_packed_equals_psum_over_a_mapped_axis(max_size):
    tree = _tree(np.random.default_rng(0), devices=3)
    packed = jax.vmap(lambda t: psum_packed(t, "d", max_size=max_size), axis_name="d")(tree)
    plain = jax.vmap(lambda t: jax.lax.psum(t, "d"), axis_name="d")(tree)
    assert jax.tree.structure(packed) == jax.tree.structure(plain)
    for got, want in zip(jax.tree.leaves(packed), jax.tree.leaves(plain)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_small_leaves_reach_the_collective_as_one_buffer_per_dtype():
    tree = jax.tree.map(lambda a: a[0], _tree(np.random.default_rng(1), devices=1))
    jaxpr = jax.make_jaxpr(jax.vmap(lambda t: psum_packed(t, "d"), axis_name="d"))(
        jax.tree.map(lambda a: a[None], tree))
    psums = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "psum"]
    shapes = sorted(tuple(v.aval.shape) for e in psums for v in e.invars)
    # float32 kernel + bias + count packed (35 + 5 + 1), int32 correct + hits packed (1 + 2),
    # the float16 leaf alone, the large leaf alone
    assert shapes == [(1, 3), (1, 3), (1, 41), (1, PACK_MAX_SIZE + 3)], shapes


def test_psum_packed_keeps_scalars_and_empty_trees():
    assert jax.vmap(lambda x: psum_packed({}, "d"), axis_name="d")(jnp.zeros(2)) == {}
    out = jax.vmap(lambda x: psum_packed((x, 2 * x), "d"), axis_name="d")(jnp.arange(4.0))
    np.testing.assert_array_equal(out[0], np.full(4, 6.0))
    np.testing.assert_array_equal(out[1], np.full(4, 12.0))
