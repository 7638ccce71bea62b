"""Pure train and eval steps. The fit loop jits them once, donating the state.

A batch is ``{"inputs", "label", "weight"}``: ``weight [B]`` is 1 for real
examples and 0 for the padding that fills the last batch to a fixed shape, so
every batch has one shape and the step compiles once.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from seqjax.train.collectives import psum_packed
from seqjax.train.state import TrainState, variables_of

TASKS = ("binary", "multiclass", "regression")
LOSSES = ("default", "mse", "mae")  # regression may train on the absolute error, as the course's forecaster does


def per_example_loss(task: str, logits: jax.Array, labels: jax.Array, loss: str = "default") -> jax.Array:
    """``[B]`` losses: sigmoid BCE (binary), softmax CE with integer or one-hot
    labels (multiclass), or squared error (regression; absolute error with ``loss="mae"``)."""
    if task == "binary":
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(jnp.float32))
    if task == "multiclass":
        if labels.ndim == 2:  # one-hot (categorical cross-entropy)
            return optax.softmax_cross_entropy(logits, labels)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if task == "regression":
        if loss == "mae":
            return jnp.abs(logits[:, 0] - labels.astype(jnp.float32))
        return optax.squared_error(logits[:, 0], labels.astype(jnp.float32))
    raise ValueError(f"task={task!r} is not one of {TASKS}.")


def outputs(task: str, logits: jax.Array) -> jax.Array:
    """What is reported: ``P(class 1) [B]``, class probabilities ``[B, C]``, or predictions ``[B]``."""
    if task == "binary":
        return jax.nn.sigmoid(logits[:, 0])
    if task == "multiclass":
        return jax.nn.softmax(logits, axis=-1)
    return logits[:, 0]


def _batch_metrics(task: str, logits: jax.Array, batch: dict, losses: jax.Array) -> dict:
    w = batch["weight"]
    labels = batch["label"]
    metrics = {"loss_sum": jnp.sum(losses * w), "count": jnp.sum(w)}
    if task == "binary":
        correct = (logits[:, 0] >= 0).astype(jnp.int32) == labels.astype(jnp.int32)
    elif task == "multiclass":
        hard = labels.argmax(-1) if labels.ndim == 2 else labels
        correct = jnp.argmax(logits, -1) == hard
    else:
        metrics["abs_err_sum"] = jnp.sum(jnp.abs(logits[:, 0] - labels) * w)
        return metrics
    metrics["correct"] = jnp.sum(correct * w)
    return metrics


def make_train_step(model: Any, tx: optax.GradientTransformation, task: str, loss: str = "default", *,
                    data_axis: str | None = None) -> Callable:
    """``train_step(state, batch, key) -> (state, metrics)``; ``key`` is this step's
    dropout key (the loop derives it with ``fold_in``).

    With ``data_axis`` the step is written for one device's rows inside ``shard_map``
    (:func:`seqjax.train.fit.shard_train_step`): each device differentiates its rows'
    weighted loss sum, and the gradients and metrics (the weight among them) are summed
    over ``data_axis`` in one all-reduce after the whole backward pass, its small leaves
    packed into one buffer (:func:`seqjax.train.collectives.psum_packed`); the summed
    gradients are then divided by the summed weight. That is the gradient of the global
    weighted mean up to float rounding, with one rendezvous of the devices a step where a
    ``psum`` of the weight before the forward pass made two. (Left to the SPMD partitioner,
    the gradient of a ``lax.scan`` was all-reduced inside the loop, once per time step: 110
    of 120 ms.)
    """

    def train_step(state: TrainState, batch: dict, key: jax.Array):
        weight = batch["weight"]

        def loss_fn(params):
            logits = model.apply(
                {"params": params, **state.frozen}, batch["inputs"], deterministic=False, rngs={"dropout": key}
            )
            losses = per_example_loss(task, logits, batch["label"], loss)
            weighted = jnp.sum(losses * weight)
            # one device: the weighted mean; inside shard_map: this device's weighted sum,
            # divided by the summed weight after the all-reduce
            return (weighted if data_axis else weighted / jnp.maximum(jnp.sum(weight), 1.0)), (logits, losses)

        (_, (logits, losses)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        metrics = _batch_metrics(task, logits, batch, losses)
        if data_axis:
            grads, metrics = psum_packed((grads, metrics), data_axis)
            total = jnp.maximum(metrics["count"], 1.0)
            grads = jax.tree.map(lambda g: (g / total).astype(g.dtype), grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, state.frozen, opt_state), metrics

    return train_step


def make_eval_step(model: Any, task: str, loss: str = "default") -> Callable:
    """``eval_step(state, batch) -> (metrics, outputs, labels, weight)`` with dropout off.

    Labels and weights come back with the outputs so that every process sees the
    whole global batch's (the loop keeps the rows with weight > 0).
    """

    def eval_step(state: TrainState, batch: dict):
        logits = model.apply(variables_of(state), batch["inputs"], deterministic=True)
        losses = per_example_loss(task, logits, batch["label"], loss)
        return _batch_metrics(task, logits, batch, losses), outputs(task, logits), batch["label"], batch["weight"]

    return eval_step
