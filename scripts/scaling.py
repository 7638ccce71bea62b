"""Measures data-parallel training throughput on 1, 2, 4 virtual CPU devices.

    python scripts/scaling.py --devices 1,2,4 --batch_size 128 --seq_len 100
"""

import json
import sys

from absl import app, flags

_DEVICES = flags.DEFINE_list("devices", ["1", "2", "4"], "Device counts, one process each.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_SEQ = flags.DEFINE_integer("seq_len", 100, "Sequence length.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps (after 3 warm-up steps).")


def main(argv):
    del argv
    from seqjax.train import cli
    from seqjax.train.throughput import measure_devices

    def run():
        rows = measure_devices([int(n) for n in _DEVICES.value], batch_size=_BATCH.value, seq_len=_SEQ.value,
                               steps=_STEPS.value)
        print("| devices | global batch | median step (ms) | min step (ms) | examples/s |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['devices']} | {r['batch_size']} | {r['median_step_ms']} | {r['min_step_ms']} | "
                  f"{r['examples_per_s']} |")
        print(json.dumps(rows))

    sys.exit(cli.run(run))


if __name__ == "__main__":
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
