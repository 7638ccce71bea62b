"""The fields every experiment config shares, with defaults, and their checks.

``configs/<experiment>.py`` starts from :func:`base_config` and sets what differs.
Sizes of 0 mean "not set" (``num_words``, ``maxlen``, ``validation_count``,
``max_examples``, ``vocab_size``): ConfigDict fields keep one type, so 0 stands
in for ``None`` and the command line can override them with numbers.
"""

from __future__ import annotations

import difflib
import os

import ml_collections

TASKS = ("binary", "multiclass", "regression")


def base_config() -> ml_collections.ConfigDict:
    """Defaults for every field an experiment may set."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.epochs = 10
    c.batch_size = 32
    c.task = "binary"
    c.loss = "default"  # or "mse" / "mae" for regression
    c.progress = True

    c.data = ml_collections.ConfigDict()
    c.data.name = "shape_curves"
    c.data.manual_dir = os.environ.get("SEQJAX_MANUAL_DIR", "")
    c.data.data_dir = ""
    c.data.options = ml_collections.ConfigDict()  # builder options, e.g. categories
    c.data.train_split = "train"
    c.data.test_split = "test"  # "" -> cut the test set out of train_split
    c.data.test_fraction = 0.2
    c.data.split_seed = 0
    c.data.validation_count = 0  # hold out the first N training examples (the course's x_train[:N])
    c.data.validation_fraction = 0.0  # or the last fraction, as Keras's validation_split
    c.data.max_examples = 0  # cap each split (smoke runs); 0: all
    c.data.max_train_examples = 0  # cap the training split after validation is held out; 0: all
    c.data.oversample = False  # random oversampling of the smaller classes (training split)
    c.data.class_weights = False  # or weight each example's loss by n / (classes * class count)
    c.data.encoding = "values"
    c.data.field = "curve"
    c.data.label_field = "label"
    c.data.num_words = 0
    c.data.maxlen = 0
    c.data.padding = "pre"
    c.data.truncating = "pre"
    c.data.multi_hot = False
    c.data.clean = False
    c.data.oov_token = ""
    c.data.glove_path = ""
    c.data.forecast = ml_collections.ConfigDict()  # jena_weather: the course's window generator
    c.data.forecast.lookback = 1440  # rows of history (10 days of 10-minute rows)
    c.data.forecast.step = 6  # keep every 6th row: hourly
    c.data.forecast.delay = 144  # predict 24 hours after the last input row
    c.data.forecast.train_fraction = 0.5  # rows in time order: train, validation, the rest test
    c.data.forecast.validation_fraction = 0.25
    c.data.forecast.block_rows = 0  # 0: one time-ordered split; N: blocks of N rows dealt out train/train/val/test

    c.model = ml_collections.ConfigDict()
    c.model.kind = "rnn"
    c.model.num_outputs = 1
    c.model.vocab_size = 0  # 0: from the data
    c.model.embedding_dim = 0
    c.model.mask_zero = False
    c.model.embedding_trainable = True
    c.model.cell = "lstm"
    c.model.hidden_sizes = (32,)
    c.model.bidirectional = False
    c.model.merge_mode = "concat"
    c.model.input_dropout = 0.0
    c.model.recurrent_dropout = 0.0
    c.model.rnn_dropout = 0.0
    c.model.dense = ()
    c.model.dense_activation = "relu"
    c.model.dense_dropout = 0.0
    c.model.conv_filters = ()  # kind="conv": Conv1D filters per layer, max pooling between layers
    c.model.conv_kernel = 7
    c.model.pool_size = 5
    c.model.remat = "auto"  # recompute recurrent steps in the backward pass: "auto" (by shape), "on", "off"
    c.model.implementation = "auto"  # "scan": autodiff's backward for the LSTM (bit for bit with runs before the fused LSTM)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.clip_norm = 0.0
    c.optimizer.schedule = "constant"

    c.early_stopping = ml_collections.ConfigDict()
    c.early_stopping.enabled = False
    c.early_stopping.monitor = "val_loss"
    c.early_stopping.patience = 5
    c.early_stopping.mode = "min"
    c.early_stopping.restore_best = True

    c.mesh = ml_collections.ConfigDict()
    c.mesh.model_axis = 1  # devices per model replica (embedding rows / dense columns split over them)
    c.mesh.pad_batch = False  # pad a batch that does not split over the devices instead of refusing it
    # where a layer is wider than 64 units on CPU cores, time the step on one device and on all
    # before training and keep the faster (False: the rule's choice, the same device count every run)
    c.mesh.time_devices = True

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.max_to_keep = 2
    return c


def imdb_ids(c: ml_collections.ConfigDict, *, maxlen: int, padding: str = "pre") -> ml_collections.ConfigDict:
    """The course's IMDB input: Keras-compatible ids of the 10,000 most frequent words, the first
    ``maxlen`` kept, the last 20% of the training reviews for validation; binary task, batch 128."""
    c.task = "binary"
    c.batch_size = 128
    c.data.name = "imdb_reviews"
    c.data.encoding = "ids"
    c.data.field = "ids"
    c.data.num_words = 10_000
    c.data.maxlen = maxlen
    c.data.padding = padding
    c.data.validation_fraction = 0.2
    c.model.num_outputs = 1
    return c


def jena_forecast(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The course's temperature forecasting on ``jena_weather``: 10 days hourly -> the temperature
    24 h later, as the residual over the common-sense baseline (``change``: see docs/RESULTS.md);
    MAE loss, RMSprop, batch 128; the epoch with the lowest validation MAE is tested."""
    c.task = "regression"
    c.loss = "mae"
    c.batch_size = 128
    c.data.name = "jena_weather"
    c.data.encoding = "values"
    c.data.field = "inputs"
    c.data.label_field = "change"
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    c.early_stopping.enabled = True
    return c


