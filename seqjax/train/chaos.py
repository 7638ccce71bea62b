"""Kill a training run at random moments, restart it, and check nothing was lost.

:func:`run_chaos` trains a config once without interruption, then again in a
second workdir while killing the process with SIGKILL at random moments
(between steps, mid-epoch, during a checkpoint save) and restarting the same
command each time. Both must end with identical test metrics and parameters.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


class ChaosReport(NamedTuple):
    kills: int
    restarts: int
    identical_metrics: bool
    identical_params: bool
    reference_s: float


def _command(config: str, workdir: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "train.py"), f"--config={config}", f"--workdir={workdir}",
            *overrides]


def _metrics(workdir: Path) -> dict:
    data = json.loads((workdir / "metrics.json").read_text())
    data.pop("wall_time_s", None)
    return data


def _run_to_end(cmd: list[str], env: dict, timeout: float) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"training failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def run_chaos(config: str, workdir: str | Path, *, kills: int = 5, seed: int = 0, overrides: list[str] = (),
              timeout: float = 600.0) -> ChaosReport:
    """Runs the experiment (see the module docstring) and compares the two outcomes."""
    from seqjax.train.experiment import load_run

    workdir = Path(workdir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    overrides = list(overrides) + ["--config.progress=false"]
    reference = workdir / "reference"
    duration = _run_to_end(_command(config, reference, overrides), env, timeout)

    chaotic = workdir / "chaotic"
    rng = random.Random(seed)
    done_kills, restarts = 0, 0
    for _ in range(kills):
        process = subprocess.Popen(_command(config, chaotic, overrides), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        restarts += 1
        try:
            process.wait(timeout=rng.uniform(0.3, duration))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            done_kills += 1
            continue
        if process.returncode != 0:
            raise RuntimeError(f"a restarted run failed with exit {process.returncode}")
        if (chaotic / "metrics.json").is_file():
            break
    _run_to_end(_command(config, chaotic, overrides), env, timeout)  # finish (or re-finish) the run

    same_metrics = _metrics(reference) == _metrics(chaotic)
    a, b = (jax.device_get(load_run(w).state.params) for w in (reference, chaotic))
    same_params = jax.tree.all(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b))
    return ChaosReport(done_kills, restarts, same_metrics, same_params, round(duration, 2))
