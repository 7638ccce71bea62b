"""Training-step benchmark of seqjax against Flax linen and PyTorch, in one process.

Every framework trains the same model shape on the same synthetic batch, float32:
first step (trace + compile + run), median and minimum of the timed train steps,
forward-only inference, sequences per second, and each peer's time over seqjax's.
``scripts/bench.py`` is the entry point; results go to ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqjax._timing import time_calls


class BenchConfig(NamedTuple):
    name: str
    batch: int
    length: int
    vocab: int
    embed: int
    hidden: int
    outputs: int
    cell: str
    optimizer: str


CONFIGS = {
    "A": BenchConfig("imdb-lstm", 128, 500, 10_000, 32, 32, 1, "lstm", "rmsprop"),
    "B": BenchConfig("sst-lstm", 150, 55, 4_823, 32, 32, 2, "lstm", "adam"),
    "C": BenchConfig("big-lstm", 64, 200, 20_000, 128, 256, 2, "lstm", "adam"),
    "D": BenchConfig("imdb-gru", 128, 500, 10_000, 32, 32, 1, "gru", "rmsprop"),
}


class Timing(NamedTuple):
    """One framework's times; ``*_rounds_ms`` are the medians of each round-robin turn."""

    first_step_s: float
    median_ms: float
    min_ms: float
    infer_median_ms: float
    train_rounds_ms: tuple[float, ...] = ()
    infer_rounds_ms: tuple[float, ...] = ()


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def _summarize(first: float, train: list[float], infer: list[float],
               train_rounds: list[list[float]] = (), infer_rounds: list[list[float]] = ()) -> Timing:
    return Timing(round(first, 3), _ms(statistics.median(train)), _ms(min(train)), _ms(statistics.median(infer)),
                  tuple(_ms(statistics.median(r)) for r in train_rounds),
                  tuple(_ms(statistics.median(r)) for r in infer_rounds))


class Prepared(NamedTuple):
    """A framework ready to time: its first step already ran (trace + compile + run).
    ``info``: what the report records of its placement: ``devices`` / ``eval_devices``, the
    JAX devices its train step and forward pass run on, and the trainer's ``mesh_timings_ms``
    where it timed its candidates (empty for PyTorch)."""

    first_step_s: float
    train_once: Callable[[], None]
    infer_once: Callable[[], None]
    info: dict = {}


def _prepare(train_once: Callable[[], None], infer_once: Callable[[], None], first_once: Callable[[], None] | None = None,
             info: Callable[[], dict] = dict) -> Prepared:
    """Runs the first step (``first_once``, else ``train_once``) and one inference; ``info``
    is read after the first step (a trainer may choose its devices there)."""
    start = time.perf_counter()
    (first_once or train_once)()
    first = time.perf_counter() - start
    infer_once()
    return Prepared(first, train_once, infer_once, info())


SETTLE_S = 0.05
"""Seconds of quiet before each framework's turn. PyTorch's OpenMP worker (libgomp's default
wait policy) spins for about 15 ms after PyTorch's last operation: without the pause the
first two steps of the next turn ran beside it (SST LSTM, the seqjax step after a PyTorch
turn, medians by position in the turn: 10.97 and 6.78 ms, against 6.36 and 5.5 after a
50 ms pause; docs/BENCHMARKS.md)."""


