"""Training throughput of a course-shaped model on this process's devices.

:func:`measure` times jitted, sharded train steps (the same :class:`Trainer`
path as real training) on synthetic token batches and reports examples per
second; :func:`measure_devices` repeats it in fresh processes with 1, 2, 4, ...
virtual CPU devices (``--xla_force_host_platform_device_count``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import jax
import numpy as np
import optax

from seqjax.models import build_model, sample_input
from seqjax.train.fit import Trainer
from seqjax.train.state import count_params, create_train_state


def measure(*, batch_size: int = 128, seq_len: int = 100, vocab: int = 10_000, embedding_dim: int = 32,
            hidden: int = 32, cell: str = "lstm", steps: int = 20, warmup: int = 3) -> dict[str, Any]:
    """Median step time and examples/s of Embedding -> RNN -> Dense(1) training."""
    model = build_model(dict(kind="rnn", vocab_size=vocab, embedding_dim=embedding_dim, cell=cell,
                             hidden_sizes=(hidden,), num_outputs=1))
    tx = optax.rmsprop(1e-3)
    state = create_train_state(model, tx, jax.random.key(0), sample_input(model, (seq_len,)))
    trainer = Trainer(model, tx, "binary", batch_size=batch_size, seed=0, transform=lambda x: x)
    state = trainer.place(state)
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.integers(1, vocab, (batch_size, seq_len)).astype(np.int32),
             "label": rng.integers(0, 2, batch_size).astype(np.int32)}
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        state, metrics = trainer.step(state, trainer.device_batch(batch))
        jax.block_until_ready(metrics)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "devices": jax.device_count(),
        "batch_size": batch_size,
        "seq_len": seq_len,
        "params": count_params(state.params),
        "gradient_bytes": 4 * count_params(state.params),
        "median_step_ms": round(1000 * median, 2),
        "min_step_ms": round(1000 * min(times), 2),
        "examples_per_s": round(batch_size / median, 1),
    }


def measure_devices(counts: list[int], **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`measure` in a fresh process per device count (virtual CPU devices)."""
    rows = []
    for n in counts:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
        code = f"import json; from seqjax.train.throughput import measure; print(json.dumps(measure(**{kwargs!r})))"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"measuring {n} devices failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows
