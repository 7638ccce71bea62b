"""Opt-in reuse of freed host memory (seqjax.train.host_memory).

The setting is process-wide and must precede JAX's backends, so the behaviour is checked
in subprocesses: a compiled step with an 80 MiB temporary buffer, timed by the page faults
each call costs.
"""

import os
import subprocess
import sys

import jax
import pytest

from conftest import xla_flags
from seqjax.train.host_memory import REUSE_MEMORY_ENV, reuse_freed_memory, reuse_freed_memory_if_asked

STEP_CODE = """
import resource, sys
from seqjax.train.host_memory import REUSE_MEMORY_ENV, reuse_freed_memory, reuse_freed_memory_if_asked
took = reuse_freed_memory() if sys.argv[1] == "on" else False
import jax, jax.numpy as jnp
from jax import lax

@jax.jit
def step(x):  # the scan's stacked outputs: an 80 MiB temporary, as an LSTM's residual
    _, ys = lax.scan(lambda c, _: (c + 1.0, c * 2.0), x, None, length=320)
    return ys[::7].sum()

x = jnp.ones(65536)
for _ in range(3): step(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step(x).block_until_ready()
print(took, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_step(mode: str) -> tuple[str, float]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SEQJAX_CPU_DEVICES": "1"}
    env["XLA_FLAGS"] = xla_flags()  # not the caller's device count
    done = subprocess.run([sys.executable, "-c", STEP_CODE, mode], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    took, faults = done.stdout.split()[-2:]
    return took, float(faults)


def test_reuse_freed_memory_stops_the_per_step_page_faults():
    took, reused = faults_per_step("on")
    if took != "True":
        pytest.skip("not glibc on Linux: reuse_freed_memory changes nothing here")
    _, plain = faults_per_step("off")
    # 80 MiB of fresh pages is 20,480 faults a call without it (fewer with huge pages)
    assert reused < 0.1 * plain + 50, (reused, plain)


def test_reuse_freed_memory_rejects_bad_arguments_and_late_calls():
    for bad in (0, -5, 2**31, 1.5, True, "1G"):
        with pytest.raises(ValueError, match="keep_bytes"):
            reuse_freed_memory(bad)
    jax.devices()  # the backends are up in this process
    with pytest.raises(RuntimeError, match="before JAX starts"):
        reuse_freed_memory()


SCRIPT_CODE = """
import jax
from seqjax.train import cli
from jax._src import xla_bridge
print(cli.run(lambda: print("async", xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value, "devices", len(jax.devices()))))
"""


def test_the_scripts_turn_it_on_from_the_environment(monkeypatch):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SEQJAX_CPU_DEVICES": "2", REUSE_MEMORY_ENV: "1"}
    env["XLA_FLAGS"] = xla_flags()  # not the caller's device count
    done = subprocess.run([sys.executable, "-c", SCRIPT_CODE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    took = done.stdout.split()[:4] == ["async", "False", "devices", "2"]
    assert took or done.stdout.split()[:2] == ["async", "True"], done.stdout  # True: not glibc on Linux
    # bad values are refused before anything changes; 0 leaves the allocator alone
    monkeypatch.setenv(REUSE_MEMORY_ENV, "yes")
    with pytest.raises(ValueError, match=REUSE_MEMORY_ENV):
        reuse_freed_memory_if_asked()
    monkeypatch.setenv(REUSE_MEMORY_ENV, "0")
    assert reuse_freed_memory_if_asked() is False
