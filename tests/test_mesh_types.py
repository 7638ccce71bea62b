"""``sj.scan`` on a mesh: inside the user's own ``jax.shard_map`` (JAX's default
``check_vma=True``) and under an explicit-sharding mesh (``jax.set_mesh``, ``jax.make_mesh``'s
default axis type).

In both, the zero initial carry is typed differently from the carry a step returns (not
varying over the mesh / replicated, where the step's is varying / split like the batch), and
``lax.scan`` refused every cell ("carry input and carry output must have equal types") until
``sj.scan`` typed the carry like the inputs (``seqjax._mesh_types``). Each case runs in a
subprocess with two CPU devices, since the device count is fixed when JAX starts.
"""

import json

import pytest

from conftest import ROOT
from test_host_parallel import python

SEQ2SEQ_CASES = r"""# The encoder-decoder: teacher forcing (differentiated), greedy and beam-search decoding.
from seqjax.attention import additive
from seqjax.seq2seq import seq2seq
s2s = seq2seq(sj.cells.gru(H), source_vocab=V, target_vocab=V, embedding_dim=4, attention=additive(H))
s2s_args = (ids.T, jnp.maximum(lengths, 1), ids.T[:, :4])
compare("seq2seq/teacher", lambda p, s, l, t: jnp.sum(s2s.teacher_forcing(p, s, l, t)[0] ** 2), s2s.init(key),
        s2s_args, (P("data"),) * 3)
compare("seq2seq/greedy", lambda p, s, l, t: jnp.sum(s2s.greedy(p, s, l, 5)[0]).astype(jnp.float32), s2s.init(key),
        s2s_args, (P("data"),) * 3)
compare("seq2seq/beam", lambda p, s, l, t: jnp.sum(s2s.beam_search(p, s, l, 5, 3)[1]), s2s.init(key),
        s2s_args, (P("data"),) * 3)
"""  # pasted into both programs below, which define compare()

