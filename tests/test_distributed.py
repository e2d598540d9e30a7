"""Data-parallel training (chapter 11): ranks agree, and equal one-process training.

The two-process runs use the gloo backend on 127.0.0.1 only. Process start-up
dominates the time, so the spawned demo runs once (module fixture) and the
command line once.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from course_lib.chapters.ch11_hardware_and_scale import demo as distributed_demo
from course_lib.chapters.ch11_hardware_and_scale import distributed as D
from course_lib.tools import distributed as distributed_cli

ROOT = Path(__file__).resolve().parents[1]
STEPS = 10
ATOL = 1e-12


@pytest.fixture(scope="module")
def demo():
    return distributed_demo.run_demo(world_size=2, steps=STEPS, use_ddp=True)


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
        [sys.executable, "-m", "course_lib.tools.distributed", "--demo", "--steps", "3"],
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


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((np.arange(8), 5, 2), ValueError, r"shard_indices: expected rank <= 1, got 5"),
        ((np.arange(8), -1, 2), ValueError, r"shard_indices: expected rank >= 0, got -1"),
        ((np.arange(8), 0, -1), ValueError, r"shard_indices: expected world_size >= 1, got -1"),
        ((np.arange(8), 0, 0), ValueError, r"shard_indices: expected world_size >= 1, got 0"),
        ((np.arange(8), 0, 3), ValueError, r"expected a batch that splits into 3 equal shards, got 8 indices"),
        ((np.arange(8.0), 0, 2), TypeError, r"shard_indices: expected indices with an integer"),
        ((list(range(8)), 0, 2), TypeError, r"shard_indices: expected indices to be a numpy.ndarray"),
        ((np.arange(8), 0, 2.0), TypeError, r"shard_indices: expected world_size to be an int"),
    ],
)
def test_shard_indices_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        D.shard_indices(*args)


def test_batch_indices_rejects_bad_input():
    with pytest.raises(ValueError, match=r"batch_indices: expected batch_size <= 4, got 5"):
        D.batch_indices(0, 5, 4, 0)
    with pytest.raises(ValueError, match=r"batch_indices: expected step >= 0, got -1"):
        D.batch_indices(-1, 4, 8, 0)


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
        distributed_demo.run_demo(**kwargs)


def test_run_demo_rejects_bad_types():
    with pytest.raises(TypeError, match=r"run_demo: expected world_size to be an int, got float 2.0"):
        distributed_demo.run_demo(world_size=2.0)
    with pytest.raises(TypeError, match=r"run_demo: expected steps to be an int, got str '5'"):
        distributed_demo.run_demo(steps="5")


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
        distributed_cli.main([])
    assert exc.value.code == 2
    assert "torchrun --nproc_per_node=2 -m course_lib.tools.distributed" in capsys.readouterr().err


# ---------------------------------------------------------------- stopping, port clashes, nothing left behind
# Each test runs the command-line demo in a private TMPDIR and its own session
# (process group), finds its ranks through /proc, and checks that none survives.

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")


def _stat(pid):
    """(parent pid, state letter) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def _alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[1] not in "ZX"  # a zombie has finished


def _ranks_of(pid):
    ranks = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (_stat(entry.name) or (None,))[0] == pid:
            cmdline = (entry / "cmdline").read_bytes() if (entry / "cmdline").exists() else b""
            if b"spawn_main" in cmdline:
                ranks.append(int(entry.name))
    return ranks


def _wait_for(condition, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.fixture()
def private_tmp(tmp_path):
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def _start_demo(private_tmp, *extra):
    env = dict(os.environ, TMPDIR=str(private_tmp), PYTHONPATH=str(ROOT))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "course_lib.tools.distributed", "--demo", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _training_ranks(proc):
    """The two rank pids, once both are up and have had time to start training."""
    ranks = []
    assert _wait_for(lambda: len(ranks.extend(_ranks_of(proc.pid)) or set(ranks)) >= 2, 60), "no ranks"
    time.sleep(6)  # torch imported, process group formed, training
    assert proc.poll() is None, proc.communicate()
    return sorted(set(ranks))


def _kill_leftovers(pids):
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@needs_proc
def test_ctrl_c_stops_every_rank_and_leaves_no_files(private_tmp):
    proc = _start_demo(private_tmp, "--steps", "1000000")
    ranks = []
    try:
        ranks = _training_ranks(proc)
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=20)
        assert time.monotonic() - start < 10
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "python -m course_lib.tools.distributed: interrupted; every rank stopped"
        assert "Traceback" not in err
        assert _wait_for(lambda: not any(_alive(pid) for pid in ranks), 5), "a rank survived Ctrl-C"
        assert list(private_tmp.iterdir()) == []
    finally:
        proc.kill()
        _kill_leftovers(ranks)


@needs_proc
def test_ranks_die_with_their_parent_and_leave_no_files(private_tmp):
    proc = _start_demo(private_tmp, "--steps", "1000000")
    ranks = []
    try:
        ranks = _training_ranks(proc)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: the ranks must notice alone
        proc.wait(timeout=10)
        assert _wait_for(lambda: not any(_alive(pid) for pid in ranks), 10), "a rank outlived its parent"
        assert list(private_tmp.iterdir()) == []
    finally:
        _kill_leftovers(ranks)


@pytest.fixture()
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_port_clash_is_one_clear_line(private_tmp, busy_port):
    proc = _start_demo(private_tmp, "--port", str(busy_port))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip() == (
        f"python -m course_lib.tools.distributed: run_demo: expected a free TCP port on 127.0.0.1, "
        f"got port {busy_port} in use by another program; pass another port, or none to pick a free one"
    )
    assert list(private_tmp.iterdir()) == []


def test_port_taken_after_the_check_stops_both_ranks_at_once(busy_port, monkeypatch, capfd):
    # The race: the port was free when checked and taken when rank 0 binds it.
    monkeypatch.setattr(distributed_demo, "_check_port_free", lambda port, func: None)
    start = time.monotonic()
    with pytest.raises(distributed_demo.PortInUseError,
                       match=rf"run_demo: expected a free TCP port .* got port {busy_port} in use"):
        distributed_demo.run_demo(steps=2, use_ddp=False, port=busy_port)
    assert time.monotonic() - start < 30  # rank 1 is stopped, not left waiting 60 s for rank 0
    assert "Traceback" not in capfd.readouterr().err


def test_a_port_taken_meanwhile_is_replaced_by_a_free_one(busy_port, monkeypatch):
    ports = [busy_port]
    real = distributed_demo.find_free_port
    monkeypatch.setattr(distributed_demo, "find_free_port", lambda: ports.pop() if ports else real())
    result = distributed_demo.run_demo(steps=2, use_ddp=False)
    assert result.matches_single and not ports


def test_no_unpickling_in_the_demo():
    for name in ("chapters/ch11_hardware_and_scale/distributed.py", "chapters/ch11_hardware_and_scale/demo.py",
                 "chapters/ch11_hardware_and_scale/_spawn.py", "tools/distributed.py"):
        assert "pickle" not in (ROOT / "course_lib" / name).read_text()
