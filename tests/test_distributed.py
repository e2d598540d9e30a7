"""Data-parallel training (chapter 11): ranks agree, and equal one-process training.

The two-process runs use the gloo backend on 127.0.0.1 only. Process start-up
dominates the time, so the spawned demo runs once (module fixture) and the
command line once.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from course_lib import distributed as D

ROOT = Path(__file__).resolve().parents[1]
STEPS = 10
ATOL = 1e-12


@pytest.fixture(scope="module")
def demo():
    return D.run_demo(world_size=2, steps=STEPS, use_ddp=True)


@pytest.fixture()
def one_rank_group(tmp_path, monkeypatch):
    """A one-process gloo group, set up through a file, on the loopback interface."""
    loopback = D._loopback_interface()
    if loopback is not None:
        monkeypatch.setenv("GLOO_SOCKET_IFNAME", loopback)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _max_diff(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in b)


# ---------------------------------------------------------------- two processes


def test_every_rank_ends_with_the_same_weights(demo):
    assert len(demo.rank_weights) == 2 and len(demo.ddp_weights) == 2
    for runs in (demo.rank_weights, demo.ddp_weights):
        for name, value in runs[0].items():
            np.testing.assert_array_equal(runs[1][name], value)
    assert demo.ranks_identical


def test_data_parallel_equals_single_process_full_batch(demo):
    single = demo.single_weights
    assert set(single) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert single["0.weight"].shape == (16, D.IN_FEATURES) and single["0.weight"].dtype == np.float64
    for run in demo.rank_weights + demo.ddp_weights:
        for name in single:
            assert torch.allclose(
                torch.from_numpy(run[name]), torch.from_numpy(single[name]), rtol=0, atol=ATOL
            )
    observed = max(_max_diff(run, single) for run in demo.rank_weights + demo.ddp_weights)
    assert demo.max_abs_diff == observed < ATOL
    assert demo.matches_single
    np.testing.assert_allclose(demo.losses, demo.single_losses, rtol=0, atol=ATOL)


def test_training_really_moved_the_weights(demo):
    # Guards against a vacuous pass: equal because nothing was trained.
    start = D._named_arrays(D.make_model(D.IN_FEATURES, 16, 0))
    assert _max_diff(demo.single_weights, start) > 1e-3
    assert demo.losses[-1] < demo.losses[0]


def test_demo_summary_line(demo):
    line = demo.summary()
    assert "2 processes, gloo" in line and "equal=True" in line and "ranks identical=True" in line


def test_command_line_demo_runs():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "course_lib.distributed", "--demo", "--steps", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "data parallel (2 processes, gloo" in proc.stdout
    assert "equal=True" in proc.stdout and "ranks identical=True" in proc.stdout


# ---------------------------------------------------------------- one process, in this interpreter


def test_one_rank_is_exactly_single_process(one_rank_group):
    model, losses = D.train_data_parallel(0, 1, 5, batch_size=16)
    single, single_losses = D.train_single_process(5, batch_size=16)
    for (name, p), q in zip(model.named_parameters(), single.parameters()):
        assert torch.equal(p, q), name
    assert losses == single_losses


def test_shards_cover_the_global_batch_once():
    idx = D.batch_indices(3, 12, D.N_SAMPLES, seed=0)
    shards = [D.shard_indices(idx, r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    assert sorted(np.concatenate(shards).tolist()) == sorted(idx.tolist())
    np.testing.assert_array_equal(idx, D.batch_indices(3, 12, D.N_SAMPLES, seed=0))  # same on every rank
    assert not np.array_equal(idx, D.batch_indices(4, 12, D.N_SAMPLES, seed=0))


# ---------------------------------------------------------------- errors that teach


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(world_size=0), r"run_demo: expected world_size >= 1, got 0"),
        (dict(world_size=-2), r"run_demo: expected world_size >= 1, got -2"),
        (dict(steps=0), r"run_demo: expected steps >= 1, got 0"),
        (
            dict(world_size=2, batch_size=15),
            r"batch_size divisible by world_size=2.*got batch_size=15.*e\.g\. 14",
        ),
        (dict(lr=0.0), r"run_demo: expected lr > 0.0, got 0.0"),
        (dict(world_size=D.MAX_DEMO_PROCESSES + 1), r"world_size <= 8"),
    ],
)
def test_run_demo_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.run_demo(**kwargs)


def test_run_demo_rejects_bad_types():
    with pytest.raises(TypeError, match=r"run_demo: expected world_size to be an int, got float 2.0"):
        D.run_demo(world_size=2.0)
    with pytest.raises(TypeError, match=r"run_demo: expected steps to be an int, got str '5'"):
        D.run_demo(steps="5")


def test_single_process_rejects_bad_steps():
    with pytest.raises(ValueError, match=r"train_single_process: expected steps >= 1, got 0"):
        D.train_single_process(0)


def test_data_parallel_needs_a_process_group():
    assert not dist.is_initialized()
    with pytest.raises(
        RuntimeError, match=r"expected an initialised process group, got none; call dist.init"
    ):
        D.train_data_parallel(0, 2, 3)


def test_data_parallel_rejects_bad_rank_and_world_size(one_rank_group):
    with pytest.raises(ValueError, match=r"train_data_parallel: expected world_size >= 1, got 0"):
        D.train_data_parallel(0, 0, 3)
    with pytest.raises(ValueError, match=r"train_data_parallel: expected rank <= 0, got 1"):
        D.train_data_parallel(1, 1, 3)
    with pytest.raises(
        ValueError, match=r"expected rank=0, world_size=1 \(the process group's\), got .*world_size=2"
    ):
        D.train_data_parallel(0, 2, 3, batch_size=16)
    with pytest.raises(ValueError, match=r"train_data_parallel: expected steps >= 1, got 0"):
        D.train_data_parallel(0, 1, 0)


def test_main_without_torchrun_explains_how_to_launch(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exc:
        D.main([])
    assert exc.value.code == 2
    assert "torchrun --nproc_per_node=2 -m course_lib.distributed" in capsys.readouterr().err
