"""The Large Movie Review Dataset (IMDB), labelled part: 25,000 train / 25,000 test.

Yields ``{"text", "label": 0 neg | 1 pos, "rating": 1..10, "ids": int32 [n]}``
where ``ids`` are the token ids ``keras.datasets.imdb`` gives (rule in
:func:`keras_ids`). Each split is in a fixed shuffled order: the reviews sorted by
(label, file id), then permuted by ``numpy.random.RandomState(113)`` as Keras does,
so "the first 10,000 training reviews" holds both classes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, SourceFile, decode

CLASS_NAMES = ("neg", "pos")
START_ID, OOV_ID, PAD_ID, INDEX_FROM = 1, 2, 0, 3
_NOT_WORD = re.compile(r"[^a-z0-9']")
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def keras_words(text: str) -> list[str]:
    """Lowercase, ``<br />`` and every character but ``a-z 0-9 '`` to spaces, split."""
    text = text.lower().replace("<br />", " ")
    return _NOT_WORD.sub(" ", text).split()


def keras_ids(text: str, word_index: dict[str, int], num_words: int | None = None) -> list[int]:
    """Keras-compatible IMDB ids: ``[1] + [word_index[w] + 3 ...]``.

    A word missing from ``word_index``, or whose id is ``>= num_words``, becomes 2
    (out of vocabulary); 0 is left for padding.
    """
    ids = [START_ID]
    for word in keras_words(text):
        rank = word_index.get(word)
        token = OOV_ID if rank is None else rank + INDEX_FROM
        ids.append(OOV_ID if num_words is not None and token >= num_words else token)
    return ids


def load_word_index(path: str | Path) -> dict[str, int]:
    """The Keras word index (word -> frequency rank, 1 = most frequent)."""
    path = Path(path)
    index = json.loads(decode(path.read_bytes(), source=str(path)))
    if not isinstance(index, dict) or not all(isinstance(v, int) for v in index.values()):
        raise ValueError(f"{path}: expected a JSON object mapping words to integer ranks.")
    return index


@dataclasses.dataclass(eq=False)
class ImdbConfig(Config):
    """``num_words``: keep the ids of the ``num_words - 3`` most frequent words (None: all)."""

    num_words: int | None = None


class ImdbReviews(Builder, skip_registration=True):
    """IMDB reviews with Keras-compatible token ids."""

    BUILDER_CONFIGS = [ImdbConfig(name="default")]
    SOURCES = {
        "reviews": SourceFile(
            "imdb/aclImdb_v1_labeled.tar.gz",
            "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            "https://ai.stanford.edu/~amaas/data/sentiment/",
        ),
        "word_index": SourceFile(
            "imdb/imdb_word_index.json",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json",
            "https://keras.io/api/datasets/imdb/",
        ),
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="Large Movie Review Dataset v1.0 with keras.datasets.imdb token ids.",
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                    "rating": np.int32,
                    "ids": tfds.features.Tensor(shape=(None,), dtype=np.int32),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        )

    def _split_generators(self, dl_manager):
        if self.builder_config.num_words is not None and self.builder_config.num_words <= INDEX_FROM:
            raise ValueError(f"num_words must be > {INDEX_FROM}; got {self.builder_config.num_words}.")
        word_index = load_word_index(self._source(dl_manager, "word_index"))
        reviews = _read_reviews(self._source(dl_manager, "reviews"))
        return {split: self._generate_examples(reviews[split], word_index) for split in ("train", "test")}

    def _generate_examples(self, reviews, word_index):
        order = np.random.RandomState(113).permutation(len(reviews))
        num_words = self.builder_config.num_words
        for i in order:
            label, file_id, rating, text = reviews[i]
            ids = np.asarray(keras_ids(text, word_index, num_words), np.int32)
            yield f"{label}_{file_id}", {"text": text, "label": label, "rating": rating, "ids": ids}


def _read_reviews(path: Path) -> dict[str, list[tuple[int, int, int, str]]]:
    """``split -> [(label, file id, rating, text)]`` sorted by (label, file id)."""
    reviews: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            match = _MEMBER.search(member.name)
            if not match or not member.isfile():
                continue
            split, polarity, file_id, rating = match.groups()
            text = decode(tar.extractfile(member).read(), source=f"{path}:{member.name}")
            reviews[split].append((CLASS_NAMES.index(polarity), int(file_id), int(rating), text))
    for split, items in reviews.items():
        if not items:
            raise ValueError(f"{path}: no aclImdb/{split}/{{pos,neg}}/*.txt reviews found in the archive.")
        items.sort()
    return reviews
