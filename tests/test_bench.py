"""course_lib.bench: time_call, and the benchmark behind `python -m course_lib.bench`."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from course_lib import bench, timing
from course_lib.device import set_threads
from course_lib.tools import bench as bench_cli

ROOT = Path(__file__).resolve().parent.parent
HAS_GPU = torch.cuda.is_available() or torch.backends.mps.is_available()
BACKEND_KEYS = {"available", "median_s", "best_s", "gflops", "cpu_median_s", "note"}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    set_threads(before)


# ----------------------------------------------------------------------------- time_call


def test_time_call_returns_the_median_of_the_repeats():
    delays = iter([0.0, 0.001, 0.030, 0.001])  # warm-up, then three repeats: median 1 ms

    def fn():
        time.sleep(next(delays))

    seconds = timing.time_call(fn, repeats=3, warmup=1)
    assert 0.001 <= seconds < 0.02


def test_time_call_checks_its_arguments():
    with pytest.raises(TypeError, match="time_call: expected a function.*got int; wrap it"):
        timing.time_call(3)
    with pytest.raises(ValueError, match="repeats"):
        timing.time_call(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        timing.time_call(lambda: None, warmup=-1)


# ----------------------------------------------------------------------------- flop counts


def test_flop_counts():
    assert bench.matmul_workload(8).flops == 2 * 8**3
    # forward 2*N*(4*3 + 3*2) = 2*5*18 = 180; a training step is 3x that
    assert bench.mlp_flops([4, 3, 2], batch=5) == 540
    # x (2, 3, 8, 8), w (4, 3, 3, 3), pad 1 -> out (2, 4, 8, 8): 2*2*4*3*3*3*8*8 per pass, 3 passes
    assert bench.conv_flops((2, 3, 8, 8), (4, 3, 3, 3), padding=1) == 3 * 2 * 2 * 4 * 27 * 64
    assert bench.conv_flops((1, 1, 5, 5), (1, 1, 3, 3), padding=0) == 3 * 2 * 9 * 9
    assert bench.lstm_flops(2, 3, 4, 5) == 3 * 2 * 2 * 3 * 9 * 20
    # projections 2*L*N*4*E*E = 2*2*3*4*16, scores and weighted sum 4*N*L*L*E = 4*3*2*2*4; forward and 2x backward
    assert bench.attention_flops(2, 3, 4) == 3 * (2 * 2 * 3 * 4 * 16 + 4 * 3 * 2 * 2 * 4)


# ----------------------------------------------------------------------------- the ratio column


def _fake_workload(numpy_seconds, torch_seconds, flops=2e9):
    # With time_call replaced below, each function "takes" the seconds it returns.
    return bench.Workload("mlp", "fake", flops, lambda: numpy_seconds, lambda device: (lambda: torch_seconds))


def _fake_time_call(fn, repeats=1, warmup=0, device=None):
    return fn()


def test_ratio_is_scratch_median_over_torch_cpu_median(monkeypatch):
    monkeypatch.setattr(bench, "time_call", _fake_time_call)
    row = bench.measure(_fake_workload(0.004, 0.002), gpu=None, gpu_note="not available (test)", repeats=3)
    assert row["numpy"]["median_s"] == 0.004 and row["torch_cpu"]["median_s"] == 0.002
    assert row["ratio"] == pytest.approx(2.0) and row["ratio_best"] == pytest.approx(2.0)
    assert row["numpy"]["gflops"] == pytest.approx(2e9 / 0.004 / 1e9)
    assert row["torch_gpu"] == {"available": False, "median_s": None, "best_s": None, "gflops": None,
                                "cpu_median_s": None, "note": "not available (test)"}
    assert row["ratio_gpu"] is None


def test_ratio_uses_medians_and_best_runs(monkeypatch):
    monkeypatch.setattr(bench, "time_call", _fake_time_call)
    numpy_times = iter([9.0, 0.004, 0.006, 0.005])  # a warm-up, then three repeats
    torch_times = iter([9.0, 0.002, 0.001, 0.003])
    workload = bench.Workload("conv", "fake", 1e9, lambda: next(numpy_times),
                              lambda device: (lambda: next(torch_times)))
    row = bench.measure(workload, repeats=3)
    assert row["numpy"]["median_s"] == 0.005 and row["numpy"]["best_s"] == 0.004
    assert row["ratio"] == pytest.approx(0.005 / 0.002) and row["ratio_best"] == pytest.approx(0.004 / 0.001)
    assert f"{row['ratio']:.2f}x" in bench_cli.format_table(
        {"meta": {"dtype": "float32", "threads": 1, "repeats": 3, "quick": False, "gpu_device": None,
                  "hardware": {"cpu": "x", "cpu_cores": 1, "torch": "t", "numpy": "n"}},
         "rows": [row], "targets": bench_cli.check_targets([row], quick=False)})


def test_targets_are_judged_on_the_ratio(monkeypatch):
    monkeypatch.setattr(bench, "time_call", _fake_time_call)
    fast = bench.measure(_fake_workload(0.0023, 0.002), repeats=1)  # 1.15x
    slow = bench.measure(_fake_workload(0.0025, 0.002), repeats=1)  # 1.25x
    conv = dict(bench.measure(_fake_workload(0.0029, 0.002), repeats=1), task="conv")  # 1.45x
    lstm = dict(bench.measure(_fake_workload(0.0031, 0.002), repeats=1), task="lstm")  # 1.55x
    matmul = dict(fast, task="matmul")  # no target
    targets = bench_cli.check_targets([fast, slow, conv, lstm, matmul], quick=False)
    assert [(t["task"], t["limit"], t["met"]) for t in targets] == [("mlp", 1.2, True), ("mlp", 1.2, False),
                                                                      ("conv", 1.5, True), ("lstm", 1.5, False)]
    assert all(t["evaluated"] is False and t["met"] is None for t in bench_cli.check_targets([fast], quick=True))


# ----------------------------------------------------------------------------- end to end


def test_quick_run_end_to_end_and_json_schema(tmp_path, capsys):
    path = tmp_path / "bench.json"
    start = time.perf_counter()
    assert bench_cli.main(["--quick", "--json", str(path), "--threads", "1", "--device", "cpu"]) == 0
    assert time.perf_counter() - start < 30  # tiny sizes: seconds, even on a busy machine
    table = capsys.readouterr().out
    assert "float32 on both sides" in table and "scratch/torch CPU" in table and "TARGETS" in table

    report = json.loads(path.read_text())
    assert set(report) == {"meta", "rows", "targets"}
    meta = report["meta"]
    assert meta["dtype"] == "float32" and meta["threads"] == 1 and meta["quick"] is True
    assert meta["repeats"] == bench.REPEATS["quick"] and meta["gpu_device"] is None
    assert {"cpu", "cpu_cores", "torch", "numpy"} <= set(meta["hardware"])
    assert [r["task"] for r in report["rows"]] == ["matmul", "matmul", "mlp", "conv", "lstm", "attention"]
    for row in report["rows"]:
        assert set(row) == {"task", "size", "dtype", "flops", "ratio", "ratio_best", "ratio_cpu_time", "ratio_gpu",
                            *bench.BACKENDS}
        assert row["dtype"] == "float32" and row["flops"] > 0
        for name in bench.BACKENDS:
            assert set(row[name]) == BACKEND_KEYS
        for name in ("numpy", "torch_cpu"):
            entry = row[name]
            assert entry["available"] and 0 < entry["best_s"] <= entry["median_s"]
            assert entry["gflops"] == pytest.approx(row["flops"] / entry["median_s"] / 1e9)
        assert row["ratio"] == pytest.approx(row["numpy"]["median_s"] / row["torch_cpu"]["median_s"])
        assert row["ratio_best"] == pytest.approx(row["numpy"]["best_s"] / row["torch_cpu"]["best_s"])
        assert f"{row['ratio']:.2f}x" in table
        assert not row["torch_gpu"]["available"] and row["torch_gpu"]["note"] == "not available (--device cpu)"
    assert [t["task"] for t in report["targets"]] == ["mlp", "conv", "lstm", "attention"]
    assert all(not t["evaluated"] for t in report["targets"])


def test_float64_runs_both_sides_in_float64(tmp_path):
    report = bench_cli.run_benchmark(quick=True, dtype="float64", device="cpu", repeats=1, threads=1,
                                 tasks=("matmul", "conv"))
    assert {r["dtype"] for r in report["rows"]} == {"float64"}
    assert "float64 on both sides" in bench_cli.format_table(report)


@pytest.mark.skipif(HAS_GPU, reason="needs a machine without CUDA or MPS")
def test_gpu_rows_say_not_available_without_a_gpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    report = bench_cli.run_benchmark(quick=True, repeats=1, threads=1, tasks=("matmul",))
    for row in report["rows"]:
        assert row["torch_gpu"]["available"] is False and row["ratio_gpu"] is None
        assert row["torch_gpu"]["note"] == "not available (no CUDA or MPS device)"
    table = bench_cli.format_table(report)
    assert "not available" in table and "must be measured on a machine with a GPU" in table


def test_runs_as_a_module():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "course_lib.bench", "--quick", "--tasks", "matmul", "--threads", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "matmul n=32" in proc.stdout and "NumPy (scratch)" in proc.stdout


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--threads", "0"], "--threads: expected a positive integer, got 0"),
        (["--threads", "two"], "--threads: expected a positive integer, got 'two'"),
        (["--repeats", "-1"], "--repeats: expected a positive integer, got -1"),
        (["--dtype", "float16"], "invalid choice: 'float16'"),
        (["--tasks", "matmul,gemm"],
         "expected a comma-separated subset of matmul,mlp,conv,lstm,attention, got 'matmul,gemm'"),
        (["--device", "gpu"], "--device: get_device: expected COURSE_DEVICE (or name) to be 'cpu', 'cuda'"),
        (["--json", "/no/such/folder/out.json"], "--json: expected a writable file path, got '/no/such/folder"),
        (["--quick", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_is_an_error(capsys):
    with pytest.raises(SystemExit):
        bench_cli.main(["--quick", "--device", "cuda"])
    assert "a CUDA GPU for device 'cuda', got none" in capsys.readouterr().err


def test_run_benchmark_checks_its_arguments():
    with pytest.raises(ValueError, match=r"run_benchmark: expected dtype to be one of \('float32', 'float64'\)"):
        bench_cli.run_benchmark(quick=True, dtype="half")
    with pytest.raises(ValueError, match="run_benchmark: expected tasks from"):
        bench_cli.run_benchmark(quick=True, tasks=("matmul", "fft"))
    with pytest.raises(ValueError, match="threads"):
        bench_cli.run_benchmark(quick=True, threads=0)
