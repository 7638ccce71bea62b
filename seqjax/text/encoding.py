"""The course's toy encodings: word- and character-level one-hot, the hashing
trick, and n-grams / bag-of-n-grams."""

from __future__ import annotations

import hashlib
import re
import string
from typing import Sequence

import numpy as np

from seqjax.text.tokenizer import DEFAULT_FILTERS, text_to_word_sequence

_WORD = re.compile(r"[\w']+")


def one_hot_words(samples: Sequence[str], max_length: int = 10) -> tuple[np.ndarray, dict[str, int]]:
    """Word-level one-hot: ``([N, max_length, V + 1] float32, token_index)``.

    Words are split on white space and numbered from 1 in first-seen order; index
    0 is never used. Words past ``max_length`` are dropped.
    """
    token_index: dict[str, int] = {}
    for sample in samples:
        for word in sample.split():
            token_index.setdefault(word, len(token_index) + 1)
    out = np.zeros((len(samples), max_length, len(token_index) + 1), np.float32)
    for i, sample in enumerate(samples):
        for j, word in enumerate(sample.split()[:max_length]):
            out[i, j, token_index[word]] = 1.0
    return out, token_index


def one_hot_chars(
    samples: Sequence[str], max_length: int = 50, characters: str = string.printable
) -> tuple[np.ndarray, dict[str, int]]:
    """Character-level one-hot over ``characters`` (numbered from 1): ``[N, max_length, C + 1]``.

    Characters outside ``characters`` are left all-zero.
    """
    token_index = {ch: i for i, ch in enumerate(dict.fromkeys(characters), start=1)}
    out = np.zeros((len(samples), max_length, len(token_index) + 1), np.float32)
    for i, sample in enumerate(samples):
        for j, ch in enumerate(sample[:max_length]):
            if ch in token_index:
                out[i, j, token_index[ch]] = 1.0
    return out, token_index


def stable_hash(word: str) -> int:
    """An MD5-based hash that is the same in every process (Python's ``hash`` is salted)."""
    return int(hashlib.md5(word.encode("utf-8")).hexdigest(), 16)


def hashing_trick(
    text: str, n: int, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[int]:
    """Keras's ``hashing_trick`` with ``hash_function='md5'``: ids in ``[1, n)``."""
    if n < 2:
        raise ValueError(f"n must be at least 2 (id 0 is reserved); got {n}.")
    return [stable_hash(w) % (n - 1) + 1 for w in text_to_word_sequence(text, filters, lower, split)]


def one_hot_hashed(samples: Sequence[str], dimensionality: int = 1000, max_length: int = 10) -> np.ndarray:
    """Word one-hot through the hashing trick: ``[N, max_length, dimensionality]`` float32.

    No vocabulary is stored; distinct words may collide in one column.
    """
    out = np.zeros((len(samples), max_length, dimensionality), np.float32)
    for i, sample in enumerate(samples):
        for j, word in enumerate(sample.split()[:max_length]):
            out[i, j, stable_hash(word) % dimensionality] = 1.0
    return out


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The contiguous ``n``-grams of ``tokens``, in order."""
    if n < 1:
        raise ValueError(f"n must be a positive int; got {n}.")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def bag_of_ngrams(text: str, n: int = 2) -> set[str]:
    """All 1- to ``n``-grams of ``text``'s words, joined by spaces, as a set.

    Words are runs of letters, digits, ``_`` and ``'``; case is kept, so
    "The cat sat on the mat." gives {"The", "The cat", "cat", ..., "the mat", "mat"}.
    """
    words = _WORD.findall(text)
    return {" ".join(gram) for k in range(1, n + 1) for gram in ngrams(words, k)}
