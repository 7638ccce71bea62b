"""From data-set examples (and raw text) to model inputs: one fitted, JSON-saved encoder.

The same :class:`Encoder` prepares training batches and, saved in the run's
workdir, turns raw text into inputs at predict time, so both go through
exactly the same preprocessing.

Encodings (``config.data.encoding``):

- ``"ids"``: the builder's Keras-compatible ``ids`` (IMDB); ids ``>= num_words``
  become 2 (out of vocabulary).
- ``"tokenizer"``: a Keras :class:`~seqjax.text.Tokenizer` fitted on the training
  texts (optionally cleaned first).
- ``"tokens"``: pre-tokenized text (SST-2): a vocabulary of the training tokens,
  ``PAD`` = 0, unknown tokens = the ``OOV`` token's id.
- ``"values"``: a float vector field used as is (curves).

Token ids then go through ``pad_sequences`` (``maxlen``, ``padding``,
``truncating``) or, with ``multi_hot``, become a ``[num_words]`` multi-hot vector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from seqjax._io import atomic_write_text, read_text
from seqjax.text.cleaning import clean_text
from seqjax.text.sequences import pad_sequences, vectorize_sequences
from seqjax.text.tokenizer import Tokenizer

ENCODINGS = ("ids", "tokenizer", "tokens", "values")
PAD_TOKEN, OOV_TOKEN = "PAD", "OOV"


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


class Encoder:
    """Examples -> ``{"inputs", "label"}`` (see the module docstring).

    Args:
      encoding: one of :data:`ENCODINGS`.
      field: the example field to read (``ids``, ``text``, ``tokens``, ``curve``).
      label_field: the label's field.
      num_words: vocabulary cap (ids / tokenizer) or multi-hot width.
      maxlen: padded length (``None``: no padding, for ``values`` or ``multi_hot``).
      padding, truncating: ``"pre"`` or ``"post"``, Keras semantics.
      multi_hot: multi-hot ``[num_words]`` instead of padded ids.
      clean: run :func:`~seqjax.text.clean_text` before the tokenizer.
      oov_token: the tokenizer's out-of-vocabulary token.
      class_names: label names, index = label.
    """

    def __init__(
        self,
        encoding: str,
        field: str,
        *,
        label_field: str = "label",
        num_words: int | None = None,
        maxlen: int | None = None,
        padding: str = "pre",
        truncating: str = "pre",
        multi_hot: bool = False,
        clean: bool = False,
        oov_token: str | None = None,
        class_names: Sequence[str] = (),
    ):
        if encoding not in ENCODINGS:
            raise ValueError(f"data.encoding={encoding!r} is not one of {ENCODINGS}.")
        if multi_hot and not num_words:
            raise ValueError("data.multi_hot needs data.num_words (the multi-hot width).")
        if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1):
            raise ValueError(f"data.maxlen must be a positive int or None; got {maxlen!r}.")
        self.encoding, self.field, self.label_field = encoding, field, label_field
        self.num_words, self.maxlen, self.padding, self.truncating = num_words, maxlen, padding, truncating
        self.multi_hot, self.clean, self.oov_token = multi_hot, clean, oov_token
        self.class_names = list(class_names)
        self.example_shape: list[int] = []  # one example's inputs shape, set by fit
        self.tokenizer: Tokenizer | None = None
        self.vocabulary: dict[str, int] = {}  # "tokens" encoding, or the IMDB word index for raw text
        pad_sequences([[1]], maxlen=1, padding=padding, truncating=truncating)  # validates the modes

    # --- fitting -------------------------------------------------------------------

    def fit(self, source: Any, word_index: Mapping[str, int] | None = None) -> "Encoder":
        """Fits the vocabulary on the training ``source`` (random access).

        ``word_index`` (the Keras IMDB index) lets the ``ids`` encoding turn raw text
        into ids at predict time; only words that survive ``num_words`` are kept.
        """
        if self.encoding == "tokenizer":
            texts = [self._clean(_text(source[i][self.field])) for i in range(len(source))]
            self.tokenizer = Tokenizer(num_words=self.num_words, oov_token=self.oov_token).fit_on_texts(texts)
        elif self.encoding == "tokens":
            tokens = {PAD_TOKEN: 0}
            for i in range(len(source)):
                for token in _text(source[i][self.field]).split(" "):
                    tokens.setdefault(token, len(tokens))
            tokens.setdefault(OOV_TOKEN, len(tokens))
            self.vocabulary = tokens
        elif self.encoding == "ids" and word_index is not None:
            from seqjax.data.imdb import INDEX_FROM

            limit = (self.num_words or 1 << 62) - INDEX_FROM
            self.vocabulary = {w: r for w, r in word_index.items() if r < limit}
        if len(source):
            self.example_shape = list(self.encode(source[0])["inputs"].shape)
        return self

    def _clean(self, text: str) -> str:
        return clean_text(text) if self.clean else text

    # --- encoding ------------------------------------------------------------------

    @property
    def vocab_size(self) -> int | None:
        """Embedding rows the ids need (``None`` for float inputs)."""
        if self.encoding == "values":
            return None
        if self.encoding == "tokens":
            return len(self.vocabulary)
        if self.encoding == "tokenizer" and self.tokenizer is not None:
            return self.tokenizer.vocab_size
        return self.num_words

    def _ids(self, example: Mapping[str, Any]) -> list[int]:
        value = example[self.field]
        if self.encoding == "ids":
            ids = np.asarray(value, np.int64)
            if self.num_words:
                ids = np.where(ids >= self.num_words, 2, ids)
            return ids.tolist()
        return self.texts_to_ids([_text(value)])[0]

    def texts_to_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Raw texts to id lists, through this encoder's vocabulary."""
        if self.encoding == "tokenizer":
            if self.tokenizer is None:
                raise ValueError("the encoder is not fitted; call fit(train_source) first.")
            return self.tokenizer.texts_to_sequences([self._clean(t) for t in texts])
        if self.encoding == "tokens":
            oov = self.vocabulary[OOV_TOKEN]
            return [[self.vocabulary.get(tok, oov) for tok in t.split(" ") if tok] for t in texts]
        if self.encoding == "ids":
            if not self.vocabulary:
                raise ValueError("raw text needs the word index: fit(source, word_index=...) first.")
            from seqjax.data.imdb import keras_ids

            return [keras_ids(t, self.vocabulary, self.num_words) for t in texts]
        raise ValueError("the 'values' encoding takes numbers, not text.")

    def _finish(self, ids_list: Sequence[Sequence[int]]) -> np.ndarray:
        if self.multi_hot:
            return vectorize_sequences(ids_list, self.num_words)
        return pad_sequences(ids_list, maxlen=self.maxlen, padding=self.padding, truncating=self.truncating)

    def encode(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One example -> ``{"inputs": [...], "label": int or float}``."""
        if self.encoding == "values":
            inputs = np.asarray(example[self.field], np.float32)
        else:
            inputs = self._finish([self._ids(example)])[0]
        return {"inputs": inputs, "label": np.asarray(example[self.label_field])}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Raw texts -> a batch of inputs ``[N, ...]`` (predict time)."""
        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"text {i} is empty or only white space; give the text to classify.")
        return self._finish(self.texts_to_ids(texts))

    # --- JSON ----------------------------------------------------------------------

    def to_json(self) -> str:
        state = {
            k: getattr(self, k)
            for k in ("encoding", "field", "label_field", "num_words", "maxlen", "padding", "truncating",
                      "multi_hot", "clean", "oov_token", "class_names", "vocabulary", "example_shape")
        }
        state["tokenizer"] = self.tokenizer.to_json() if self.tokenizer is not None else None
        return json.dumps(state, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Encoder":
        state = json.loads(text)
        tokenizer, vocabulary = state.pop("tokenizer"), state.pop("vocabulary")
        example_shape = state.pop("example_shape", [])
        encoder = cls(state.pop("encoding"), state.pop("field"), **state)
        encoder.vocabulary, encoder.example_shape = vocabulary, list(example_shape)
        encoder.tokenizer = Tokenizer.from_json(tokenizer) if tokenizer else None
        return encoder

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Encoder":
        return cls.from_json(read_text(path))
