"""Driving cells over time: ``scan``, ``bidirectional`` and ``stacked`` layers.

Time is the leading axis: ``xs [T, ..., F]`` gives ``ys [T, ..., H]``; any batch
dimensions sit between time and features. ``jax.vmap`` over a batch-first
array and a direct call on ``[T, B, F]`` agree.

Padding is on the right. With ``lengths`` (shape ``[...]``, the batch shape),
outputs at and past a sequence's length are zero and the returned carry is the
carry after its last real step. ``reverse=True`` walks only the real steps
backwards (padding stays at the end), as a backward RNN over a padded batch needs.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from seqjax import fused_lstm, native_lstm
from seqjax._mesh_types import explicit_batch_spec, like_inputs, take_rows, vary, varying_axes
from seqjax.cells import Cell, input_size_of

Array = jax.Array

__all__ = [
    "scan",
    "scan_tokens",
    "bidirectional",
    "init_bidirectional",
    "BidirectionalParams",
    "BidirectionalCarry",
    "MERGE_MODES",
    "stacked",
    "init_stacked",
    "output_size",
]


def _check_xs(xs: Array, params: Any) -> None:
    if xs.ndim < 2:
        raise ValueError(
            f"xs must have shape [T, ..., F] (time first, features last); got shape "
            f"{tuple(xs.shape)}. For a single feature per step use xs[:, None]."
        )
    if hasattr(params, "kernel"):
        expected = input_size_of(params)
        if xs.shape[-1] != expected:
            raise ValueError(
                f"xs must have feature size {expected} (params.kernel has shape "
                f"{tuple(params.kernel.shape)}); got xs of shape {tuple(xs.shape)}. "
                f"Re-init the params with input_size={xs.shape[-1]} or fix the feature axis."
            )


def _check_carry(cell: Cell, carry: Any, batch_shape: tuple[int, ...], dtype: Any) -> None:
    expected = jax.eval_shape(lambda: cell.initial_carry(batch_shape, dtype))
    got_def, want_def = jax.tree.structure(carry), jax.tree.structure(expected)
    if got_def != want_def:
        raise TypeError(
            f"carry must have the structure of cell.initial_carry(): {want_def}; got "
            f"{got_def}. Build it with cell.initial_carry(batch_shape={batch_shape})."
        )
    for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(expected)):
        if tuple(jnp.shape(got)) != tuple(want.shape):
            raise ValueError(
                f"carry leaves must have shape {tuple(want.shape)} for xs with batch shape "
                f"{batch_shape}; got {tuple(jnp.shape(got))}. "
                f"Build it with cell.initial_carry(batch_shape={batch_shape})."
            )


def _check_lengths(lengths: Any, num_steps: int, batch_shape: tuple[int, ...]) -> Array:
    lengths = jnp.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(
            f"lengths must be integers (the number of real steps of each sequence); got "
            f"dtype {lengths.dtype}. Cast with lengths.astype(jnp.int32)."
        )
    if lengths.shape != batch_shape:
        try:
            lengths = jnp.broadcast_to(lengths, batch_shape)
        except ValueError:
            raise ValueError(
                f"lengths must have the batch shape of xs, {batch_shape} (xs is [T, *batch, F]); "
                f"got shape {tuple(lengths.shape)}. Pass one length per sequence."
            ) from None
    try:
        concrete = np.asarray(lengths)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return lengths  # traced: values are only known at run time
    if concrete.size and (concrete.min() < 0 or concrete.max() > num_steps):
        raise ValueError(
            f"lengths must lie in [0, T] = [0, {num_steps}]; got values from "
            f"{concrete.min()} to {concrete.max()}. Clip them or pad xs to the longest sequence."
        )
    return lengths


# Measured in docs/BENCHMARKS.md (2 CPU cores): recomputing the step in the backward pass
# made training 20% faster for T = 500, H = 32, did nothing for T = 55 and cost 29% for
# T = 200, H = 256, where the recomputed matmuls dominate.
AUTO_REMAT_MIN_STEPS = 128
AUTO_REMAT_MAX_HIDDEN = 64


def auto_remat(num_steps: int, hidden_size: int) -> bool:
    """Whether ``scan(remat=None)`` recomputes steps: on CPU, for long sequences of
    small cells, where XLA:CPU is bound by memory traffic rather than matmuls."""
    return (
        jax.default_backend() == "cpu"
        and num_steps >= AUTO_REMAT_MIN_STEPS
        and hidden_size <= AUTO_REMAT_MAX_HIDDEN
    )


def _flip_padded(xs: Array, lengths: Array) -> Array:
    """Reverses the first ``lengths`` steps of each sequence, leaving padding in place.

    ``xs [T, *B, ...]``, ``lengths [*B]``. The map is its own inverse.
    """
    steps = jnp.arange(xs.shape[0]).reshape((-1,) + (1,) * lengths.ndim)
    index = jnp.where(steps < lengths, lengths - 1 - steps, steps)
    index = index.reshape(index.shape + (1,) * (xs.ndim - index.ndim))
    return jnp.take_along_axis(xs, index, axis=0)


def _where_batch(mask: Array, new: Array, old: Array) -> Array:
    mask = mask.reshape(mask.shape + (1,) * (jnp.ndim(new) - mask.ndim))
    return jnp.where(mask, new, old)


def scan(
    cell: Cell,
    params: Any,
    xs: Array,
    *,
    carry: Any = None,
    lengths: Array | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    remat: bool | None = None,
    parallel: bool | None = None,
    implementation: str | None = None,
) -> tuple[Any, Array]:
    """Runs ``cell`` over the leading (time) axis of ``xs`` with ``lax.scan``.

    Cells linear in their carry (``cell.coefficients`` set: ``min_gru``,
    ``min_lstm``) can run as a log-depth ``lax.associative_scan`` instead (``parallel``).

    Args:
      cell: a :class:`~seqjax.cells.Cell`.
      params: the cell's params.
      xs: inputs ``[T, *B, F]``.
      carry: initial carry with leaves ``[*B, H]``; zeros when ``None``.
      lengths: integer ``[*B]`` number of real (left-aligned) steps per sequence,
        in ``[0, T]``; ``None`` means all ``T`` steps are real.
      reverse: walk the real steps from last to first; outputs stay at their
        original positions.
      unroll: passed to ``lax.scan``.
      remat: recompute each step's internals in the backward pass instead of
        storing them (``jax.checkpoint`` on the step): memory for long sequences
        drops to the carries and outputs; values and gradients are unchanged.
        ``None`` (default) decides from the static shapes (:func:`auto_remat`).
      parallel: run a linear cell as an associative scan (``True``) or step by
        step with ``cell.apply`` (``False``); ``None`` (default) takes the
        associative scan on accelerators and steps on the CPU, where the scan's
        extra work made minGRU 2.6x slower at T = 4,096 (docs/BENCHMARKS.md). Both
        give the same outputs.
      implementation: for a standard ``sj.cells.lstm`` (tanh, sigmoid), ``None``
        (default) runs cuDNN (``jax.experimental.rnn``) on a GPU and, on the CPU in
        float32, :func:`seqjax.native_lstm.lstm_sequence` (the whole sequence as one
        compiled C++ kernel per pass, built on first use) unless ``remat=True``; where
        that kernel cannot be built (no compiler, not x86-64, ``SEQJAX_NATIVE=0``) or
        for other dtypes, :func:`seqjax.fused_lstm.lstm_sequence` (``lax.scan`` with a
        hand-written backward pass) unless ``remat`` recomputes steps; every other cell
        runs ``lax.scan``. ``"scan"`` always runs ``lax.scan`` with autodiff's backward
        pass (needed for forward-mode ``jax.jvp``); ``"cudnn"``, ``"fused"`` and
        ``"native"`` insist (an error where impossible).

    Returns:
      ``(final_carry, ys)`` with ``ys [T, *B, H]``; with ``lengths``, outputs past
      each length are zero and ``final_carry`` is the carry after the last real step.
    """
    xs = jnp.asarray(xs)
    _check_xs(xs, params)
    num_steps, batch_shape = xs.shape[0], tuple(xs.shape[1:-1])
    dtype = _compute_dtype(params, xs.dtype)
    if carry is None:
        carry = cell.initial_carry(batch_shape, dtype)
    else:
        _check_carry(cell, carry, batch_shape, dtype)
    # The carry typed like the inputs on a mesh (seqjax._mesh_types); inside shard_map the
    # weights and inputs vary over the same axes as the carry, so the weights' gradient is
    # summed over the devices once, after the loop.
    carry = like_inputs(carry, xs, 1, params, lengths)
    params, xs = vary((params, xs), varying_axes(carry))

    from seqjax import cudnn

    if cudnn.use_cudnn(cell, params, implementation):
        if lengths is not None:
            lengths = _check_lengths(lengths, num_steps, batch_shape)
        return cudnn.lstm_scan(params, xs, carry, lengths, reverse, _flip_padded)

    if parallel is None:
        parallel = cell.coefficients is not None and jax.default_backend() != "cpu"
    if parallel:
        if cell.coefficients is None:
            raise ValueError(
                "parallel=True needs a cell linear in its carry (cell.coefficients set, as in "
                "sj.cells.min_gru / min_lstm); this cell has none. Use parallel=None or False."
            )
        if lengths is not None:
            lengths = _check_lengths(lengths, num_steps, batch_shape)
        return _associative_scan(cell, params, xs, carry, lengths, reverse)

    def step(c: Any, x: Array) -> tuple[Any, Array]:
        return cell.apply(params, c, x)

    path = _whole_sequence_lstm(cell, params, dtype, remat, implementation, num_steps, carry,
                                explicit_batch_spec(xs, feature_dims=1) is not None)
    if path is not None:
        return _run_whole_sequence(path, params, xs, carry, lengths, reverse, unroll)
    if _resolve_remat(remat, implementation, num_steps, carry):
        step = jax.checkpoint(step)

    if lengths is None:
        return lax.scan(step, carry, xs, reverse=reverse, unroll=unroll)

    lengths = _check_lengths(lengths, num_steps, batch_shape)
    if reverse:
        xs = _flip_padded(xs, lengths)
    carry, ys = lax.scan(_stop_at_lengths(step, lengths), carry, (jnp.arange(num_steps), xs), unroll=unroll)
    if reverse:
        ys = _flip_padded(ys, lengths)
    return carry, ys


def _resolve_remat(remat: bool | None, implementation: str | None, num_steps: int, carry: Any) -> bool | None:
    """``remat`` as :func:`scan` applies it (:func:`auto_remat` when ``None``; the fused
    LSTM asked for by name keeps its residuals)."""
    if remat is None and implementation != "fused":
        return auto_remat(num_steps, jax.tree.leaves(carry)[0].shape[-1])
    return remat


def _compute_dtype(params: Any, inputs_dtype: Any) -> Any:
    """The dtype a cell computes in: its first weight's promoted with the inputs', float32
    for integer inputs and weights."""
    dtype = jnp.result_type(*(leaf.dtype for leaf in jax.tree.leaves(params)[:1]), inputs_dtype)
    return dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.float32


def _whole_sequence_lstm(cell: Cell, params: Any, dtype: Any, remat: bool | None, implementation: str | None,
                         num_steps: int, carry: Any, split_batch: bool) -> str | None:
    """Which whole-sequence LSTM :func:`scan` runs this call through: ``"native"``
    (:func:`seqjax.native_lstm.lstm_sequence`), ``"fused"`` (:func:`seqjax.fused_lstm.lstm_sequence`)
    or ``None`` for ``lax.scan`` (``split_batch``: an explicit-sharding mesh splits the batch)."""
    if native_lstm.applies(cell, params, dtype, remat=remat, implementation=implementation, split_batch=split_batch):
        return "native"
    remat = _resolve_remat(remat, implementation, num_steps, carry)
    if fused_lstm.applies(cell, params, remat=remat, implementation=implementation, split_batch=split_batch):
        return "fused"
    return None


def _time_flip(lengths: Array | None) -> Any:
    """``a [T, *B, ...] -> a`` with each sequence's real steps reversed (padding stays at
    the end): how a forward loop walks them backwards. Its own inverse."""
    return (lambda a: a[::-1]) if lengths is None else (lambda a: _flip_padded(a, lengths))


def _run_whole_sequence(path: str, params: Any, xs: Array, carry: Any, lengths: Any, reverse: bool,
                        unroll: int | bool):
    """:func:`scan` through the LSTM ``path`` of :func:`_whole_sequence_lstm` (reverse by flipping)."""
    if lengths is not None:
        lengths = _check_lengths(lengths, xs.shape[0], tuple(xs.shape[1:-1]))
    flip = _time_flip(lengths)
    xs = flip(xs) if reverse else xs
    if path == "native":
        carry, ys = native_lstm.lstm_sequence(params, xs, carry, lengths)
    else:
        carry, ys = fused_lstm.lstm_sequence(params, xs, carry, lengths, unroll)
    return carry, flip(ys) if reverse else ys


def _stop_at_lengths(step: Any, lengths: Array) -> Any:
    """``step(c, x) -> (c, y)`` as a body over ``(t, x)`` that, from each sequence's
    length on, keeps its carry and outputs zeros."""

    def masked_step(c: Any, inputs: tuple[Array, Array]) -> tuple[Any, Array]:
        t, x = inputs
        new_c, y = step(c, x)
        real = t < lengths
        new_c = jax.tree.map(lambda n, o: _where_batch(real, n, o), new_c, c)
        return new_c, _where_batch(real, y, jnp.zeros_like(y))

    return masked_step


# Measured in docs/BENCHMARKS.md (inference, 2 CPU cores): projecting a 10,000-row table
# instead of 64,000 tokens' inputs made the IMDB LSTM's forward 14% faster and the GRU's
# 19%; at 4,823 rows for 8,250 tokens it was a tie, and at 20,000 for 12,800 3x slower.
TABLE_MAX_ROWS_PER_TOKEN = 0.5


def scan_tokens(
    cell: Cell,
    params: Any,
    table: Array,
    ids: Array,
    *,
    carry: Any = None,
    lengths: Array | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
    remat: bool | None = None,
    implementation: str | None = None,
    project_table: bool | None = None,
) -> tuple[Any, Array]:
    """``scan(cell, params, table[ids])`` over token ids, projecting the embedding
    table instead of the inputs where that is less work.

    A cell with an :class:`~seqjax.cells.InputSplit` (``elman``, ``lstm``, ``gru``)
    spends one matmul per step on its input projection ``x K + b``. For embedded
    tokens that is a row of ``table K + b`` (``[V, G]``): computed once, it turns the
    per-step matmul into a row gather, read one step ahead into the carry (XLA:CPU
    runs a gather fused into the gate functions several times slower). The values are
    :func:`scan`'s up to float rounding. Derivatives, forward and reverse mode, are
    always those of :func:`scan` over the gathered inputs, which is cheaper to
    differentiate (the table's gradient gathers ``[T * B, I]`` rows, not ``[T * B, G]``).

    Args:
      cell, params, carry, lengths, reverse, unroll, remat, implementation: as in :func:`scan`.
      table: the embedding ``[V, I]``.
      ids: integer token ids ``[T, *B]`` in ``[0, V)``.
      project_table: ``None`` (default) projects the table when the cell has a split,
        runs on ``lax.scan`` (not cuDNN, nor the native CPU LSTM) and the table has at most half as many rows
        as there are tokens (:data:`TABLE_MAX_ROWS_PER_TOKEN`, measured); ``True``
        insists; ``False`` gathers the inputs and calls :func:`scan`.

    Returns:
      ``(final_carry, ys)`` as :func:`scan` returns them for ``xs = table[ids]``.
    """
    table, ids = jnp.asarray(table), jnp.asarray(ids)
    _check_tokens(table, ids)
    options = dict(reverse=reverse, unroll=unroll, remat=remat, implementation=implementation)

    def gathered(params: Any, table: Array, ids: Array, carry: Any, lengths: Any) -> tuple[Any, Array]:
        return scan(cell, params, take_rows(table, ids), carry=carry, lengths=lengths, **options)

    from seqjax import cudnn

    batch_carry = carry if carry is not None else jax.eval_shape(lambda: cell.initial_carry(tuple(ids.shape[1:])))
    path = _whole_sequence_lstm(cell, params, _compute_dtype(params, table.dtype), remat, implementation,
                                ids.shape[0], batch_carry, explicit_batch_spec(ids, feature_dims=0) is not None)
    if project_table is None:
        project_table = (
            cell.split is not None
            and not cudnn.use_cudnn(cell, params, implementation)
            and path != "native"
            and table.shape[0] <= TABLE_MAX_ROWS_PER_TOKEN * ids.size
        )
    if not project_table:
        return gathered(params, table, ids, carry, lengths)
    if cell.split is None:
        raise ValueError(
            "project_table=True needs a cell split at its input projection (cell.split set, as in "
            "sj.cells.elman / lstm / gru); this cell has none. Use project_table=None or False."
        )
    if implementation == "cudnn":
        raise ValueError("project_table=True runs on lax.scan; it cannot be combined with implementation='cudnn'.")

    def primal(params: Any, table: Array, ids: Array, carry: Any, lengths: Any) -> tuple[Any, Array]:
        return _scan_projected(cell, params, table, ids, carry, lengths, reverse, unroll)

    # Derivatives are those of `gathered`: a custom_jvp where it has forward mode, else (the
    # fused and native LSTMs are custom_vjps) a custom_vjp around its own vjp.
    if path is not None:
        projected = jax.custom_vjp(primal)
        projected.defvjp(lambda *args: jax.vjp(gathered, *args), lambda vjp, cotangents: vjp(cotangents))
    else:
        projected = jax.custom_jvp(primal)
        projected.defjvp(lambda primals, tangents: jax.jvp(gathered, primals, tangents))
    return projected(params, table, ids, carry, lengths)


def _check_tokens(table: Array, ids: Array) -> None:
    if table.ndim != 2:
        raise ValueError(
            f"table must be an embedding matrix [V, I] (one row per token id); got shape {tuple(table.shape)}."
        )
    if not jnp.issubdtype(ids.dtype, jnp.integer) or ids.ndim < 1:
        raise TypeError(
            f"ids must be integer token ids [T, *batch] (time first); got dtype {ids.dtype} and shape "
            f"{tuple(ids.shape)}. For batch-first ids [B, T] pass ids.T."
        )


def _scan_projected(cell: Cell, params: Any, table: Array, ids: Array, carry: Any, lengths: Any,
                    reverse: bool, unroll: int | bool) -> tuple[Any, Array]:
    """:func:`scan_tokens`' forward: the projected table's rows, one step ahead in the carry."""
    num_steps, batch_shape = ids.shape[0], tuple(ids.shape[1:])
    projected = cell.split.project(params, table)  # [V, G]
    if carry is None:
        carry = cell.initial_carry(batch_shape, projected.dtype)
    else:
        _check_carry(cell, carry, batch_shape, projected.dtype)
    carry = like_inputs(carry, ids, 0, params, table, lengths)
    if lengths is not None:
        lengths = _check_lengths(lengths, num_steps, batch_shape)
    flip = _time_flip(lengths)
    if reverse:
        ids = flip(ids)

    def recur(c: Any, a: Array) -> tuple[Any, Array]:
        return cell.split.recur(params, c, a)

    step = (lambda c, t_a: recur(c, t_a[1])) if lengths is None else _stop_at_lengths(recur, lengths)

    def token_step(state: tuple[Any, Array], inputs: tuple[Array, Array]) -> tuple[tuple[Any, Array], Array]:
        c, a = state  # a: this step's projected input, gathered the step before
        t, upcoming = inputs
        c, y = step(c, (t, a))
        return (c, take_rows(projected, upcoming)), y

    upcoming = jnp.concatenate([ids[1:], ids[:1]])  # the next step's ids (the last row is never used)
    first = take_rows(projected, ids[0])
    (carry, _), ys = lax.scan(token_step, (carry, first), (jnp.arange(num_steps), upcoming), unroll=unroll)
    return carry, flip(ys) if reverse else ys


def _associative_scan(
    cell: Cell, params: Any, xs: Array, carry: Any, lengths: Array | None, reverse: bool
) -> tuple[Any, Array]:
    """``h_t = a_t * h_{t-1} + b_t`` over time as a log-depth ``lax.associative_scan``.

    Padded steps become the identity (``a = 1, b = 0``), so the carry passes
    through them unchanged, exactly as the masked sequential scan does.
    """
    leaves, treedef = jax.tree.flatten(carry)
    if len(leaves) != 1:
        raise TypeError(f"a linear cell's carry must hold one array; got {len(leaves)} leaves ({treedef}).")
    a, b = cell.coefficients(params, xs)  # [T, *B, H] each
    real = None
    if lengths is not None:
        if reverse:
            a, b = _flip_padded(a, lengths), _flip_padded(b, lengths)
        steps = jnp.arange(xs.shape[0]).reshape((-1,) + (1,) * lengths.ndim)
        real = (steps < lengths)[..., None]
        a, b = jnp.where(real, a, 1.0), jnp.where(real, b, 0.0)
    elif reverse:
        a, b = a[::-1], b[::-1]
    b = b.at[0].add(a[0] * leaves[0])  # fold the initial carry into the first step

    def combine(earlier, later):
        a1, b1 = earlier
        a2, b2 = later
        return a1 * a2, a2 * b1 + b2

    _, hs = lax.associative_scan(combine, (a, b), axis=0)
    final = jax.tree.unflatten(treedef, [hs[-1]])
    if real is not None:
        hs = jnp.where(real, hs, 0.0)
        if reverse:
            hs = _flip_padded(hs, lengths)
    elif reverse:
        hs = hs[::-1]
    return final, hs


def output_size(cell: Cell, params: Any, input_size: int) -> int:
    """The feature size ``H`` of ``cell``'s outputs, from shapes alone (no FLOPs)."""
    y = jax.eval_shape(
        lambda p: cell.apply(p, cell.initial_carry(()), jnp.zeros((input_size,)))[1], params
    )
    return y.shape[-1]


# --- bidirectional -----------------------------------------------------------------


class BidirectionalParams(NamedTuple):
    """Params of the forward and the backward cell."""

    forward: Any
    backward: Any


class BidirectionalCarry(NamedTuple):
    """Final carries of the forward and the backward pass."""

    forward: Any
    backward: Any


MERGE_MODES = {
    "concat": lambda f, b: jnp.concatenate([f, b], axis=-1),
    "sum": lambda f, b: f + b,
    "mean": lambda f, b: (f + b) / 2,
    "ave": lambda f, b: (f + b) / 2,  # Keras's name for "mean"
    "mul": lambda f, b: f * b,
}


def init_bidirectional(
    key: Array,
    cell: Cell,
    input_size: int,
    *,
    backward_cell: Cell | None = None,
    dtype: Any = jnp.float32,
) -> BidirectionalParams:
    """Initialises independent forward and backward params."""
    k_fwd, k_bwd = jax.random.split(key)
    return BidirectionalParams(
        forward=cell.init(k_fwd, input_size, dtype),
        backward=(backward_cell or cell).init(k_bwd, input_size, dtype),
    )


def bidirectional(
    cell: Cell,
    params: BidirectionalParams,
    xs: Array,
    *,
    backward_cell: Cell | None = None,
    lengths: Array | None = None,
    merge: str | None = "concat",
    carry: BidirectionalCarry | None = None,
    unroll: int | bool = 1,
    remat: bool | None = None,
    implementation: str | None = None,
) -> tuple[BidirectionalCarry, Any]:
    """Forward and backward passes over the same (padded) batch, outputs merged.

    Args:
      cell: the forward cell (and the backward one unless ``backward_cell``).
      params: :class:`BidirectionalParams`.
      xs: ``[T, *B, F]``.
      backward_cell: a different cell for the backward direction.
      lengths: ``[*B]``; the backward pass walks only the real steps.
      merge: ``"concat"`` (``[T, *B, 2H]``), ``"sum"``, ``"mean"`` (alias ``"ave"``),
        ``"mul"`` (``[T, *B, H]``), or ``None`` for the pair ``(ys_fwd, ys_bwd)``.
      carry: optional :class:`BidirectionalCarry` of initial carries.
      unroll, remat, implementation: passed to :func:`scan`.

    Returns:
      ``(BidirectionalCarry(forward, backward), ys)``.
    """
    if merge is not None and merge not in MERGE_MODES:
        raise ValueError(
            f"merge={merge!r} is not a merge mode; expected one of {sorted(MERGE_MODES)} or None."
        )
    if not isinstance(params, BidirectionalParams):
        raise TypeError(
            f"params must be a BidirectionalParams(forward, backward); got {type(params).__name__}. "
            "Build it with sj.init_bidirectional(key, cell, input_size)."
        )
    if carry is not None and not isinstance(carry, BidirectionalCarry):
        raise TypeError(
            f"carry must be a BidirectionalCarry(forward, backward) or None; got "
            f"{type(carry).__name__}."
        )
    fwd_carry, ys_fwd = scan(
        cell, params.forward, xs, lengths=lengths, unroll=unroll, remat=remat, implementation=implementation,
        carry=None if carry is None else carry.forward,
    )
    bwd_carry, ys_bwd = scan(
        backward_cell or cell, params.backward, xs, lengths=lengths, reverse=True, unroll=unroll, remat=remat,
        implementation=implementation,
        carry=None if carry is None else carry.backward,
    )
    merged = (ys_fwd, ys_bwd) if merge is None else MERGE_MODES[merge](ys_fwd, ys_bwd)
    return BidirectionalCarry(fwd_carry, bwd_carry), merged


# --- stacked -------------------------------------------------------------------------


def _check_cells(cells: Sequence[Cell]) -> tuple[Cell, ...]:
    cells = tuple(cells)
    if not cells or not all(isinstance(c, Cell) for c in cells):
        raise ValueError(
            f"cells must be a non-empty sequence of Cell; got {cells!r}. "
            "Example: [sj.cells.lstm(32), sj.cells.lstm(32)]."
        )
    return cells


def init_stacked(
    key: Array, cells: Sequence[Cell], input_size: int, *, dtype: Any = jnp.float32
) -> tuple[Any, ...]:
    """Initialises a stack: layer ``k + 1``'s input size is layer ``k``'s output size."""
    cells = _check_cells(cells)
    params = []
    for cell, layer_key in zip(cells, jax.random.split(key, len(cells))):
        layer_params = cell.init(layer_key, input_size, dtype)
        params.append(layer_params)
        input_size = output_size(cell, layer_params, input_size)
    return tuple(params)


def stacked(
    cells: Sequence[Cell],
    params: Sequence[Any],
    xs: Array,
    *,
    lengths: Array | None = None,
    carry: Sequence[Any] | None = None,
    unroll: int | bool = 1,
    remat: bool | None = None,
    implementation: str | None = None,
) -> tuple[tuple[Any, ...], Array]:
    """Several recurrent layers, each one's output sequence feeding the next.

    Like Keras layers with ``return_sequences=True`` stacked.

    Args:
      cells: the layers' cells, bottom first.
      params: one params per cell (see :func:`init_stacked`).
      xs: ``[T, *B, F]``.
      lengths: ``[*B]``, applied to every layer.
      carry: optional initial carry per layer.
      unroll, remat, implementation: passed to :func:`scan`.

    Returns:
      ``(final carries, one per layer, ys of the top layer [T, *B, H_top])``.
    """
    cells = _check_cells(cells)
    params = tuple(params)
    if len(params) != len(cells):
        raise ValueError(
            f"params must hold one entry per cell ({len(cells)}); got {len(params)}. "
            "Build them with sj.init_stacked(key, cells, input_size)."
        )
    carries = (None,) * len(cells) if carry is None else tuple(carry)
    if len(carries) != len(cells):
        raise ValueError(
            f"carry must hold one carry per cell ({len(cells)}); got {len(carries)}."
        )
    finals = []
    for cell, layer_params, layer_carry in zip(cells, params, carries):
        final, xs = scan(cell, layer_params, xs, lengths=lengths, carry=layer_carry, unroll=unroll, remat=remat,
                         implementation=implementation)
        finals.append(final)
    return tuple(finals), xs
