"""Times the training step of seqjax, Flax linen and (if installed) PyTorch in one process.

    python scripts/bench.py --configs A,B,C,D --steps 20 --json docs/bench.json
    python scripts/bench.py --configs= --long 4096 --memory 10000   # parallel-scan cells; remat memory
    python scripts/bench.py --configs B,C --reuse_memory             # freed host memory kept for reuse

PyTorch on this machine: ``pip install torch==2.13.0`` (a CPU build from local disk).
The host's cores become JAX CPU devices first (``SEQJAX_CPU_DEVICES`` overrides), as in
every seqjax script, so the ``seqjax`` row is the trainer's step as users get it.
"""

import json
import sys

from absl import app, flags

_CONFIGS = flags.DEFINE_list("configs", ["A", "B", "C", "D"], "Benchmark configs (A imdb-lstm, B sst-lstm, "
                             "C big-lstm, D imdb-gru).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed train steps per framework (after one untimed first step).")
_JSON = flags.DEFINE_string("json", "", "Also write the report as JSON here.")
_FRAMEWORKS = flags.DEFINE_list("frameworks", None, "Rows to time (default: seqjax, seqjax_1dev, flax, flax_dp, "
                                "torch; also seqjax_no_remat, seqjax_remat, seqjax_autodiff, seqjax_xla). torch is skipped when not installed.")
_LONG = flags.DEFINE_integer("long", 0, "If > 0, also time GRU vs the parallel-scan minGRU/minLSTM at this length "
                             "(docs use 4096).")
_REUSE_MEMORY = flags.DEFINE_bool("reuse_memory", False, "Keep freed host memory for reuse across steps, for every "
                                  "framework in the run (seqjax.train.host_memory.reuse_freed_memory).")
_MEMORY = flags.DEFINE_integer("memory", 0, "If > 0, also measure remat's memory and time at this length "
                               "(docs use 10000).")


def main(argv):
    del argv
    from seqjax import bench
    from seqjax._io import atomic_write_text
    from seqjax.train import cli
    from seqjax.train.compile_cache import disable_compile_cache
    from seqjax.train.host_memory import reuse_freed_memory

    reused = reuse_freed_memory() if _REUSE_MEMORY.value else False

    def run():
        disable_compile_cache()  # every first step is a compile, whatever earlier runs cached
        unknown = sorted(set(_CONFIGS.value) - set(bench.CONFIGS))
        if unknown:
            raise ValueError(f"unknown --configs {unknown}; known: {sorted(bench.CONFIGS)}.")
        frameworks = tuple(_FRAMEWORKS.value or bench.FRAMEWORKS)
        report = (bench.run(_CONFIGS.value, steps=_STEPS.value, frameworks=frameworks) if _CONFIGS.value
                  else {"machine": {}, "results": {}})
        if report["machine"]:
            report["machine"]["reuse_freed_memory"] = reused
        print(json.dumps(report["machine"]))
        print(bench.format_table(report))
        if _LONG.value:
            report["long_sequences"] = bench.bench_long_sequences(length=_LONG.value)
            print(bench.format_rows("Long sequences", report["long_sequences"]))
        if _MEMORY.value:
            report["remat_memory"] = bench.bench_remat_memory(length=_MEMORY.value)
            print(bench.format_rows("Remat", report["remat_memory"]))
        if _JSON.value:
            atomic_write_text(_JSON.value, json.dumps(report, indent=2) + "\n")

    sys.exit(cli.run(run))


if __name__ == "__main__":
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
