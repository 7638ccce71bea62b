"""Reliability: crash and resume, damaged checkpoints, --force, numerical faults, user errors."""

import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from seqjax.train.chaos import run_chaos
from seqjax.train.experiment import load_run, train_and_evaluate
from seqjax.train.fit import NonFiniteLossError
from conftest import ROOT, xla_flags
from test_training import small_shapes_config


def test_chaos_kill_and_restart_is_bit_identical(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(data_dir))
    report = run_chaos("configs/shapes_lstm.py:smoke", tmp_path, kills=2, seed=1,
                       overrides=["--config.epochs=3"], timeout=300)
    assert report.restarts >= 1
    assert report.identical_metrics and report.identical_params


def test_damaged_latest_checkpoint_falls_back_to_the_previous(tmp_path, data_dir):
    config = small_shapes_config(data_dir, epochs=2)
    train_and_evaluate(config, tmp_path)
    latest = tmp_path / "checkpoints" / "latest" / "2"
    for path in (latest / "state").rglob("*"):
        if path.is_file() and path.stat().st_size > 0 and "manifest" not in path.name:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncate every data file
    config.epochs = 3
    with pytest.warns(RuntimeWarning, match=r"latest/2 is unreadable .*falling back to the previous one"):
        train_and_evaluate(config, tmp_path)
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert len(history) == 4, "epochs 2 and 3 were retrained from the epoch-1 checkpoint"


def test_force_starts_fresh_in_a_subfolder_and_keeps_the_old_run(tmp_path, data_dir):
    train_and_evaluate(small_shapes_config(data_dir, epochs=1), tmp_path)
    old_metrics = (tmp_path / "metrics.json").read_text()
    other = small_shapes_config(data_dir, epochs=1)
    other.model.hidden_sizes = (5,)
    results = train_and_evaluate(other, tmp_path, force=True)
    assert results["workdir"] == str(tmp_path / "run-2")
    assert (tmp_path / "run-2" / "metrics.json").is_file()
    assert (tmp_path / "metrics.json").read_text() == old_metrics


def test_non_finite_loss_stops_with_step_and_batch_and_keeps_the_last_good_checkpoint(tmp_path, data_dir):
    config = small_shapes_config(data_dir, epochs=1)
    train_and_evaluate(config, tmp_path)  # one good epoch
    config.epochs = 3
    config.optimizer.learning_rate = 1e38  # the learning rate may change on resume; this one overflows
    with pytest.raises(NonFiniteLossError, match=r"at step \d+ \(epoch 2, batch \d+ of \d+\).*clip_norm"):
        train_and_evaluate(config, tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "latest").iterdir()) == ["1"]
    state = load_run(tmp_path).state
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(jax.device_get(state.params)))


def _train(args, data_dir):
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), *args]
    env = {"SEQJAX_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu",
           "SEQJAX_COMPILE_CACHE": os.environ["SEQJAX_COMPILE_CACHE"], "XLA_FLAGS": xla_flags()}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config.model.celll=gru"], r"unknown config field 'celll'; did you mean 'cell'\?"),
        (["--config.model.recurrent_dropout=1.5"], r"model.recurrent_dropout must be a dropout rate in \[0, 1\)"),
        (["--config.optimizer.name=adamax"], r"optimizer.name='adamax' is not one of"),
        (["--config.model.cell=transformer"], r"cell='transformer' is not a known cell"),
        (["--config.model.hidden_sizes=(-4,)"], r"model.hidden_sizes entries must be a positive int; got -4"),
    ],
    ids=["misspelt-field", "dropout", "optimizer", "cell", "negative-size"],
)
def test_user_errors_exit_2_without_traceback(args, message, tmp_path, data_dir):
    done = _train(["--config", f"{ROOT / 'configs' / 'shapes_lstm.py'}:smoke", "--workdir", str(tmp_path), *args],
                  data_dir)
    assert done.returncode == 2, done.stderr[-1500:]
    assert re.search(message, done.stderr), done.stderr[-1500:]
    assert "Traceback" not in done.stderr


def test_unwritable_workdir_exits_2(tmp_path, data_dir):
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = _train(["--config", f"{ROOT / 'configs' / 'shapes_mlp.py'}:smoke", "--workdir", str(blocked / "x")],
                  data_dir)
    assert done.returncode == 2 and "is not writable" in done.stderr and "Traceback" not in done.stderr


def test_no_pickle_anywhere():
    for path in (ROOT / "seqjax").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle)\b", text, re.M), path
        assert "allow_pickle=True" not in text, path


def test_token_ids_past_the_embedding_are_refused(tmp_path, data_dir, manual_dir):
    from conftest import require
    from seqjax.train.reproduce import load_config

    require("seed-lab/sst_movie_reviews_processed_train.csv.gz")
    config = load_config("sst_lstm", "smoke")
    config.data.data_dir, config.data.manual_dir = str(data_dir), str(manual_dir)
    config.model.vocab_size = 50  # smaller than the 4,823 token ids the data holds
    with pytest.raises(ValueError, match=r"inputs: token id \d+ at index .* is outside \[0, vocab_size=50\)"):
        train_and_evaluate(config, tmp_path)
