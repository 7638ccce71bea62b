"""Training: steps, overfitting, early stopping, checkpoints and resume, reproducibility,
summaries, predict, and the run directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from seqjax.models import build_model, sample_input
from seqjax.train import metrics as metrics_lib
from seqjax.train.config import base_config, validate
from seqjax.train.experiment import predict, train_and_evaluate
from seqjax.train.fit import EarlyStopping, fit
from seqjax.train.optimizers import make_optimizer
from seqjax.train.reproduce import load_config
from seqjax.train.state import create_train_state, variables_of
from seqjax.train.steps import make_train_step
from seqjax.train.summary import summarize
from conftest import ROOT, require

CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.py"))


def small_shapes_config(data_dir, epochs=2) -> ml_collections.ConfigDict:
    c = load_config("shapes_lstm")
    c.data.data_dir = str(data_dir)
    c.data.options = ml_collections.ConfigDict({"num_train": 60, "num_test": 30})
    c.data.validation_fraction = 0.25
    c.model.hidden_sizes = (8,)
    c.model.recurrent_dropout = 0.1
    c.epochs = epochs
    c.batch_size = 16
    c.progress = False
    return c


# --- configs ------------------------------------------------------------------------------

NEEDS = {
    "imdb": ["imdb/aclImdb_v1_labeled.tar.gz", "imdb/imdb_word_index.json"],
    "reuters": ["reuters21578/reuters21578_sgm.tar.gz"],
    "sms": ["sms_spam/spam.csv"],
    "newsgroups": ["20newsgroups/20news-bydate.tar.gz"],
    "sst": ["seed-lab/sst_movie_reviews_processed_train.csv.gz"],
    "jena": ["jena/jena_weather_2020.csv.gz"],
}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_trains_a_smoke_run(name, tmp_path, data_dir, manual_dir):
    for prefix, files in NEEDS.items():
        if name.startswith(prefix):
            require(*files)
    config = load_config(name, "smoke")
    if config.task == "seq2seq":
        from seqjax.train import seq2seq_run

        results = seq2seq_run.train_and_evaluate(config, tmp_path / "run")
        assert 0.0 <= results["exact_match"] <= 1.0 and 0.0 <= results["beam_exact_match"] <= 1.0
        assert (tmp_path / "run" / "plots" / "attention.png").stat().st_size > 0
        outputs = seq2seq_run.translate(tmp_path / "run", ["22 Nov 2026", "3.4.1961"], beam_size=2)
        assert len(outputs) == 2 and all(set(o) <= set("0123456789-?") for o in outputs)
        with pytest.raises(ValueError, match="outside the vocabulary"):
            seq2seq_run.translate(tmp_path / "run", ["22 Nov 2026!"])
        return
    config.data.data_dir, config.data.manual_dir = str(data_dir), str(manual_dir)
    if name == "imdb_glove":
        glove = tmp_path / "glove.txt"
        glove.write_text("the " + " ".join(["0.5"] * 100) + "\nmovie " + " ".join(["-0.5"] * 100) + "\n")
        config.data.glove_path = str(glove)
    results = train_and_evaluate(config, tmp_path / "run")
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    if config.task == "regression":
        assert results["mae"] >= 0.0 and results["baseline_mae"] > 0.0
        assert history[0].startswith("epoch,loss,mae") and len(history) == 2
        assert (tmp_path / "run" / "plots" / "forecast_week.png").stat().st_size > 0
        return
    assert 0.0 <= results["accuracy"] <= 1.0
    assert history[0].startswith("epoch,loss,accuracy") and len(history) == 2
    assert np.isfinite(float(history[1].split(",")[1]))


def test_config_docstrings_give_command_and_expectation():
    for name in CONFIGS:
        doc = (ROOT / "configs" / f"{name}.py").read_text().split('"""')[1]
        assert f"scripts/train.py --config configs/{name}.py" in doc, name
        assert "Expected" in doc, name


# --- steps --------------------------------------------------------------------------------


def test_one_step_changes_every_trainable_parameter_and_no_frozen_one():
    model = build_model(dict(kind="embedding_flatten", vocab_size=12, embedding_dim=3, embedding_trainable=False,
                             dense=(4,), num_outputs=1))
    tx = make_optimizer(base_config())
    ids = jnp.arange(1, 13).reshape(2, 6) % 12
    state = create_train_state(model, tx, jax.random.key(0), sample_input(model, (6,)))
    before = jax.device_get(state)
    batch = {"inputs": ids, "label": jnp.array([0, 1]), "weight": jnp.ones(2)}
    after, _ = jax.jit(make_train_step(model, tx, "binary"))(state, batch, jax.random.key(1))
    for path, old in jax.tree_util.tree_leaves_with_path(before.params):
        new = dict(jax.tree_util.tree_leaves_with_path(after.params))[path]
        assert not np.allclose(old, new), f"{jax.tree_util.keystr(path)} did not change"
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), before.frozen, jax.device_get(after.frozen)))
    assert int(after.step) == 1


