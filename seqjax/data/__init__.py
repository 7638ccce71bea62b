"""Data sets by name: TF-free tensorflow-datasets builders and a grain input pipeline.

    import seqjax.data as sjd
    sjd.names()                                    # the known data sets
    train = sjd.load("imdb_reviews", "train", manual_dir="../shared/data", num_words=10_000)
    len(train), train[0]["ids"]                    # random access, what grain reads

Prepared files go to ``data_dir`` (default ``$SEQJAX_DATA_DIR`` or
``~/seqjax_datasets``); raw files are read from ``manual_dir`` (default
``$SEQJAX_MANUAL_DIR``, laid out like ``../shared/data``) or downloaded.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import sys
from pathlib import Path
from typing import Any, Iterator

import filelock

from seqjax.data._builder import (
    DATA_DIR_ENV,
    MANUAL_DIR_ENV,
    Builder,
    default_data_dir,
    default_manual_dir,
)
from seqjax.data.pipeline import (
    EncodedExamples,
    batches,
    check_token_ids,
    class_weights,
    oversample,
    split_validation,
    train_test_split,
)

# name -> (module, builder class)
_REGISTRY: dict[str, tuple[str, str]] = {
    "shape_curves": ("seqjax.data.shapes", "ShapeCurves"),
    "shape_curves_lab": ("seqjax.data.shapes", "ShapeCurvesLab"),
    "sst2_lab": ("seqjax.data.sst2_lab", "Sst2Lab"),
    "imdb_reviews": ("seqjax.data.imdb", "ImdbReviews"),
    "reuters46": ("seqjax.data.reuters", "Reuters46"),
    "newsgroups20": ("seqjax.data.newsgroups", "Newsgroups20"),
    "sms_spam": ("seqjax.data.sms_spam", "SmsSpam"),
    "jena_weather": ("seqjax.data.jena", "JenaWeather"),
}

__all__ = [
    "names",
    "builder",
    "load",
    "batches",
    "EncodedExamples",
    "check_token_ids",
    "class_weights",
    "oversample",
    "split_validation",
    "train_test_split",
    "MANUAL_DIR_ENV",
    "DATA_DIR_ENV",
]


def names() -> list[str]:
    """The registered data set names."""
    return sorted(_REGISTRY)


def _builder_class(name: str) -> type[Builder]:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(names())}.{hint}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def builder(
    name: str,
    *,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    download: bool = True,
    **config: Any,
) -> Builder:
    """The prepared builder of data set ``name`` (prepared on first use, then reused).

    Processes that ask for the same unprepared data set at once (a sweep's runs, test
    workers) take turns: one prepares it under a lock file in ``<data_dir>/.locks``, the
    others say on stderr that they wait, then read what it wrote.

    Args:
      name: one of :func:`names`.
      data_dir: where prepared files live.
      manual_dir: folder with the raw files, laid out like ``../shared/data``.
      download: try the upstream address when the manual dir lacks a file.
      **config: the data set's options (e.g. ``num_words=10_000`` for IMDB,
        ``categories=("comp.graphics", "sci.med")`` for newsgroups20).
    """
    import tensorflow_datasets as tfds

    cls = _builder_class(name)
    config_cls = type(cls.BUILDER_CONFIGS[0])
    try:
        cfg = config_cls.from_kwargs(**config)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None

    def make() -> Builder:
        # The default config is registered on the class; tfds wants it by name.
        made = cls(config="default" if cfg.name == "default" else cfg, data_dir=data_dir or default_data_dir(), file_format="array_record")
        made.allow_download = download
        return made

    instance = make()
    if instance.is_prepared():
        return instance
    # Two processes preparing the same data set (a sweep's runs, pytest-xdist workers) would
    # race to rename their finished folders into place, and the second would crash; with the
    # lock the second waits, then reads what the first wrote.
    with _turn_to_prepare(instance):
        instance = make()  # its info is read again, from the files another process may have written
        manual_dir = manual_dir or default_manual_dir()
        instance.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return instance


@contextlib.contextmanager
def _turn_to_prepare(instance: Builder) -> Iterator[None]:
    """Holds ``<data_dir>/.locks/<name>-<config>-<version>.lock``, saying on stderr when it waits."""
    locks = Path(instance.data_dir_root) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(locks / f"{instance.name}-{instance.builder_config.name}-{instance.version}.lock"))
    try:
        held = lock.acquire(blocking=False)
    except filelock.Timeout:
        print(f"{instance.name}: another process is preparing {instance.data_dir}; waiting for it ({lock.lock_file}).",
              file=sys.stderr)
        held = lock.acquire()
    with held:
        yield


def load(name: str, split: str, **kwargs: Any):
    """The random-access data source of ``split`` (``len()``, indexing), like ``tfds.load``.

    Keyword arguments are those of :func:`builder`. Examples are dicts of NumPy
    values (text as UTF-8 ``bytes``).
    """
    prepared = builder(name, **kwargs)
    splits = sorted(prepared.info.splits)
    if split not in splits:
        raise ValueError(f"{name} has no split {split!r}; its splits are {splits}.")
    return prepared.as_data_source(split)
