"""The trainer's measured choice of devices where the host-core split's rule cannot tell.

Each case runs in a subprocess with two CPU devices (the count is fixed when JAX starts).
"""

import json

import numpy as np
import pytest

from test_host_parallel import TOY_SOURCE_CODE, python, run_training

OPTIONS_CODE = """
import json
from seqjax.train.sharding import training_device_options, training_devices, use_host_cores
use_host_cores()
cases = {"small": (128, (32,), False), "big_lstm": (64, (256,), False), "h256_64_rows": (128, (256,), False),
         "h512": (64, (512,), False), "mixed": (64, (32, 512), False), "few_rows": (20, (256,), False),
         "odd": (65, (256,), False), "odd_padded": (65, (256,), True), "no_rnn": (128, (), False)}
out = {}
for name, args in cases.items():
    options = training_device_options(*args)
    assert options[0] == training_devices(*args), name  # the rule's choice comes first
    out[name] = [len(devices) for devices in options]
from seqjax.train.experiment import _mesh_options
from seqjax.train.reproduce import load_config
config = load_config("shapes_lstm")
config.model.hidden_sizes, config.batch_size = (72,), 64
config.model.implementation = "fused"  # XLA's loops: the compiled LSTM kernel keeps one device
out["config_timed"] = [int(m.devices.size) for m in _mesh_options(config)]
config.mesh.time_devices = False  # the rule's choice, untimed
out["config_untimed"] = [int(m.devices.size) for m in _mesh_options(config)]
print(json.dumps(out))
"""


@pytest.mark.parametrize("cpu_devices", ["1", "2"])
def test_device_options_are_timed_only_for_wide_layers_that_could_split(cpu_devices):
    done = python(OPTIONS_CODE, cpu_devices)
    assert done.returncode == 0, done.stderr[-2000:]
    options = json.loads(done.stdout.splitlines()[-1])
    if cpu_devices == "1":
        assert options.pop("config_timed") == options.pop("config_untimed") == []
        assert {tuple(v) for v in options.values()} == {(1,)}
        return
    assert options == {"small": [2], "big_lstm": [2, 1], "h256_64_rows": [1, 2], "h512": [1, 2], "mixed": [1, 2],
                       "few_rows": [1], "odd": [1], "odd_padded": [2, 1], "no_rnn": [2],
                       # a run's config: the options besides the rule's mesh, none with mesh.time_devices=False
                       "config_timed": [1], "config_untimed": []}


CHOOSE_CODE = TOY_SOURCE_CODE.format(vocab=300, hidden=72, classes=2, length=12, count=192) + """
two, one = make_mesh(1, jax.devices()), make_mesh(1, jax.devices()[:1])
tx = optax.adam(1e-2)
fresh = lambda: create_train_state(model, tx, jax.random.key(0), jnp.zeros((1, 12), jnp.int32))
trainer = Trainer(model, tx, "multiclass", batch_size=64, seed=0, transform=lambda x: x, mesh=two, mesh_options=[one])
state = trainer.place(fresh())
before = jax.device_get(state)
first = {"inputs": np.stack([e["inputs"] for e in examples[:64]]), "label": np.array([e["label"] for e in examples[:64]])}
chosen = trainer.choose_mesh(state, first)
after = jax.device_get(chosen)
same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))
count = int(trainer.mesh.devices.size)
_, measured = trainer.train_epoch(chosen, source, 0, progress=False)
# a trainer fixed on the chosen devices from the start trains the same: the probes changed nothing
fixed = Trainer(model, tx, "multiclass", batch_size=64, seed=0, transform=lambda x: x, mesh=two if count == 2 else one)
_, plain = fixed.train_epoch(fresh(), source, 0, progress=False)
resumed = Trainer(model, tx, "multiclass", batch_size=64, seed=0, transform=lambda x: x, mesh=two, mesh_options=[one])
placed = resumed.use_devices(1, resumed.place(fresh()))
unknown = Trainer(model, tx, "multiclass", batch_size=64, seed=0, transform=lambda x: x, mesh=two, mesh_options=[one])
unknown.use_devices(7, unknown.place(fresh()))
errors = []
for options, batch in (([make_mesh(2)], 64), ([two], 63)):
    try:
        Trainer(model, tx, "multiclass", batch_size=batch, seed=0, transform=lambda x: x, mesh=one, mesh_options=options)
    except ValueError as err:
        errors.append(str(err))
print(json.dumps({"timings": {str(k): v for k, v in trainer.mesh_timings.items()}, "count": count,
                  "options_left": len(trainer.mesh_options), "state_unchanged": same, "step": int(after.step),
                  "margin": MESH_MARGIN, "measured": measured, "plain": plain,
                  "resumed": [int(resumed.mesh.devices.size), len(resumed.mesh_options),
                              len(placed.params["Dense_0"]["kernel"].sharding.device_set)],
                  "unknown": [int(unknown.mesh.devices.size), len(unknown.mesh_options)], "errors": errors}))
"""


def test_the_trainer_times_its_step_on_each_mesh_and_trains_on_the_fastest():
    done = python(CHOOSE_CODE, "2")
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(done.stdout.splitlines()[-1])
    timings = res["timings"]
    assert set(timings) == {"1", "2"} and all(t > 0 for t in timings.values())
    # the rule's mesh (two devices) stays unless one device is MESH_MARGIN faster
    expected = 1 if timings["1"] < (1 - res["margin"]) * timings["2"] else 2
    assert res["count"] == expected and res["options_left"] == 0
    # the probe steps ran on copies: the state handed back is the one given, still at step 0
    assert res["state_unchanged"] and res["step"] == 0
    np.testing.assert_allclose(res["measured"]["loss"], res["plain"]["loss"], rtol=1e-6)
    assert res["measured"]["accuracy"] == res["plain"]["accuracy"]
    # a resumed run takes the count it measured before, without timing again; a count that is
    # not a candidate (another machine) leaves the choice to the measurement
    assert res["resumed"] == [1, 0, 1]
    assert res["unknown"] == [2, 1]
    assert len(res["errors"]) == 2
    assert "mesh_options[0] (2 devices, model axis 2) must split the batch into the same 64 rows" in res["errors"][0]
    assert "mesh_options[0] (2 devices, model axis 1) must split the batch into the same 63 rows" in res["errors"][1]


def test_a_run_records_the_measured_devices_and_resumes_on_them(tmp_path, data_dir):
    first = run_training(tmp_path / "run", data_dir, "2", epochs=1, flags=("host", "wide"))
    timings = first["mesh_timings_ms"]
    assert set(timings) == {"1", "2"}
    again = run_training(tmp_path / "run", data_dir, "2", epochs=2, flags=("host", "wide"))
    # the second epoch resumed on the devices the first run measured, without measuring again
    assert again["mesh_timings_ms"] is None
    assert again["mesh"]["devices"] == first["mesh"]["devices"]
    assert len(again["losses"]) == 2 and again["losses"][0] == first["losses"][0]