def test_trainer_step_needs_a_placed_state():
    from seqjax.train.fit import Trainer

    model = build_model(dict(kind="rnn", vocab_size=20, embedding_dim=4, hidden_sizes=(4,), num_outputs=1))
    tx = optax.adam(1e-3)
    trainer = Trainer(model, tx, "binary", batch_size=2, seed=0, transform=lambda x: x)
    state = create_train_state(model, tx, jax.random.key(0), sample_input(model, (5,)))
    batch = trainer.device_batch({"inputs": np.ones((2, 5), np.int32), "label": np.array([0, 1])})
    with pytest.raises(ValueError, match=r"call state = trainer.place\(state\) first"):
        trainer.step(state, batch)
    state, metrics = trainer.step(trainer.place(state), batch)
    assert int(state.step) == 1 and float(metrics["count"]) == 2.0


def test_cached_encoding_transforms_once_and_trains_like_the_per_example_pipeline():
    from seqjax.train.fit import Trainer

    rng = np.random.default_rng(0)
    examples = [{"text": rng.integers(1, 20, 6), "y": int(i % 2)} for i in range(23)]
    calls = []

    def transform(example):  # a text encoder's role: per example, the same output every time
        calls.append(1)
        return {"inputs": example["text"].astype(np.int32), "label": np.int32(example["y"])}

    model = build_model(dict(kind="rnn", vocab_size=20, embedding_dim=4, hidden_sizes=(4,), num_outputs=1))
    runs = {}
    for cache in (True, False):
        calls.clear()
        tx = optax.adam(1e-2)
        trainer = Trainer(model, tx, "binary", batch_size=4, seed=3, transform=transform, vocab_size=20, cache=cache)
        state = trainer.place(create_train_state(model, tx, jax.random.key(0), sample_input(model, (6,))))
        losses = []
        for epoch in range(3):
            state, metrics = trainer.train_epoch(state, examples, epoch, progress=False)
            losses.append(metrics["loss"])
        evaluated = trainer.evaluate(state, examples)
        runs[cache] = (losses, evaluated, len(calls))
    (cached_losses, cached_eval, cached_calls), (losses, evaluated, per_example_calls) = runs[True], runs[False]
    assert cached_calls == 23 and per_example_calls == 4 * 23  # three epochs and one evaluation
    np.testing.assert_allclose(cached_losses, losses, rtol=1e-6)
    assert cached_eval[0] == pytest.approx(evaluated[0], rel=1e-6)
    np.testing.assert_allclose(cached_eval[1], evaluated[1], rtol=1e-6)
    np.testing.assert_array_equal(cached_eval[2], evaluated[2])


def test_a_tiny_batch_is_overfitted():
    model = build_model(dict(kind="rnn", vocab_size=20, embedding_dim=8, cell="gru", hidden_sizes=(16,), num_outputs=3))
    tx = optax.adam(1e-2)
    ids = jax.random.randint(jax.random.key(0), (8, 7), 1, 20)
    batch = {"inputs": ids, "label": jnp.arange(8) % 3, "weight": jnp.ones(8)}
    state = create_train_state(model, tx, jax.random.key(1), sample_input(model, (7,)))
    step = jax.jit(make_train_step(model, tx, "multiclass"))
    for i in range(150):
        state, m = step(state, batch, jax.random.key(i))
    assert float(m["loss_sum"] / m["count"]) < 0.05 and float(m["correct"]) == 8


def test_rmsprop_matches_keras_update():
    config = base_config()
    tx = make_optimizer(config)
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, 3.0])}
    updates, _ = tx.update(grads, tx.init(params), params)
    # Keras: v = 0.1 g^2; w -= lr * g / (sqrt(v) + 1e-7)
    expected = -1e-3 * grads["w"] / (jnp.sqrt(0.1 * grads["w"] ** 2) + 1e-7)
    assert_allclose = np.testing.assert_allclose
    assert_allclose(updates["w"], expected, rtol=1e-6)
    config.optimizer.clip_norm = 1.0
    clipped, _ = make_optimizer(config).update({"w": jnp.array([30.0, 40.0])}, make_optimizer(config).init(params))
    assert np.all(np.isfinite(clipped["w"]))
    config.optimizer.name = "adamw"
    with pytest.raises(ValueError, match="optimizer.name='adamw' is not one of"):
        make_optimizer(config)


