"""The Keras-style recurrent layer over seqjax's pure cells and ``sj.scan``.

There is no second implementation of a cell here: the module declares the
cell's params and calls :func:`seqjax.scan` / :func:`seqjax.bidirectional`
(:func:`seqjax.scan_tokens` over an embedding's token ids).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import cells as sj_cells
from seqjax._mesh_types import take_rows
from seqjax.recurrence import MERGE_MODES, BidirectionalCarry, BidirectionalParams, bidirectional, scan, scan_tokens

CELLS: dict[str, Callable[..., sj_cells.Cell]] = {
    "elman": sj_cells.elman,
    "simple_rnn": sj_cells.elman,  # Keras's name
    "lstm": sj_cells.lstm,
    "gru": sj_cells.gru,
    "min_gru": sj_cells.min_gru,
    "min_lstm": sj_cells.min_lstm,
}


ACTIVATED_CELLS = ("elman", "simple_rnn", "lstm", "gru")  # the cells with an ``activation`` argument


def make_cell(name: str | Callable[..., sj_cells.Cell], hidden_size: int, **kwargs: Any) -> sj_cells.Cell:
    """The cell called ``name`` (``elman``/``simple_rnn``, ``lstm``, ``gru``), or
    ``name(hidden_size)`` when ``name`` is a cell factory (any seqjax-style cell)."""
    if callable(name):
        cell = name(hidden_size)
        if not isinstance(cell, sj_cells.Cell):
            raise TypeError(f"cell factory {name!r} must return a seqjax Cell(init, initial_carry, apply).")
        return cell
    if name not in CELLS:
        raise ValueError(f"cell={name!r} is not a known cell; expected one of {sorted(CELLS)}.")
    return CELLS[name](hidden_size, **kwargs)


def check_rate(name: str, rate: float) -> float:
    """A dropout rate must lie in ``[0, 1)``."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be a dropout rate in [0, 1); got {rate!r}.")
    return float(rate)


