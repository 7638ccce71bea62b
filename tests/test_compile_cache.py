"""The persistent compile cache the scripts use: a second process reads back what the first
compiled and computes the same bits; off and bad settings behave as documented."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from seqjax.train import compile_cache

RUN_CODE = r"""
import json
import jax, jax.numpy as jnp, numpy as np, optax
from jax import monitoring
from seqjax.train.compile_cache import use_compile_cache_if_asked

events = []
monitoring.register_event_listener(lambda name, **kw: events.append(name))
directory = use_compile_cache_if_asked()
import seqjax as sj

cell = sj.cells.lstm(8)
params = cell.init(jax.random.key(0), 4)
xs = jax.random.normal(jax.random.key(1), (7, 3, 4))
tx = optax.adam(1e-2)

@jax.jit
def step(params, opt_state):
    loss, grads = jax.value_and_grad(lambda p: jnp.mean(sj.scan(cell, p, xs)[1] ** 2))(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

opt_state = tx.init(params)
for _ in range(3):
    params, opt_state, loss = step(params, opt_state)
print(json.dumps({"dir": None if directory is None else str(directory), "hits": events.count("/jax/compilation_cache/cache_hits"),
                  "misses": events.count("/jax/compilation_cache/cache_misses"), "loss": float(loss).hex(),
                  "kernel": np.asarray(params.kernel).tobytes().hex()}))
"""


def _run(value: str | None, tmp_path, **extra_env: str) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", compile_cache.COMPILE_CACHE_ENV):
        env.pop(name, None)
    if value is not None:
        env[compile_cache.COMPILE_CACHE_ENV] = value
    env.update(extra_env)
    done = subprocess.run([sys.executable, "-c", RUN_CODE], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_second_process_reads_the_programs_back_and_computes_the_same_bits(tmp_path):
    cache = tmp_path / "cache"
    first, second = _run(str(cache), tmp_path), _run(str(cache), tmp_path)
    assert first["dir"] == second["dir"] == str(cache)
    assert first["hits"] == 0 and first["misses"] > 0
    assert any(p.name.endswith("-cache") for p in cache.iterdir())
    assert second["hits"] >= first["misses"] and second["misses"] == 0
    assert (second["loss"], second["kernel"]) == (first["loss"], first["kernel"])
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_default_directory_jax_s_own_directory_and_off(tmp_path):
    default = _run(None, tmp_path)
    assert default["dir"] == str(tmp_path / "xdg" / "seqjax" / "xla") and default["misses"] > 0
    jax_own = _run(None, tmp_path, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_own"))
    assert jax_own["dir"] == str(tmp_path / "jax_own")
    off = _run("0", tmp_path)
    assert off["dir"] is None and off["hits"] == off["misses"] == 0


def test_an_unusable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"compile cache directory .*a_file/xla.* cannot be created.*"
                                         r"SEQJAX_COMPILE_CACHE to a writable directory, or to 0"):
        compile_cache.use_compile_cache(blocker / "xla")


def test_the_train_script_reports_a_bad_cache_setting_in_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", compile_cache.COMPILE_CACHE_ENV: str(blocker / "xla")}
    env.pop("JAX_COMPILATION_CACHE_DIR")  # the named directory, not JAX's, is the one in use
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), f"--config={ROOT / 'configs' / 'shapes_mlp.py'}:smoke",
           f"--workdir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: compile cache directory" in done.stderr and "SEQJAX_COMPILE_CACHE" in done.stderr
    assert not (tmp_path / "run").exists()