def time_interleaved(prepared: dict[str, Prepared], steps: int, rounds: int = 5,
                     settle_s: float = SETTLE_S) -> dict[str, Timing]:
    """Times every prepared framework in ``rounds`` round-robin turns of ``steps / rounds``
    train steps (and as many inferences) each, so a slow spell of this shared machine
    falls on every row alike; medians over all of a row's steps, and each turn's median
    (:func:`round_ratios` compares rows turn by turn). Each turn starts after ``settle_s``
    seconds of quiet, so no framework's idle threads run into the next one's turn
    (:data:`SETTLE_S`)."""
    per_round = max(1, -(-steps // rounds))
    train: dict[str, list[list[float]]] = {name: [] for name in prepared}
    infer: dict[str, list[list[float]]] = {name: [] for name in prepared}
    for _ in range(rounds):
        for name, p in prepared.items():
            time.sleep(settle_s)
            train[name].append(time_calls(p.train_once, per_round))
            infer[name].append(time_calls(p.infer_once, per_round))
    flat = lambda turns: [t for turn in turns for t in turn]  # noqa: E731
    return {name: _summarize(p.first_step_s, flat(train[name]), flat(infer[name]), train[name], infer[name])
            for name, p in prepared.items()}


def round_ratios(peer_rounds_ms: tuple[float, ...], base_rounds_ms: tuple[float, ...]) -> list[float]:
    """``[lowest, highest]`` of a peer's turn medians over seqjax's in the same turns: how far
    the machine's noise moves the ratio within one run (empty without turns)."""
    ratios = [peer / base for peer, base in zip(peer_rounds_ms, base_rounds_ms) if base > 0]
    return [round(min(ratios), 2), round(max(ratios), 2)] if ratios else []


def synthetic_batch(cfg: BenchConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, cfg.vocab, (cfg.batch, cfg.length)).astype(np.int32)
    labels = rng.integers(0, max(cfg.outputs, 2), cfg.batch).astype(np.int32)
    return ids, labels


def _keras_optax(name: str) -> optax.GradientTransformation:
    if name == "rmsprop":
        return optax.rmsprop(1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=False)
    return optax.adam(1e-3, eps=1e-7)


def _loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    if logits.shape[-1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(jnp.float32)).mean()
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _data_parallel(grad_fn: Callable, mesh) -> Callable:
    """``grad_fn(params, x, y) -> (loss, grads)`` run per device on its rows of the
    batch, averaged once after the backward pass (the trainer's ``shard_map`` step)."""
    from jax.sharding import PartitionSpec as P

    from seqjax.train.sharding import DATA

    def local(params, x, y):
        return jax.lax.pmean(grad_fn(params, x, y), DATA)

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(DATA), P(DATA)), out_specs=P(), check_vma=False)


