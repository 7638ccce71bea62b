"""20 Newsgroups, "bydate" version: train 11,314 / test 7,532 posts in 20 categories.

``categories`` picks a subset (the course uses comp.graphics + sci.med, and
sci.electronics + soc.religion.christian + rec.autos); labels number the chosen
categories in sorted order, as ``sklearn.datasets.fetch_20newsgroups`` does. Posts
are decoded as latin-1 (like sklearn) and kept whole, headers included, in
(category, post id) order. Yields ``{"text", "category", "label"}``.
"""

from __future__ import annotations

import dataclasses
import re
import tarfile
from pathlib import Path

import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, SourceFile, decode

CATEGORIES = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med", "sci.space",
    "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast", "talk.politics.misc",
    "talk.religion.misc",
)
_MEMBER = re.compile(r"(?:^|/)20news-bydate-(train|test)/([^/]+)/(\d+)$")


def check_categories(categories) -> tuple[str, ...]:
    """The sorted, validated category tuple (all 20 for ``None``)."""
    if categories is None:
        return CATEGORIES
    if isinstance(categories, str):
        categories = [c for c in categories.replace("+", ",").split(",") if c]
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown or not categories:
        raise ValueError(
            f"categories must be a non-empty subset of the 20 newsgroups; unknown {unknown}. "
            f"Known: {', '.join(CATEGORIES)}."
        )
    return tuple(sorted(set(categories)))


@dataclasses.dataclass(eq=False)
class NewsgroupsConfig(Config):
    """``categories``: a tuple of category names (or ``"a+b"``); ``None`` for all 20."""

    categories: tuple[str, ...] | None = None


class Newsgroups20(Builder, skip_registration=True):
    """20 Newsgroups posts with a category-subset option."""

    BUILDER_CONFIGS = [NewsgroupsConfig(name="default")]
    SOURCES = {
        "archive": SourceFile(
            "20newsgroups/20news-bydate.tar.gz",
            "http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz",
            "http://qwone.com/~jason/20Newsgroups/",
        )
    }

    def _info(self) -> tfds.core.DatasetInfo:
        names = check_categories(self.builder_config.categories)
        return self._make_info(
            description="20 Newsgroups, bydate version.",
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "category": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=names),
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        posts = _read_posts(self._source(dl_manager, "archive"), check_categories(self.builder_config.categories))
        return {split: self._generate_examples(posts[split]) for split in ("train", "test")}

    def _generate_examples(self, posts):
        names = check_categories(self.builder_config.categories)
        for category, post_id, text in posts:
            yield f"{category}/{post_id}", {"text": text, "category": category, "label": names.index(category)}


def _read_posts(path: Path, categories: tuple[str, ...]) -> dict[str, list[tuple[str, int, str]]]:
    posts: dict[str, list] = {"train": [], "test": []}
    wanted = set(categories)
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            match = _MEMBER.search(member.name)
            if not match or not member.isfile() or match.group(2) not in wanted:
                continue
            split, category, post_id = match.groups()
            text = decode(tar.extractfile(member).read(), source=f"{path}:{member.name}", encoding="latin-1")
            posts[split].append((category, int(post_id), text))
    for split, items in posts.items():
        if not items:
            raise ValueError(f"{path}: no 20news-bydate-{split}/<category>/<id> posts found.")
        items.sort()
    return posts

