"""One experiment end to end: data, encoder, model, fit, test metrics, the run directory.

A run directory holds ``config.json``, ``encoder.json``, ``summary.txt``,
``history.csv``, ``metrics.json``, ``plots/`` and ``checkpoints/``. Starting the
same command on the same workdir resumes from the latest checkpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np

from seqjax.data.features import Encoder
from seqjax.data.pipeline import Subset, class_weights, oversample, split_validation, train_test_split
from seqjax.models import build_model, runs_native_lstm, sample_input
from seqjax.nn.embedding import set_embedding
from seqjax.train import metrics as metrics_lib
from seqjax.train import reports, sharding
from seqjax.train.checkpoints import Checkpoints
from seqjax.train.config import validate
from seqjax.train.fit import EarlyStopping, Trainer, fit
from seqjax.train.optimizers import make_optimizer
from seqjax.train.state import TrainState, create_train_state, state_from_variables, variables_of
from seqjax.train.steps import outputs
from seqjax.train.summary import format_summary, summarize

# Fields that must match to resume a workdir. Anything else may change between runs
# (epochs, the learning rate, clipping, early stopping): the saved state still fits.
RESUME_KEYS = ("seed", "batch_size", "task", "data", "model", "optimizer.name")


class Splits(NamedTuple):
    train: Any
    validation: Any | None
    test: Any
    class_names: list[str]
    baselines: dict | None = None  # forecasting: the common-sense baseline's MAE per split


FORECAST_DATA = ("jena_weather",)  # data sets cut into forecasting windows (config.data.forecast)


def _has_validation(config: ml_collections.ConfigDict) -> bool:
    d = config.data
    return bool(d.validation_count or d.validation_fraction or d.name in FORECAST_DATA)


def _forecast_splits(config: ml_collections.ConfigDict, builder) -> Splits:
    """The course's forecasting windows over a time-ordered data set (``config.data.forecast``)."""
    from seqjax.data.jena import baseline_mae, forecast_windows, rows_as_array

    f = config.data.forecast
    windows, norm = forecast_windows(
        rows_as_array(builder.as_data_source(config.data.train_split)), lookback=f.lookback, step=f.step,
        delay=f.delay, fractions=(f.train_fraction, f.validation_fraction), block_rows=f.block_rows,
    )
    capped = {name: _cap(w, config.data.max_examples) for name, w in windows.items()}
    baselines = {name: baseline_mae(w, norm) for name, w in capped.items() if name != "train"}
    return Splits(capped["train"], capped["validation"], capped["test"], [], baselines)


def _cap(source, limit: int):
    return Subset(source, range(min(limit, len(source)))) if limit else source


def load_splits(config: ml_collections.ConfigDict) -> Splits:
    """Train / validation / test data sources for ``config.data``."""
    import seqjax.data as sjd

    d = config.data
    kwargs = dict(data_dir=d.data_dir or None, manual_dir=d.manual_dir or None, **d.options.to_dict())
    if jax.process_count() > 1:  # one process prepares the files, the others wait and read them
        from jax.experimental import multihost_utils

        if jax.process_index() == 0:
            sjd.builder(d.name, **kwargs)
        multihost_utils.sync_global_devices(f"seqjax: {d.name} prepared")
    builder = sjd.builder(d.name, **kwargs)
    if d.name in FORECAST_DATA:
        return _forecast_splits(config, builder)
    train = builder.as_data_source(d.train_split)
    if d.test_split:
        test = builder.as_data_source(d.test_split)
    else:
        train_idx, test_idx = train_test_split(len(train), d.test_fraction, d.split_seed)
        train, test = Subset(train, train_idx), Subset(train, test_idx)
    train, test = _cap(train, d.max_examples), _cap(test, d.max_examples)
    validation = None
    if d.validation_count or d.validation_fraction:
        train, validation = split_validation(train, d.validation_count or d.validation_fraction)
    train = _cap(train, d.max_train_examples)
    if d.oversample:
        labels = [int(train[i][d.label_field]) for i in range(len(train))]
        train = Subset(train, oversample(labels, config.seed))
    feature = builder.info.features[d.label_field] if d.label_field in builder.info.features else None
    names = list(getattr(feature, "names", None) or [])
    if not names and builder.info.metadata:
        names = list(builder.info.metadata.get("topic_names", []))  # reuters46 keeps them here
    return Splits(train, validation, test, names)


