"""The spawned demo of ``distributed.py``: ``run_demo`` trains the same model on 2+ CPU processes.

``run_demo`` starts the ranks through ``_spawn`` (Ctrl-C stops them, a dead
parent ends them, nothing is written to disk), trains the one-process
reference and compares. Its command line is ``python -m
course_lib.tools.distributed --demo``.
"""

from __future__ import annotations

import io
import os
import socket
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from course_lib.chapters.ch11_hardware_and_scale._spawn import RankFailed, run_ranks
from course_lib.chapters.ch11_hardware_and_scale.distributed import (
    ATOL,
    INIT_TIMEOUT,
    MAX_DEMO_PROCESSES,
    PORT_TRIES,
    _check_training,
    _loopback_interface,
    _named_arrays,
    gather_weights,
    train_data_parallel,
    train_single_process,
)
from course_lib.checks import _fail, check_int
from course_lib.device import one_thread

# ---------------------------------------------------------------- the demo


@dataclass
class DemoResult:
    """What ``run_demo`` measured.

    ``rank_weights`` (explicit all-reduce) and ``ddp_weights`` (DDP, or None)
    hold one ``{name: array}`` dict per rank; ``single_weights`` the
    single-process reference. ``max_abs_diff`` is the largest absolute
    difference between any rank's weights and the reference;
    ``ranks_identical`` says whether all ranks agree bit for bit;
    ``matches_single`` whether every rank is ``allclose`` to the reference
    with ``rtol=0, atol=1e-12``. ``seconds`` is the wall time of the
    multi-process part (process start-up included).

    Shapes: weights as in the model's state_dict, e.g. "0.weight" (K, D).
    """

    world_size: int
    steps: int
    backend: str
    rank_weights: list
    ddp_weights: list | None
    single_weights: dict
    losses: list
    single_losses: list
    max_abs_diff: float
    ranks_identical: bool
    matches_single: bool
    seconds: float

    def summary(self) -> str:
        """One line for the notebook or the terminal."""
        method = "all_reduce and DDP" if self.ddp_weights is not None else "all_reduce"
        return (
            f"data parallel ({self.world_size} processes, {self.backend}, {method}) vs one process, "
            f"{self.steps} steps: equal={self.matches_single} (atol {ATOL:g}), "
            f"max abs diff {self.max_abs_diff:.1e}, ranks identical={self.ranks_identical}"
        )


def run_demo(
    world_size: int = 2,
    steps: int = 20,
    *,
    batch_size: int | None = None,
    lr: float = 0.1,
    hidden: int = 16,
    seed: int = 0,
    use_ddp: bool = True,
    port: int | None = None,
) -> DemoResult:
    """Train with ``world_size`` CPU processes (gloo, 127.0.0.1 only) and compare.

    Starts the processes with multiprocessing's ``spawn`` (works from a
    notebook: the worker lives in this importable module), has rank 0 send
    every rank's final weights back (``torch.save`` bytes through a pipe,
    read with ``torch.load(weights_only=True)``), trains the single-process
    reference here with one thread, and returns both. ``batch_size``
    defaults to ``8 * world_size``; ``port`` (the rendezvous port on
    127.0.0.1) defaults to a free one, picked again if another program takes
    it first. Interrupting (Ctrl-C, a notebook's stop button) stops every
    rank; a rank whose parent dies leaves at once; nothing is written to disk.

    Shapes: global batch (B, D) split into world_size shards of (B / world_size, D).
    Twin: torchrun --nproc_per_node=world_size -m course_lib.tools.distributed --backend gloo.
    """
    func = "run_demo"
    world_size = check_int(world_size, "world_size", func, minimum=1, maximum=MAX_DEMO_PROCESSES)
    if batch_size is None:
        batch_size = 8 * world_size
    steps, batch_size, lr, hidden, seed = _check_training(func, steps, batch_size, lr, hidden, seed, world_size)
    if not isinstance(use_ddp, bool):
        _fail(TypeError, func, "use_ddp to be True or False", f"{type(use_ddp).__name__} {use_ddp!r}", None)
    if port is not None:
        port = check_int(port, "port", func, minimum=1, maximum=65535)
        _check_port_free(port, func)
    options = dict(batch_size=batch_size, lr=lr, hidden=hidden, seed=seed)
    start = time.perf_counter()
    for attempt in range(PORT_TRIES):
        try_port = port if port is not None else find_free_port()
        try:
            results = run_ranks(_demo_worker, world_size, (try_port, steps, options, use_ddp), func=func)
            break
        except RankFailed as exc:
            if not _is_port_clash(exc.detail):
                raise
            if port is not None or attempt == PORT_TRIES - 1:
                _port_clash(try_port, func, tries=1 if port is not None else PORT_TRIES)
    seconds = time.perf_counter() - start
    parallel = _from_bytes(results[0])
    with one_thread():
        single_model, single_losses = train_single_process(steps, **options)
    single = _named_arrays(single_model)
    return _compare(world_size, steps, "gloo", parallel, single, single_losses, seconds)


