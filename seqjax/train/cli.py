"""What the scripts share: user errors become one clear line and exit code 2.

A user error (bad config value, missing file, unwritable workdir, mismatched
checkpoint) prints ``error: <message>`` without a traceback; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

from seqjax.train.fit import NonFiniteLossError

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, KeyError, NonFiniteLossError)


def run(main: Callable[[], int | None]) -> int:
    """Calls ``main``; maps user errors to exit code 2 (NaN loss: 3) and Ctrl-C to 130."""
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every file operation at INFO
    try:
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