# --- early stopping -------------------------------------------------------------------------


class ScriptedTrainer:
    """Stands in for Trainer: the state is the epoch number, val_loss follows a script."""

    def __init__(self, val_losses):
        self.val_losses = val_losses

    def train_epoch(self, state, source, epoch, progress=True, description=""):
        return epoch + 1, {"loss": 1.0 / (epoch + 1), "accuracy": 0.5}

    def evaluate(self, state, source, prefix=""):
        return {f"{prefix}loss": self.val_losses[state - 1], f"{prefix}accuracy": 0.5}, None, None


def test_early_stopping_stops_and_restores_best():
    trainer = ScriptedTrainer([1.0, 0.5, 0.7, 0.8, 0.9, 0.1])
    state, history, early = fit(trainer, 0, "train", "val", epochs=6,
                                early_stopping=EarlyStopping("val_loss", patience=2), progress=False)
    assert history["val_loss"] == [1.0, 0.5, 0.7, 0.8], "stops after two epochs without improvement"
    assert early.best_epoch == 2 and state == 2, "the best epoch's state is restored"
    state, _, _ = fit(trainer, 0, "train", "val", epochs=6,
                      early_stopping=EarlyStopping("val_loss", patience=2, restore_best=False), progress=False)
    assert state == 4
    with pytest.raises(ValueError, match="early_stopping.monitor='val_auc' is not recorded"):
        fit(trainer, 0, "train", "val", epochs=2, early_stopping=EarlyStopping("val_auc"), progress=False)


# --- checkpoints, resume, reproducibility -----------------------------------------------------


def _params(workdir):
    from seqjax.train.experiment import load_run

    return jax.device_get(load_run(workdir).state.params)


def test_resume_and_reproducibility(tmp_path, data_dir):
    straight = tmp_path / "straight"
    a = train_and_evaluate(small_shapes_config(data_dir, epochs=3), straight)
    again = train_and_evaluate(small_shapes_config(data_dir, epochs=3), tmp_path / "again")
    strip = lambda m: {k: v for k, v in m.items() if k not in ("wall_time_s", "workdir")}  # noqa: E731
    assert strip(a) == strip(again), "same config and seed give the same metrics"
    assert jax.tree.all(jax.tree.map(np.array_equal, _params(straight), _params(tmp_path / "again")))

    resumed = tmp_path / "resumed"
    train_and_evaluate(small_shapes_config(data_dir, epochs=1), resumed)
    history_1 = (resumed / "history.csv").read_text().splitlines()
    b = train_and_evaluate(small_shapes_config(data_dir, epochs=3), resumed)  # picks up at epoch 2
    history_3 = (resumed / "history.csv").read_text().splitlines()
    assert history_3[:2] == history_1 and len(history_3) == 4
    assert strip(a) == strip(b), "an interrupted-and-resumed run ends like an uninterrupted one"
    assert jax.tree.all(jax.tree.map(np.array_equal, _params(straight), _params(resumed)))
    assert sorted(int(p.name) for p in (resumed / "checkpoints" / "latest").iterdir()) == [2, 3]


def test_resume_with_a_different_model_is_refused(tmp_path, data_dir):
    train_and_evaluate(small_shapes_config(data_dir, epochs=1), tmp_path)
    other = small_shapes_config(data_dir, epochs=2)
    other.model.hidden_sizes = (9,)
    with pytest.raises(ValueError, match=r"different config(.|\n)*model.hidden_sizes: \[8\] in the workdir, \[9\] now"):
        train_and_evaluate(other, tmp_path)


def test_run_directory_contents(tmp_path, data_dir):
    results = train_and_evaluate(small_shapes_config(data_dir, epochs=2), tmp_path)
    for name in ("config.json", "encoder.json", "summary.txt", "history.csv", "metrics.json"):
        assert (tmp_path / name).is_file(), name
    for plot in ("loss.png", "accuracy.png", "confusion_matrix.png"):
        assert (tmp_path / "plots" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["devices"] == 1 and saved["wall_time_s"] > 0 and saved["accuracy"] == results["accuracy"]
    assert np.array(saved["confusion_matrix"]).sum() == 30
    assert "val_loss" in (tmp_path / "history.csv").read_text().splitlines()[0]
    assert json.loads((tmp_path / "config.json").read_text())["model"]["hidden_sizes"] == [8]


# --- summaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_config, shape, rows, total",
    [
        (dict(kind="rnn", vocab_size=5965, embedding_dim=100, hidden_sizes=(32, 32), dense=(32,), dense_dropout=0.2,
              num_outputs=1), (419,), [596_500, 17_024, 8_320, 1_056, 0, 33], 622_933),
        (dict(kind="rnn", vocab_size=4823, embedding_dim=32, hidden_sizes=(32,), num_outputs=2), (55,),
         [154_336, 8_320, 66], 162_722),
        (dict(kind="rnn", hidden_sizes=(32,), num_outputs=3), (55,), [4_352, 99], 4_451),
        (dict(kind="mlp", dense=(64,), num_outputs=3), (55,), [3_584, 195], 3_779),
    ],
    ids=["sms_622933", "sst_162722", "shapes_lstm_4451", "shapes_mlp_3779"],
)
def test_summary_counts_match_the_course(model_config, shape, rows, total):
    model = build_model(model_config)
    state = create_train_state(model, optax.adam(1e-3), jax.random.key(0), sample_input(model, shape))
    summary = summarize(model, variables_of(state), sample_input(model, shape))
    assert [r.params for r in summary.rows] == rows
    assert summary.total == summary.trainable == total
    assert summary.rows[0].output_shape[0] is None


