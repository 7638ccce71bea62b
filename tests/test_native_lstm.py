"""The compiled CPU LSTM kernel (seqjax.native_lstm) against the reference cell, and its build."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax as sj
from seqjax import native_build, native_lstm
from helpers import assert_close

needs_kernel = pytest.mark.skipif(not native_lstm.available(),
                                  reason=f"no native kernel here: {native_build.unavailable_reason('lstm_cpu')}")


def setup(steps, batch_shape, inputs, hidden, seed=0):
    cell = sj.cells.lstm(hidden)
    keys = jax.random.split(jax.random.key(seed), 4)
    params = cell.init(keys[0], inputs)
    params = params._replace(bias=jax.random.normal(keys[1], params.bias.shape))
    xs = jax.random.normal(keys[2], (steps, *batch_shape, inputs))
    carry = jax.tree.map(lambda a: 0.5 * jax.random.normal(keys[3], a.shape), cell.initial_carry(batch_shape))
    return cell, params, xs, carry


def uses_kernel(fn, *args) -> bool:
    return "seqjax_lstm" in jax.jit(fn).lower(*args).as_text()


def compare(cell, params, xs, carry, atol=2e-6, **options):
    """Values and gradients of the kernel against autodiff of the reference scan."""

    def run(implementation):
        return lambda p, x, c: sj.scan(cell, p, x, carry=c, implementation=implementation, **options)

    def loss(implementation):
        def value(p, x, c):
            final, ys = run(implementation)(p, x, c)
            return jnp.sum(jnp.sin(ys)) + jnp.sum(final.h * final.c) + jnp.sum(final.c ** 2)

        return value

    assert uses_kernel(run(None), params, xs, carry)  # the default on the CPU
    assert_close(jax.jit(run(None))(params, xs, carry), run("scan")(params, xs, carry), atol=atol, rtol=1e-5)
    grads = jax.jit(jax.grad(loss("native"), argnums=(0, 1, 2)))(params, xs, carry)
    want = jax.grad(loss("scan"), argnums=(0, 1, 2))(params, xs, carry)
    assert_close(grads, want, atol=10 * atol, rtol=1e-4)
    return grads


@needs_kernel
@pytest.mark.parametrize("steps, batch_shape, inputs, hidden", [
    (7, (2, 3), 3, 5),  # hidden not a multiple of any vector width; two batch dims
    (9, (37,), 16, 24),  # rows not a multiple of the matrix kernel's row block; several chunks
    (4, (13,), 1, 40),  # one input feature
    (3, (1,), 130, 17),  # more inputs than a packed panel holds
])
def test_kernel_equals_the_reference_cell(steps, batch_shape, inputs, hidden):
    compare(*setup(steps, batch_shape, inputs, hidden))


@needs_kernel
@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_with_lengths(reverse):
    cell, params, xs, carry = setup(8, (2, 9), 4, 8, seed=1)
    lengths = jnp.array([[8, 3, 0, 1, 5, 8, 2, 7, 6], [1, 8, 8, 4, 0, 3, 5, 2, 8]])
    grads = compare(cell, params, xs, carry, lengths=lengths, reverse=reverse)
    # a sequence with no real step: no gradient reaches its inputs, its carry passes through
    assert float(jnp.abs(grads[1][:, 0, 2]).max()) == 0.0
    final, ys = sj.scan(cell, params, xs, carry=carry, lengths=lengths, reverse=reverse)
    assert_close(final.h[0, 2], carry.h[0, 2], atol=0)
    assert float(jnp.abs(ys[3:, 0, 1]).max()) == 0.0  # outputs past a length are zero


@needs_kernel
def test_kernel_under_vmap_and_second_order():
    cell, params, xs, _ = setup(6, (4,), 3, 5)
    batched = jax.vmap(lambda p, x: sj.scan(cell, p, x)[1], in_axes=(None, 1), out_axes=1)
    plain = jax.vmap(lambda p, x: sj.scan(cell, p, x, implementation="scan")[1], in_axes=(None, 1), out_axes=1)
    assert uses_kernel(batched, params, xs)
    assert_close(batched(params, xs), plain(params, xs), atol=2e-6)
    # forward over reverse: the kernels' forward-mode derivatives are those of the XLA loops
    loss = lambda fn: lambda bias: jnp.sum(jnp.tanh(fn(params._replace(bias=bias), xs)) ** 2)  # noqa: E731
    assert_close(jax.hessian(loss(batched))(params.bias), jax.hessian(loss(plain))(params.bias),
                 atol=1e-4, rtol=1e-4)


TWO_DEVICES = """
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_num_cpu_devices", 2)  # the scripts' use_host_cores()
from jax.sharding import NamedSharding, PartitionSpec as P
import seqjax as sj
from seqjax.models import runs_native_lstm
from seqjax.train import sharding

