"""A Keras-compatible word (or character) tokenizer, saved and loaded as JSON.

Follows ``keras.preprocessing.text.Tokenizer``: words are ranked by count (ties
keep first-seen order), ids start at 1 (0 is padding), the ``oov_token`` if any
takes id 1, and ``num_words`` keeps ids below it when converting texts.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seqjax._io import atomic_write_text, read_text

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "freq", "tfidf")


def text_to_word_sequence(
    text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """Keras's word splitter: lowercase, filter characters become ``split``, split."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}. Decode bytes with .decode('utf-8').")
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Vocabulary from texts, and texts to id sequences or matrices.

    Args:
      num_words: keep only ids ``< num_words`` when converting (``None``: all).
      filters: characters removed (replaced by ``split``).
      lower: lowercase the texts.
      split: the word separator.
      char_level: every character is a token.
      oov_token: a token for unknown words; it takes id 1.
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
    ):
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 1):
            raise ValueError(f"num_words must be a positive int or None; got {num_words!r}.")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.document_count = 0
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}
        self.index_docs: defaultdict[int, int] = defaultdict(int)

    # --- fitting -------------------------------------------------------------------

    def _tokens(self, text: str | Sequence[str]) -> list[str]:
        if self.char_level or not isinstance(text, str):
            # Keras: a list of tokens is taken as is; char level splits the string.
            if isinstance(text, str):
                return list(text.lower() if self.lower else text)
            return [t.lower() if self.lower else t for t in text]
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable[str]) -> "Tokenizer":
        """Counts words over ``texts`` and rebuilds ``word_index`` (most frequent first)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string; wrap it: [text].")
        for text in texts:
            self.document_count += 1
            tokens = self._tokens(text)
            for w in tokens:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(tokens):
                self.word_docs[w] += 1
        ranked = [w for w, _ in sorted(self.word_counts.items(), key=lambda kv: kv[1], reverse=True)]
        if self.oov_token is not None:
            ranked = [self.oov_token] + [w for w in ranked if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(ranked, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int, {self.word_index[w]: c for w, c in self.word_docs.items()})
        return self

    # --- converting ----------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not self.document_count:
            raise ValueError("the tokenizer has no vocabulary yet; call fit_on_texts(texts) first.")

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Each text as a list of ids; unknown (or ``>= num_words``) words dropped or OOV."""
        self._check_fitted()
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string; wrap it: [text].")
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        sequences = []
        for text in texts:
            ids = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and (self.num_words is None or i < self.num_words):
                    ids.append(i)
                elif oov is not None:
                    ids.append(oov)
            sequences.append(ids)
        return sequences

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Ids back to space-joined words (padding 0 and unknown ids dropped or OOV)."""
        self._check_fitted()
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        texts = []
        for seq in sequences:
            words = []
            for i in seq:
                i = int(i)
                word = self.index_word.get(i)
                if word is not None and (self.num_words is None or i < self.num_words):
                    words.append(word)
                elif oov is not None and i != 0:
                    words.append(self.index_word[oov])
            texts.append(" ".join(words))
        return texts

    def sequences_to_matrix(self, sequences: Sequence[Sequence[int]], mode: str = "binary") -> np.ndarray:
        """``[N, num_words]`` float32 matrix; ``mode`` is binary, count, freq or tfidf."""
        if mode not in MATRIX_MODES:
            raise ValueError(f"mode={mode!r} is not one of {MATRIX_MODES}.")
        self._check_fitted()
        width = self.num_words or len(self.word_index) + 1
        matrix = np.zeros((len(sequences), width), np.float32)
        for row, seq in enumerate(sequences):
            ids, counts = np.unique([i for i in seq if 0 <= i < width], return_counts=True)
            if not len(ids):
                continue
            if mode == "binary":
                matrix[row, ids] = 1.0
            elif mode == "count":
                matrix[row, ids] = counts
            elif mode == "freq":
                matrix[row, ids] = counts / len(seq)
            else:
                idf = np.array([math.log(1 + self.document_count / (1 + self.index_docs.get(int(i), 0))) for i in ids])
                matrix[row, ids] = (1 + np.log(counts)) * idf
        return matrix

    def texts_to_matrix(self, texts: Iterable[str], mode: str = "binary") -> np.ndarray:
        """:meth:`texts_to_sequences` then :meth:`sequences_to_matrix`."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    @property
    def vocab_size(self) -> int:
        """Embedding rows needed for this tokenizer's ids (padding 0 included)."""
        return self.num_words or len(self.word_index) + 1

    # --- JSON ----------------------------------------------------------------------

    def to_json(self) -> str:
        """The whole tokenizer as a JSON string (no pickle)."""
        return json.dumps(
            {
                "class_name": "Tokenizer",
                "config": {
                    "num_words": self.num_words,
                    "filters": self.filters,
                    "lower": self.lower,
                    "split": self.split,
                    "char_level": self.char_level,
                    "oov_token": self.oov_token,
                    "document_count": self.document_count,
                    "word_counts": list(self.word_counts.items()),
                    "word_docs": dict(self.word_docs),
                    "word_index": self.word_index,
                },
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "Tokenizer":
        """Rebuilds a tokenizer saved by :meth:`to_json`."""
        try:
            data = json.loads(text)
            config = data["config"]
            tokenizer = cls(
                num_words=config["num_words"], filters=config["filters"], lower=config["lower"],
                split=config["split"], char_level=config["char_level"], oov_token=config["oov_token"],
            )
            tokenizer.document_count = int(config["document_count"])
            tokenizer.word_counts = OrderedDict((w, int(c)) for w, c in config["word_counts"])
            tokenizer.word_docs = defaultdict(int, {w: int(c) for w, c in config["word_docs"].items()})
            tokenizer.word_index = {w: int(i) for w, i in config["word_index"].items()}
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"not a seqjax/Keras tokenizer JSON ({type(err).__name__}: {err}).") from None
        tokenizer.index_word = {i: w for w, i in tokenizer.word_index.items()}
        tokenizer.index_docs = defaultdict(
            int, {tokenizer.word_index[w]: c for w, c in tokenizer.word_docs.items() if w in tokenizer.word_index}
        )
        return tokenizer

    def save(self, path: str | Path) -> None:
        """Writes :meth:`to_json` atomically (a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        """Reads a tokenizer written by :meth:`save`."""
        return cls.from_json(read_text(path))