def _bench_jax_model(model, params, cfg: BenchConfig, ids, labels, mesh=None) -> Prepared:
    """The neutral train step (loss, ``value_and_grad``, optax update; jitted with the
    params donated) on one device, or data-parallel over ``mesh``."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    tx = _keras_optax(cfg.optimizer)
    opt_state = tx.init(params)

    def grad_fn(params, x, y):
        return jax.value_and_grad(lambda p: _loss(model.apply(p, x), y))(params)

    x, y = jnp.asarray(ids), jnp.asarray(labels)
    if mesh is not None and mesh.devices.size > 1:
        grad_fn = _data_parallel(grad_fn, mesh)
        params, opt_state = jax.device_put((params, opt_state), NamedSharding(mesh, P()))
        x, y = jax.device_put((x, y), NamedSharding(mesh, P("data")))

    def step(params, opt_state, x, y):
        loss, grads = grad_fn(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    infer = jax.jit(model.apply)
    state = [params, opt_state]

    def train_once():
        state[0], state[1], loss = step(state[0], state[1], x, y)
        jax.block_until_ready(loss)

    count = 1 if mesh is None else int(mesh.devices.size)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
        return _prepare(train_once, lambda: jax.block_until_ready(infer(state[0], x)),
                        info=lambda: {"devices": count, "eval_devices": count})


def _seqjax_model_config(cfg: BenchConfig, remat: bool | None = None, implementation: str | None = None) -> dict:
    """``config.model`` of the seqjax model of ``cfg``."""
    return dict(kind="rnn", vocab_size=cfg.vocab, embedding_dim=cfg.embed, cell=cfg.cell, hidden_sizes=(cfg.hidden,),
                num_outputs=cfg.outputs, remat=remat, implementation=implementation)


def _seqjax_model(cfg: BenchConfig, remat: bool | None = None, implementation: str | None = None):
    from seqjax.models import build_model

    return build_model(_seqjax_model_config(cfg, remat, implementation))


def training_mesh(cfg: BenchConfig, evaluation: bool = False, implementation: str | None = None):
    """The mesh seqjax's trainer picks for this config (``sharding.training_devices``, or
    ``sharding.inference_devices`` for its ``evaluation``)."""
    from seqjax.train import sharding

    pick = sharding.inference_devices if evaluation else sharding.training_devices
    return sharding.make_mesh(1, pick(cfg.batch, (cfg.hidden,), native_lstm=_runs_native(cfg, implementation)))


def _runs_native(cfg: BenchConfig, implementation: str | None = None) -> bool:
    """Whether the seqjax model of ``cfg`` runs :mod:`seqjax.native_lstm` (the trainer's device rule)."""
    from seqjax.models import runs_native_lstm

    return runs_native_lstm(_seqjax_model_config(cfg, implementation=implementation))


def bench_seqjax_trainer(cfg: BenchConfig, implementation: str | None = None) -> Prepared:
    """seqjax as its users train: the library's own train step (``make_train_step``,
    sharded by :class:`~seqjax.train.fit.Trainer` over the devices it picks, timing the
    candidates first where :func:`~seqjax.train.sharding.training_device_options` lists
    several; that choice is part of the first step), and the forward pass on the devices its
    evaluation picks; ``implementation="scan"`` for autodiff's backward instead of the fused LSTM."""
    from seqjax.train import sharding
    from seqjax.train.fit import Trainer
    from seqjax.train.state import create_train_state

    model = _seqjax_model(cfg, implementation=implementation)
    ids, labels = synthetic_batch(cfg)
    tx = _keras_optax(cfg.optimizer)
    task = "binary" if cfg.outputs == 1 else "multiclass"
    state = create_train_state(model, tx, jax.random.key(0), jnp.asarray(ids[:1]))
    options = [sharding.make_mesh(1, devices) for devices in sharding.training_device_options(
        cfg.batch, (cfg.hidden,), native_lstm=_runs_native(cfg, implementation))]
    trainer = Trainer(model, tx, task, batch_size=cfg.batch, seed=0, transform=lambda x: x, mesh=options[0],
                      eval_mesh=training_mesh(cfg, evaluation=True, implementation=implementation),
                      mesh_options=options[1:])
    holder = [trainer.place(state)]
    host_batch = {"inputs": ids, "label": labels}
    batch = [None]
    eval_inputs = trainer.device_batch(host_batch, evaluation=True)["inputs"]
    # a copy through the host: the train step donates (deletes) the state it is given
    eval_params = jax.device_put(jax.device_get(holder[0].params), trainer.eval_state_sharding.params)
    infer = jax.jit(lambda params, x: model.apply({"params": params}, x))

    def train_once():
        holder[0], metrics = trainer.step(holder[0], batch[0])
        jax.block_until_ready(metrics)

    def first_once():
        holder[0] = trainer.choose_mesh(holder[0], host_batch)
        batch[0] = trainer.device_batch(host_batch)
        train_once()

    def info() -> dict:
        timings = {"mesh_timings_ms": {str(k): v for k, v in trainer.mesh_timings.items()}} if trainer.mesh_timings else {}
        return {"devices": int(trainer.mesh.devices.size), "eval_devices": int(trainer.eval_mesh.devices.size), **timings}

    return _prepare(train_once, lambda: jax.block_until_ready(infer(eval_params, eval_inputs)), first_once, info)


def bench_seqjax(cfg: BenchConfig, remat: bool | None = None) -> Prepared:
    """The seqjax model on one device with the neutral step: ``sj.scan``'s own speed."""
    model = _seqjax_model(cfg, remat)
    ids, labels = synthetic_batch(cfg)
    params = model.init(jax.random.key(0), jnp.asarray(ids[:1]))
    return _bench_jax_model(model, params, cfg, ids, labels)


def bench_flax(cfg: BenchConfig, data_parallel: bool = False) -> Prepared:
    """Flax linen's ``nn.RNN`` over its optimized cells, with the neutral step on one
    device (as a Flax user writes it) or, for reference, the same data-parallel split
    as seqjax's trainer."""
    import flax.linen as nn

    class FlaxModel(nn.Module):
        @nn.compact
        def __call__(self, ids):
            x = nn.Embed(cfg.vocab, cfg.embed)(ids)
            cell = nn.OptimizedLSTMCell(cfg.hidden) if cfg.cell == "lstm" else nn.GRUCell(cfg.hidden)
            ys = nn.RNN(cell)(x)
            return nn.Dense(cfg.outputs)(ys[:, -1])

    model = FlaxModel()
    ids, labels = synthetic_batch(cfg)
    params = model.init(jax.random.key(0), jnp.asarray(ids[:1]))
    return _bench_jax_model(model, params, cfg, ids, labels, mesh=training_mesh(cfg, implementation="fused") if data_parallel else None)


def xla_implementation(cfg: BenchConfig) -> str | None:
    """The ``implementation`` that gives ``cfg``'s model seqjax's XLA path, as ``sj.scan``
    chose it without :mod:`seqjax.native_lstm`: the recomputing scan for long sequences of
    small LSTMs (``auto_remat``), :mod:`seqjax.fused_lstm` for other LSTMs, the default else."""
    from seqjax.recurrence import auto_remat

    if cfg.cell != "lstm":
        return None
    return "scan" if auto_remat(cfg.length, cfg.hidden) else "fused"


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bench_torch(cfg: BenchConfig) -> Prepared:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)

    class TorchModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(cfg.vocab, cfg.embed)
            rnn = torch.nn.LSTM if cfg.cell == "lstm" else torch.nn.GRU
            self.rnn = rnn(cfg.embed, cfg.hidden, batch_first=True)
            self.out = torch.nn.Linear(cfg.hidden, cfg.outputs)

        def forward(self, ids):
            ys, _ = self.rnn(self.embed(ids))
            return self.out(ys[:, -1])

    model = TorchModel()
    if cfg.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    ids, labels = synthetic_batch(cfg)
    x, y = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(labels.astype(np.int64))
    loss_fn = (lambda out, t: torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], t.float())) \
        if cfg.outputs == 1 else torch.nn.functional.cross_entropy

    def train_once():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def infer_once():
        with torch.no_grad():
            model(x)

    return _prepare(_flushing_denormals(train_once), _flushing_denormals(infer_once))


