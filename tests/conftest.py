"""Shared fixtures: the real data in ../shared/data and one prepared-data dir per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEQJAX_MANUAL_DIR") or ROOT.parent / "shared" / "data")

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SEQJAX_OFFLINE", "1")  # tests never wait on a network

# The tests compile with LLVM's optimisation passes off (``--xla_backend_optimization_level=0``):
# they check values, gradients and the programs' structure, not speed. XLA's HLO passes
# (fusion, SPMD partitioning, where the all-reduces go) run as always; only the kernels'
# machine code is less optimised. Most of the suite's time is XLA compiling, and this took
# 124 cell/scan/model tests from 171 to 135 s and 32 training tests from 143 to 115 s
# (``-n 0``). ``SEQJAX_TEST_XLA_FLAGS=`` (empty) runs the suite fully optimised; every process
# a test starts gets the same flags (:func:`xla_flags`), so results compare bit for bit.
XLA_TEST_FLAGS = os.environ.get("SEQJAX_TEST_XLA_FLAGS", "--xla_backend_optimization_level=0")


def xla_flags(*more: str) -> str:
    """``XLA_FLAGS`` for a process a test starts: the suite's :data:`XLA_TEST_FLAGS`, then ``more``."""
    return " ".join(flag for flag in (XLA_TEST_FLAGS, *more) if flag)


os.environ["XLA_FLAGS"] = xla_flags(os.environ.get("XLA_FLAGS", ""))  # the caller's own flags win

# One compile cache per test run, fresh, shared by the xdist workers and every process the
# tests start (they inherit these variables from the controller): a program compiled by one
# test is read back by the next that builds it (the suite took 403 s instead of 532-560 s).
if "SEQJAX_COMPILE_CACHE" not in os.environ:
    os.environ["SEQJAX_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="seqjax-test-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["SEQJAX_COMPILE_CACHE"], True)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["SEQJAX_COMPILE_CACHE"])
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

from seqjax.train.compile_cache import use_compile_cache_if_asked  # noqa: E402

use_compile_cache_if_asked()


@pytest.fixture(scope="session")
def manual_dir() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Prepared builders are shared by every test of the run, in every xdist worker.

    The workers' temp folders share a parent; a data set one worker prepared is read by the
    other (``sjd.builder`` locks each prepared folder, so the second waits rather than
    preparing it again: IMDB alone takes 20-35 s per config).
    """
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "seqjax_datasets"
    shared.mkdir(exist_ok=True)
    return shared


def require(*relative: str) -> None:
    """Skips the test, naming the file, when a real data file is absent."""
    for rel in relative:
        if not (SHARED_DATA / rel).is_file():
            pytest.skip(f"real data file {SHARED_DATA / rel} is missing (set SEQJAX_MANUAL_DIR to ../shared/data)")


@pytest.fixture
def without_native_lstm(monkeypatch):
    """``sj.scan`` as where the compiled LSTM kernel cannot be built: XLA's loops
    (seqjax.fused_lstm, the projected-table token scan) are what it runs."""
    from seqjax import native_lstm

    monkeypatch.setattr(native_lstm, "available", lambda: False)
