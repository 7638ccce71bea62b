"""Reproduces the course's figures from the committed configs on the real data.

    python scripts/reproduce.py --only imdb_lstm,sst_lstm --data_dir ../shared/data --seeds 0,1,2

Each run appends one JSON row to --results; the Markdown table of all rows is printed.
"""

import sys

from absl import app, flags

_ONLY = flags.DEFINE_list("only", [], "Experiments to run (default: all but imdb_glove; 'none': only the table).")
_DATA_DIR = flags.DEFINE_string("data_dir", "../shared/data", "Folder with the raw data files (manual dir).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds, one run each.")
_VARIANT = flags.DEFINE_string("variant", None, "Config variant instead of the experiment's own (e.g. improved).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/reproduce", "Where the run directories go.")
_RESULTS = flags.DEFINE_string("results", "docs/results.jsonl", "JSON-lines file the rows are appended to.")
_PLOTS = flags.DEFINE_string("plots", "", "If set, copy each experiment's seed-0 learning curves here.")


def main(argv):
    del argv
    from seqjax.train import cli, reproduce

    def run():
        if _ONLY.value == ["none"]:  # only the table (and plots) of the rows already there
            names = []
        else:
            names = _ONLY.value or [n for n in reproduce.EXPERIMENTS if n != "imdb_glove"]
        for name in names:
            for seed in _SEEDS.value:
                row = reproduce.run(name, seed=int(seed), manual_dir=_DATA_DIR.value, workdir_root=_WORKDIR.value,
                                    variant=_VARIANT.value)
                reproduce.append_rows(_RESULTS.value, [row])
                print(f"{name} seed {seed}: test {row['test']} best val {row.get('val_accuracy_best')} "
                      f"({row['epochs']} epochs, {row['wall_time_s']:.0f} s)", flush=True)
        rows = reproduce.read_rows(_RESULTS.value)
        if _PLOTS.value:
            reproduce.export_plots(rows, _PLOTS.value)
        print(reproduce.results_table(rows))

    sys.exit(cli.run(run))


if __name__ == "__main__":
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
