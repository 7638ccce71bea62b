"""Id sequences to arrays: Keras ``pad_sequences``, multi-hot and one-hot labels."""

from __future__ import annotations

from typing import Sequence

import numpy as np

PADDING_MODES = ("pre", "post")


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    maxlen: int | None = None,
    dtype: str | np.dtype = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0,
) -> np.ndarray:
    """Pads (and truncates) sequences to one length: ``[N, maxlen]``, Keras semantics.

    Args:
      sequences: lists of ids.
      maxlen: output length; the longest sequence's when ``None``.
      dtype: output dtype.
      padding: ``"pre"`` pads at the front (Keras default), ``"post"`` at the end.
      truncating: ``"pre"`` drops the front of longer sequences, ``"post"`` the end.
      value: the padding value.
    """
    if padding not in PADDING_MODES:
        raise ValueError(f"padding must be 'pre' or 'post'; got {padding!r}.")
    if truncating not in PADDING_MODES:
        raise ValueError(f"truncating must be 'pre' or 'post'; got {truncating!r}.")
    if isinstance(sequences, (str, bytes)):
        raise TypeError("sequences must be a list of id lists; got a string. Tokenize it first.")
    sequences = [np.asarray(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"maxlen must be a non-negative int or None; got {maxlen!r}.")
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    if maxlen == 0:
        return out
    for row, seq in enumerate(sequences):
        if seq.ndim != 1:
            raise ValueError(f"sequences[{row}] must be a flat list of ids; got shape {seq.shape}.")
        if not len(seq):
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "post":
            out[row, : len(kept)] = kept
        else:
            out[row, maxlen - len(kept) :] = kept
    return out


def vectorize_sequences(sequences: Sequence[Sequence[int]], dimension: int = 10_000) -> np.ndarray:
    """Multi-hot encoding ``[N, dimension]`` float32: ``out[i, j] = 1`` if id ``j`` is in sequence ``i``.

    The course's IMDB / Reuters input. Ids must lie in ``[0, dimension)``.
    """
    out = np.zeros((len(sequences), dimension), np.float32)
    for row, seq in enumerate(sequences):
        ids = np.asarray(seq, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= dimension):
            raise ValueError(
                f"sequences[{row}] holds id {int(ids.max() if ids.max() >= dimension else ids.min())} outside "
                f"[0, dimension={dimension}); cap the vocabulary (num_words={dimension}) or raise dimension."
            )
        out[row, ids] = 1.0
    return out


def to_categorical(labels: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """One-hot labels ``[N, num_classes]`` float32 (``num_classes`` = max label + 1 by default)."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, num_classes={num_classes}); got {labels.min()}..{labels.max()}.")
    out = np.zeros((labels.size, num_classes), np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out
