"""Data-parallel (and optional model-parallel) placement with JAX's own SPMD machinery.

The mesh spans every visible device: a ``data`` axis by default, plus an optional
``model`` axis. Each global batch is split over ``data``; parameters are
replicated, or, with a ``model`` axis, embedding tables are split by rows and
dense kernels by columns. ``jax.jit`` with these shardings does the rest
(gradients are all-reduced over ``data`` by XLA).

Several hosts: :func:`initialize_distributed` calls ``jax.distributed.initialize``;
each process then feeds its own slice of every global batch
(:func:`global_batch`).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA, MODEL = "data", "model"


def initialize_distributed(coordinator: str = "", num_processes: int = 0, process_id: int = -1) -> bool:
    """``jax.distributed.initialize`` from arguments or ``SEQJAX_COORDINATOR`` /
    ``SEQJAX_NUM_PROCESSES`` / ``SEQJAX_PROCESS_ID``. Returns whether it ran (it is
    skipped for a single process)."""
    coordinator = coordinator or os.environ.get("SEQJAX_COORDINATOR", "")
    num_processes = num_processes or int(os.environ.get("SEQJAX_NUM_PROCESSES", "0") or 0)
    process_id = process_id if process_id >= 0 else int(os.environ.get("SEQJAX_PROCESS_ID", "-1") or -1)
    if not coordinator or num_processes <= 1:
        return False
    if process_id < 0:
        raise ValueError("several processes need a process id: set SEQJAX_PROCESS_ID (0 .. num_processes - 1).")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts; GPUs/TPUs use their own
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    return True


# Measured in docs/BENCHMARKS.md (2 CPU cores, one process, the trainer's step on one
# device against two): XLA:CPU runs a recurrent scan on one thread, so one device per core
# with the batch split over them trained the small course models 1.4-1.9x faster (64-75
# rows per device) and LSTMs of hidden size <= 64 faster at every batch measured (up to
# 2,048 rows per device, 1.7-1.9x); at 32 rows per device it gained 15%, at 16 rows 7%
# (noise level). Above hidden size 64 the split paid while each device's share of the
# recurrent matmul stayed small, ``rows * hidden**2`` up to 2.4e6 (hidden 128: 1.12-1.35x
# at 32-128 rows; 192: 1.3-1.6x at 32-64 rows; 256: 1.02-1.06x at 32 rows), and lost
# beyond it, where XLA's matmuls already spread over the cores and the two devices' matmuls
# contend for them (hidden 256 at 48 and 64 rows: 0.83x and 0.78-0.87x; 192 at 128 rows
# 0.97x; 512 at 32 rows 0.85x; all with two devices, the most this machine has).
# That line is the machine's, not only the shapes': on a second machine (AMD EPYC, AVX2
# only) hidden 256 at 32 rows trained 0.83-0.88x split, where the first gave 1.02-1.06x. So
# above hidden size 64 the trainer times both before it trains (``training_device_options``,
# ``Trainer.choose_mesh``), the rule's choice first.
# Forward-only inference gained from the split at hidden size <= 64 (1.0-2.8x) and was
# mixed above it (hidden 256 at 32 rows 0.85x), so evaluation splits only there
# (``inference_devices``: no work allowance for wider layers).
HOST_PARALLEL_MAX_HIDDEN = 64
HOST_PARALLEL_MAX_WORK = 2_400_000
HOST_PARALLEL_MIN_ROWS = 32
CPU_DEVICES_ENV = "SEQJAX_CPU_DEVICES"


def use_host_cores(count: int | None = None) -> int:
    """Exposes the host's CPU cores as that many JAX CPU devices, so the trainer can
    split each batch over them (XLA:CPU runs a ``lax.scan`` on a single thread).

    Call it before JAX starts its backends (the scripts do, first thing). ``count``
    defaults to ``$SEQJAX_CPU_DEVICES`` or else the number of cores; ``1`` keeps a single
    CPU device. It changes nothing on GPU/TPU runs (their devices are the accelerators)
    and nothing once the backends are up. Returns the CPU device count in effect.
    """
    from jax._src import xla_bridge

    if count is None:
        env = os.environ.get(CPU_DEVICES_ENV, "")
        if env and (not env.isdigit() or int(env) < 1):
            raise ValueError(f"{CPU_DEVICES_ENV}={env!r} must be a positive integer (CPU devices to expose); "
                             "use 1 for a single device.")
        count = int(env) if env else (os.cpu_count() or 1)
    if count < 1:
        raise ValueError(f"count must be a positive number of CPU devices; got {count}.")
    if xla_bridge.backends_are_initialized():
        return len(jax.devices("cpu"))
    jax.config.update("jax_num_cpu_devices", count)
    return count


def training_devices(batch_size: int, hidden_sizes: Any = (), pad_batch: bool = False,
                     native_lstm: bool = False) -> list:
    """The devices the trainer's ``data`` axis spans by default.

    All of them, except on a single CPU host whose cores :func:`use_host_cores` made
    into devices (``jax_num_cpu_devices`` > 1): there, as many CPU devices as the split
    was measured to pay for (at least 32 rows of the batch per device, and every recurrent
    layer of hidden size <= 64 or with ``rows_per_device * hidden**2 <= 2.4e6``), else one,
    and no more than divide ``batch_size`` evenly (unless ``pad_batch``). With
    ``native_lstm`` (every recurrent layer runs :mod:`seqjax.native_lstm`,
    :func:`seqjax.models.runs_native_lstm`) one device: that kernel spreads a device's rows
    over the cores itself, and one device trained B's LSTM(32) 1.4x faster than two
    (docs/BENCHMARKS.md). Devices asked for otherwise (accelerators, several processes,
    ``--xla_force_host_platform_device_count``) are all used.
    """
    return _host_split(batch_size, hidden_sizes, pad_batch, HOST_PARALLEL_MAX_WORK, native_lstm)


def inference_devices(batch_size: int, hidden_sizes: Any = (), pad_batch: bool = False,
                      native_lstm: bool = False) -> list:
    """The devices forward-only evaluation spans by default: as :func:`training_devices`,
    but on a single CPU host the batch is split only while every recurrent layer has hidden
    size <= 64 (where the forward pass was measured to gain from it); one device with
    ``native_lstm`` (a jitted evaluation over several devices would run the kernel, which
    XLA cannot partition, on every device's copy of the whole batch)."""
    return _host_split(batch_size, hidden_sizes, pad_batch, 0, native_lstm)


def training_device_options(batch_size: int, hidden_sizes: Any = (), pad_batch: bool = False,
                            native_lstm: bool = False) -> list[list]:
    """The device lists to time the train step on before training, :func:`training_devices`'s
    choice first (:class:`~seqjax.train.fit.Trainer`'s ``mesh_options`` are the others).

    One list except on a single CPU host whose cores :func:`use_host_cores` made into devices,
    with a recurrent layer wider than ``HOST_PARALLEL_MAX_HIDDEN`` and a batch that several
    of them could split (32 rows a device or more, evenly unless ``pad_batch``): there whether
    the split pays depends on the machine, not only on the shapes. Hidden 256 at 32 rows a
    device trained 1.02-1.06x faster split on the machine the rule was drawn on and 0.88x
    (slower) on an AVX2 AMD EPYC (docs/BENCHMARKS.md), where the two devices' matmuls, each
    spread over XLA's intra-op pool, contend for the same two cores. Then the options are the
    rule's choice, one device and all the devices that can split the batch.
    """
    chosen = training_devices(batch_size, hidden_sizes, pad_batch, native_lstm)
    devices = jax.devices()
    wide = any(int(h) > HOST_PARALLEL_MAX_HIDDEN for h in hidden_sizes or ())
    if not _on_host_cores(devices) or not wide or native_lstm:
        return [chosen]
    splits = [n for n in range(2, _most_devices(batch_size, devices) + 1) if pad_batch or batch_size % n == 0]
    counts = [len(chosen)] + [n for n in (1, max(splits, default=1)) if n != len(chosen)]
    return [devices[:n] for n in dict.fromkeys(counts)]


def _on_host_cores(devices: list) -> bool:
    """A single process whose CPU cores are several JAX devices (:func:`use_host_cores`)."""
    return jax.process_count() == 1 and devices[0].platform == "cpu" and jax.config.jax_num_cpu_devices > 1


def _most_devices(batch_size: int, devices: list) -> int:
    """The most devices the batch can split over with ``HOST_PARALLEL_MIN_ROWS`` rows each."""
    return max(1, min(len(devices), batch_size // HOST_PARALLEL_MIN_ROWS))


def _host_split(batch_size: int, hidden_sizes: Any, pad_batch: bool, max_work: int, native_lstm: bool) -> list:
    devices = jax.devices()
    if not _on_host_cores(devices):
        return devices
    if native_lstm:
        return devices[:1]
    wide = [int(h) for h in hidden_sizes or () if int(h) > HOST_PARALLEL_MAX_HIDDEN]

    def pays(count: int) -> bool:
        rows = -(-batch_size // count)
        return all(rows * h * h <= max_work for h in wide) and (pad_batch or batch_size % count == 0)

    count = _most_devices(batch_size, devices)
    return devices[:max(n for n in range(1, count + 1) if n == 1 or pays(n))]


def make_mesh(model_axis: int = 1, devices: list | None = None) -> Mesh:
    """A ``(data, model)`` mesh over ``devices`` (all by default)."""
    devices = list(devices if devices is not None else jax.devices())
    if model_axis < 1 or len(devices) % model_axis:
        raise ValueError(
            f"mesh.model_axis={model_axis} must divide the {len(devices)} devices; "
            f"use one of {[d for d in range(1, len(devices) + 1) if len(devices) % d == 0]}."
        )
    grid = np.array(devices).reshape(len(devices) // model_axis, model_axis)
    return Mesh(grid, (DATA, MODEL))


def trainer_mesh(mesh: Mesh) -> Mesh:
    """``mesh`` checked for the ``(data, model)`` axes the trainer shards over, with every axis
    ``Auto``: the trainer pins its shardings at ``jit`` and lets XLA place the collectives. An
    ``Explicit`` axis (what ``jax.make_mesh`` builds by default) types every array by its
    sharding, which the model-parallel losses' gathers do not spell out."""
    if not isinstance(mesh, Mesh) or tuple(mesh.axis_names) != (DATA, MODEL):
        names = getattr(mesh, "axis_names", None)
        raise ValueError(
            f"mesh must be a jax.sharding.Mesh with axes ('{DATA}', '{MODEL}'); got {type(mesh).__name__} with "
            f"axes {names}. Build it with seqjax.train.sharding.make_mesh(model_axis, devices)."
        )
    auto = jax.sharding.AxisType.Auto
    if all(kind == auto for kind in getattr(mesh, "axis_types", (auto,) * len(mesh.axis_names))):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(auto,) * len(mesh.axis_names))


def data_size(mesh: Mesh) -> int:
    return mesh.shape[DATA]


def check_batch_size(batch_size: int, mesh: Mesh, pad: bool) -> int:
    """The per-step batch size: ``batch_size`` if it splits evenly over ``data``, else
    (with ``pad``) the next multiple, whose extra rows are masked out."""
    n = data_size(mesh)
    if batch_size % n == 0:
        return batch_size
    if pad:
        return -(-batch_size // n) * n
    below, above = batch_size - batch_size % n, batch_size - batch_size % n + n
    raise ValueError(
        f"batch_size={batch_size} does not split evenly over the {n} devices of the data axis; "
        f"use a multiple of {n} (e.g. {below or above} or {above}), or set mesh.pad_batch=True "
        "to pad each batch with masked rows."
    )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows over ``data``, everything else whole."""
    return NamedSharding(mesh, P(DATA))


def _param_spec(path: tuple, leaf: Any, model: int) -> P:
    if model == 1 or getattr(leaf, "ndim", 0) != 2:
        return P()
    name = jax.tree_util.keystr(path)
    rows, cols = leaf.shape
    if "embedding" in name and rows % model == 0:
        return P(MODEL, None)  # split the vocabulary
    if "kernel" in name and "Dense" in name and cols % model == 0:
        return P(None, MODEL)  # split the output units
    return P()


def state_shardings(state: Any, mesh: Mesh) -> Any:
    """Shardings for a :class:`~seqjax.train.state.TrainState`.

    Params follow :func:`_param_spec`; every part of the optimizer state shaped
    like the params (optax's moments) is sharded like them; the rest is replicated.
    """
    model = mesh.shape[MODEL]
    replicated = NamedSharding(mesh, P())

    def place(tree):
        return jax.tree_util.tree_map_with_path(lambda p, x: NamedSharding(mesh, _param_spec(p, x, model)), tree)

    params = place(state.params)
    params_def = jax.tree.structure(state.params)
    opt_state = jax.tree.map(
        lambda node: params if jax.tree.structure(node) == params_def else replicated,
        state.opt_state,
        is_leaf=lambda node: jax.tree.structure(node) == params_def,
    )
    return type(state)(replicated, params, place(state.frozen), opt_state)


def global_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Places a host batch on the mesh, rows split over ``data``.

    With one process ``batch`` is the whole global batch; with several, each
    process passes its own contiguous slice of rows and they are stitched into
    one global array.
    """
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(batch, sharding)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def describe(mesh: Mesh) -> dict[str, Any]:
    """The mesh for ``metrics.json``."""
    return {"axes": dict(mesh.shape), "devices": int(mesh.devices.size), "processes": jax.process_count(),
            "platform": jax.devices()[0].platform}
