"""The benchmark harness runs and its arithmetic is right (timings themselves are not asserted)."""

import sys
import time
import types

import pytest

from seqjax import bench


def test_bench_runs_tiny_configs(monkeypatch):
    monkeypatch.setitem(bench.CONFIGS, "T", bench.BenchConfig("tiny", 4, 6, 50, 4, 8, 2, "gru", "adam"))
    monkeypatch.setitem(bench.CONFIGS, "U", bench.BenchConfig("big-lstm", 4, 5, 50, 4, 8, 1, "lstm", "rmsprop"))
    report = bench.run(["T", "U"], steps=2, frameworks=("seqjax", "flax", "seqjax_autodiff"), matmul_size=128)
    rows = report["results"]["T"]["frameworks"]
    assert set(rows) == {"seqjax", "flax", "seqjax_autodiff"} and rows["seqjax"]["time_over_seqjax"] == 1.0
    assert all(r["median_ms"] > 0 and r["first_step_s"] > 0 for r in rows.values())
    assert 0 < report["results"]["U"]["fraction_of_matmul_rate"]
    assert "| T tiny | flax |" in bench.format_table(report)
    # every row carries its turn-by-turn medians and the ratio's range over the turns
    turns = len(rows["seqjax"]["train_rounds_ms"])
    assert turns >= 2 and len(rows["flax"]["train_rounds_ms"]) == len(rows["flax"]["infer_rounds_ms"]) == turns
    low, high = rows["flax"]["time_over_seqjax_rounds"]
    assert low <= high and rows["seqjax"]["time_over_seqjax_rounds"] == [1.0, 1.0]
    assert rows["seqjax"]["infer_over_seqjax"] == 1.0 and rows["flax"]["infer_over_seqjax"] > 0


def test_round_ratios_are_turn_by_turn():
    # a slow turn for both rows leaves the turn's ratio alone
    assert bench.round_ratios((10.0, 40.0, 12.0), (5.0, 20.0, 4.0)) == [2.0, 3.0]
    assert bench.round_ratios((), ()) == []
    row = {"time_over_seqjax": 1.5, "time_over_seqjax_rounds": [1.2, 1.8]}
    assert bench._ratio_cell(row, "time_over_seqjax") == "1.5 [1.2-1.8]"


def test_each_turn_starts_after_the_settle_pause():
    calls = []

    def prepared(name):
        def record(kind):
            return lambda: calls.append((name, kind, time.perf_counter()))
        return bench.Prepared(0.0, record("train"), record("infer"))

    timings = bench.time_interleaved({"a": prepared("a"), "b": prepared("b")}, steps=4, rounds=2, settle_s=0.05)
    assert [len(t.train_rounds_ms) for t in timings.values()] == [2, 2]
    handovers = [(prev, cur) for prev, cur in zip(calls, calls[1:]) if prev[0] != cur[0]]
    assert len(handovers) == 3  # a -> b, b -> a, a -> b
    assert all(cur[1] == "train" and cur[2] - prev[2] >= 0.05 for prev, cur in handovers)


def test_pytorch_steps_run_with_denormals_flushed_and_the_mode_restored(monkeypatch):
    # XLA:CPU flushes denormals in its compiled code; the PyTorch rows get the same mode for
    # the call alone (a stand-in module records the switches; PyTorch is not a test dependency)
    switches = []
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(set_flush_denormal=switches.append))

    def step():
        switches.append("step")

    def failing_step():
        raise RuntimeError("boom")

    bench._flushing_denormals(step)()
    assert switches == [True, "step", False]
    with pytest.raises(RuntimeError, match="boom"):
        bench._flushing_denormals(failing_step)()
    assert switches[-2:] == [True, False]


def test_lstm_flop_count():
    cfg = bench.BenchConfig("x", 2, 3, 10, 4, 5, 1, "lstm", "adam")
    assert bench.lstm_train_gflop(cfg) == pytest.approx(3 * 2 * 2 * 9 * 20 * 3 / 1e9)


def test_long_sequence_rows_and_remat_bounds_memory():
    long = bench.bench_long_sequences(length=64, batch=2, features=3, hidden=4, steps=1)
    assert set(long["rows"]) == {"gru (lax.scan)", "min_gru (associative scan)", "min_gru (step by step)",
                                 "min_lstm (associative scan)"}
    assert all(row["median_ms"] > 0 for row in long["rows"].values())
    memory = bench.bench_remat_memory(length=400, batch=4, features=3, hidden=8, steps=1)["rows"]
    # remat keeps only the carries: the step's temporaries shrink by more than half
    assert memory["gru remat=True"]["temp_mib"] < 0.5 * memory["gru remat=False"]["temp_mib"]
    assert memory["lstm remat=True"]["temp_mib"] < 0.5 * memory["lstm remat=False"]["temp_mib"]
    # the fused LSTM keeps one packed residual per step: less than autodiff's twelve
    assert memory["lstm fused"]["temp_mib"] < memory["lstm remat=False"]["temp_mib"]
    assert "| gru remat=True |" in bench.format_rows("Remat", {"shape": {"length": 400}, "rows": memory})
