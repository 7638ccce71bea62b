"""Small file helpers shared across seqjax: strict decoding and atomic writes."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path


def decode(data: bytes, *, source: str, encoding: str = "utf-8") -> str:
    """Decodes ``data``, or raises ``ValueError`` naming the file, line and byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{source}: not valid {encoding} text at byte {err.start} (line {line}): "
            f"{data[max(0, err.start - 20):err.start + 20]!r}. Re-save the file as {encoding}."
        ) from None


def read_text(path: str | Path, *, encoding: str = "utf-8") -> str:
    """Reads a whole text file (``.gz`` transparently) with :func:`decode`'s errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return decode(data, source=str(path), encoding=encoding)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` to ``path`` via a temporary file and a rename.

    Readers see the old file or the new one, never half of one, even after a crash
    or Ctrl-C mid-write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