cell = sj.cells.lstm(16)
params = cell.init(jax.random.key(0), 4)
xs = jax.random.normal(jax.random.key(1), (5, 32, 4))
carry = jax.tree.map(lambda a: 0.5 * jax.random.normal(jax.random.key(2), a.shape), cell.initial_carry((32,)))
mesh = jax.make_mesh((2,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
split = jax.shard_map(lambda p, x, c: sj.scan(cell, p, x, carry=c), mesh=mesh,
                      in_specs=(P(), P(None, "data"), P("data")), out_specs=(P("data"), P(None, "data")),
                      check_vma=False)
x = jax.device_put(xs, NamedSharding(mesh, P(None, "data")))
c = jax.device_put(carry, NamedSharding(mesh, P("data")))
text = jax.jit(split).lower(params, x, c).as_text()
assert "seqjax_lstm_infer" in text and "chunks = 1" in text, text
got = jax.jit(split)(params, x, c)
want = sj.scan(cell, params, xs, carry=carry, implementation="scan")
for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6)
assert "chunks = 2" in jax.jit(lambda p: sj.scan(cell, p, xs)).lower(params).as_text()

# the trainer's device rule: one device for models whose LSTMs all run the kernel
assert runs_native_lstm({"kind": "rnn", "cell": "lstm", "hidden_sizes": (32,)})
assert len(sharding.training_devices(128, (32,))) == 2
assert len(sharding.training_devices(128, (32,), native_lstm=True)) == 1
assert len(sharding.inference_devices(128, (32,), native_lstm=True)) == 1
assert sharding.training_device_options(64, (256,), native_lstm=True) == [jax.devices()[:1]]
print("OK")
"""


@needs_kernel
def test_two_devices_one_chunk_each_and_the_trainer_keeps_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-3000:]


def test_chunks_follow_the_cores_the_program_has():
    assert native_lstm.chunks_for(64, devices=1, cores=2) == 2
    assert native_lstm.chunks_for(64, devices=2, cores=2) == 1
    assert native_lstm.chunks_for(64, devices=1, cores=16) == 64 // native_lstm.MIN_ROWS_PER_CHUNK
    assert native_lstm.chunks_for(3, devices=1, cores=4) == 1


@needs_kernel
def test_when_the_kernel_runs_and_impossible_requests():
    cell, params, xs, carry = setup(4, (3,), 2, 4)
    assert native_lstm.applies(cell, params, jnp.float32, remat=None, implementation=None)
    assert not native_lstm.applies(cell, params, jnp.float32, remat=True, implementation=None)
    assert not native_lstm.applies(cell, params, jnp.bfloat16, remat=None, implementation=None)
    assert not native_lstm.applies(cell, params, jnp.float32, remat=None, implementation="fused")
    assert not native_lstm.applies(sj.cells.gru(4), params, jnp.float32, remat=None, implementation=None)
    with pytest.raises(ValueError, match="implementation='native' needs float32"):
        sj.scan(cell, jax.tree.map(lambda a: a.astype(jnp.bfloat16), params), xs.astype(jnp.bfloat16),
                implementation="native")
    with pytest.raises(ValueError, match="remat=None or False"):
        sj.scan(cell, params, xs, remat=True, implementation="native")
    gru = sj.cells.gru(4)
    with pytest.raises(ValueError, match="a standard sj.cells.lstm"):
        sj.scan(gru, gru.init(jax.random.key(0), 2), xs, implementation="native")
    # inputs of another dtype are promoted to the float32 weights, as the scan does
    low_xs = xs.astype(jnp.bfloat16)
    assert uses_kernel(lambda p, x: sj.scan(cell, p, x), params, low_xs)
    assert_close(sj.scan(cell, params, low_xs), sj.scan(cell, params, low_xs, implementation="scan"), atol=2e-6)
    # other dtypes keep XLA's loops
    low = sj.scan(cell, jax.tree.map(lambda a: a.astype(jnp.bfloat16), params), xs.astype(jnp.bfloat16))[1]
    assert low.dtype == jnp.bfloat16


@needs_kernel
def test_token_scan_runs_the_kernel_on_gathered_rows():
    cell, params, _, _ = setup(1, (1,), 6, 8)
    table = jax.random.normal(jax.random.key(5), (11, 6))
    ids = jax.random.randint(jax.random.key(6), (9, 4), 0, 11)
    fn = lambda p, t: sj.scan_tokens(cell, p, t, ids)  # noqa: E731
    assert uses_kernel(fn, params, table)
    assert_close(fn(params, table), sj.scan(cell, params, table[ids], implementation="scan"), atol=2e-6)
    loss = lambda f: lambda p, t: jnp.sum(f(p, t)[1] ** 2)  # noqa: E731
    want = jax.grad(loss(lambda p, t: sj.scan(cell, p, t[ids], implementation="scan")), argnums=(0, 1))(params, table)
    assert_close(jax.grad(loss(fn), argnums=(0, 1))(params, table), want, atol=2e-5, rtol=1e-4)


def test_turned_off_it_falls_back_to_xla_with_the_reason(tmp_path):
    code = (
        "import jax, jax.numpy as jnp, seqjax as sj\n"
        "from seqjax import native_build, native_lstm\n"
        "assert not native_lstm.available()\n"
        "print(native_build.unavailable_reason('lstm_cpu'))\n"
        "cell = sj.cells.lstm(3); p = cell.init(jax.random.key(0), 2)\n"
        "xs = jnp.ones((4, 2, 2))\n"
        "assert 'seqjax_lstm' not in jax.jit(lambda p: sj.scan(cell, p, xs)).lower(p).as_text()\n"
        "try:\n"
        "    sj.scan(cell, p, xs, implementation='native')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, SEQJAX_NATIVE="0", SEQJAX_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "SEQJAX_NATIVE=0 turns the native kernels off" in out.stdout
    assert "needs the compiled kernel, which is unavailable here" in out.stdout
    assert not list(tmp_path.iterdir())  # nothing compiled


@needs_kernel
def test_build_is_cached_and_leaves_no_partial_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQJAX_CACHE_DIR", str(tmp_path))
    built = native_build._build("lstm_cpu")
    assert built.parent == tmp_path and built.suffix == ".so"
    stamp = built.stat().st_mtime_ns
    assert native_build._build("lstm_cpu") == built and built.stat().st_mtime_ns == stamp  # not rebuilt
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [built.name]


def test_a_failing_compiler_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQJAX_CACHE_DIR", str(tmp_path))
    compiler = tmp_path / "broken-c++"
    compiler.write_text("#!/bin/sh\necho 'broken compiler' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    with pytest.raises(native_build._Unavailable, match="broken compiler"):
        native_build._build("lstm_cpu")
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".so"]


def test_which_models_run_the_kernel():
    from seqjax.models import runs_native_lstm

    base = {"kind": "rnn", "cell": "lstm", "hidden_sizes": (32,)}
    assert runs_native_lstm(base) == native_lstm.available()
    for change in ({"cell": "gru"}, {"recurrent_dropout": 0.2}, {"implementation": "scan"}, {"remat": "on"},
                   {"kind": "embedding_flatten"}, {"hidden_sizes": ()}):
        assert not runs_native_lstm({**base, **change}), change


@needs_kernel
def test_subnormal_inputs_give_xla_s_values():
    cell, params, xs, carry = setup(3, (2,), 2, 4)
    tiny = xs * 1e-38  # subnormal inputs
    ours = sj.scan(cell, params, tiny, carry=carry)[1]
    want = sj.scan(cell, params, tiny, carry=carry, implementation="fused")[1]
    assert np.isfinite(np.asarray(ours)).all()
    assert_close(ours, want, atol=2e-6)


def test_a_library_that_does_not_load_is_reported_not_raised(tmp_path, monkeypatch):
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"not a shared library")
    monkeypatch.setattr(native_build, "_build", lambda name: broken)
    monkeypatch.setattr(native_build, "_loaded", {})
    monkeypatch.setattr(native_build, "_reasons", {})
    assert native_build.load("lstm_cpu") is None
    assert native_build.unavailable_reason("lstm_cpu").startswith(f"cannot load {broken}")
