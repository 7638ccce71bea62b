"""Shared fixtures: the real data in ../shared/data and one prepared-data dir per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEQJAX_MANUAL_DIR") or ROOT.parent / "shared" / "data")

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SEQJAX_OFFLINE", "1")  # tests never wait on a network


@pytest.fixture(scope="session")
def manual_dir() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Prepared builders are shared by every test of the session."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    return tmp_path_factory.mktemp("seqjax_datasets")


def require(*relative: str) -> None:
    """Skips the test, naming the file, when a real data file is absent."""
    for rel in relative:
        if not (SHARED_DATA / rel).is_file():
            pytest.skip(f"real data file {SHARED_DATA / rel} is missing (set SEQJAX_MANUAL_DIR to ../shared/data)")
