"""Data-parallel training on virtual CPU devices (each run in its own subprocess)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from seqjax.train import sharding
from conftest import ROOT, xla_flags


def run(devices: int, workdir, data_dir, epochs: int, batch_size: int, *flags):
    env = {**os.environ, "XLA_FLAGS": xla_flags(f"--xla_force_host_platform_device_count={devices}"), "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, str(ROOT / "tests" / "multidevice_run.py"), str(workdir), str(data_dir), str(epochs),
           str(batch_size), *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        return done
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, data_dir):
    """The reference: batch 16 on one device, three epochs (a shorter run's losses are its prefix)."""
    out = run(1, tmp_path_factory.mktemp("one_device"), data_dir, 3, 16)
    assert isinstance(out, dict), out.stderr[-2000:]
    assert out["devices"] == 1 and len(out["losses"]) == 3
    return out


def test_four_devices_match_one_and_really_split_the_batch(tmp_path, data_dir, one_device):
    four = run(4, tmp_path / "four", data_dir, 2, 16)
    assert four["devices"] == 4
    assert four["mesh"]["axes"] == {"data": 4, "model": 1}
    assert four["shards"] == [[4, 55]] * 4, "each device holds a quarter of the global batch"
    np.testing.assert_allclose(four["losses"], one_device["losses"][:2], rtol=1e-5)


def test_save_on_four_resume_on_two_and_one(tmp_path, data_dir, one_device):
    first = run(4, tmp_path / "run", data_dir, 1, 16)
    two = run(2, tmp_path / "run", data_dir, 2, 16)
    assert isinstance(two, dict), two.stderr[-2000:]
    assert two["losses"][0] == first["losses"][0] and len(two["losses"]) == 2
    one = run(1, tmp_path / "run", data_dir, 3, 16)
    assert one["losses"][:2] == two["losses"] and len(one["losses"]) == 3
    np.testing.assert_allclose(one["losses"], one_device["losses"], rtol=1e-5)  # as if never interrupted


def test_uneven_batch_is_refused_or_padded(tmp_path, data_dir):
    refused = run(4, tmp_path / "a", data_dir, 1, 18)
    assert refused.returncode != 0
    assert "batch_size=18 does not split evenly over the 4 devices" in refused.stderr
    assert "use a multiple of 4 (e.g. 16 or 20)" in refused.stderr
    padded = run(4, tmp_path / "b", data_dir, 1, 18, "pad")
    single = run(1, tmp_path / "c", data_dir, 1, 18)
    assert padded["shards"] == [[5, 55]] * 4
    np.testing.assert_allclose(padded["losses"], single["losses"], rtol=1e-5)


def test_model_axis_splits_dense_kernels(tmp_path, data_dir, one_device):
    out = run(4, tmp_path / "m", data_dir, 1, 16, "model2")
    assert isinstance(out, dict), out.stderr[-2000:]
    assert out["mesh"]["axes"] == {"data": 2, "model": 2}
    assert out["shards"] == [[8, 55]] * 4  # rows over 2 data replicas, repeated over the model axis
    np.testing.assert_allclose(out["losses"], one_device["losses"][:1], rtol=1e-5)


@pytest.mark.skipif(
    os.environ.get("SEQJAX_MULTIPROCESS_TESTS") != "1",
    reason="opt-in (SEQJAX_MULTIPROCESS_TESTS=1): two jax.distributed processes on one machine "
    "occasionally hang at start-up in the gloo/coordination rendezvous here",
)
def test_two_processes_train_like_one_process_with_two_devices(tmp_path, data_dir):
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=1")}
    cmd = [sys.executable, str(ROOT / "tests" / "multidevice_run.py"), str(tmp_path / "mp"), str(data_dir), "2", "16"]
    procs = [subprocess.Popen(cmd + [f"process={i}/2@{port}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("the two processes did not finish within 240 s (start-up rendezvous hang)")
    assert all(p.returncode == 0 for p in procs), outs[0][1][-2000:] + outs[1][1][-2000:]
    first = json.loads([ln for ln in outs[0][0].splitlines() if ln.startswith("RESULT ")][-1][7:])
    second = json.loads([ln for ln in outs[1][0].splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert first["processes"] == 2 and first["devices"] == 2 and second == {"process": 1, "accuracy": first["accuracy"]}
    local = run(2, tmp_path / "local", data_dir, 2, 16)
    np.testing.assert_allclose(first["losses"], local["losses"], rtol=1e-5)
    assert (tmp_path / "mp" / "metrics.json").is_file()


def test_mesh_and_batch_checks_in_process():
    mesh = sharding.make_mesh()
    assert sharding.check_batch_size(7, mesh, pad=False) == 7  # one device: anything splits
    with pytest.raises(ValueError, match=r"mesh.model_axis=3 must divide the 1 devices"):
        sharding.make_mesh(3)
    assert sharding.initialize_distributed() is False
