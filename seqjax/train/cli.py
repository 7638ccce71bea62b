"""What the scripts share: user errors become one clear line and exit code 2.

A user error (bad config value, missing file, unwritable workdir, mismatched
checkpoint) prints ``error: <message>`` without a traceback; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import re
import sys
from typing import Callable

from seqjax.train.fit import NonFiniteLossError

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, KeyError, NonFiniteLossError)


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing for ``app.run(..., flags_parser=parse_flags)``.

    A misspelt ``--config.field`` (ml_collections suggests the nearest name) or a
    value of the wrong type exits with code 2 and one line, not a traceback.
    """
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError, TypeError, ValueError, flags.Error) as err:
        text = str(err.args[0] if err.args else err)
        if "Traceback (most recent call last)" in text:  # an error inside the config file: keep its message
            text = text.strip().splitlines()[-1].split("Error: ", 1)[-1]
        suggestion = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
        if isinstance(err, AttributeError) and suggestion:  # ml_collections's unknown-field error
            text = f"unknown config field {suggestion.group(2)!r}; did you mean {suggestion.group(1)!r}?"
        text = text.replace("\\'", "'").replace("\\n", " ").replace("\n", " ").strip("'\" ")
        hint = "" if "--config" in text or "flag" in text else " (in the --config overrides)"
        print(f"error: {text}{hint}", file=sys.stderr)
        sys.exit(2)


def run(main: Callable[[], int | None]) -> int:
    """Calls ``main``; maps user errors to exit code 2 (NaN loss: 3) and Ctrl-C to 130.

    First exposes the host's CPU cores as JAX devices (:func:`seqjax.train.sharding.use_host_cores`;
    ``SEQJAX_CPU_DEVICES=1`` opts out), so CPU training splits each batch over them, and with
    ``SEQJAX_REUSE_MEMORY=1`` keeps freed host memory for reuse across steps
    (:func:`seqjax.train.host_memory.reuse_freed_memory`). Compiled programs are cached on disk
    for the next run (:mod:`seqjax.train.compile_cache`; ``SEQJAX_COMPILE_CACHE=0`` opts out).
    """
    from absl import logging

    from seqjax.train.compile_cache import use_compile_cache_if_asked
    from seqjax.train.host_memory import reuse_freed_memory_if_asked
    from seqjax.train.sharding import use_host_cores

    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every file operation at INFO
    try:
        reuse_freed_memory_if_asked()
        use_host_cores()
        use_compile_cache_if_asked()
        return int(main() or 0)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last complete checkpoint is kept; run the same command to resume.", file=sys.stderr)
        return 130
