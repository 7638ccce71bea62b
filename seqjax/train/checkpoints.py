"""Orbax checkpoints of a run: the latest epochs (to resume) and the best one.

Each checkpoint holds the train state (params, frozen variables, optimizer state,
step) and a JSON ``meta`` record: the epoch, the data iterator's position, the
history, the early-stopping state and the config. Orbax writes a checkpoint to
a temporary folder and renames it when complete, so a crash mid-save never
leaves a checkpoint that restores half-written.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import jax
from flax import serialization

from seqjax.train.state import TrainState


def _abstract(x):
    if isinstance(x, jax.Array):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
    return x


class Checkpoints:
    """``latest/`` keeps the last ``max_to_keep`` epochs; ``best/`` the best by ``monitor``.

    Args:
      directory: the run's ``checkpoints/`` folder.
      monitor: the metric that ranks checkpoints (e.g. ``"val_loss"``).
      mode: ``"min"`` or ``"max"``.
      max_to_keep: latest checkpoints kept.
    """

    def __init__(self, directory: str | Path, *, monitor: str = "val_loss", mode: str = "min", max_to_keep: int = 2):
        import orbax.checkpoint as ocp

        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}.")
        self._ocp = ocp
        self.directory = Path(directory).absolute()
        self.monitor = monitor
        # With several processes, asynchronous commits race in orbax's finalize step
        # (array metadata from one process only); saving synchronously avoids it.
        asynchronous = jax.process_count() == 1
        self.latest = ocp.CheckpointManager(
            self.directory / "latest",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, create=True, enable_async_checkpointing=asynchronous
            ),
        )
        self.best = ocp.CheckpointManager(
            self.directory / "best",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, create=True, best_fn=lambda m: float(m[monitor]), best_mode=mode,
                enable_async_checkpointing=asynchronous,
            ),
        )

    def _args(self, state: TrainState, meta: dict):
        ocp = self._ocp
        return ocp.args.Composite(
            state=ocp.args.StandardSave(serialization.to_state_dict(state)),
            meta=ocp.args.JsonSave(meta),
        )

    def save(self, epoch: int, state: TrainState, meta: dict, metrics: dict[str, float]) -> None:
        """Saves epoch ``epoch`` (1-based) to ``latest/`` and, if it ranks, ``best/``."""
        if self.monitor not in metrics:
            raise ValueError(f"metrics lack the monitored {self.monitor!r}; got {sorted(metrics)}.")
        self.latest.save(epoch, args=self._args(state, meta))
        self.best.save(epoch, args=self._args(state, meta), metrics={k: float(v) for k, v in metrics.items()})

    def _restore(self, manager, step: int, target: TrainState) -> tuple[TrainState, dict]:
        ocp = self._ocp
        # Restoring into the target's shardings lets a run saved on N devices resume on M.
        template = jax.tree.map(_abstract, serialization.to_state_dict(target))
        restored = manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()),
        )
        return serialization.from_state_dict(target, restored["state"]), dict(restored["meta"])

    def restore_latest(self, target: TrainState) -> tuple[TrainState, dict] | None:
        """``(state, meta)`` of the newest checkpoint that restores, or ``None``.

        A corrupted or truncated checkpoint is skipped with a warning and the
        previous one is used.
        """
        for step in sorted(self.latest.all_steps(), reverse=True):
            try:
                return self._restore(self.latest, step, target)
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                warnings.warn(
                    f"checkpoint {self.directory / 'latest' / str(step)} is unreadable "
                    f"({type(err).__name__}: {str(err)[:200]}); falling back to the previous one.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return None

    def restore_best(self, target: TrainState) -> tuple[TrainState, dict] | None:
        """``(state, meta)`` of the best checkpoint, or ``None``."""
        step = self.best.best_step()
        return None if step is None else self._restore(self.best, step, target)

    def close(self) -> None:
        """Waits for pending writes and releases the managers."""
        for manager in (self.latest, self.best):
            manager.wait_until_finished()
            manager.close()
