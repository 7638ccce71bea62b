"""Optax optimizers from a config, with Keras's defaults where the course used Keras."""

from __future__ import annotations

from typing import Any

import optax

# Keras defaults: RMSprop(lr=1e-3, rho=0.9, epsilon=1e-7) with eps outside the root;
# Adam(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7).
OPTIMIZERS = ("rmsprop", "adam", "sgd")
SCHEDULES = ("constant", "cosine", "exponential")


def make_optimizer(config: Any, total_steps: int | None = None) -> optax.GradientTransformation:
    """An optax optimizer from ``config.optimizer``.

    Fields: ``name`` (rmsprop | adam | sgd), ``learning_rate``, optional
    ``clip_norm`` (global-norm clipping, 0 = off), ``schedule`` (constant | cosine |
    exponential) and ``decay_rate`` (exponential, per epoch-sized ``decay_steps``).
    """
    opt = config.optimizer
    name = opt.get("name", "rmsprop")
    lr = opt.get("learning_rate", 1e-3)
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={name!r} is not one of {OPTIMIZERS}.")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
        raise ValueError(f"optimizer.learning_rate must be a positive number; got {lr!r}.")
    schedule_name = opt.get("schedule", "constant")
    if schedule_name not in SCHEDULES:
        raise ValueError(f"optimizer.schedule={schedule_name!r} is not one of {SCHEDULES}.")
    if schedule_name == "cosine":
        if not total_steps:
            raise ValueError("optimizer.schedule='cosine' needs the total number of steps.")
        learning_rate = optax.cosine_decay_schedule(lr, decay_steps=total_steps)
    elif schedule_name == "exponential":
        learning_rate = optax.exponential_decay(
            lr, transition_steps=int(opt.get("decay_steps", 1000)), decay_rate=float(opt.get("decay_rate", 0.9))
        )
    else:
        learning_rate = lr
    if name == "rmsprop":
        tx = optax.rmsprop(learning_rate, decay=opt.get("rho", 0.9), eps=opt.get("eps", 1e-7), eps_in_sqrt=False)
    elif name == "adam":
        tx = optax.adam(learning_rate, eps=opt.get("eps", 1e-7))
    else:
        tx = optax.sgd(learning_rate, momentum=opt.get("momentum", None) or None)
    clip = opt.get("clip_norm", 0.0)
    if clip:
        if clip < 0:
            raise ValueError(f"optimizer.clip_norm must be >= 0 (0 = off); got {clip}.")
        tx = optax.chain(optax.clip_by_global_norm(clip), tx)
    return tx
