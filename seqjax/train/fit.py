"""The training loop: epochs of grain batches through a once-jitted step, validation,
early stopping, a live progress bar, the history and per-epoch checkpoints."""

from __future__ import annotations

import dataclasses
import math
import statistics
import warnings
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax._timing import time_calls
from seqjax.data import pipeline
from seqjax.train.checkpoints import Checkpoints
from seqjax.train.state import TrainState
from seqjax.train.steps import make_eval_step, make_train_step


MESH_MARGIN = 0.03
"""How much faster (as a fraction of ``mesh``'s median step) a ``mesh_options`` candidate must
be for :meth:`Trainer.choose_mesh` to take it: near a tie the rule's choice stays, so noise
on a shared machine does not flip a run between device counts."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class EarlyStopping:
    """Stops when ``monitor`` has not improved for ``patience`` epochs.

    ``restore_best`` returns the best epoch's parameters at the end.
    """

    monitor: str = "val_loss"
    patience: int = 5
    mode: str = "min"
    restore_best: bool = True
    best: float | None = None
    best_epoch: int = 0
    wait: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Records epoch ``epoch``'s value; returns True when training should stop."""
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
        else:
            self.wait += 1
        return self.wait >= self.patience


def pad_batch(batch: dict, batch_size: int) -> dict:
    """Pads a short last batch to ``batch_size`` rows and adds ``weight [B]`` (0 on padding).

    A ``weight`` the batch already has (class weights) is kept for the real rows.
    One batch shape means the step compiles once.
    """
    n = len(batch["label"])
    out = {"weight": np.concatenate([np.ones(n, np.float32), np.zeros(batch_size - n, np.float32)])}
    for key, value in batch.items():
        value = np.asarray(value)
        if n < batch_size:
            value = np.concatenate([value, np.zeros((batch_size - n, *value.shape[1:]), value.dtype)])
        out[key] = value
    return out


def _summed(totals: dict | None, metrics: dict) -> dict:
    return metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)


def _epoch_metrics(totals: dict, prefix: str = "") -> dict[str, float]:
    totals = jax.device_get(totals)
    count = max(float(totals["count"]), 1.0)
    out = {f"{prefix}loss": float(totals["loss_sum"]) / count}
    if "correct" in totals:
        out[f"{prefix}accuracy"] = float(totals["correct"]) / count
    if "abs_err_sum" in totals:
        out[f"{prefix}mae"] = float(totals["abs_err_sum"]) / count
    return out


def _without_optimizer(state: TrainState) -> TrainState:
    """``state`` as evaluation needs it: the optimizer's moments are not copied to its devices."""
    return state._replace(opt_state=())


def shard_train_step(train_step: Callable, mesh) -> Callable:
    """Runs a ``make_train_step(..., data_axis="data")`` step once per device of
    ``mesh``'s ``data`` axis on that device's rows (``shard_map``); the state is
    replicated. Each device draws its own dropout masks (the key folded with its index).
    """
    from jax.sharding import PartitionSpec as P

    from seqjax.train.sharding import DATA

    def local(state: TrainState, batch: dict, key: jax.Array):
        return train_step(state, batch, jax.random.fold_in(key, jax.lax.axis_index(DATA)))

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(DATA), P()), out_specs=(P(), P()), check_vma=False)


