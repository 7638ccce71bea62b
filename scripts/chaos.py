"""Kills and restarts a small training run at random moments, then compares it with an
uninterrupted run: metrics and parameters must be identical.

    python scripts/chaos.py --config configs/shapes_lstm.py:smoke --kills 10 --workdir /tmp/chaos -- --config.epochs=4
"""

import sys

from absl import app, flags

_CONFIG = flags.DEFINE_string("config", "configs/shapes_lstm.py:smoke", "Config argument passed to train.py.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/chaos", "Holds reference/ and chaotic/ run directories.")
_KILLS = flags.DEFINE_integer("kills", 5, "How many times to SIGKILL the run.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill times.")


def main(argv):
    from seqjax.train import cli
    from seqjax.train.chaos import run_chaos

    def run():
        report = run_chaos(_CONFIG.value, _WORKDIR.value, kills=_KILLS.value, seed=_SEED.value, overrides=argv[1:])
        print(report)
        return 0 if report.identical_metrics and report.identical_params else 1

    sys.exit(cli.run(run))


if __name__ == "__main__":
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