# --- predict and the scripts ---------------------------------------------------------------


def test_predict_on_raw_text(tmp_path, data_dir, manual_dir):
    require("sms_spam/spam.csv")
    config = load_config("sms_spam_lstm", "smoke")
    config.data.data_dir, config.data.manual_dir = str(data_dir), str(manual_dir)
    train_and_evaluate(config, tmp_path)
    out = predict(tmp_path, ["Follow this link to win 100$", "see you at lunch"])
    assert [r["label"] for r in out] != [] and all(r["label"] in ("ham", "spam") for r in out)
    assert all(0.5 <= r["probability"] <= 1.0 for r in out)
    with pytest.raises(ValueError, match="text 0 is empty or only white space"):
        predict(tmp_path, ["   "])


def test_train_script_end_to_end(tmp_path, data_dir):
    env = {"SEQJAX_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu",
           "SEQJAX_COMPILE_CACHE": os.environ["SEQJAX_COMPILE_CACHE"]}
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), f"--config={ROOT / 'configs' / 'shapes_mlp.py'}:smoke",
           f"--workdir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test metrics: accuracy=" in done.stdout and "plots in" in done.stdout
    bad = subprocess.run(cmd + ["--config.epochs=-1"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "epochs must be a positive int; got -1" in bad.stderr
    assert "Traceback" not in bad.stderr


# --- metrics and config checks ---------------------------------------------------------------


def test_binary_and_multiclass_metrics():
    m = metrics_lib.binary_metrics(np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.2, 0.6, 0.1, 0.7]))
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(0.6) and m["f1"] == pytest.approx(2 / 3)
    mc = metrics_lib.multiclass_metrics(np.array([0, 1, 2, 2]), np.eye(3)[[0, 2, 2, 2]])
    assert mc["accuracy"] == 0.75 and mc["macro_f1"] == pytest.approx((1 + 0 + 0.8) / 3)
    assert metrics_lib.regression_metrics([1.0, 2.0], [1.5, 1.0])["mae"] == pytest.approx(0.75)


def test_config_validation_names_fields_and_suggests():
    c = base_config()
    c.epochs = 0
    c.data.validation_fraction = 1.5
    with pytest.raises(ValueError, match=r"epochs must be a positive int; got 0(.|\n)*data.validation_fraction must lie"):
        validate(c)
    c = base_config()
    with c.unlocked():
        c.data.maxlne = 3
    with pytest.raises(ValueError, match=r"unknown config field 'data.maxlne'; did you mean data.maxlen\?"):
        validate(c)
    c = base_config()
    c.model.recurrent_dropout = 1.0
    with pytest.raises(ValueError, match=r"model.recurrent_dropout must be a dropout rate in \[0, 1\)"):
        build_model(c.model.to_dict())


def test_unwritable_workdir(tmp_path, data_dir):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises((PermissionError, FileExistsError, NotADirectoryError)):
        train_and_evaluate(small_shapes_config(data_dir), blocked / "run")


def test_pad_batch_weights_and_class_weighted_training(tmp_path, data_dir):
    from seqjax.train.fit import pad_batch

    padded = pad_batch({"inputs": np.ones((3, 2)), "label": np.array([1, 0, 1])}, 5)
    assert padded["weight"].tolist() == [1, 1, 1, 0, 0] and padded["inputs"][3:].sum() == 0
    kept = pad_batch({"label": np.array([1, 0]), "weight": np.array([2.0, 0.5], np.float32)}, 3)
    assert kept["weight"].tolist() == [2.0, 0.5, 0.0]
    config = small_shapes_config(data_dir, epochs=1)
    config.data.class_weights = True
    assert 0.0 <= train_and_evaluate(config, tmp_path)["accuracy"] <= 1.0