class Trainer:
    """Jits the train and eval steps once and runs epochs over data sources.

    Args:
      model: the Flax module.
      tx: the optax optimizer.
      task: ``binary``, ``multiclass`` or ``regression``.
      batch_size: examples per step (the global batch, over every device).
      seed: shuffling and dropout seed.
      transform: example -> ``{"inputs", "label"}`` (the fitted encoder's ``encode``).
      vocab_size: checks ``inputs`` token ids against it when set.
      mesh: the device mesh, axes ``(data, model)`` (:func:`seqjax.train.sharding.make_mesh`;
        explicit axes are used as ``Auto``); all devices by default.
      pad_batch: pad a batch that does not split evenly over the devices (masked rows)
        instead of refusing it.
      loss: ``"default"`` for the task, or ``"mse"`` / ``"mae"`` for regression.
      eval_mesh: the mesh :meth:`evaluate` runs on, when forward-only evaluation is
        faster on other devices than training (on CPU cores:
        :func:`seqjax.train.sharding.inference_devices`); ``mesh`` by default. Its
        ``data`` axis must divide the step's batch.
      cache: transform each source once, on its first pass, and keep the result in memory
        (:class:`seqjax.data.pipeline.EncodedExamples`), so later epochs and evaluations
        gather whole batches from it instead of reading and transforming every example
        again; the batches are the same. ``False`` for a source too large for memory or a
        ``transform`` that is not the same function of an example every epoch.
      mesh_options: other meshes to try the train step on
        (:func:`seqjax.train.sharding.training_device_options` lists them where the rule cannot
        tell whether splitting the batch over host cores pays). On the first batch it trains,
        the trainer times its step on copies of the state on ``mesh`` and on each option
        (:meth:`choose_mesh`) and trains on the fastest: ``mesh`` unless an option's median
        step is :data:`MESH_MARGIN` faster. Each must split the batch as ``mesh`` does and have
        no ``model`` axis. :attr:`mesh_timings` records what was measured; a resumed run passes
        the count it trained on to :meth:`use_devices` instead of measuring again.
    """

    def __init__(self, model, tx, task: str, *, batch_size: int, seed: int, transform: Callable,
                 vocab_size: int | None = None, mesh=None, pad_batch: bool = False, loss: str = "default",
                 eval_mesh=None, cache: bool = True, mesh_options: Sequence = ()):
        from seqjax.train import sharding

        self.task, self.batch_size, self.seed, self.transform = task, batch_size, seed, transform
        self.vocab_sizes = {"inputs": vocab_size} if vocab_size else None
        self.cache = cache
        self._encoded: dict[int, tuple[Any, pipeline.EncodedExamples]] = {}  # id(source) -> (source, its rows)
        self._sharding = sharding
        self._model, self._tx, self._loss = model, tx, loss
        mesh = sharding.trainer_mesh(mesh) if mesh is not None else sharding.make_mesh()
        self.step_rows = sharding.check_batch_size(batch_size, mesh, pad_batch)
        self.mesh_options = tuple(self._checked_option(i, sharding.trainer_mesh(m))
                                  for i, m in enumerate(mesh_options))
        self.mesh_timings: dict[int, float] = {}
        self.eval_mesh = mesh if eval_mesh is None else sharding.trainer_mesh(eval_mesh)
        if self.step_rows % sharding.data_size(self.eval_mesh):
            raise ValueError(
                f"eval_mesh's data axis ({sharding.data_size(self.eval_mesh)} devices) must divide the step's "
                f"{self.step_rows} rows; pass a mesh over a divisor of it, or leave eval_mesh out to evaluate on mesh."
            )
        self._eval_step_fn = make_eval_step(model, task, loss)
        self._train_step = self._eval_step = None
        self.state_sharding = self.eval_state_sharding = None
        self.mesh = mesh

    def _checked_option(self, index: int, mesh):
        rows = self._sharding.check_batch_size(self.batch_size, mesh, True)  # the rows it would need
        if rows != self.step_rows or mesh.shape[self._sharding.MODEL] != 1:
            raise ValueError(
                f"mesh_options[{index}] ({mesh.devices.size} devices, model axis {mesh.shape[self._sharding.MODEL]}) "
                f"must split the batch into the same {self.step_rows} rows a step as mesh, with no model axis; "
                "drop it, or build the options with seqjax.train.sharding.training_device_options."
            )
        return mesh

    @property
    def mesh(self):
        """The mesh the train step runs on (``choose_mesh`` / ``use_devices`` may change it)."""
        return self._mesh

    @mesh.setter
    def mesh(self, mesh) -> None:
        self._mesh = mesh
        # decided once per mesh, not in step()'s loop
        self._wait_each_step = mesh.devices.size > 1 and mesh.devices.flat[0].platform == "cpu"

    def _jit_train_step(self, mesh, state: TrainState):
        """``(step, state_sharding)``: the train step jitted over ``mesh`` (one ``shard_map``
        program per device where the batch is split) and ``state``'s shardings there."""
        sharding = self._sharding
        per_device = mesh.shape[sharding.MODEL] == 1 and sharding.data_size(mesh) > 1
        train_step = make_train_step(self._model, self._tx, self.task, self._loss,
                                     data_axis=sharding.DATA if per_device else None)
        if per_device:
            train_step = shard_train_step(train_step, mesh)
        state_sharding = sharding.state_shardings(state, mesh)
        base_key = jax.random.key(self.seed)

        def step(state: TrainState, batch: dict):
            return train_step(state, batch, jax.random.fold_in(base_key, state.step))

        jitted = jax.jit(step, in_shardings=(state_sharding, sharding.batch_sharding(mesh)),
                         out_shardings=(state_sharding, sharding.NamedSharding(mesh, sharding.P())), donate_argnums=0)
        return jitted, state_sharding

    def place(self, state: TrainState) -> TrainState:
        """Puts ``state`` on the mesh and compiles the steps for its shardings."""
        self._train_step, self.state_sharding = self._jit_train_step(self.mesh, state)
        state = jax.device_put(state, self.state_sharding)
        self.eval_state_sharding = self._sharding.state_shardings(_without_optimizer(state), self.eval_mesh)
        self._eval_step = jax.jit(
            self._eval_step_fn, in_shardings=(self.eval_state_sharding, self._sharding.batch_sharding(self.eval_mesh)),
            out_shardings=self._sharding.NamedSharding(self.eval_mesh, self._sharding.P()))
        return state

    def choose_mesh(self, state: TrainState, batch: dict, *, rounds: int = 3, steps: int = 2) -> TrainState:
        """Times the train step on ``mesh`` and on each of ``mesh_options`` and keeps the fastest.

        Each candidate compiles its step and runs it on its own copy of ``state`` (read to the
        host once) and on ``batch`` (host arrays, as for :meth:`device_batch`): a first step,
        then ``rounds`` round-robin turns of ``steps`` timed steps, so a slow spell of a shared
        machine falls on every candidate alike. ``mesh`` stays unless an option's median step
        is :data:`MESH_MARGIN` faster. :attr:`mesh_timings` gets each candidate's median in ms
        by device count. Returns ``state``'s values placed on the chosen mesh (the probe steps
        change nothing of it); with no options, ``state`` as it is.
        """
        if not self.mesh_options:
            return state
        host_state = jax.device_get(state)  # each probe steps (and donates) a copy of its own
        meshes, runs = (self.mesh, *self.mesh_options), []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            for mesh in meshes:
                step, state_sharding = self._jit_train_step(mesh, host_state)
                probe, device_batch = [jax.device_put(host_state, state_sharding)], self._device_batch(batch, mesh)

                def once(step=step, probe=probe, device_batch=device_batch):
                    probe[0], metrics = step(probe[0], device_batch)
                    jax.block_until_ready(metrics)

                once()  # compiles
                runs.append((step, state_sharding, once, []))
            for _ in range(rounds):
                for _, _, once, spent in runs:
                    spent += time_calls(once, steps)
        medians = [statistics.median(spent) for *_, spent in runs]
        best = min(range(len(runs)), key=medians.__getitem__)
        chosen = best if medians[best] < (1 - MESH_MARGIN) * medians[0] else 0
        self.mesh_timings = {int(mesh.devices.size): round(1000 * m, 3) for mesh, m in zip(meshes, medians)}
        self.mesh, self.mesh_options = meshes[chosen], ()
        self._train_step, self.state_sharding = runs[chosen][:2]
        return jax.device_put(host_state, self.state_sharding)

    def use_devices(self, count: int, state: TrainState) -> TrainState:
        """Trains on the candidate mesh (``mesh`` or one of ``mesh_options``) with ``count``
        devices without timing them, as an earlier run of the same config measured; ``state``
        placed there. A count that is not among them (another machine) leaves the choice to
        :meth:`choose_mesh`."""
        for mesh in (self.mesh, *self.mesh_options):
            if int(mesh.devices.size) == int(count):
                self.mesh, self.mesh_options = mesh, ()
                return self.place(state)
        return state

    def device_batch(self, batch: dict, *, evaluation: bool = False) -> dict:
        """A host batch (``{"inputs", "label"[, "weight"]}`` NumPy arrays, this process's
        rows) padded to the step's shape and placed on the mesh (``eval_mesh`` for
        ``evaluation``)."""
        return self._device_batch(batch, self.eval_mesh if evaluation else self.mesh)

    def _device_batch(self, batch: dict, mesh) -> dict:
        local_rows = self.step_rows // jax.process_count()
        return self._sharding.global_batch(pad_batch(batch, local_rows), mesh)

    def step(self, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        """One compiled train step on a :meth:`device_batch` (``state`` from :meth:`place`).

        On several CPU devices it returns once the step has run: XLA:CPU's in-process
        all-reduce deadlocked (and aborted the process) when a loop queued some 40 steps
        without reading a result, and queued steps ran half as fast as waited-for ones
        (11.3 vs 5.5 ms on the SST LSTM; ``tests/test_host_parallel.py``).
        """
        if self._train_step is None:
            raise ValueError("Trainer.step needs a placed state: call state = trainer.place(state) first.")
        state, metrics = self._train_step(state, batch)
        if self._wait_each_step:
            jax.block_until_ready(metrics)
        return state, metrics

    def encoded(self, source) -> pipeline.EncodedExamples:
        """``source``'s examples through ``transform``, read once and then kept (``cache``)."""
        if id(source) not in self._encoded:  # the source is held with its rows, so its id stays its own
            self._encoded[id(source)] = (source, pipeline.EncodedExamples.from_source(source, self.transform))
        return self._encoded[id(source)][1]

    def _batches(self, source, *, epoch: int, shuffle: bool):
        transform = self.transform
        if self.cache:
            source, transform = self.encoded(source), None
        return pipeline.batches(
            source, batch_size=self.batch_size, seed=self.seed, epoch=epoch, shuffle=shuffle,
            transform=transform, vocab_sizes=self.vocab_sizes,
            process_index=jax.process_index(), process_count=jax.process_count(),
        )

    def train_epoch(self, state: TrainState, source, epoch: int, *, progress: bool = True,
                    description: str = "") -> tuple[TrainState, dict[str, float]]:
        """One epoch; returns the new state and ``{"loss", "accuracy" | "mae"}``."""
        from tqdm.auto import tqdm

        state = self.place(state) if self._train_step is None else jax.device_put(state, self.state_sharding)
        dataset = self._batches(source, epoch=epoch, shuffle=True)
        totals = None
        with warnings.catch_warnings():
            # CPU backends cannot reuse donated buffers; the donation still helps on GPU/TPU.
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            bar = tqdm(total=len(dataset), desc=description, disable=not progress, leave=True, dynamic_ncols=True)
            for index, batch in enumerate(dataset):
                state = self.choose_mesh(state, batch)
                state, metrics = self._train_step(state, self.device_batch(batch))
                totals = _summed(totals, metrics)
                bar.update(1)
                # One scalar read per step: it names the exact step that went wrong.
                loss = float(metrics["loss_sum"]) / max(float(metrics["count"]), 1.0)
                if not math.isfinite(loss):
                    bar.close()
                    raise NonFiniteLossError(
                        f"the training loss became {loss} at step {int(state.step)} "
                        f"(epoch {epoch + 1}, batch {index + 1} of {len(dataset)}). The last complete "
                        "checkpoint is kept. Lower optimizer.learning_rate or set optimizer.clip_norm."
                    )
                if index % 10 == 0 or index == len(dataset) - 1:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in _epoch_metrics(totals).items()})
            bar.close()
        return state, _epoch_metrics(totals)

    def evaluate(self, state: TrainState, source, *, prefix: str = "") -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """``(metrics, outputs, labels)`` over ``source`` in order, dropout off."""
        if self._eval_step is None:
            state = self.place(state)
        state = jax.device_put(_without_optimizer(state), self.eval_state_sharding)
        totals, outs, labels = None, [], []
        for batch in self._batches(source, epoch=0, shuffle=False):
            metrics, out, label, weight = self._eval_step(state, self.device_batch(batch, evaluation=True))
            totals = _summed(totals, metrics)
            real = np.asarray(weight) > 0
            outs.append(np.asarray(out)[real])
            labels.append(np.asarray(label)[real])
        return _epoch_metrics(totals, prefix), np.concatenate(outs), np.concatenate(labels)