def _keep_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
    """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    return jax.random.bernoulli(key, 1.0 - rate, shape).astype(jnp.float32) / (1.0 - rate)


def _with_recurrent_mask(cell: sj_cells.Cell, mask: jax.Array, takes_mask: bool) -> sj_cells.Cell:
    """``cell`` with variational recurrent dropout: one mask per sequence, the same at
    every step (Gal & Ghahramani), on ``h_{t-1}`` where it enters the recurrent kernel.

    The built-in cells take the mask themselves (``recurrent_mask=``), which is
    Keras's ``recurrent_dropout`` exactly: the GRU's ``z * h`` carry-over reads the
    unmasked state (masking it too would scale the state by ``1 / (1 - rate)`` at every
    step and blow it up over long sequences). Other cells get ``h * mask`` as their
    carry's ``h``.
    """

    def apply(params, carry, x):
        if takes_mask:
            return cell.apply(params, carry, x, recurrent_mask=mask)
        return cell.apply(params, carry._replace(h=carry.h * mask), x)

    return sj_cells.Cell(cell.init, cell.initial_carry, apply)


def _check_tokens(tokens: Any, xs: jax.Array) -> None:
    try:
        table, ids = tokens
    except (TypeError, ValueError):
        raise TypeError("tokens must be a pair (table [V, F], ids [B, T]) with xs == table[ids].") from None
    if jnp.ndim(table) != 2 or jnp.shape(table)[1] != xs.shape[-1] or tuple(jnp.shape(ids)) != tuple(xs.shape[:2]):
        raise ValueError(
            f"tokens must be (table [V, F], ids [B, T]) with xs == table[ids]: for xs of shape {tuple(xs.shape)} "
            f"a table [V, {xs.shape[-1]}] and ids {tuple(xs.shape[:2])}; got table {tuple(jnp.shape(table))} and "
            f"ids {tuple(jnp.shape(ids))}."
        )


class RNN(nn.Module):
    """A recurrent layer, batch-first like Keras: ``xs [B, T, F]`` -> outputs.

    Attributes:
      cell: ``"elman"`` (alias ``"simple_rnn"``), ``"lstm"``, ``"gru"``, ``"min_gru"``,
        ``"min_lstm"`` (parallel scan), or a factory
        ``hidden_size -> Cell`` for any other seqjax cell (e.g. ``functools.partial(sj.cells.lstm,
        unit_forget_bias=False)``).
      hidden_size: units ``H``.
      return_sequences: return ``[B, T, H']`` instead of the last real output ``[B, H']``.
      return_state: also return the final carry (a :class:`BidirectionalCarry` if bidirectional).
      bidirectional: run a backward copy over the real steps and merge.
      merge_mode: ``concat`` (``H' = 2H``), ``sum``, ``mean``, ``mul``.
      dropout: input dropout rate, one mask per sequence.
      recurrent_dropout: variational dropout on ``h_{t-1}``, one mask per sequence.
      activation: the cell's activation.
      unroll: passed to ``lax.scan``.
      remat: recompute step internals in the backward pass; ``None`` decides from the
        shapes (see :func:`seqjax.scan`).
      implementation: passed to :func:`seqjax.scan`: ``None`` picks (cuDNN on a GPU, the fused
        LSTM on the CPU), ``"scan"`` keeps autodiff's backward (forward-mode ``jax.jvp``,
        bit-for-bit runs from before the fused LSTM).

    Call: ``layer(xs, lengths=None, *, deterministic=True, tokens=None)``. ``tokens``
    is ``(table [V, F], ids [B, T])`` when ``xs`` is ``table[ids]`` (an embedding's
    output): in inference (``deterministic=True``) the forward direction then runs
    :func:`seqjax.scan_tokens`, which projects the table instead of every step's input
    where that is less work. Same values up to float rounding, same gradients. In training
    the rows are gathered again with the ids transposed, so the loop's time-major inputs
    ``[T, B, F]`` need no transpose (nor their gradient); the same values, bit for bit.
    """

    cell: str | Callable[[int], sj_cells.Cell] = "lstm"
    hidden_size: int = 32
    return_sequences: bool = False
    return_state: bool = False
    bidirectional: bool = False
    merge_mode: str = "concat"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    activation: str = "tanh"
    unroll: int = 1
    remat: bool | None = None
    implementation: str | None = None

    @nn.compact
    def __call__(self, xs: jax.Array, lengths: jax.Array | None = None, *, deterministic: bool = True,
                 tokens: tuple[jax.Array, jax.Array] | None = None):
        if xs.ndim != 3:
            raise ValueError(f"RNN input must be [B, T, F]; got shape {tuple(xs.shape)}.")
        if tokens is not None:
            _check_tokens(tokens, xs)
        if self.bidirectional and self.merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode={self.merge_mode!r} is not one of {sorted(MERGE_MODES)}.")
        dropout = check_rate("dropout", self.dropout)
        recurrent_dropout = check_rate("recurrent_dropout", self.recurrent_dropout)
        batch, _, features = xs.shape
        kwargs = {"activation": self.activation} if self.cell in ACTIVATED_CELLS else {}
        cell = make_cell(self.cell, self.hidden_size, **kwargs)
        directions = ("forward", "backward") if self.bidirectional else ("forward",)
        params = {d: self.param(d, lambda key: cell.init(key, features)) for d in directions}

        train = not deterministic
        ids = None if tokens is None else jnp.swapaxes(tokens[1], 0, 1)  # [T, B]
        # sj.scan_tokens projects the table (inference); training differentiates scan over xs either way
        over_tokens = ids is not None and not train and not self.bidirectional
        if not over_tokens:
            # an embedding's rows gathered time-major (ids transposed, not the [B, T, F] rows): the
            # same values without a transpose of every input, nor of its gradient in the backward pass
            time_major = jnp.swapaxes(xs, 0, 1) if ids is None else take_rows(tokens[0], ids)
        if train and dropout > 0:
            mask = _keep_mask(self.make_rng("dropout"), dropout, (batch, 1, features))  # one per sequence
            time_major = time_major * jnp.swapaxes(mask, 0, 1)
        run_cells = {d: cell for d in directions}
        if recurrent_dropout > 0 and cell.coefficients is not None:
            raise ValueError(
                f"recurrent_dropout needs a recurrent kernel; cell {self.cell!r} has none (its state "
                "enters linearly). Use dropout on the inputs instead, or recurrent_dropout=0."
            )
        if train and recurrent_dropout > 0:
            for d in directions:
                mask = _keep_mask(self.make_rng("dropout"), recurrent_dropout, (batch, self.hidden_size))
                run_cells[d] = _with_recurrent_mask(cell, mask, takes_mask=self.cell in ACTIVATED_CELLS)

        if self.bidirectional:
            carry, ys = bidirectional(
                run_cells["forward"], BidirectionalParams(params["forward"], params["backward"]), time_major,
                backward_cell=run_cells["backward"], lengths=lengths, merge=self.merge_mode, unroll=self.unroll,
                remat=self.remat, implementation=self.implementation,
            )
            last = MERGE_MODES[self.merge_mode](carry.forward.h, carry.backward.h)
        elif over_tokens:
            carry, ys = scan_tokens(run_cells["forward"], params["forward"], tokens[0], ids,
                                    lengths=lengths, unroll=self.unroll, remat=self.remat,
                                    implementation=self.implementation)
            last = carry.h
        else:
            carry, ys = scan(run_cells["forward"], params["forward"], time_major, lengths=lengths, unroll=self.unroll,
                             remat=self.remat, implementation=self.implementation)
            last = carry.h
        out = jnp.swapaxes(ys, 0, 1) if self.return_sequences else last
        return (out, carry) if self.return_state else out


__all__ = ["RNN", "CELLS", "make_cell", "check_rate", "BidirectionalCarry"]