def make_encoder(config: ml_collections.ConfigDict, splits: Splits) -> Encoder:
    """The encoder of ``config.data``, fitted on the training split."""
    d = config.data
    encoder = Encoder(
        d.encoding, d.field, label_field=d.label_field, num_words=d.num_words or None, maxlen=d.maxlen or None,
        padding=d.padding, truncating=d.truncating, multi_hot=d.multi_hot, clean=d.clean,
        oov_token=d.oov_token or None, class_names=splits.class_names,
    )
    word_index = None
    if d.encoding == "ids" and d.manual_dir:
        from seqjax.data.imdb import load_word_index

        path = Path(d.manual_dir) / "imdb" / "imdb_word_index.json"
        word_index = load_word_index(path) if path.is_file() else None
    return encoder.fit(splits.train, word_index=word_index)


def _num_outputs(config, splits: Splits) -> int:
    if config.task == "multiclass":
        return config.model.num_outputs if config.model.num_outputs > 1 else max(len(splits.class_names), 2)
    return 1


def build(config: ml_collections.ConfigDict, encoder: Encoder, num_outputs: int):
    """``(model, tx, initial state)`` for ``config``."""
    model_cfg = config.model.to_dict()
    model_cfg["num_outputs"] = num_outputs
    model = build_model(model_cfg, vocab_size=encoder.vocab_size)
    sample = sample_input(model, encoder.example_shape)
    tx = make_optimizer(config)
    state = create_train_state(model, tx, jax.random.key(config.seed), sample)
    if not config.model.embedding_trainable and not config.data.glove_path:
        raise ValueError("model.embedding_trainable=False freezes random vectors: set data.glove_path to a GloVe file.")
    if config.data.glove_path:
        from seqjax.text.glove import load_glove

        if encoder.tokenizer is None:
            raise ValueError("data.glove_path needs data.encoding='tokenizer' (a word index to align with).")
        matrix = load_glove(config.data.glove_path, encoder.tokenizer.word_index, num_words=encoder.vocab_size)
        state = state_from_variables(set_embedding(variables_of(state), matrix), tx)
    return model, tx, state


def _fresh_subfolder(workdir: Path) -> Path:
    """The first ``workdir/run-N`` that does not exist yet."""
    n = 2
    while (workdir / f"run-{n}").exists():
        n += 1
    return workdir / f"run-{n}"


