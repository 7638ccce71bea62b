"""The train state: a NamedTuple pytree, so ``jit`` can donate it whole."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class TrainState(NamedTuple):
    """``step`` (int32 scalar), trainable ``params``, non-trainable ``frozen``
    variables (e.g. a frozen embedding) and the optimizer state."""

    step: jax.Array
    params: Any
    frozen: Any
    opt_state: Any


def create_train_state(model: Any, tx: optax.GradientTransformation, key: jax.Array, sample: jax.Array) -> TrainState:
    """Initialises the model on ``sample`` (a batch of one) and the optimizer."""
    variables = model.init({"params": key, "dropout": key}, sample)
    return state_from_variables(variables, tx)


def state_from_variables(variables: dict, tx: optax.GradientTransformation) -> TrainState:
    """A fresh state (step 0) around ``variables``."""
    variables = dict(variables)
    params = variables.pop("params", {})
    return TrainState(jnp.zeros((), jnp.int32), params, variables, tx.init(params))


def variables_of(state: TrainState) -> dict:
    """The model's variables (``params`` plus the frozen collections)."""
    return {"params": state.params, **state.frozen}


def count_params(tree: Any) -> int:
    """Number of scalars in a pytree of arrays."""
    return int(sum(x.size for x in jax.tree.leaves(tree)))
