"""The course's classifiers as one configurable Flax module.

Each top-level submodule is one Keras layer, so :func:`seqjax.train.summary`
prints the course's ``model.summary()`` rows:

- ``kind="mlp"``: ``inputs [B, F]`` (multi-hot or a curve; ``[B, T, F]`` is flattened) -> Dense blocks -> output.
- ``kind="embedding_flatten"``: ``ids [B, T]`` -> Embedding -> Flatten -> Dense blocks -> output.
- ``kind="conv"``: ``ids [B, T]`` -> Embedding, or ``values [B, T, F]`` -> Conv1D blocks
  (``conv_filters``, max pooling between them) -> global max pooling, or recurrent
  layers when ``hidden_sizes`` is set (the course's convnet-then-GRU for long sequences)
  -> Dense blocks -> output.
- ``kind="rnn"``: ``ids [B, T]`` -> Embedding, or ``values [B, T, F]`` directly ->
  recurrent layers (stacked; the last returns its final output) -> Dense blocks -> output.

The output is ``logits [B, num_outputs]``: one logit for a binary task (sigmoid),
one per class otherwise (softmax), or the prediction for regression.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.cudnn import IMPLEMENTATIONS
from seqjax.nn.embedding import Embedding
from seqjax.nn.conv import Conv1D, max_pool1d
from seqjax.nn.layers import ACTIVATIONS, Dense, flatten, global_max_pool
from seqjax.nn.recurrent import RNN, check_rate, make_cell

KINDS = ("mlp", "embedding_flatten", "rnn", "conv")
REMAT_CHOICES = {"auto": None, "on": True, "off": False, True: True, False: False, None: None}
# how the recurrent layers run (seqjax.scan's `implementation`): "auto" picks
IMPLEMENTATION_CHOICES = {"auto": None, **{name: name for name in IMPLEMENTATIONS}}


class Classifier(nn.Module):
    """See the module docstring; every field mirrors a ``config.model`` field."""

    kind: str
    num_outputs: int
    vocab_size: int | None = None
    embedding_dim: int | None = None
    mask_zero: bool = False
    embedding_trainable: bool = True
    cell: str = "lstm"
    hidden_sizes: Sequence[int] = (32,)
    bidirectional: bool = False
    merge_mode: str = "concat"
    input_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    rnn_dropout: float = 0.0
    dense: Sequence[int] = ()
    dense_activation: str = "relu"
    dense_dropout: float = 0.0
    remat: bool | None = None
    implementation: str | None = None
    conv_filters: Sequence[int] = ()
    conv_kernel: int = 7
    pool_size: int = 5

    @nn.compact
    def __call__(self, inputs: jax.Array, *, deterministic: bool = True) -> jax.Array:
        x, lengths, tokens = inputs, None, None
        if self.kind in ("embedding_flatten", "rnn", "conv") and self.vocab_size:
            embedding = Embedding(
                self.vocab_size, self.embedding_dim, mask_zero=self.mask_zero, trainable=self.embedding_trainable
            )
            x, lengths = embedding(inputs)
            if not self.mask_zero:
                lengths = None  # every step is real: the unmasked scan is 1.2x faster (docs/BENCHMARKS.md)
            if self.kind == "rnn":  # the first recurrent layer may project the table (sj.scan_tokens)
                tokens = (embedding.table(), inputs)
        if self.kind == "embedding_flatten" or (self.kind == "mlp" and x.ndim > 2):
            x = flatten(x)  # e.g. a forecasting window [B, T, F] -> [B, T * F]
        elif self.kind in ("rnn", "conv"):
            if x.ndim == 2:
                x = x[..., None]  # a univariate series [B, T] -> [B, T, 1]
            if self.kind == "conv":
                for depth, filters in enumerate(self.conv_filters):
                    if depth:
                        x = max_pool1d(x, self.pool_size)
                    x = Conv1D(filters, self.conv_kernel, activation="relu")(x)
                lengths = None  # the convolutions mix padding into every step
            for depth, size in enumerate(self.hidden_sizes):
                last = depth == len(self.hidden_sizes) - 1
                x = RNN(
                    self.cell, size, return_sequences=not last, bidirectional=self.bidirectional,
                    merge_mode=self.merge_mode, dropout=self.input_dropout,
                    recurrent_dropout=self.recurrent_dropout, remat=self.remat, implementation=self.implementation,
                )(x, lengths, deterministic=deterministic, tokens=None if depth else tokens)
            if self.kind == "conv" and not self.hidden_sizes:
                x = global_max_pool(x)
            if self.rnn_dropout:
                x = nn.Dropout(self.rnn_dropout)(x, deterministic=deterministic)
        for size in self.dense:
            x = ACTIVATIONS[self.dense_activation](Dense(size)(x))
            if self.dense_dropout:
                x = nn.Dropout(self.dense_dropout)(x, deterministic=deterministic)
        return Dense(self.num_outputs)(x)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return value


def runs_native_lstm(model_config: Any) -> bool:
    """Whether every recurrent layer of the model ``build_model(model_config)`` builds runs
    :mod:`seqjax.native_lstm` on this host (a ``kind="rnn"`` or ``"conv"`` model with LSTM
    layers, no recurrent dropout, ``implementation`` auto or ``"native"``, ``remat`` not on,
    and the kernel built here). Such a model uses the host's cores inside one device (the
    kernel splits the rows), which :mod:`seqjax.train.sharding` takes into account."""
    from seqjax import native_lstm

    get = model_config.get
    return (
        get("kind", "rnn") in ("rnn", "conv")
        and bool(get("hidden_sizes", (32,)))
        and get("cell", "lstm") == "lstm"
        and not get("recurrent_dropout", 0.0)
        and IMPLEMENTATION_CHOICES.get(get("implementation", "auto"), "?") in (None, "native")
        and REMAT_CHOICES.get(get("remat", "auto"), "?") is not True
        and jax.default_backend() == "cpu"
        and native_lstm.available()
    )


def build_model(model_config: Any, *, vocab_size: int | None = None, num_outputs: int | None = None) -> Classifier:
    """A :class:`Classifier` from ``config.model``, checking every field.

    ``vocab_size`` and ``num_outputs`` come from the data when the config leaves
    them unset (``0`` or ``None``).
    """
    cfg = dict(model_config)
    kind = cfg.pop("kind")
    if kind not in KINDS:
        raise ValueError(f"model.kind={kind!r} is not one of {KINDS}.")
    cfg["num_outputs"] = _positive("model.num_outputs", cfg.get("num_outputs") or num_outputs)
    uses_embedding = kind == "embedding_flatten" or (kind in ("rnn", "conv") and cfg.get("embedding_dim"))
    if uses_embedding:
        cfg["vocab_size"] = _positive("model.vocab_size", cfg.get("vocab_size") or vocab_size)
        _positive("model.embedding_dim", cfg.get("embedding_dim"))
    else:
        cfg["vocab_size"] = None
    if kind == "conv":
        filters = tuple(cfg.get("conv_filters", ()))
        if not filters:
            raise ValueError("model.conv_filters must list at least one Conv1D layer's filters, e.g. (32, 32).")
        cfg["conv_filters"] = tuple(_positive("model.conv_filters entries", f) for f in filters)
        _positive("model.conv_kernel", cfg.get("conv_kernel", 7))
        _positive("model.pool_size", cfg.get("pool_size", 5))
        cfg["hidden_sizes"] = tuple(_positive("model.hidden_sizes entries", s) for s in cfg.get("hidden_sizes", ()))
    if kind == "rnn":
        make_cell(cfg.get("cell", "lstm"), 1)  # validates the name
        sizes = tuple(cfg.get("hidden_sizes", (32,)))
        if not sizes:
            raise ValueError("model.hidden_sizes must list at least one recurrent layer size.")
        for s in sizes:
            _positive("model.hidden_sizes entries", s)
        cfg["hidden_sizes"] = sizes
    for name in ("input_dropout", "recurrent_dropout", "rnn_dropout", "dense_dropout"):
        if name in cfg:
            check_rate(f"model.{name}", cfg[name])
    cfg["dense"] = tuple(_positive("model.dense entries", s) for s in cfg.get("dense", ()))
    remat = cfg.get("remat", "auto")
    if remat not in REMAT_CHOICES:
        raise ValueError(f"model.remat={remat!r} is not one of {sorted(REMAT_CHOICES, key=str)}.")
    cfg["remat"] = REMAT_CHOICES[remat]
    implementation = cfg.get("implementation", "auto")
    if implementation not in IMPLEMENTATION_CHOICES:
        raise ValueError(f"model.implementation={implementation!r} is not one of "
                         f"{sorted(IMPLEMENTATION_CHOICES, key=str)} ('scan' keeps autodiff's backward pass).")
    cfg["implementation"] = IMPLEMENTATION_CHOICES[implementation]
    if cfg.get("dense_activation", "relu") not in ACTIVATIONS:
        raise ValueError(f"model.dense_activation={cfg['dense_activation']!r} is not one of {sorted(ACTIVATIONS)}.")
    known = set(Classifier.__dataclass_fields__) - {"parent", "name"}
    unknown = sorted(set(cfg) - known - {"kind"})
    if unknown:
        raise ValueError(f"unknown model field(s) {unknown}; known: {sorted(known)}.")
    return Classifier(kind=kind, **cfg)


def sample_input(model: Classifier, input_shape: Sequence[int]) -> jax.Array:
    """A zero batch of one example with the model's input dtype (ids or floats)."""
    dtype = jnp.int32 if model.vocab_size else jnp.float32
    return jnp.zeros((1, *input_shape), dtype)