def fit(
    trainer: Trainer,
    state: TrainState,
    train,
    validation,
    *,
    epochs: int,
    early_stopping: EarlyStopping | None = None,
    checkpoints: Checkpoints | None = None,
    meta: dict | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> tuple[TrainState, dict[str, list[float]], EarlyStopping | None]:
    """Trains from ``meta["epoch"]`` (0 for a fresh run) up to ``epochs``.

    Returns ``(state, history, early_stopping)``. With ``early_stopping.restore_best``
    the returned state is the best epoch's. ``meta`` carries what a checkpoint
    restored (epoch, history, early-stopping state) to resume a run.
    """
    meta = dict(meta or {})
    start = int(meta.get("epoch", 0))
    history: dict[str, list[float]] = {k: list(v) for k, v in meta.get("history", {}).items()}
    if early_stopping is not None and "early_stopping" in meta:
        early_stopping = dataclasses.replace(early_stopping, **meta["early_stopping"])
    best_state = None
    for epoch in range(start, epochs):
        state, logs = trainer.train_epoch(state, train, epoch, progress=progress,
                                          description=f"epoch {epoch + 1}/{epochs}")
        if validation is not None:
            val_logs, _, _ = trainer.evaluate(state, validation, prefix="val_")
            logs.update(val_logs)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        stop = False
        if early_stopping is not None:
            if early_stopping.monitor not in logs:
                raise ValueError(
                    f"early_stopping.monitor={early_stopping.monitor!r} is not recorded; "
                    f"choose one of {sorted(logs)} (validation metrics need data.validation)."
                )
            stop = early_stopping.update(epoch + 1, logs[early_stopping.monitor])
            if early_stopping.best_epoch == epoch + 1 and checkpoints is None:
                best_state = jax.device_get(state)
        if checkpoints is not None:
            record = {
                "epoch": epoch + 1,
                "history": history,
                "data_iterator": {"epoch": epoch + 1, "position": 0},
                "train_devices": int(trainer.mesh.devices.size),
                **({"early_stopping": _es_state(early_stopping)} if early_stopping is not None else {}),
            }
            monitor = checkpoints.monitor
            ranked = {monitor: logs.get(monitor, logs["loss"]), **logs}
            checkpoints.save(epoch + 1, state, {**meta, **record}, ranked)
        if on_epoch is not None:
            on_epoch(epoch + 1, logs)
        if stop:
            break
    if early_stopping is not None and early_stopping.restore_best and early_stopping.best_epoch:
        if checkpoints is not None:
            checkpoints.latest.wait_until_finished()
            checkpoints.best.wait_until_finished()
            restored = checkpoints.restore_best(state)
            if restored is not None:
                state = restored[0]
        elif best_state is not None:
            state = jax.device_put(best_state)
    return state, history, early_stopping


def _es_state(es: EarlyStopping) -> dict:
    return {"best": es.best, "best_epoch": es.best_epoch, "wait": es.wait}
