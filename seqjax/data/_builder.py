"""What every seqjax builder shares: configs from keyword arguments, source files
from a manual dir or upstream, and readers that fail with the line that broke.

Builders are tensorflow-datasets ``GeneratorBasedBuilder`` subclasses written
without TensorFlow: they are prepared as ``array_record`` files and read back with
``builder.as_data_source(split)``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import tensorflow_datasets as tfds

from seqjax._io import decode, read_text  # noqa: F401  (re-exported for the builders)

MANUAL_DIR_ENV = "SEQJAX_MANUAL_DIR"
DATA_DIR_ENV = "SEQJAX_DATA_DIR"
OFFLINE_ENV = "SEQJAX_OFFLINE"


def default_manual_dir() -> str | None:
    """``$SEQJAX_MANUAL_DIR``, a folder laid out like ``../shared/data``."""
    return os.environ.get(MANUAL_DIR_ENV) or None


def default_data_dir() -> str:
    """``$SEQJAX_DATA_DIR`` or ``~/seqjax_datasets``: where prepared files go."""
    return os.environ.get(DATA_DIR_ENV) or str(Path("~/seqjax_datasets").expanduser())


class LocalDatasetInfo(tfds.core.DatasetInfo):
    """A ``DatasetInfo`` that only ever describes what this builder itself generated.

    tensorflow-datasets fills an unprepared builder's info from its GCS bucket of
    precomputed metadata (``initialize_from_bucket``), looked up by the builder's name. Some
    seqjax builders share a name with a TFDS catalogue data set (``imdb_reviews``), whose
    splits and counts are not theirs; and the lookup made a ``/tmp/tmp*tfds`` directory it
    never removed, once per builder built before its data was prepared. seqjax builders read
    local files (or their upstream address), so there is nothing to fetch: the info is the
    code's until ``download_and_prepare`` writes the real one.
    """

    def initialize_from_bucket(self) -> None:
        return None


class SourceFile(NamedTuple):
    """A raw file a builder reads.

    Attributes:
      manual_path: path inside the manual dir, e.g. ``"imdb/aclImdb_v1_labeled.tar.gz"``.
      url: upstream address, or ``None`` when the file has no public download.
      homepage: where a person can get the file by hand.
    """

    manual_path: str
    url: str | None
    homepage: str


@dataclasses.dataclass(eq=False)
class Config(tfds.core.BuilderConfig):
    """Base builder config. Subclasses add fields; names derive from field values."""

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "Config":
        fields = {f.name for f in dataclasses.fields(cls)} - {
            f.name for f in dataclasses.fields(tfds.core.BuilderConfig)
        }
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for this data set; it takes {sorted(fields) or 'none'}."
            )
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in fields}
        chosen = {**defaults, **kwargs}
        if chosen == defaults:
            name = "default"
        else:
            digest = hashlib.sha1(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()
            name = "custom_" + digest[:12]
        return cls(name=name, description=json.dumps(chosen, sort_keys=True, default=str), **kwargs)


class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base class of the seqjax builders (not registered in tfds's global catalog).

    Examples are written in generation order (``disable_shuffling`` in
    :meth:`_make_info`), so a split reads in the order the builder documents; the
    input pipeline shuffles.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS: list[Config] = []
    SOURCES: dict[str, SourceFile] = {}
    allow_download: bool = True

    def _make_info(self, **kwargs: Any) -> tfds.core.DatasetInfo:
        """``DatasetInfo`` with shuffling off: splits read in generation order."""
        return LocalDatasetInfo(builder=self, disable_shuffling=True, **kwargs)

    def _split_generators(self, dl_manager):
        """Default: one source file per split, keyed by the split's name in ``SOURCES``."""
        return {split: self._generate_examples(self._source(dl_manager, split)) for split in self.SOURCES}

    def _source(self, dl_manager: tfds.download.DownloadManager, key: str) -> Path:
        """The local path of source ``key``: manual dir first, then upstream."""
        source = self.SOURCES[key]
        manual_dir = _manual_dir(dl_manager)
        if manual_dir is not None:
            for candidate in (manual_dir / source.manual_path, manual_dir / Path(source.manual_path).name):
                if candidate.is_file():
                    return candidate
        offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
        download_error = None
        if source.url and self.allow_download and not offline:
            try:
                return Path(dl_manager.download(source.url))
            except Exception as err:  # no network, moved file, ...: say so below
                download_error = err
        where = manual_dir if manual_dir is not None else f"${MANUAL_DIR_ENV}"
        reason = (
            f"the download from {source.url} failed ({type(download_error).__name__}: {download_error})"
            if download_error is not None
            else ("it has no public download address" if not source.url else "downloading is off")
        )
        raise FileNotFoundError(
            f"{self.name}: missing source file {source.manual_path!r}; {reason}. "
            f"Put the file at {where}/{source.manual_path} (get it from {source.homepage}) "
            f"and pass manual_dir=... or set {MANUAL_DIR_ENV} to that folder."
        )


def course_lab_sources(pattern: str) -> dict[str, SourceFile]:
    """``{"train", "test"}`` source files of the BT-AI course notebooks (``seed-lab/``).

    ``pattern`` holds ``{split}``, e.g. ``"shape_classification_{split}.csv"``.
    """
    return {
        split: SourceFile(
            f"seed-lab/{pattern.format(split=split)}",
            f"https://raw.githubusercontent.com/srush/BT-AI/main/notebooks/{pattern.format(split=split)}",
            "https://github.com/srush/BT-AI (notebooks/)",
        )
        for split in ("train", "test")
    }


def _manual_dir(dl_manager: tfds.download.DownloadManager) -> Path | None:
    manual = getattr(dl_manager, "_manual_dir", None)
    return Path(manual) if manual else None


# --- readers ---------------------------------------------------------------------------


def csv_rows(
    text: str, *, source: str, num_columns: int | None = None, header: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """Yields ``(line_number, row)``; a row with the wrong column count raises ``ValueError``.

    Args:
      text: the decoded file.
      source: the file's name for messages.
      num_columns: the expected number of columns; the header's when ``None``.
      header: skip (and check) the first row.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    expected = num_columns
    for row in reader:
        if header and reader.line_num == 1:
            expected = len(row) if expected is None else expected
            continue
        if not row:
            continue
        if expected is not None and len(row) != expected:
            raise ValueError(
                f"{source}, line {reader.line_num}: malformed CSV row with {len(row)} columns, "
                f"expected {expected}: {','.join(row)[:80]!r}. Fix or remove that line."
            )
        yield reader.line_num, row


def parse_float(value: str, *, source: str, line: int, column: str) -> float:
    """``float(value)`` with a message naming the file, line and column."""
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"{source}, line {line}: column {column!r} holds {value!r}, expected a number."
        ) from None