CHECK_CODE = r"""
import json
from seqjax.train.sharding import use_host_cores
use_host_cores()
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
import seqjax as sj
from seqjax.models import build_model

mesh = jax.make_mesh((2,), ("data",))
T, B, I, H = 6, 8, 3, 5
key = jax.random.key(0)
xs = jax.random.normal(jax.random.key(1), (T, B, I))
lengths = jnp.array([6, 3, 1, 6, 0, 2, 5, 4])
split = lambda a, axis: jax.device_put(a, NamedSharding(mesh, P(*([None] * axis + ["data"]))))
errors, failures, wholes = {}, {}, {}

def compare(name, loss, params, args, specs, same_as=None):
    # same_as: a case computing the same function on one device, whose result is reused
    if name.startswith("seq2seq/") != (PART == "seq2seq"):
        return  # the other part's case (each part runs in its own process, so the two run at once)
    # The loss sums over this device's rows and over the devices; the gradient of the
    # replicated params comes out summed over the devices (the cast's transpose).
    def local(params, *args):
        return jax.value_and_grad(lambda p: jax.lax.psum(loss(p, *args), "data"))(params)
    try:
        sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(),) + specs, out_specs=P()))(
            params, *(split(a, s.index("data")) for a, s in zip(args, specs)))
    except Exception as err:
        failures[name] = str(err).splitlines()[0][:300]
        return
    key = same_as or name
    whole = wholes[key] = wholes[key] if key in wholes else jax.jit(jax.value_and_grad(loss))(params, *args)
    errors[name] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))  # NumPy: no eager XLA ops to compile
                       for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(whole)))

cells = {"lstm": sj.cells.lstm(H), "gru": sj.cells.gru(H), "elman": sj.cells.elman(H), "min_gru": sj.cells.min_gru(H)}
# The LSTM's fused, plain and remat loops; the other cells' default loop (remat for none of them
# at T = 6); each plain, and masked and reversed.
choices = {"lstm": [(None, None), ("fused", None), ("scan", None), ("scan", True)]}
for cname, cell in cells.items():
    params = cell.init(key, I)
    for impl, remat in choices.get(cname, [(None, None)]):
        for masked, reverse in ((False, False), (True, True)):
            def loss(p, xs, lengths, impl=impl, remat=remat, masked=masked, reverse=reverse, cell=cell):
                carry, ys = sj.scan(cell, p, xs, lengths=lengths if masked else None, reverse=reverse,
                                    implementation=impl, remat=remat)
                return jnp.sum(ys ** 2) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(carry))
            # every LSTM loop is checked against the first's one-device result
            compare(f"{cname}/{impl}/{remat}/{masked}/{reverse}", loss, params, (xs, lengths),
                    (P(None, "data"), P("data")), same_as=f"{cname}/{masked}/{reverse}")

# The token path (the projected table) and a whole Flax classifier.
V = 11
ids = jax.random.randint(jax.random.key(2), (T, B), 0, V)
table = jax.random.normal(jax.random.key(3), (V, I))
for cname in ("lstm", "gru"):
    cell = cells[cname]
    params = {"cell": cell.init(key, I), "table": table}
    def loss(p, ids, cell=cell):
        return jnp.sum(sj.scan_tokens(cell, p["cell"], p["table"], ids, project_table=True)[1] ** 2)
    compare(f"scan_tokens/{cname}", loss, params, (ids,), (P(None, "data"),))
model = build_model(dict(kind="rnn", vocab_size=V, embedding_dim=4, cell="lstm", hidden_sizes=(H, H),
                         num_outputs=2, bidirectional=True))
variables = model.init(key, ids.T)
compare("classifier", lambda v, x: jnp.sum(model.apply(v, x) ** 2), variables, (ids.T,), (P("data"),))

# {seq2seq cases}

# Where the weights' gradient is summed: once after the loop, not once per step inside it
# (an all-reduce per step made a two-device step 1.5x slower than one device).
import re
in_loops = {}
counted = (("gru", None, None), ("lstm", "scan", True), ("lstm", "fused", None)) if PART == "cells" else ()
for name, impl, remat in counted:
    cell = cells[name]
    def grads(p, xs, cell=cell, impl=impl, remat=remat):
        return jax.grad(lambda p: jnp.sum(sj.scan(cell, p, xs, implementation=impl, remat=remat)[1] ** 2))(p)
    step = jax.jit(jax.shard_map(grads, mesh=mesh, in_specs=(P(), P(None, "data")), out_specs=P()))
    hlo = step.lower(cell.init(key, I), split(xs, 1)).compile().as_text()
    bodies = set(re.findall(r"body=%([\w.\-]+)", hlo))
    in_loops[f"{name}/{impl}/{remat}"] = [hlo.count("all-reduce("), sum(
        part.count("all-reduce(") for part in hlo.split("\n\n") if part.split(" ")[0].lstrip("%") in bodies)]
print(json.dumps({"errors": errors, "failures": failures, "all_reduces": in_loops}))
"""
CHECK_CODE = CHECK_CODE.replace("# {seq2seq cases}", SEQ2SEQ_CASES)


PARTS = ("cells", "seq2seq")  # the cells, the token path and a classifier; the encoder-decoder


def run_matching(code: str, part: str, cases: int) -> dict:
    """Runs ``code``'s cases of ``part`` (:data:`PARTS`) on two CPU devices; every one of its
    ``cases`` ran and matched one device."""
    done = python(f"PART = {part!r}\n" + code, "2")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["failures"] == {}
    errors = result["errors"]
    assert len(errors) == cases, sorted(errors)
    assert max(errors.values()) < 1e-4, {k: v for k, v in errors.items() if v >= 1e-4}
    return result


@pytest.mark.parametrize("part", PARTS)
def test_scan_in_users_shard_map_matches_one_device(part):
    # cells: the lstm's 4 implementation / remat choices, the other cells 1, each plain and
    # masked-reversed; two token paths; one model. seq2seq: teacher forcing, greedy, beam search
    result = run_matching(CHECK_CODE, part, cases={"cells": 4 * 2 + 3 * 2 + 2 + 1, "seq2seq": 3}[part])
    # [all-reduces in the program, of them inside a loop body]
    if part == "cells":
        assert len(result["all_reduces"]) == 3
        assert all(total >= 1 and in_loop == 0 for total, in_loop in result["all_reduces"].values()), \
            result["all_reduces"]