def _flushing_denormals(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` run with denormal floats flushed to zero, as XLA:CPU's compiled code always runs.

    PyTorch keeps denormals by default, and on an AVX-512 Intel Xeon its LSTM steps ran up to
    16x slower while the freshly initialised model's values passed through them (C: its first
    8 steps took 1.5-3.3 s, then 205-220 ms; docs/BENCHMARKS.md), which put whole timed turns
    of the bench in that phase.
    The mode is set per call and reset after, so NumPy and the other rows keep the default.
    """
    import torch

    def flushed() -> None:
        torch.set_flush_denormal(True)
        try:
            fn()
        finally:
            torch.set_flush_denormal(False)

    return flushed


def cpu_model() -> str:
    """The host CPU's model name and widest vector unit (``/proc/cpuinfo``; the platform's
    processor name elsewhere): which machine a run's numbers come from."""
    import platform

    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    vector = next((v for v in ("avx512f", "avx2", "avx", "sse4_2") if v in flags), "")
    return f"{name} ({vector})" if vector else name


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matmul rate through XLA (median of ``repeats``)."""
    a = jnp.ones((size, size), jnp.float32)
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, a))
    times = time_calls(lambda: jax.block_until_ready(dot(a, a)), repeats)
    return 2 * size**3 / statistics.median(times) / 1e9


def lstm_train_gflop(cfg: BenchConfig) -> float:
    """FLOPs of one training step's recurrent matmuls (forward x 3 for backward), in GFLOP."""
    gates = 4 if cfg.cell == "lstm" else 3
    forward = 2 * cfg.batch * (cfg.embed + cfg.hidden) * gates * cfg.hidden * cfg.length
    return 3 * forward / 1e9


FRAMEWORKS = ("seqjax", "seqjax_1dev", "flax", "flax_dp", "torch")
"""The default rows: seqjax's trainer step; the seqjax model on one device with the neutral
step (``sj.scan`` alone); Flax as a Flax user writes it; Flax with seqjax's data-parallel
split; PyTorch. ``seqjax_no_remat`` / ``seqjax_remat`` force ``remat`` on one device;
``seqjax_autodiff`` is the trainer's step with ``implementation="scan"`` (no fused LSTM);
``seqjax_xla`` the trainer's step with the LSTM as XLA loops (:func:`xla_implementation`:
no compiled :mod:`seqjax.native_lstm` kernel), on the devices the trainer picks for it."""


def run(configs: list[str], steps: int = 20, frameworks: tuple[str, ...] = FRAMEWORKS,
        matmul_size: int = 2048) -> dict:
    """Benchmarks ``configs`` (keys of :data:`CONFIGS`); returns a JSON-able report. The
    persistent compile cache is turned off for the process first, so "first step" is a compile."""
    from seqjax.train.compile_cache import disable_compile_cache

    disable_compile_cache()
    benches = {"seqjax": bench_seqjax_trainer, "seqjax_1dev": bench_seqjax,
               "seqjax_autodiff": lambda c: bench_seqjax_trainer(c, implementation="scan"),
               "seqjax_xla": lambda c: bench_seqjax_trainer(c, implementation=xla_implementation(c)),
               "seqjax_no_remat": lambda c: bench_seqjax(c, remat=False),
               "seqjax_remat": lambda c: bench_seqjax(c, remat=True),
               "flax": bench_flax, "flax_dp": lambda c: bench_flax(c, data_parallel=True),
               "torch": bench_torch}
    unknown = sorted(set(frameworks) - set(benches))
    if unknown:
        raise ValueError(f"unknown frameworks {unknown}; known: {sorted(benches)}.")
    if "torch" in frameworks and not torch_available():
        frameworks = tuple(f for f in frameworks if f != "torch")
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "platform": jax.devices()[0].platform,
                    "jax": jax.__version__, "matmul_gflops": round(matmul_gflops(matmul_size), 1)},
        "frameworks": list(frameworks),
        "steps": steps,
        "settle_s": SETTLE_S,
        "results": {},
    }
    if "torch" in frameworks:
        import torch

        report["machine"]["torch"] = torch.__version__
    import flax

    report["machine"]["flax"] = flax.__version__
    for key in configs:
        cfg = CONFIGS[key]
        prepared = {name: benches[name](cfg) for name in frameworks}
        timings = time_interleaved(prepared, steps)
        rows = {name: timing._asdict() for name, timing in timings.items()}
        base, base_infer = rows["seqjax"]["median_ms"], rows["seqjax"]["infer_median_ms"]
        for name, row in rows.items():
            row["seqs_per_s"] = round(cfg.batch / (row["median_ms"] / 1000), 1)
            row["time_over_seqjax"] = round(row["median_ms"] / base, 2)
            row["time_over_seqjax_rounds"] = round_ratios(row["train_rounds_ms"], rows["seqjax"]["train_rounds_ms"])
            row["infer_over_seqjax"] = round(row["infer_median_ms"] / base_infer, 2)
            row["infer_over_seqjax_rounds"] = round_ratios(row["infer_rounds_ms"], rows["seqjax"]["infer_rounds_ms"])
        for name, row in rows.items():
            row.update(prepared[name].info)
        entry = {"config": cfg._asdict(), "frameworks": rows}
        if cfg.name == "big-lstm":
            achieved = lstm_train_gflop(cfg) / (base / 1000)
            # three significant figures, not decimals: a tiny shape's rate must not round to zero
            entry["seqjax_gflops"] = float(f"{achieved:.3g}")
            entry["fraction_of_matmul_rate"] = float(f"{achieved / report['machine']['matmul_gflops']:.3g}")
        report["results"][key] = entry
    return report


def format_table(report: dict) -> str:
    """Markdown table of a :func:`run` report. The ratio columns are a row's median over
    seqjax's, with the lowest and highest turn-by-turn ratio in brackets."""
    lines = ["| config | framework | first step (s) | train median (ms) | train min (ms) | inference (ms) | "
             "seqs/s | train time / seqjax | inference time / seqjax |", "|---|---|---|---|---|---|---|---|---|"]
    for key, entry in report["results"].items():
        for name, row in entry["frameworks"].items():
            if name in ("seqjax", "flax_dp") and "devices" in row:
                train, infer = row["devices"], row.get("eval_devices")
                inference = f", inference {infer}" if infer not in (None, train) else ""
                name = f"{name} ({train} dev{inference})"
            lines.append(f"| {key} {entry['config']['name']} | {name} | {row['first_step_s']} | {row['median_ms']} | "
                         f"{row['min_ms']} | {row['infer_median_ms']} | {row['seqs_per_s']} | "
                         f"{_ratio_cell(row, 'time_over_seqjax')} | {_ratio_cell(row, 'infer_over_seqjax')} |")
    return "\n".join(lines)


def _ratio_cell(row: dict, key: str) -> str:
    spread = row.get(f"{key}_rounds") or []
    return f"{row[key]} [{spread[0]}-{spread[1]}]" if spread else str(row[key])


# --- long sequences: parallel-scan cells and remat ------------------------------------------


def _sequence_step(cell, params, xs, **scan_kwargs):
    """A jitted ``(loss, grads)`` of ``mean(ys ** 2)`` over ``xs [T, B, F]``, and the forward alone."""
    from seqjax.recurrence import scan

    def loss(p):
        return jnp.mean(scan(cell, p, xs, **scan_kwargs)[1] ** 2)

    return jax.jit(jax.value_and_grad(loss)), jax.jit(lambda p: scan(cell, p, xs, **scan_kwargs)[1])


def _peak_temp_mib(fn, *args) -> float | None:
    """XLA's temporary buffer size for ``fn(*args)``: the activation memory a step needs."""
    analysis = fn.lower(*args).compile().memory_analysis()
    size = getattr(analysis, "temp_size_in_bytes", None)
    return None if size is None else round(size / 2**20, 1)


def bench_long_sequences(length: int = 4096, batch: int = 16, features: int = 32, hidden: int = 64,
                         steps: int = 10) -> dict:
    """Train step (forward + backward) and forward time over one long sequence batch:
    the GRU on ``lax.scan`` against minGRU and minLSTM as a parallel ``lax.associative_scan``
    and, for reference, minGRU stepped sequentially. Each row also gives XLA's temporary memory."""
    from seqjax import cells

    xs = jax.random.normal(jax.random.key(0), (length, batch, features))
    rows = {}
    variants = {
        "gru (lax.scan)": (cells.gru(hidden), {}),
        "min_gru (associative scan)": (cells.min_gru(hidden), {"parallel": True}),
        "min_gru (step by step)": (cells.min_gru(hidden), {"parallel": False}),
        "min_lstm (associative scan)": (cells.min_lstm(hidden), {"parallel": True}),
    }
    for name, (cell, kwargs) in variants.items():
        params = cell.init(jax.random.key(1), features)
        grad_fn, fwd_fn = _sequence_step(cell, params, xs, **kwargs)
        start = time.perf_counter()
        jax.block_until_ready(grad_fn(params))
        first = time.perf_counter() - start
        train = time_calls(lambda: jax.block_until_ready(grad_fn(params)), steps)
        jax.block_until_ready(fwd_fn(params))
        infer = time_calls(lambda: jax.block_until_ready(fwd_fn(params)), steps)
        timing = _summarize(first, train, infer)._asdict()
        rows[name] = {**{k: timing[k] for k in ("first_step_s", "median_ms", "min_ms", "infer_median_ms")},
                      "temp_mib": _peak_temp_mib(grad_fn, params)}
    base = rows["gru (lax.scan)"]["median_ms"]
    for row in rows.values():
        row["time_over_gru"] = round(row["median_ms"] / base, 3)
    return {"shape": {"length": length, "batch": batch, "features": features, "hidden": hidden}, "rows": rows}


def bench_remat_memory(length: int = 10_000, batch: int = 16, features: int = 32, hidden: int = 64,
                       steps: int = 5) -> dict:
    """A GRU and an LSTM train step over ``length`` steps with and without ``remat`` (on the
    plain ``lax.scan``; for the LSTM also the fused backward and, where it is built, the
    compiled kernel, ``sj.scan``'s default without ``remat`` on the CPU): XLA's temporary
    memory (what grows with the sequence; the kernel's outputs and residual are XLA buffers
    too, its own scratch is ``O(B (I + H))``) next to the step time."""
    from seqjax import cells

    xs = jax.random.normal(jax.random.key(0), (length, batch, features))
    rows = {}
    for cell_name in ("gru", "lstm"):
        cell = getattr(cells, cell_name)(hidden)
        params = cell.init(jax.random.key(1), features)
        variants = {f"{cell_name} remat={remat}": {"remat": remat, "implementation": "scan"} for remat in (False, True)}
        if cell_name == "lstm":
            variants["lstm fused"] = {"implementation": "fused"}
            from seqjax import native_lstm

            if native_lstm.available():
                variants["lstm native"] = {"implementation": "native"}
        for name, kwargs in variants.items():
            grad_fn, _ = _sequence_step(cell, params, xs, **kwargs)
            jax.block_until_ready(grad_fn(params))
            times = time_calls(lambda: jax.block_until_ready(grad_fn(params)), steps)
            rows[name] = {"median_ms": round(1000 * statistics.median(times), 1),
                          "temp_mib": _peak_temp_mib(grad_fn, params)}
    return {"shape": {"length": length, "batch": batch, "features": features, "hidden": hidden}, "rows": rows}


def format_rows(title: str, report: dict) -> str:
    """Markdown table of :func:`bench_long_sequences` / :func:`bench_remat_memory` rows."""
    columns = list(next(iter(report["rows"].values())))
    lines = [f"{title} ({', '.join(f'{k} {v}' for k, v in report['shape'].items())})", "",
             "| variant | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)
