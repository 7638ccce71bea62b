"""sj.scan, sj.bidirectional and sj.stacked against loops, truncation and references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
from helpers import CELLS, assert_close, assert_shape, np_step, random_params

T, B, F, H = 7, 3, 4, 5
LENGTHS = jnp.array([7, 3, 0])


def setup(name, key=0):
    cell = CELLS[name](H)
    params = random_params(cell, jax.random.key(key), F)
    xs = jax.random.normal(jax.random.key(key + 100), (T, B, F))
    return cell, params, xs


def python_loop(cell, params, xs, carry=None):
    carry = cell.initial_carry(xs.shape[1:-1]) if carry is None else carry
    ys = []
    for x in xs:
        carry, y = cell.apply(params, carry, x)
        ys.append(y)
    return carry, jnp.stack(ys)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_scan_equals_python_loop_and_numpy(name):
    cell, params, xs = setup(name)
    carry, ys = sj.scan(cell, params, xs)
    ref_carry, ref_ys = python_loop(cell, params, xs)
    assert_shape(ys, (T, B, H))
    assert_close((carry, ys), (ref_carry, ref_ys), atol=1e-5)
    np_carry = cell.initial_carry((B,))
    for t in range(T):
        np_carry, np_y = np_step(name, params, np_carry, xs[t])
    assert_close(ys[-1], np_y.astype(np.float32), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_scan_with_initial_carry(name):
    cell, params, xs = setup(name)
    init = jax.tree.map(lambda a: jnp.full(a.shape, 0.3), cell.initial_carry((B,)))
    assert_close(sj.scan(cell, params, xs, carry=init), python_loop(cell, params, xs, init), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_masked_equals_truncated(name):
    cell, params, xs = setup(name)
    carry, ys = sj.scan(cell, params, xs, lengths=LENGTHS)
    for b, n in enumerate(np.asarray(LENGTHS)):
        ref_carry, ref_ys = sj.scan(cell, params, xs[:n, b]) if n else (cell.initial_carry(), None)
        assert_close(jax.tree.map(lambda a: a[b], carry), ref_carry, atol=1e-5)
        if n:
            assert_close(ys[:n, b], ref_ys, atol=1e-5)
        assert not np.any(np.asarray(ys[n:, b])), "outputs past the length must be zero"


@pytest.mark.parametrize("name", sorted(CELLS))
def test_final_carry_ignores_padding_values(name):
    cell, params, xs = setup(name)
    noisy = xs.at[4:, 1].set(1e3)  # sequence 1 has length 3
    a = sj.scan(cell, params, xs, lengths=LENGTHS)
    b = sj.scan(cell, params, noisy, lengths=LENGTHS)
    assert_close(jax.tree.map(lambda t: t[1], a[0]), jax.tree.map(lambda t: t[1], b[0]))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_reverse_on_padded_batch_walks_real_steps_only(name):
    cell, params, xs = setup(name)
    carry, ys = sj.scan(cell, params, xs, lengths=LENGTHS, reverse=True)
    for b, n in enumerate(np.asarray(LENGTHS)):
        if n == 0:
            assert not np.any(np.asarray(ys[:, b]))
            continue
        ref_carry, ref_ys = sj.scan(cell, params, xs[:n, b][::-1])
        assert_close(ys[:n, b], ref_ys[::-1], atol=1e-5)
        assert_close(jax.tree.map(lambda a: a[b], carry), ref_carry, atol=1e-5)
        assert not np.any(np.asarray(ys[n:, b]))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_reverse_without_lengths_matches_flipped(name):
    cell, params, xs = setup(name)
    carry, ys = sj.scan(cell, params, xs, reverse=True)
    ref_carry, ref_ys = python_loop(cell, params, xs[::-1])
    assert_close((carry, ys), (ref_carry, ref_ys[::-1]), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_vmap_equals_loop_and_direct_batch(name):
    cell, params, xs = setup(name)
    batch_first = jnp.swapaxes(xs, 0, 1)  # [B, T, F]
    run = lambda x, n: sj.scan(cell, params, x, lengths=n)  # noqa: E731
    v_carry, v_ys = jax.vmap(run)(batch_first, LENGTHS)
    d_carry, d_ys = sj.scan(cell, params, xs, lengths=LENGTHS)
    assert_close((v_carry, jnp.swapaxes(v_ys, 0, 1)), (d_carry, d_ys), atol=1e-5)
    for b in range(B):
        l_carry, l_ys = run(batch_first[b], LENGTHS[b])
        assert_close((jax.tree.map(lambda a: a[b], v_carry), v_ys[b]), (l_carry, l_ys), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
def test_jit_equals_no_jit(name, reverse):
    cell, params, xs = setup(name)
    run = lambda p, x, n: sj.scan(cell, p, x, lengths=n, reverse=reverse)  # noqa: E731
    assert_close(jax.jit(run)(params, xs, LENGTHS), run(params, xs, LENGTHS), atol=1e-5)


def test_unroll_gives_same_result():
    cell, params, xs = setup("lstm")
    assert_close(
        sj.scan(cell, params, xs, lengths=LENGTHS, unroll=4),
        sj.scan(cell, params, xs, lengths=LENGTHS),
        atol=1e-5,
    )


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradients_are_finite_and_respect_mask(name):
    cell, params, xs = setup(name)

    def loss(p, x):
        carry, ys = sj.scan(cell, p, x, lengths=LENGTHS)
        return jnp.sum(ys**2) + jnp.sum(carry.h)

    g_params, g_xs = jax.grad(loss, argnums=(0, 1))(params, xs)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(g_params))
    assert float(jnp.abs(g_params.kernel).sum()) > 0
    # padding steps get no gradient
    assert not np.any(np.asarray(g_xs[3:, 1])) and not np.any(np.asarray(g_xs[:, 2]))


def test_integer_one_hot_inputs_give_float_outputs():
    cell = sj.cells.elman(3)
    params = cell.init(jax.random.key(0), 4)
    xs = jnp.eye(4, dtype=jnp.int32)[jnp.array([0, 1, 2])]
    _, ys = sj.scan(cell, params, xs)
    assert ys.dtype == jnp.float32


# --- bidirectional and stacked --------------------------------------------------------


@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "ave", "mul", None])
def test_bidirectional_on_padded_batch(merge):
    cell, _, xs = setup("gru")
    params = sj.init_bidirectional(jax.random.key(3), cell, F)
    carry, ys = sj.bidirectional(cell, params, xs, lengths=LENGTHS, merge=merge)
    fwd_carry, fwd = sj.scan(cell, params.forward, xs, lengths=LENGTHS)
    bwd_carry, bwd = sj.scan(cell, params.backward, xs, lengths=LENGTHS, reverse=True)
    assert_close(carry, sj.BidirectionalCarry(fwd_carry, bwd_carry))
    expected = {
        "concat": jnp.concatenate([fwd, bwd], -1),
        "sum": fwd + bwd,
        "mean": (fwd + bwd) / 2,
        "ave": (fwd + bwd) / 2,
        "mul": fwd * bwd,
        None: (fwd, bwd),
    }[merge]
    assert_close(ys, expected, atol=1e-6)
    # the backward output at the first step has read the whole real sequence
    b1 = sj.scan(cell, params.backward, xs[:3, 1][::-1])[1][::-1]
    assert_close(bwd[:3, 1], b1, atol=1e-5)


def test_bidirectional_with_different_backward_cell():
    fwd_cell, bwd_cell = sj.cells.lstm(H), sj.cells.gru(2)
    xs = jax.random.normal(jax.random.key(0), (T, B, F))
    params = sj.init_bidirectional(jax.random.key(1), fwd_cell, F, backward_cell=bwd_cell)
    carry, ys = sj.bidirectional(fwd_cell, params, xs, backward_cell=bwd_cell, lengths=LENGTHS)
    assert_shape(ys, (T, B, H + 2))
    assert isinstance(carry.forward, sj.cells.LSTMCarry) and isinstance(carry.backward, sj.cells.GRUCarry)


def test_stacked_equals_manual_chaining():
    cells = [sj.cells.lstm(6), sj.cells.gru(5), sj.cells.elman(2)]
    xs = jax.random.normal(jax.random.key(0), (T, B, F))
    params = sj.init_stacked(jax.random.key(1), cells, F)
    assert [p.kernel.shape[0] for p in params] == [F, 6, 5]
    carries, ys = sj.stacked(cells, params, xs, lengths=LENGTHS)
    h = xs
    for cell, p, c in zip(cells, params, carries):
        ref_c, h = sj.scan(cell, p, h, lengths=LENGTHS)
        assert_close(c, ref_c, atol=1e-6)
    assert_close(ys, h, atol=1e-6)
    assert_shape(ys, (T, B, 2))
    jit_carries, jit_ys = jax.jit(lambda p, x: sj.stacked(cells, p, x, lengths=LENGTHS))(params, xs)
    assert_close((jit_carries, jit_ys), (carries, ys), atol=1e-5)


# --- errors ---------------------------------------------------------------------------


def test_scan_rejects_wrong_rank():
    cell, params, _ = setup("lstm")
    with pytest.raises(ValueError, match=r"xs must have shape \[T, \.\.\., F\].*got shape \(7,\).*xs\[:, None\]"):
        sj.scan(cell, params, jnp.zeros(7))


def test_scan_rejects_feature_mismatch():
    cell, params, _ = setup("gru")
    with pytest.raises(ValueError, match=r"xs must have feature size 4.*got xs of shape \(7, 3, 6\).*input_size=6"):
        sj.scan(cell, params, jnp.zeros((7, 3, 6)))


@pytest.mark.parametrize("bad", [[8, 1, 1], [-1, 2, 3]])
def test_scan_rejects_lengths_out_of_range(bad):
    cell, params, xs = setup("elman")
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\] = \[0, 7\]"):
        sj.scan(cell, params, xs, lengths=jnp.array(bad))


def test_scan_rejects_bad_lengths_shape_and_dtype():
    cell, params, xs = setup("elman")
    with pytest.raises(ValueError, match=r"lengths must have the batch shape of xs, \(3,\).*got shape \(2,\)"):
        sj.scan(cell, params, xs, lengths=jnp.array([1, 2]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        sj.scan(cell, params, xs, lengths=jnp.array([1.0, 2.0, 3.0]))


def test_scan_rejects_carry_of_wrong_structure_or_shape():
    cell, params, xs = setup("lstm")
    with pytest.raises(TypeError, match=r"carry must have the structure of cell.initial_carry\(\)"):
        sj.scan(cell, params, xs, carry=sj.cells.GRUCarry(jnp.zeros((B, H))))
    with pytest.raises(ValueError, match=r"carry leaves must have shape \(3, 5\).*got \(5,\)"):
        sj.scan(cell, params, xs, carry=cell.initial_carry(()))


def test_bidirectional_and_stacked_errors():
    cell, params, xs = setup("lstm")
    with pytest.raises(ValueError, match="merge='max' is not a merge mode"):
        sj.bidirectional(cell, sj.BidirectionalParams(params, params), xs, merge="max")
    with pytest.raises(TypeError, match="params must be a BidirectionalParams"):
        sj.bidirectional(cell, params, xs)
    with pytest.raises(ValueError, match=r"params must hold one entry per cell \(2\); got 1"):
        sj.stacked([cell, cell], [params], xs)
    with pytest.raises(ValueError, match="cells must be a non-empty sequence of Cell"):
        sj.stacked([], [], xs)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_remat_changes_neither_values_nor_gradients(name):
    cell, params, xs = setup(name)

    def loss(p, remat):
        carry, ys = sj.scan(cell, p, xs, lengths=LENGTHS, remat=remat)
        return jnp.sum(ys**2) + jnp.sum(carry.h)

    assert_close(sj.scan(cell, params, xs, remat=True), sj.scan(cell, params, xs), atol=1e-6)
    assert_close(jax.grad(loss)(params, True), jax.grad(loss)(params, False), atol=1e-5)


def test_auto_remat_follows_the_measured_rule():
    assert sj.recurrence.auto_remat(500, 32) is True  # long sequence, small cell (CPU here)
    assert sj.recurrence.auto_remat(55, 32) is False
    assert sj.recurrence.auto_remat(200, 256) is False


# --- scan_tokens: scan over token ids through an embedding table ---------------------------

V = 6  # a vocabulary smaller than half of T * B = 21 tokens: the table is projected


def token_setup(name):
    cell, params, _ = setup(name)
    table = jax.random.normal(jax.random.key(7), (V, F))
    ids = jax.random.randint(jax.random.key(8), (T, B), 0, V)
    return cell, params, table, ids


def projects_table(fn, table, *args, width=None) -> bool:
    """Whether ``fn(table, *args)`` makes the projected table ``[V, G]`` (the gathered
    path never has an array of that shape)."""
    width = width or 4 * H
    return f"f32[{table.shape[0]},{width}]" in str(jax.make_jaxpr(fn)(table, *args))


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("options", [{"reverse": True}, {"lengths": LENGTHS, "reverse": True}])
def test_scan_tokens_equals_scan_over_the_gathered_inputs(name, options, without_native_lstm):
    cell, params, table, ids = token_setup(name)
    carry0 = jax.tree.map(lambda a: a + 0.5, cell.initial_carry((B,)))
    run = lambda p, tab, c: sj.scan_tokens(cell, p, tab, ids, carry=c, **options)  # noqa: E731
    assert projects_table(lambda tab: run(params, tab, carry0), table, width=params.kernel.shape[1])
    got = run(params, table, carry0)
    want = sj.scan(cell, params, table[ids], carry=carry0, **options)
    assert_close(got, want, atol=1e-6, rtol=1e-6)
    if "lengths" in options:  # outputs past each length are zero, as scan's
        assert float(jnp.abs(got[1][3:, 1]).max()) == 0.0 and float(jnp.abs(got[1][:, 2]).max()) == 0.0

    # derivatives are scan's own (both modes), not those of the projected table
    loss = lambda f: lambda p, tab, c: jnp.sum(jnp.sin(f(p, tab, c)[1]))  # noqa: E731
    gathered = lambda p, tab, c: sj.scan(cell, p, tab[ids], carry=c, **options)  # noqa: E731
    grads = jax.grad(loss(run), argnums=(0, 1, 2))(params, table, carry0)
    ref_grads = jax.grad(loss(gathered), argnums=(0, 1, 2))(params, table, carry0)
    assert_close(grads, ref_grads, atol=1e-6, rtol=1e-6)
    # forward mode wherever scan has it (the default LSTM on the CPU is the fused custom_vjp)
    tangent = jax.tree.map(jnp.ones_like, table)
    plain = dict(options, implementation="scan")
    _, jvp = jax.jvp(lambda tab: sj.scan_tokens(cell, params, tab, ids, carry=carry0, **plain)[1], (table,), (tangent,))
    _, ref_jvp = jax.jvp(lambda tab: sj.scan(cell, params, tab[ids], carry=carry0, **plain)[1], (table,), (tangent,))
    assert_close(jvp, ref_jvp, atol=1e-5, rtol=1e-5)


def test_scan_tokens_gathers_when_the_table_is_the_bigger_side():
    cell, params, _, ids = token_setup("lstm")
    big = jax.random.normal(jax.random.key(9), (4 * T * B, F))  # more rows than tokens
    run = lambda tab: sj.scan_tokens(cell, params, tab, ids)  # noqa: E731
    assert not projects_table(run, big)
    assert projects_table(lambda tab: sj.scan_tokens(cell, params, tab, ids, project_table=True), big)
    small = big[:V]
    assert not projects_table(lambda tab: sj.scan_tokens(cell, params, tab, ids, project_table=False), small)
    assert_close(run(big), sj.scan(cell, params, big[ids]), atol=1e-6)
    # cells without a split (the parallel cells) always gather
    fast = sj.cells.min_gru(H)
    fast_params = fast.init(jax.random.key(0), F)
    assert_close(sj.scan_tokens(fast, fast_params, small, ids), sj.scan(fast, fast_params, small[ids]), atol=1e-6)


def test_scan_tokens_rejects_bad_arguments():
    cell, params, table, ids = token_setup("gru")
    with pytest.raises(ValueError, match=r"table must be an embedding matrix \[V, I\]"):
        sj.scan_tokens(cell, params, table[None], ids)
    with pytest.raises(TypeError, match="ids must be integer token ids"):
        sj.scan_tokens(cell, params, table, ids.astype(jnp.float32))
    fast = sj.cells.min_gru(H)
    with pytest.raises(ValueError, match="project_table=True needs a cell split"):
        sj.scan_tokens(fast, fast.init(jax.random.key(0), F), table, ids, project_table=True)
    lstm_cell, lstm_params, _, _ = token_setup("lstm")
    with pytest.raises(ValueError, match="implementation='cudnn'"):
        sj.scan_tokens(lstm_cell, lstm_params, table, ids, project_table=True, implementation="cudnn")
    with pytest.raises(ValueError, match="lengths must lie in"):
        sj.scan_tokens(cell, params, table, ids, lengths=jnp.array([9, 1, 1]))