EXPLICIT_CODE = r"""
import json
from seqjax.train.sharding import use_host_cores
use_host_cores()
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
import seqjax as sj
from seqjax.models import build_model

mesh = jax.make_mesh((2,), ("data",))  # Explicit axes: jax.make_mesh's default
T, B, I, H, V = 6, 8, 3, 5, 11
key = jax.random.key(0)
xs = jax.random.normal(jax.random.key(1), (T, B, I))
lengths = jnp.array([6, 3, 1, 6, 0, 2, 5, 4])
ids = jax.random.randint(jax.random.key(2), (T, B), 0, V)
table = jax.random.normal(jax.random.key(3), (V, I))
errors, failures, split_outputs, wholes = {}, {}, {}, {}

def compare(name, fn, params, args, specs, same_as=None):
    # same_as: a case computing the same function on one device, whose result is reused
    if name.startswith("seq2seq/") != (PART == "seq2seq"):
        return  # the other part's case
    key = same_as or name
    whole = wholes[key] = wholes[key] if key in wholes else jax.jit(jax.value_and_grad(fn))(params, *args)
    try:
        with jax.set_mesh(mesh):
            placed = [jax.device_put(a, NamedSharding(mesh, s)) for a, s in zip(args, specs)]
            sharded = jax.jit(jax.value_and_grad(fn))(params, *placed)
    except Exception as err:
        failures[name] = str(err).splitlines()[0][:300]
        return
    errors[name] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))  # NumPy: no eager XLA ops to compile
                       for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(whole)))

cells = {"lstm": sj.cells.lstm(H), "gru": sj.cells.gru(H), "elman": sj.cells.elman(H)}
for cname, cell in cells.items():
    params = cell.init(key, I)
    for impl in ([None, "scan"] if cname == "lstm" else [None]):
        for masked, reverse in ((False, False), (True, True)):  # plain; masked and reversed
            def loss(p, xs, lengths, cell=cell, impl=impl, masked=masked, reverse=reverse):
                carry, ys = sj.scan(cell, p, xs, lengths=lengths if masked else None, reverse=reverse,
                                    implementation=impl)
                return jnp.sum(ys ** 2) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(carry))
            compare(f"{cname}/{impl}/{masked}/{reverse}", loss, params, (xs, lengths),
                    (P(None, "data"), P("data")), same_as=f"{cname}/{masked}/{reverse}")
for cname in ("lstm", "gru"):
    cell = cells[cname]
    def loss(p, ids, cell=cell):
        return jnp.sum(sj.scan_tokens(cell, p["cell"], p["table"], ids, project_table=True)[1] ** 2)
    compare(f"scan_tokens/{cname}", loss, {"cell": cell.init(key, I), "table": table}, (ids,), (P(None, "data"),))
model = build_model(dict(kind="rnn", vocab_size=V, embedding_dim=4, cell="lstm", hidden_sizes=(H,), num_outputs=2,
                         bidirectional=True, mask_zero=True))
compare("classifier", lambda v, x: jnp.sum(model.apply(v, x) ** 2), model.init(key, ids.T), (ids.T,), (P("data"),))

# {seq2seq cases}

fused_error = ""
if PART == "cells":
    with jax.set_mesh(mesh):
        placed = jax.device_put(xs, NamedSharding(mesh, P(None, "data")))
        carry, ys = jax.jit(lambda p, xs: sj.scan(cells["lstm"], p, xs))(cells["lstm"].init(key, I), placed)
        split_outputs = {"ys": list(ys.sharding.spec), "h": list(carry.h.sharding.spec)}
        try:
            sj.scan(cells["lstm"], cells["lstm"].init(key, I), placed, implementation="fused")
        except ValueError as err:
            fused_error = str(err)
print(json.dumps({"errors": errors, "failures": failures, "split": split_outputs, "fused_error": fused_error}))
"""
EXPLICIT_CODE = EXPLICIT_CODE.replace("# {seq2seq cases}", SEQ2SEQ_CASES)