def find_free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it).

    Another program could take it between this call and its use; ``run_demo``
    then picks another one (up to ``PORT_TRIES`` times).

    Shapes: none. Twin: torchrun's --rdzv_endpoint=localhost:0.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortInUseError(OSError):
    """The rendezvous port on 127.0.0.1 is taken by another program."""


def _check_port_free(port: int, func: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            _port_clash(port, func, tries=1)


def _port_clash(port: int, func: str, tries: int) -> None:
    got = f"port {port} in use by another program" + (f" ({tries} ports tried)" if tries > 1 else "")
    _fail(PortInUseError, func, "a free TCP port on 127.0.0.1", got, "pass another port, or none to pick a free one")


def _is_port_clash(detail: str) -> bool:
    return "EADDRINUSE" in detail or "address already in use" in detail.lower()


def _demo_worker(rank, world_size, port, steps, options, use_ddp):
    """One rank of ``run_demo`` (run by ``_spawn.run_ranks``); rank 0 returns the result as bytes."""
    torch.set_num_threads(1)  # deterministic, and 2 processes on 2 cores do not fight
    os.environ["MASTER_ADDR"] = "127.0.0.1"  # this process's own environment, not the caller's
    os.environ["MASTER_PORT"] = str(port)
    loopback = _loopback_interface()
    if loopback is not None:
        os.environ["GLOO_SOCKET_IFNAME"] = loopback
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=INIT_TIMEOUT)
    except RuntimeError as exc:
        exc.course_brief = _is_port_clash(str(exc))  # a clash is reported in one line, no traceback
        raise
    try:
        result = _train_both(rank, world_size, steps, options, use_ddp, torch.device("cpu"))
    finally:
        dist.destroy_process_group()
    return _to_bytes(result) if rank == 0 else None


def _to_bytes(result: dict) -> bytes:
    """``torch.save`` of the result with tensors only, so ``weights_only=True`` can read it."""

    def tensors(runs):
        return None if runs is None else [{k: torch.from_numpy(v) for k, v in run.items()} for run in runs]

    payload = {
        "rank_weights": tensors(result["rank_weights"]),
        "ddp_weights": tensors(result["ddp_weights"]),
        "losses": torch.tensor(result["losses"], dtype=torch.float64),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _from_bytes(data: bytes) -> dict:
    payload = torch.load(io.BytesIO(data), weights_only=True)

    def arrays(runs):
        return None if runs is None else [{k: v.numpy() for k, v in run.items()} for run in runs]

    return {
        "rank_weights": arrays(payload["rank_weights"]),
        "ddp_weights": arrays(payload["ddp_weights"]),
        "losses": payload["losses"].tolist(),
    }


def _train_both(rank, world_size, steps, options, use_ddp, device) -> dict:
    """Train with explicit all-reduce (and DDP); gather every rank's weights."""
    model, losses = train_data_parallel(rank, world_size, steps, device=device, **options)
    result = {"rank_weights": gather_weights(model, world_size), "losses": losses, "ddp_weights": None}
    if use_ddp:
        ddp_model, _ = train_data_parallel(rank, world_size, steps, use_ddp=True, device=device, **options)
        result["ddp_weights"] = gather_weights(ddp_model, world_size)
    return result


def _compare(world_size, steps, backend, parallel, single, single_losses, seconds) -> DemoResult:
    runs = parallel["rank_weights"] + (parallel["ddp_weights"] or [])
    diffs = [max(float(np.max(np.abs(run[k] - single[k]))) for k in single) for run in runs]
    identical = all(
        all(np.array_equal(run[k], group[0][k]) for k in single)
        for group in (parallel["rank_weights"], parallel["ddp_weights"] or [])
        for run in group
    )
    matches = all(
        torch.allclose(torch.from_numpy(run[k]), torch.from_numpy(single[k]), rtol=0, atol=ATOL)
        for run in runs
        for k in single
    )
    return DemoResult(
        world_size=world_size,
        steps=steps,
        backend=backend,
        rank_weights=parallel["rank_weights"],
        ddp_weights=parallel["ddp_weights"],
        single_weights=single,
        losses=parallel["losses"],
        single_losses=single_losses,
        max_abs_diff=max(diffs),
        ranks_identical=identical,
        matches_single=matches,
        seconds=seconds,
    )
