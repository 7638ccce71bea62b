"""Reuters-21578 newswires, the Keras-compatible 46-topic set (11,228 newswires).

Rule (see the data README): of the documents with at least one ``<TOPICS><D>``,
label each by its first topic and keep the 46 first-topics that label at least
14 documents. Labels are numbered in the order the topics first appear in the
files (``cocoa, grain, veg-oil, earn, acq, ...``, as ``keras.datasets.reuters``).
The 11,228 documents, in file order, are permuted by ``RandomState(113)`` and the
first 80% (8,982) are ``train``, the rest (2,246) ``test``, as Keras does.

Yields ``{"text": title + newline + body, "topic": name, "label": 0..45}``.
"""

from __future__ import annotations

import html
import re
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, SourceFile, decode

MIN_DOCUMENTS = 14
TEST_SPLIT = 0.2
SEED = 113

_DOC = re.compile(r"<REUTERS\b(.*?)>(.*?)</REUTERS>", re.S)
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
_D = re.compile(r"<D>(.*?)</D>", re.S)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
_TEXT = re.compile(r"<TEXT\b[^>]*>(.*?)</TEXT>", re.S)
_TAG = re.compile(r"<[^>]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(fragment: str) -> str:
    return _CONTROL.sub("", html.unescape(fragment)).strip()


def parse_sgml(text: str) -> list[tuple[list[str], str]]:
    """``[(topics, text)]`` for every ``<REUTERS>`` document of one ``.sgm`` file."""
    documents = []
    for match in _DOC.finditer(text):
        body = match.group(2)
        topics_block = _TOPICS.search(body)
        topics = _D.findall(topics_block.group(1)) if topics_block else []
        title, main = _TITLE.search(body), _BODY.search(body)
        if title or main:
            content = "\n".join(_clean(m.group(1)) for m in (title, main) if m)
        else:
            raw = _TEXT.search(body)
            content = _clean(_TAG.sub(" ", raw.group(1))) if raw else ""
        documents.append(([t.strip() for t in topics], content))
    return documents


def keras_topic_set(documents: list[tuple[list[str], str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """The 46 topic names (first-appearance order) and the kept ``(topic, text)`` in file order."""
    first = [(topics[0], text) for topics, text in documents if topics]
    counts = Counter(topic for topic, _ in first)
    kept = [(topic, text) for topic, text in first if counts[topic] >= MIN_DOCUMENTS]
    names = list(dict.fromkeys(topic for topic, _ in kept))
    return names, kept


def read_archive(path: Path) -> list[tuple[list[str], str]]:
    """All documents of the ``reut2-NNN.sgm`` files in the archive, in file order."""
    documents = []
    with tarfile.open(path, "r:*") as tar:
        members = sorted(
            (m for m in tar.getmembers() if re.search(r"reut2-\d{3}\.sgm$", m.name)), key=lambda m: m.name
        )
        if not members:
            raise ValueError(f"{path}: no reut2-NNN.sgm files found in the archive.")
        for member in members:
            # The SGML files are ASCII with a few stray latin-1 bytes.
            text = decode(tar.extractfile(member).read(), source=f"{path}:{member.name}", encoding="latin-1")
            documents.extend(parse_sgml(text))
    return documents


class Reuters46(Builder, skip_registration=True):
    """Keras-compatible Reuters newswire topics (train 8,982 / test 2,246, 46 labels)."""

    BUILDER_CONFIGS = [Config(name="default")]
    SOURCES = {
        "archive": SourceFile(
            "reuters21578/reuters21578_sgm.tar.gz",
            "https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.tar.gz",
            "https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.html",
        )
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="Reuters-21578, the 46 first-topics of keras.datasets.reuters.",
            features=tfds.features.FeaturesDict(
                {"text": tfds.features.Text(), "topic": tfds.features.Text(), "label": np.int64}
            ),
            supervised_keys=("text", "label"),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        names, kept = keras_topic_set(read_archive(self._source(dl_manager, "archive")))
        self.info.metadata["topic_names"] = names
        order = np.random.RandomState(SEED).permutation(len(kept))
        cut = int(len(kept) * (1 - TEST_SPLIT))
        return {
            "train": self._generate_examples(kept, order[:cut], names),
            "test": self._generate_examples(kept, order[cut:], names),
        }

    def _generate_examples(self, kept, indices, names):
        label_of = {name: i for i, name in enumerate(names)}
        for i in indices:
            topic, text = kept[i]
            yield int(i), {"text": text, "topic": topic, "label": label_of[topic]}
