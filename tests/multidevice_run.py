"""Runs a small training in this process's devices and prints what the tests compare.

Started by tests/test_sharding.py with XLA_FLAGS=--xla_force_host_platform_device_count=N,
so the rest of the suite keeps one device.

    python tests/multidevice_run.py WORKDIR DATA_DIR EPOCHS BATCH_SIZE [pad] [model2] [host] [wide]

``wide``: an LSTM(72), wider than the host-core split's rule decides, so the trainer times
its step on one and on two devices first (seqjax.train.sharding.training_device_options).
``host`` runs the LSTM as XLA loops (``model.implementation="fused"``), whose batch the
trainer splits over the host cores, unless ``native`` asks for the compiled kernel
(seqjax.native_lstm), which keeps one device.
"""

import json
import sys

import jax
import ml_collections

from seqjax.train.experiment import train_and_evaluate
from seqjax.train.reproduce import load_config


def main(workdir, data_dir, epochs, batch_size, *flags):
    if "host" in flags:  # the scripts' start-up: host cores as CPU devices ($SEQJAX_CPU_DEVICES)
        from seqjax.train.sharding import use_host_cores

        use_host_cores()
    for flag in flags:
        if flag.startswith("process="):  # process=I/N@PORT: one of N processes on this machine
            index, rest = flag.split("=")[1].split("/")
            count, port = rest.split("@")
            from seqjax.train.sharding import initialize_distributed

            initialize_distributed(f"localhost:{port}", int(count), int(index))
    c = load_config("shapes_lstm")
    c.data.data_dir = data_dir
    c.data.options = ml_collections.ConfigDict({"num_train": 64, "num_test": 32})
    c.model.hidden_sizes = (72,) if "wide" in flags else (8,)
    c.model.dense = (8,)
    c.epochs, c.batch_size, c.progress = int(epochs), int(batch_size), False
    c.mesh.pad_batch = "pad" in flags
    if "host" in flags:
        c.model.implementation = "native" if "native" in flags else "fused"
    if "model2" in flags:
        c.mesh.model_axis = 2
    results = train_and_evaluate(c, workdir)
    if jax.process_index() != 0:
        print("RESULT " + json.dumps({"process": jax.process_index(), "accuracy": results["accuracy"]}))
        return
    lines = open(f"{workdir}/history.csv").read().splitlines()
    losses = [float(line.split(",")[1]) for line in lines[1:]]

    from seqjax.train import sharding

    mesh = sharding.make_mesh(c.mesh.model_axis)
    import numpy as np

    placed = sharding.global_batch({"inputs": np.zeros((c.batch_size + (-c.batch_size) % mesh.shape["data"], 55))}, mesh)
    print("RESULT " + json.dumps({
        "devices": jax.device_count(), "losses": losses, "mesh": results["mesh"],
        "shards": [list(s.data.shape) for s in placed["inputs"].addressable_shards],
        "accuracy": results["accuracy"], "processes": jax.process_count(),
        "mesh_timings_ms": results.get("mesh_timings_ms"),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
