"""GloVe-format word vectors ("word v1 v2 ... vd" per line) to an embedding matrix."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Mapping

import numpy as np

from seqjax._io import decode


def load_glove(
    path: str | Path, word_index: Mapping[str, int], *, num_words: int | None = None
) -> np.ndarray:
    """An embedding matrix ``[num_words, D]`` float32 aligned with ``word_index``.

    Row ``i`` holds the vector of the word with id ``i``; rows of words the file
    lacks (and row 0, padding) stay zero. Words with id ``>= num_words`` are skipped.

    Args:
      path: a GloVe text file (``.gz`` allowed), UTF-8, one ``word v1 ... vD`` per line.
      word_index: word -> id (ids from 1), e.g. ``Tokenizer.word_index``.
      num_words: matrix rows; ``max(id) + 1`` by default.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GloVe file at {path}; pass the path of a GloVe-format .txt file.")
    rows = num_words if num_words is not None else max(word_index.values(), default=0) + 1
    matrix = None
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            line = decode(raw, source=f"{path}, line {number}").rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split(" ")
            if matrix is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise ValueError(f"{path}, line 1: expected 'word v1 ... vD'; got {line[:60]!r}.")
                matrix = np.zeros((rows, dim), np.float32)
            word = " ".join(parts[: len(parts) - dim])  # a few GloVe words contain spaces
            if len(parts) - 1 < dim:
                raise ValueError(
                    f"{path}, line {number}: expected {dim} numbers after the word (as line 1); "
                    f"got {len(parts) - 1}."
                )
            index = word_index.get(word)
            if index is None or not 0 < index < rows:
                continue
            try:
                matrix[index] = np.asarray(parts[len(parts) - dim :], np.float32)
            except ValueError:
                raise ValueError(f"{path}, line {number}: the vector of {word!r} holds a non-number.") from None
    if matrix is None:
        raise ValueError(f"{path} holds no vectors.")
    return matrix
