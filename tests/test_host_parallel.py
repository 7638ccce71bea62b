"""Host cores as CPU devices: the trainer's data-parallel split on one machine.

Each case runs in a subprocess, since the CPU device count is fixed when JAX starts.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


def python(code: str, cpu_devices: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEQJAX_CPU_DEVICES": cpu_devices, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


DEVICES_CODE = """
import json
from seqjax.train.sharding import training_devices, use_host_cores
print(use_host_cores())
cases = {"small": (128, (32,), False), "two_layers": (128, (32, 64), False), "wide": (64, (256,), False),
         "few_rows": (20, (32,), False), "odd": (65, (32,), False), "odd_padded": (65, (32,), True),
         "no_rnn": (128, (), False)}
print(json.dumps({k: len(training_devices(*v)) for k, v in cases.items()}))
"""


def test_training_devices_follow_the_measured_rule():
    done = python(DEVICES_CODE, "2")
    assert done.returncode == 0, done.stderr[-2000:]
    count, chosen = done.stdout.splitlines()[-2:]
    assert count == "2"
    assert json.loads(chosen) == {"small": 2, "two_layers": 2, "wide": 1, "few_rows": 1, "odd": 1,
                                  "odd_padded": 2, "no_rnn": 2}


def test_one_cpu_device_opts_out():
    done = python(DEVICES_CODE, "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-2] == "1"
    assert set(json.loads(done.stdout.splitlines()[-1]).values()) == {1}


@pytest.mark.parametrize("bad", ["zero", "0", "-2"])
def test_bad_cpu_device_count_is_named(bad):
    done = python("from seqjax.train.sharding import use_host_cores; use_host_cores()", bad)
    assert done.returncode != 0
    assert f"SEQJAX_CPU_DEVICES={bad!r} must be a positive integer" in done.stderr


def test_host_cores_after_start_up_change_nothing():
    code = "import jax; jax.devices(); from seqjax.train.sharding import use_host_cores; print(use_host_cores(4))"
    done = python(code, "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1", "the backends were up: the device count stays"


def run_training(workdir, data_dir, cpu_devices: str):
    env = {**os.environ, "SEQJAX_CPU_DEVICES": cpu_devices, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, str(ROOT / "tests" / "multidevice_run.py"), str(workdir), str(data_dir), "2", "64", "host"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_split_over_host_cores_trains_like_one_device(tmp_path, data_dir):
    split = run_training(tmp_path / "split", data_dir, "2")
    single = run_training(tmp_path / "single", data_dir, "1")
    assert split["mesh"]["axes"] == {"data": 2, "model": 1} and single["mesh"]["axes"] == {"data": 1, "model": 1}
    # gradients are summed once per step over the two halves of each batch: the same training
    np.testing.assert_allclose(split["losses"], single["losses"], rtol=1e-5)
    assert split["accuracy"] == pytest.approx(single["accuracy"], abs=1e-6)