@pytest.mark.parametrize("part", PARTS)
def test_scan_under_an_explicit_sharding_mesh_matches_one_device(part):
    # cells: lstm (default, scan) and two other cells, each plain and masked-reversed; tokens;
    # model. seq2seq: teacher forcing, greedy, beam search
    result = run_matching(EXPLICIT_CODE, part, cases={"cells": 2 * 2 + 2 * 2 + 2 + 1, "seq2seq": 3}[part])
    if part == "seq2seq":
        assert result["split"] == {} and result["fused_error"] == ""  # checked once, in the cells part
        return
    # outputs and final carry stay split like the batch
    assert result["split"] == {"ys": [None, "data", None], "h": ["data", None]}
    # the fused LSTM, asked for by name, is refused with what to do instead
    assert "explicit-sharding mesh" in result["fused_error"] and "implementation=None" in result["fused_error"]


def test_the_scaling_docs_shard_map_example_runs_on_two_devices():
    text = (ROOT / "docs" / "SCALING.md").read_text()
    code = text.split("```python", 1)[1].split("```", 1)[0]
    code = "\n".join(line[2:] for line in code.splitlines())  # the block sits in a list item
    done = python(code, "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kernel=(16, 128), recurrent_kernel=(32, 128), bias=(128,)" in done.stdout


TRAINER_CODE = r"""
import json
from seqjax.train.sharding import use_host_cores, make_mesh
use_host_cores()
import jax, jax.numpy as jnp, numpy as np, optax
from seqjax.models import build_model
from seqjax.train.fit import Trainer
from seqjax.train.state import create_train_state

model = build_model(dict(kind="rnn", vocab_size=50, embedding_dim=8, cell="lstm", hidden_sizes=(8,), num_outputs=3))
rng = np.random.default_rng(0)
batch = {"inputs": rng.integers(1, 50, (16, 12)).astype(np.int32), "label": rng.integers(0, 3, 16).astype(np.int32)}
losses = {}
for name, mesh in [("auto_data", make_mesh(1)), ("explicit_data", jax.make_mesh((2, 1), ("data", "model"))),
                   ("auto_model", make_mesh(2)), ("explicit_model", jax.make_mesh((1, 2), ("data", "model")))]:
    tx = optax.adam(1e-2)
    trainer = Trainer(model, tx, "multiclass", batch_size=16, seed=0, transform=lambda x: x, mesh=mesh)
    state = trainer.place(create_train_state(model, tx, jax.random.key(0), jnp.asarray(batch["inputs"][:1])))
    for _ in range(3):
        state, metrics = trainer.step(state, trainer.device_batch(batch))
    losses[name] = float(metrics["loss_sum"]) / float(metrics["count"])
print(json.dumps(losses))
"""


def test_trainer_takes_a_mesh_from_jax_make_mesh():
    # jax.make_mesh builds Explicit axes; the trainer uses them as Auto (the model axis's
    # losses failed on a gather whose output sharding JAX could not infer)
    done = python(TRAINER_CODE, "2")
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.splitlines()[-1])
    assert abs(losses["explicit_data"] - losses["auto_data"]) < 1e-5, losses
    assert abs(losses["explicit_model"] - losses["auto_model"]) < 1e-5, losses


def test_trainer_names_a_mesh_without_its_axes():
    import jax
    import optax
    import pytest

    from seqjax.models import build_model
    from seqjax.train.fit import Trainer

    model = build_model(dict(kind="rnn", vocab_size=20, embedding_dim=4, cell="lstm", hidden_sizes=(4,), num_outputs=2))
    with pytest.raises(ValueError, match=r"axes \('data', 'model'\).*make_mesh"):
        Trainer(model, optax.adam(1e-3), "multiclass", batch_size=4, seed=0, transform=lambda x: x,
                mesh=jax.make_mesh((1,), ("batch",)))
