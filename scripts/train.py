"""Trains and evaluates one experiment config; leaves reports and checkpoints in --workdir.

    python scripts/train.py --config configs/shapes_lstm.py --workdir runs/shapes_lstm
    python scripts/train.py --config configs/imdb_lstm.py:smoke --config.epochs=2 --workdir /tmp/run

Several hosts: start the same command on each with --coordinator=HOST:PORT --num_processes=N
--process_id=I (or the SEQJAX_COORDINATOR / SEQJAX_NUM_PROCESSES / SEQJAX_PROCESS_ID variables).
"""

import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/<name>.py[:variant]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it holds checkpoints).")
_FORCE = flags.DEFINE_bool("force", False, "If the workdir holds a different config's run, start fresh in workdir/run-N.")
_COORDINATOR = flags.DEFINE_string("coordinator", "", "Several hosts: the coordinator's host:port "
                                   "(or SEQJAX_COORDINATOR).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "Several hosts: the process count (or SEQJAX_NUM_PROCESSES).")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "Several hosts: this process's id (or SEQJAX_PROCESS_ID).")


def main(argv):
    del argv
    from seqjax.train import cli
    from seqjax.train.experiment import train_and_evaluate
    from seqjax.train.sharding import initialize_distributed

    def run():
        initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
        if _CONFIG.value.get("task") == "seq2seq":
            from seqjax.train import seq2seq_run

            results = seq2seq_run.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
        else:
            results = train_and_evaluate(_CONFIG.value, _WORKDIR.value, force=_FORCE.value)
        shown = {k: v for k, v in results.items() if isinstance(v, float)}
        print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))
        print(f"reports: {results['workdir']}/metrics.json, plots in {results['workdir']}/plots/")

    sys.exit(cli.run(run))


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
