"""The lecture's next-letter example: a 3-unit tanh RNN over the dictionary P, I, G, S.

The lecture ("Recurrent Neural Networks") writes the net column-wise::

    h_t = tanh(W_hx x_t + w_hh * h_{t-1} + b)      y_t = W_hy h_t

with one-hot ``x_t`` over ``P, I, G, S``, a scalar recurrent weight applied
elementwise and a scalar bias. In seqjax's row-vector Keras layout this is an
Elman cell with ``kernel = W_hx^T [4, 3]``, ``recurrent_kernel = w_hh * I [3, 3]``
and ``bias = b * 1 [3]``, followed by the readout ``y = h W_hy^T``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import cells
from seqjax.recurrence import scan

VOCAB = ("P", "I", "G", "S")

W_HX = np.array(
    [
        [0.287027, 0.84606, 0.572392, 0.486813],
        [0.902874, 0.871522, 0.691079, 0.18998],
        [0.537524, 0.09224, 0.558159, 0.491528],
    ]
)
W_HY = np.array(
    [
        [0.37168, 0.974829459, 0.830034886],
        [0.39141, 0.282585823, 0.659835709],
        [0.64985, 0.09821557, 0.332487804],
        [0.91266, 0.32581642, 0.144630018],
    ]
)
W_HH = 0.427043
BIAS = 0.567001


class NextLetterResult(NamedTuple):
    """The lecture's matrices, one column per time step (as the lecture prints them).

    Attributes:
      hidden: ``H [3, T]``.
      logits: ``Y_out [4, T]``.
      probs: ``softmax(Y_out) [4, T]`` over the vocabulary axis.
      predictions: the most likely next letter at each step.
    """

    hidden: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    predictions: tuple[str, ...]


def lecture_params() -> cells.ElmanParams:
    """The lecture's weights as :class:`~seqjax.cells.ElmanParams`."""
    return cells.ElmanParams(
        kernel=jnp.asarray(W_HX.T, jnp.float32),
        recurrent_kernel=W_HH * jnp.eye(3, dtype=jnp.float32),
        bias=jnp.full((3,), BIAS, jnp.float32),
    )


def next_letter(word: str = "PIG") -> NextLetterResult:
    """Runs the lecture's untrained RNN over ``word`` (letters from P, I, G, S)."""
    unknown = sorted(set(word) - set(VOCAB))
    if not word or unknown:
        raise ValueError(
            f"word must be a non-empty string over the letters {VOCAB}; got {word!r}"
            + (f" with unknown letters {unknown}." if unknown else ".")
        )
    xs = jax.nn.one_hot(jnp.array([VOCAB.index(ch) for ch in word]), len(VOCAB))
    _, hs = scan(cells.elman(hidden_size=3), lecture_params(), xs)  # [T, 3]
    logits = hs @ jnp.asarray(W_HY.T, jnp.float32)  # [T, 4]
    probs = jax.nn.softmax(logits, axis=-1)
    predictions = tuple(VOCAB[i] for i in np.asarray(jnp.argmax(probs, axis=-1)))
    return NextLetterResult(
        hidden=np.asarray(hs).T,
        logits=np.asarray(logits).T,
        probs=np.asarray(probs).T,
        predictions=predictions,
    )


def format_table(name: str, matrix: np.ndarray, row_labels: tuple[str, ...] | None = None) -> str:
    """A fixed-width table of ``matrix`` with columns ``t=1..T``."""
    rows, cols = matrix.shape
    labels = row_labels or tuple(f"h{i + 1}" for i in range(rows))
    width = max(len(label) for label in labels)
    header = " " * width + "".join(f"{f't={t + 1}':>9}" for t in range(cols))
    lines = [name, header]
    for label, row in zip(labels, matrix):
        lines.append(f"{label:>{width}}" + "".join(f"{v:9.4f}" for v in row))
    return "\n".join(lines)
