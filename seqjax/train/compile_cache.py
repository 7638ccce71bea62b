"""A persistent cache of compiled XLA programs: a run that starts again skips the compile.

XLA compiles every new program once per process. On 2 CPU cores the IMDB LSTM's train step
takes about 1 s to compile, and a script compiles dozens of smaller programs besides
(initializers, the evaluation step, the metrics); a resumed run, a second seed or the same
config run again paid all of it anew. With JAX's persistent compilation cache the compiled
executables are written to a directory and read back by the next process that builds the
same program (the key is the program, its devices and options, and the JAX and jaxlib
versions), so they are the executables a fresh compile would give.

Measured (docs/BENCHMARKS.md): the IMDB LSTM trainer's compile 0.94 s -> 0.04 s, model
creation 2.9 s -> 0.8 s on a warm cache.

The scripts turn it on (:func:`use_compile_cache_if_asked`, called by
:func:`seqjax.train.cli.run`), in ``$XDG_CACHE_HOME/seqjax/xla`` (``~/.cache/seqjax/xla``);
``SEQJAX_COMPILE_CACHE=DIR`` puts it elsewhere and ``SEQJAX_COMPILE_CACHE=0`` turns it off;
with the variable unset, a cache directory JAX was already given (``JAX_COMPILATION_CACHE_DIR``)
is used as it is. The directory may be deleted at any time. An entry cut short by a crash
while it was written is reported by JAX ("Error reading persistent compilation cache entry")
and compiled afresh; deleting the directory clears it. Like any compilation cache it is
trusted code: keep it where only you can write (the default directory is created ``0700``).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["COMPILE_CACHE_ENV", "default_cache_dir", "disable_compile_cache", "use_compile_cache",
           "use_compile_cache_if_asked"]

COMPILE_CACHE_ENV = "SEQJAX_COMPILE_CACHE"
_OFF = ("0", "off", "false", "no")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/seqjax/xla``, or ``~/.cache/seqjax/xla``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqjax" / "xla"


def use_compile_cache(path: str | os.PathLike) -> Path:
    """Caches every program this process compiles in ``path`` (created, mode ``0700``), and reads
    programs compiled before from there. Takes effect for compiles after the call.

    Every program is cached, however quick its compile (JAX's default keeps only those over 1 s;
    a script's many small programs add up to seconds).

    Raises:
      ValueError: ``path`` cannot be made a writable directory.
    """
    from jax.experimental.compilation_cache import compilation_cache

    directory = Path(path).expanduser()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"compile cache directory {str(directory)!r} cannot be created ({err.strerror}); "
                         f"set {COMPILE_CACHE_ENV} to a writable directory, or to 0 to compile without a cache.") from err
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"compile cache directory {str(directory)!r} is not writable; set {COMPILE_CACHE_ENV} to a "
                         "writable directory, or to 0 to compile without a cache.")
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.reset_cache()  # a cache JAX opened before (or found absent) is looked up again
    return directory


def disable_compile_cache() -> None:
    """Compiles every program afresh from here on, in this process (benchmarks that time the
    compile call it)."""
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()


def use_compile_cache_if_asked() -> Path | None:
    """What the scripts call first: :func:`use_compile_cache` in ``$SEQJAX_COMPILE_CACHE``;
    nothing for ``0`` / ``off``; unset, the directory JAX was already given
    (``JAX_COMPILATION_CACHE_DIR``) or else :func:`default_cache_dir`. Returns the directory in
    use, or ``None``.

    An unusable default directory (a read-only home) leaves the cache off with a warning; an
    unusable directory the user named raises :class:`ValueError`.
    """
    value = os.environ.get(COMPILE_CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return use_compile_cache(value)
    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    try:
        return use_compile_cache(default_cache_dir())
    except ValueError as err:
        import warnings

        warnings.warn(f"{err} Running without a compile cache.", stacklevel=2)
        return None