def _config_diffs(workdir: Path, config: ml_collections.ConfigDict) -> list[str]:
    """The resume-relevant fields where ``config`` differs from the run in ``workdir``."""
    saved_path = workdir / "config.json"
    if not saved_path.is_file() or not (workdir / "checkpoints").is_dir():
        return []
    saved = json.loads(saved_path.read_text())
    current = json.loads(config.to_json())
    diffs = []

    def compare(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                compare(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        elif a != b and not (prefix.endswith("manual_dir") or prefix.endswith("data_dir")):
            diffs.append(f"{prefix}: {a!r} in the workdir, {b!r} now")

    def get(tree, dotted):
        for part in dotted.split("."):
            tree = tree.get(part) if isinstance(tree, dict) else None
        return tree

    for key in RESUME_KEYS:
        compare(get(saved, key), get(current, key), key)
    return diffs


def _training_transform(config: ml_collections.ConfigDict, encoder: Encoder, train):
    """``encoder.encode``, plus a per-example loss ``weight`` with ``data.class_weights``."""
    if not config.data.class_weights:
        return encoder.encode
    weights = class_weights([int(train[i][config.data.label_field]) for i in range(len(train))])

    def encode(example):
        out = encoder.encode(example)
        out["weight"] = np.float32(weights[int(out["label"])])
        return out

    return encode


def _checkpoints(config: ml_collections.ConfigDict, workdir: Path) -> Checkpoints:
    """The run's checkpoints, ranked by the early-stopping monitor (training loss without validation)."""
    has_validation = _has_validation(config)
    return Checkpoints(
        workdir / "checkpoints",
        monitor=config.early_stopping.monitor if has_validation else "loss",
        mode=config.early_stopping.mode if has_validation else "min",
        max_to_keep=config.checkpoint.max_to_keep,
    )


def task_metrics(task: str, outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Test metrics under their plain names for ``task``."""
    if task == "binary":
        return metrics_lib.binary_metrics(labels, outputs)
    if task == "multiclass":
        hard = labels.argmax(-1) if labels.ndim == 2 else labels
        return metrics_lib.multiclass_metrics(hard, outputs)
    return metrics_lib.regression_metrics(labels, outputs)


def _mesh(config: ml_collections.ConfigDict, pick_devices):
    """The ``(data, model)`` mesh of ``config.mesh``; with no model axis, over the devices
    ``pick_devices`` (:func:`~seqjax.train.sharding.training_devices` or
    :func:`~seqjax.train.sharding.inference_devices`) chooses for the config's batch and layers."""
    devices = None if config.mesh.model_axis > 1 else pick_devices(
        config.batch_size, config.model.get("hidden_sizes", ()), config.mesh.pad_batch,
        native_lstm=runs_native_lstm(config.model))
    return sharding.make_mesh(config.mesh.model_axis, devices)


def _mesh_options(config: ml_collections.ConfigDict) -> list:
    """The meshes besides :func:`_mesh`'s training mesh whose train step the trainer times
    before it trains (:func:`~seqjax.train.sharding.training_device_options`); none with a
    model axis, and none with ``mesh.time_devices=False``."""
    if config.mesh.model_axis > 1 or not config.mesh.get("time_devices", True):
        return []
    options = sharding.training_device_options(config.batch_size, config.model.get("hidden_sizes", ()),
                                               config.mesh.pad_batch, native_lstm=runs_native_lstm(config.model))
    return [sharding.make_mesh(1, devices) for devices in options[1:]]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path, *, force: bool = False) -> dict:
    """Trains ``config`` in ``workdir`` (resuming if it holds a checkpoint) and
    evaluates the final (or best) model on the test split. Returns ``metrics.json``.

    A workdir holding a run of a different config is refused; with ``force`` the
    new run goes to a fresh ``workdir/run-N`` subfolder and the old run is kept.
    """
    start = time.perf_counter()
    validate(config)
    workdir = Path(workdir)
    diffs = _config_diffs(workdir, config)
    if diffs and not force:
        raise ValueError(
            f"workdir {workdir} holds a run of a different config; refusing to resume it:\n  "
            + "\n  ".join(diffs) + "\nUse another --workdir, or --force to start fresh in a new subfolder."
        )
    if diffs:
        workdir = _fresh_subfolder(workdir)
        print(f"--force: the config differs from the run in the workdir; starting fresh in {workdir}")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"workdir {workdir} is not writable ({err.strerror}); choose another --workdir.") from None
    primary = jax.process_index() == 0  # with several hosts only process 0 writes reports
    if primary:
        reports.write_json(workdir / "config.json", json.loads(config.to_json()))

    splits = load_splits(config)
    encoder = make_encoder(config, splits)
    if primary:
        encoder.save(workdir / "encoder.json")
    model, tx, state = build(config, encoder, _num_outputs(config, splits))

    summary = summarize(model, variables_of(state), sample_input(model, encoder.example_shape))
    if primary:
        reports.atomic_write_text(workdir / "summary.txt", format_summary(summary, title=config.data.name) + "\n")

    es_cfg = config.early_stopping
    early = (
        EarlyStopping(es_cfg.monitor, es_cfg.patience, es_cfg.mode, es_cfg.restore_best) if es_cfg.enabled else None
    )
    checkpoints = _checkpoints(config, workdir)
    mesh = _mesh(config, sharding.training_devices)
    eval_mesh = _mesh(config, sharding.inference_devices)
    try:
        trainer = Trainer(
            model, tx, config.task, batch_size=config.batch_size, seed=config.seed,
            transform=_training_transform(config, encoder, splits.train),
            vocab_size=model.vocab_size,  # the embedding's rows: ids past them are refused, not clamped
            mesh=mesh, pad_batch=config.mesh.pad_batch, loss=config.loss, eval_mesh=eval_mesh,
            mesh_options=_mesh_options(config),
        )
        state = trainer.place(state)
        restored = checkpoints.restore_latest(state)
        meta = {"config": json.loads(config.to_json())}
        if restored is not None:
            state, saved_meta = restored
            meta.update({k: v for k, v in saved_meta.items() if k != "config"})
            if "train_devices" in saved_meta:  # the devices the run measured fastest, not measured again
                state = trainer.use_devices(saved_meta["train_devices"], state)
        state, history, early = fit(
            trainer, state, splits.train, splits.validation, epochs=config.epochs, early_stopping=early,
            checkpoints=checkpoints, meta=meta, progress=config.progress,
        )
        _, outs, labels = trainer.evaluate(state, splits.test)
    finally:
        checkpoints.close()

    results = task_metrics(config.task, outs, labels)
    if splits.baselines:
        results["baseline_mae"] = splits.baselines["test"]
        results["val_baseline_mae"] = splits.baselines["validation"]
        if "val_mae" in history:
            results["val_mae"] = min(history["val_mae"]) if early is not None else history["val_mae"][-1]
    results.update(
        {
            "devices": jax.device_count(),
            "mesh": sharding.describe(trainer.mesh),
            **({"mesh_timings_ms": trainer.mesh_timings} if trainer.mesh_timings else {}),
            "eval_mesh": sharding.describe(eval_mesh),
            "platform": jax.devices()[0].platform,
            "epochs_trained": len(next(iter(history.values()), [])),
            "best_epoch": early.best_epoch if early is not None else None,
            "test_examples": int(len(labels)),
            "parameters": summary.total,
            "wall_time_s": round(time.perf_counter() - start, 2),
        }
    )
    if primary:
        reports.write_history_csv(workdir / "history.csv", history)
        reports.plot_history(history, workdir / "plots")
        if "confusion_matrix" in results:
            reports.plot_confusion(results["confusion_matrix"], encoder.class_names,
                                   workdir / "plots" / "confusion_matrix.png")
        if splits.baselines:
            if config.data.label_field == "change":  # residual forecasts: back to degrees for the plot
                last = np.array([splits.test[i]["target"] - splits.test[i]["change"] for i in range(len(labels))])
                outs, labels = outs + last, labels + last
            reports.plot_forecast(outs, labels, workdir / "plots" / "forecast_week.png",
                                  steps_per_hour=60 // 10, baseline_mae=splits.baselines["test"])
        reports.write_json(workdir / "metrics.json", results)
    return {**results, "workdir": str(workdir)}


# --- using a finished run --------------------------------------------------------------


class LoadedRun(NamedTuple):
    config: ml_collections.ConfigDict
    encoder: Encoder
    model: Any
    state: TrainState


def load_run(workdir: str | Path) -> LoadedRun:
    """The config, encoder, model and best (else latest) checkpointed state of a run."""
    workdir = Path(workdir)
    for name in ("config.json", "encoder.json"):
        if not (workdir / name).is_file():
            raise FileNotFoundError(f"{workdir / name} is missing: is {workdir} a finished seqjax run directory?")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    encoder = Encoder.load(workdir / "encoder.json")
    model_cfg = config.model.to_dict()
    model_cfg["num_outputs"] = _num_outputs(config, Splits(None, None, None, encoder.class_names))
    model = build_model(model_cfg, vocab_size=encoder.vocab_size)
    tx = make_optimizer(config)
    template = create_train_state(model, tx, jax.random.key(0), sample_input(model, encoder.example_shape))
    checkpoints = _checkpoints(config, workdir)
    try:
        restored = checkpoints.restore_best(template) or checkpoints.restore_latest(template)
    finally:
        checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints'} holds no complete checkpoint to load.")
    return LoadedRun(config, encoder, model, restored[0])


def evaluate(workdir: str | Path) -> dict:
    """Re-evaluates a run's best checkpoint on its test split."""
    run = load_run(workdir)
    splits = load_splits(run.config)
    trainer = Trainer(run.model, make_optimizer(run.config), run.config.task, batch_size=run.config.batch_size,
                      seed=run.config.seed, transform=run.encoder.encode, loss=run.config.get("loss", "default"),
                      mesh=_mesh(run.config, sharding.inference_devices), pad_batch=run.config.mesh.pad_batch)
    _, outs, labels = trainer.evaluate(run.state, splits.test)
    return task_metrics(run.config.task, outs, labels)


def predict(workdir: str | Path, texts: list[str]) -> list[dict]:
    """Raw texts -> ``[{"label", "probability"}]`` through the run's own preprocessing."""
    run = load_run(workdir)
    inputs = run.encoder.encode_texts(texts)
    logits = run.model.apply(variables_of(run.state), inputs, deterministic=True)
    probs = np.asarray(outputs(run.config.task, logits))
    names = run.encoder.class_names
    results = []
    for p in probs:
        if run.config.task == "binary":
            label = int(p >= 0.5)
            results.append({"label": names[label] if names else label, "probability": float(p if label else 1 - p)})
        else:
            label = int(np.argmax(p))
            results.append({"label": names[label] if names else label, "probability": float(p[label])})
    return results