def apply_variant(config: ml_collections.ConfigDict, variant: str | None, variants: dict) -> ml_collections.ConfigDict:
    """Applies ``configs/x.py:variant``: ``smoke`` always, plus the config's own ``variants``."""
    if not variant:
        return config
    if variant == "smoke":
        return smoke(config)
    if variant not in variants:
        raise ValueError(f"unknown config variant {variant!r}; this config has {['smoke', *variants]}.")
    for key, value in variants[variant].items():
        target = config
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The ``:smoke`` variant: a few examples and one epoch, for tests (seconds)."""
    config.epochs = 1
    config.data.max_examples = 64
    config.batch_size = min(config.batch_size, 16)
    config.data.maxlen = min(config.data.maxlen, 100)  # shorter sequences: the same code path, compiled faster
    config.data.forecast.lookback = min(config.data.forecast.lookback, 144)
    if config.data.validation_count:
        config.data.validation_count = 16
    config.progress = False
    return config


def unknown_fields(config: ml_collections.ConfigDict, reference: ml_collections.ConfigDict | None = None,
                   prefix: str = "") -> list[str]:
    """Messages for fields of ``config`` that the base config lacks, with the nearest name."""
    reference = reference if reference is not None else base_config()
    messages = []
    for key in config.keys():
        name = f"{prefix}{key}"
        if key not in reference:
            close = difflib.get_close_matches(key, list(reference.keys()), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            messages.append(f"unknown config field {name!r}{hint}")
        elif isinstance(config[key], ml_collections.ConfigDict) and key != "options":
            messages.extend(unknown_fields(config[key], reference[key], prefix=f"{name}."))
    return messages


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ``ValueError`` naming every impossible or unknown field."""
    problems = unknown_fields(config)
    if config.task not in TASKS:
        problems.append(f"task={config.task!r} is not one of {TASKS}")
    if config.loss not in ("default", "mse", "mae") or (config.loss != "default" and config.task != "regression"):
        problems.append(f"loss={config.loss!r} must be 'default', or 'mse' / 'mae' with task='regression'")
    for name in ("epochs", "batch_size"):
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be a positive int; got {value!r}")
    for name in ("max_examples", "num_words", "maxlen"):
        if config.data[name] < 0:
            problems.append(f"data.{name} must be >= 0 (0 = not set); got {config.data[name]}")
    if not 0.0 <= config.data.test_fraction < 1.0:
        problems.append(f"data.test_fraction must lie in [0, 1); got {config.data.test_fraction}")
    if config.data.validation_count < 0:
        problems.append(f"data.validation_count must be >= 0; got {config.data.validation_count}")
    if not 0.0 <= config.data.validation_fraction < 1.0:
        problems.append(f"data.validation_fraction must lie in [0, 1); got {config.data.validation_fraction}")
    if config.data.validation_count and config.data.validation_fraction:
        problems.append("set data.validation_count or data.validation_fraction, not both")
    if problems:
        raise ValueError("invalid config:\n  " + "\n  ".join(problems))
