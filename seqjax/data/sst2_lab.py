"""The course's SST-2 CSVs: ``class`` + 55 token columns padded with ``PAD``.

Yields ``{"tokens": the 55 tokens joined by single spaces (PAD included),
"text": the real tokens joined by spaces, "label": 0 negative | 1 positive}``.
Unknown words are the literal token ``OOV``, as in the course's files.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, course_lab_sources, csv_rows, read_text

CLASS_NAMES = ("negative", "positive")
LENGTH = 55
PAD, OOV = "PAD", "OOV"


class Sst2Lab(Builder, skip_registration=True):
    """SST-2 sentences, already tokenized (train 6,920 / test 1,821)."""

    BUILDER_CONFIGS = [Config(name="default")]
    SOURCES = course_lab_sources("sst_movie_reviews_processed_{split}.csv.gz")

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="SST-2 movie-review sentences from the BT-AI course, tokenized and padded to 55.",
            features=tfds.features.FeaturesDict(
                {
                    "tokens": tfds.features.Text(),
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=("tokens", "label"),
        )

    def _generate_examples(self, path):
        source = str(path)
        for line, row in csv_rows(read_text(path), source=source, num_columns=LENGTH + 1):
            if row[0] not in CLASS_NAMES:
                raise ValueError(f"{source}, line {line}: class {row[0]!r} is not one of {CLASS_NAMES}.")
            tokens = row[1:]
            if any(not t or t.split() != [t] for t in tokens):
                raise ValueError(f"{source}, line {line}: a token is empty or holds white space.")
            yield line, {
                "tokens": " ".join(tokens),
                "text": " ".join(t for t in tokens if t != PAD),
                "label": CLASS_NAMES.index(row[0]),
            }


def split_tokens(tokens: bytes | str) -> list[str]:
    """The token list of a ``tokens`` field."""
    if isinstance(tokens, (bytes, np.bytes_)):
        tokens = tokens.decode("utf-8")
    return tokens.split(" ")
