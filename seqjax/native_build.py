"""Compiling seqjax's C++ kernels (``seqjax/csrc``) on first use, for this machine.

A kernel is compiled once per machine kind, compiler and jaxlib into the cache directory
(``$SEQJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqjax``, else ``~/.cache/seqjax``) with
``-O3 -march=native`` against jaxlib's XLA FFI headers, and loaded from there afterwards,
as ``torch.utils.cpp_extension`` and Triton do. Compiling goes to a temporary file renamed
into place, under a file lock, so concurrent processes (``pytest -n``) compile it once and a
crash or Ctrl-C never leaves a half-written library. Where no compiler is found, the build
fails or ``SEQJAX_NATIVE=0`` is set, :func:`load` returns ``None`` and says why in
:func:`unavailable_reason`; callers then run their XLA implementation.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import filelock

__all__ = ["load", "unavailable_reason", "cache_dir", "DISABLE_ENV"]

DISABLE_ENV = "SEQJAX_NATIVE"

_log = logging.getLogger("seqjax")
_loaded: dict[str, ctypes.CDLL | None] = {}
_reasons: dict[str, str] = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept (module docstring)."""
    if os.environ.get("SEQJAX_CACHE_DIR"):
        return Path(os.environ["SEQJAX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seqjax"


def unavailable_reason(name: str) -> str | None:
    """Why :func:`load` returned ``None`` for ``name`` (``None`` when it did not, or was not called)."""
    return _reasons.get(name)


def load(name: str) -> ctypes.CDLL | None:
    """The compiled ``seqjax/csrc/<name>.cc`` as a loaded library, compiling it on first use;
    ``None`` where that is impossible here (:func:`unavailable_reason` says why)."""
    if name not in _loaded:
        try:
            path = _build(name)
            try:
                _loaded[name] = ctypes.CDLL(str(path))
            except OSError as error:  # say, a cache shared with a machine of another libc
                raise _Unavailable(f"cannot load {path}: {error}") from error
        except _Unavailable as why:
            _loaded[name], _reasons[name] = None, str(why)
            _log.info("seqjax: the native %s kernel is unavailable (%s); using XLA's implementation", name, why)
    return _loaded[name]


class _Unavailable(Exception):
    pass


def _compiler() -> str:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return candidate
    raise _Unavailable("no C++ compiler found (set CXX or install g++)")


def _cpu_signature() -> str:
    """The machine kind: ``-march=native`` code runs only where the same instructions exist."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(name: str) -> Path:
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        raise _Unavailable(f"{DISABLE_ENV}={os.environ[DISABLE_ENV]} turns the native kernels off")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise _Unavailable(f"native kernels are built for x86-64 Linux; this is {platform.system()} {platform.machine()}")
    import jax
    import jaxlib

    source = resources.files("seqjax").joinpath("csrc", f"{name}.cc").read_bytes()
    compiler = _compiler()
    flags = ["-std=c++17", "-O3", "-march=native", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}"]
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise _Unavailable(f"{compiler} --version failed: {error}") from error
    key = hashlib.sha256(b"\0".join(
        part if isinstance(part, bytes) else part.encode()
        for part in (source, " ".join(flags), version, jaxlib.__version__, _cpu_signature())
    )).hexdigest()[:16]
    directory = cache_dir()
    target = directory / f"{name}-{key}.so"
    if target.exists():
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _Unavailable(f"cannot create the cache directory {directory}: {error}") from error
    with filelock.FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=directory) as scratch:
            src, out = Path(scratch) / f"{name}.cc", Path(scratch) / f"{name}.so"
            src.write_bytes(source)
            _log.info("seqjax: compiling the native %s kernel into %s", name, target)
            try:
                result = subprocess.run([compiler, *flags, str(src), "-o", str(out)], capture_output=True,
                                        text=True, timeout=600)
            except (OSError, subprocess.SubprocessError) as error:
                raise _Unavailable(f"{compiler} failed to run: {error}") from error
            if result.returncode != 0:
                raise _Unavailable(f"{compiler} failed on {name}.cc: {result.stderr.strip()[-2000:]}")
            os.replace(out, target)
    return target
