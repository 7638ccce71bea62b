"""Re-evaluates the best checkpoint of a finished run on its test split.

    python scripts/evaluate.py --workdir runs/shapes_lstm
"""

import json
import sys

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory written by scripts/train.py.")


def main(argv):
    del argv
    from seqjax.train import cli
    from seqjax.train.experiment import evaluate

    sys.exit(cli.run(lambda: print(json.dumps(evaluate(_WORKDIR.value), indent=2))))


if __name__ == "__main__":
    flags.mark_flags_as_required(["workdir"])
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
