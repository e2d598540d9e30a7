"""Data-parallel training with ``torch.distributed``, on one small problem.

The idea (chapter 11): start ``world_size`` copies of the same program. Every
copy (a *rank*) holds the same model. At every step all ranks agree on the
same global batch (same seed, no communication needed), each takes its own
shard of it, computes the gradient of the mean loss over its shard, and then
the ranks **average their gradients**::

    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)   # every rank now holds the sum
    p.grad /= world_size                            # ... and now the mean

Since every rank starts from the same weights and applies the same averaged
gradient, every rank ends with the same weights, and those equal what one
process training on the whole global batch gets: the mean over the global
batch is the mean of the per-shard means when the shards have equal size.
``DistributedDataParallel`` (DDP) is the real way to do the same thing: it
averages the gradients in buckets while ``backward()`` is still running.

Equal, but not always bit for bit. In exact arithmetic the averaged gradient
is the full-batch gradient. In floating point, addition is not associative:
the full batch sums its ``B`` per-example terms in one order inside one
matrix multiply, the data-parallel run sums ``B / world_size`` terms per rank
and then adds the ranks' results, so the last bit or two can differ (the
first step's gradients here differ by 1e-17 to 2e-16 in float64; after 20
steps the weights differ by about 2e-16). Dividing by ``world_size = 2`` is
exact, so the difference is summation order alone. The demo therefore checks
``torch.allclose(..., rtol=0, atol=1e-12)`` and reports the largest absolute
difference. The ranks among themselves *are* bit-identical: every rank
receives the same all-reduced sum.

Run it
------
In a notebook (or any script; a script needs the usual
``if __name__ == "__main__":`` guard because ``spawn`` re-imports it)::

    from course_lib.distributed import run_demo
    result = run_demo(world_size=2, steps=20)   # 2 CPU processes, gloo, 127.0.0.1 only
    print(result.summary())

From a shell, the same demo, or the launcher used on real clusters::

    python -m course_lib.distributed --demo
    torchrun --nproc_per_node=2 -m course_lib.distributed                  # 2 processes, this machine

``torchrun`` starts the processes and tells each one who it is through the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; ``main()`` reads them. With CUDA the
backend is NCCL and rank ``r`` on a machine uses ``cuda:LOCAL_RANK``
(``--backend gloo`` forces the CPU). Several GPUs on one machine::

    torchrun --nproc_per_node=4 -m course_lib.distributed

Several machines (here 2 machines with 4 GPUs each; run one command per
machine, ``HOST0`` being the address of the first machine, reachable by all)::

    # on the first machine
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 --rdzv_endpoint=HOST0:29500 -m course_lib.distributed
    # on the second machine
    torchrun --nnodes=2 --node_rank=1 --nproc_per_node=4 --rdzv_endpoint=HOST0:29500 -m course_lib.distributed

(Or let the machines agree on ranks themselves: replace ``--node_rank`` by
``--rdzv_backend=c10d --rdzv_id=some_job_name``, the same on every machine.)
The global batch must split evenly: ``--batch-size`` defaults to
``8 * world_size``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from course_lib._checks import _fail, check_choice, check_float, check_int

N_SAMPLES = 256
IN_FEATURES = 3
INIT_TIMEOUT = timedelta(seconds=60)  # give up on a rank that never shows up
ATOL = 1e-12  # "equal up to float rounding" in float64
MAX_DEMO_PROCESSES = 8  # the demo runs on one machine's CPU; use torchrun beyond that


# ---------------------------------------------------------------- the problem


def make_problem(n_samples: int = N_SAMPLES, in_features: int = IN_FEATURES, seed: int = 0):
    """A fixed regression problem: ``y = sin(x @ w) + noise``, float64.

    Shapes: x (N, D), y (N, 1).
    Twin: none (data generated with NumPy from a fixed seed).
    """
    n_samples = check_int(n_samples, "n_samples", "make_problem", minimum=1)
    in_features = check_int(in_features, "in_features", "make_problem", minimum=1)
    seed = check_int(seed, "seed", "make_problem", minimum=0)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, in_features))
    w = rng.normal(size=in_features)
    y = np.sin(x @ w)[:, None] + 0.1 * rng.normal(size=(n_samples, 1))
    return x, y


def make_model(in_features: int = IN_FEATURES, hidden: int = 16, seed: int = 0) -> nn.Sequential:
    """A float64 MLP ``Linear -> Tanh -> Linear``, initialised from a NumPy seed.

    The initialisation follows torch's default for ``nn.Linear``,
    U(-1/sqrt(in_features), 1/sqrt(in_features)), but draws from NumPy so
    that every rank, on any device, starts from exactly the same weights.

    Shapes: input (N, D), output (N, 1); hidden width K = ``hidden``.
    Twin: torch.nn.Sequential(nn.Linear, nn.Tanh, nn.Linear).
    """
    in_features = check_int(in_features, "in_features", "make_model", minimum=1)
    hidden = check_int(hidden, "hidden", "make_model", minimum=1)
    seed = check_int(seed, "seed", "make_model", minimum=0)
    model = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()
    rng = np.random.default_rng([seed, 1])
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = 1.0 / np.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape))))
    return model


def batch_indices(step: int, batch_size: int, n_samples: int, seed: int) -> np.ndarray:
    """The example indices of the global batch at ``step``.

    Every rank calls this with the same arguments and gets the same answer,
    so the ranks agree on the batch without talking to each other.

    Shapes: returns (B,) int64, B = ``batch_size``.
    Twin: torch.utils.data.DistributedSampler (which shuffles once per epoch).
    """
    rng = np.random.default_rng([seed, step])
    return rng.choice(n_samples, size=batch_size, replace=False)


def shard_indices(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s share of a global batch: every ``world_size``-th index.

    Shapes: indices (B,) -> (B / world_size,).
    Twin: torch.utils.data.DistributedSampler (same strided split).
    """
    return indices[rank::world_size]


# ---------------------------------------------------------------- the two trainings


def train_single_process(
    steps: int = 20,
    *,
    batch_size: int = 16,
    lr: float = 0.1,
    hidden: int = 16,
    seed: int = 0,
    device="cpu",
):
    """Train on the whole global batch in one process: the reference.

    Plain SGD on the mean squared error over each global batch of
    ``batch_size`` examples. Returns ``(model, losses)``, ``losses`` being the
    list of per-step losses.

    Shapes: x (N, D), y (N, 1); global batch (B, D) with B = ``batch_size``.
    Twin: torch.optim.SGD on torch.nn.functional.mse_loss.
    """
    func = "train_single_process"
    steps, batch_size, lr, hidden, seed = _check_training(func, steps, batch_size, lr, hidden, seed, 1)
    x, y, model = _setup(hidden, seed, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        idx = torch.as_tensor(batch_indices(step, batch_size, len(x), seed), device=x.device)
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])  # mean over the global batch
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def average_gradients(model: nn.Module, world_size: int) -> None:
    """Replace every ``p.grad`` by its mean over the ranks: all-reduce SUM, divide.

    After this call every rank holds the same gradient, bit for bit.

    Shapes: each p.grad keeps its parameter's shape, e.g. weight (K, D).
    Twin: torch.nn.parallel.DistributedDataParallel (does this in buckets during backward).
    """
    for p in model.parameters():
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= world_size


def train_data_parallel(
    rank: int,
    world_size: int,
    steps: int = 20,
    *,
    batch_size: int = 16,
    lr: float = 0.1,
    hidden: int = 16,
    seed: int = 0,
    use_ddp: bool = False,
    device="cpu",
):
    """Train as rank ``rank`` of ``world_size``; call it inside an initialised process group.

    Each step: take this rank's shard of the global batch, compute the
    gradient of the mean loss over the shard, then average the gradients
    over the ranks, written out with ``dist.all_reduce`` (``use_ddp=False``)
    or done by ``DistributedDataParallel`` (``use_ddp=True``). Returns
    ``(model, losses)`` with the plain (unwrapped) model and the global-batch
    loss of each step (the shard losses, averaged over the ranks).

    Shapes: x (N, D), y (N, 1); each rank's shard (B / world_size, D).
    Twin: torch.nn.parallel.DistributedDataParallel.
    """
    func = "train_data_parallel"
    world_size = check_int(world_size, "world_size", func, minimum=1)
    rank = check_int(rank, "rank", func, minimum=0, maximum=world_size - 1)
    steps, batch_size, lr, hidden, seed = _check_training(
        func, steps, batch_size, lr, hidden, seed, world_size
    )
    _check_process_group(func, rank, world_size)
    x, y, model = _setup(hidden, seed, device)
    net = model
    if use_ddp:
        device_ids = [x.device.index] if x.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=device_ids)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        shard = shard_indices(batch_indices(step, batch_size, len(x), seed), rank, world_size)
        idx = torch.as_tensor(shard, device=x.device)
        loss = nn.functional.mse_loss(net(x[idx]), y[idx])  # mean over this rank's shard
        optimizer.zero_grad()
        loss.backward()  # with DDP, the gradients are averaged during this call
        if not use_ddp:
            average_gradients(model, world_size)
        optimizer.step()
        global_loss = loss.detach().clone()
        dist.all_reduce(global_loss, op=dist.ReduceOp.SUM)
        losses.append(global_loss.item() / world_size)
    return model, losses


def gather_weights(model: nn.Module, world_size: int) -> list[dict[str, np.ndarray]]:
    """Every rank's weights, on every rank: one ``{name: array}`` dict per rank.

    Shapes: each dict maps a parameter name ("0.weight", ...) to its (K, D)-style array.
    Twin: torch.distributed.all_gather.
    """
    vector = nn.utils.parameters_to_vector(model.parameters()).detach()
    vectors = [torch.empty_like(vector) for _ in range(world_size)]
    dist.all_gather(vectors, vector)
    return [_unflatten(v.cpu().numpy(), model) for v in vectors]


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
    Twin: none.
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
) -> DemoResult:
    """Train with ``world_size`` CPU processes (gloo, 127.0.0.1 only) and compare.

    Starts the processes with ``torch.multiprocessing.spawn`` (works from a
    notebook: the worker lives in this importable module), has rank 0 write
    every rank's final weights to a temporary file, trains the
    single-process reference here with one thread, and returns both.
    ``batch_size`` defaults to ``8 * world_size``.

    Shapes: global batch (B, D) split into world_size shards of (B / world_size, D).
    Twin: torchrun --nproc_per_node=world_size -m course_lib.distributed --backend gloo.
    """
    func = "run_demo"
    world_size = check_int(world_size, "world_size", func, minimum=1, maximum=MAX_DEMO_PROCESSES)
    if batch_size is None:
        batch_size = 8 * world_size
    steps, batch_size, lr, hidden, seed = _check_training(
        func, steps, batch_size, lr, hidden, seed, world_size
    )
    options = dict(batch_size=batch_size, lr=lr, hidden=hidden, seed=seed)
    port = find_free_port()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course_dist_") as out_dir:
        path = os.path.join(out_dir, "result.pkl")
        mp.spawn(_demo_worker, args=(world_size, port, steps, options, use_ddp, path), nprocs=world_size)
        seconds = time.perf_counter() - start
        with open(path, "rb") as f:
            parallel = pickle.load(f)
    with _one_thread():
        single_model, single_losses = train_single_process(steps, **options)
    single = _named_arrays(single_model)
    return _compare(world_size, steps, "gloo", parallel, single, single_losses, seconds)


def find_free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it).

    Another program could take it between this call and its use; the demo
    then fails with "address already in use" and can simply be run again.

    Shapes: none. Twin: torchrun's --rdzv_endpoint=localhost:0.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_worker(rank, world_size, port, steps, options, use_ddp, path):
    """One spawned process of ``run_demo`` (spawn passes the rank first)."""
    torch.set_num_threads(1)  # deterministic, and 2 processes on 2 cores do not fight
    os.environ["MASTER_ADDR"] = "127.0.0.1"  # this process's own environment, not the caller's
    os.environ["MASTER_PORT"] = str(port)
    loopback = _loopback_interface()
    if loopback is not None:
        os.environ["GLOO_SOCKET_IFNAME"] = loopback
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=INIT_TIMEOUT)
    try:
        result = _train_both(rank, world_size, steps, options, use_ddp, torch.device("cpu"))
        if rank == 0:
            with open(path, "wb") as f:
                pickle.dump(result, f)
    finally:
        dist.destroy_process_group()
    _leave_now(0)


def _leave_now(code: int) -> None:
    """End a finished rank at once, skipping the interpreter's teardown.

    All work is done and the process group destroyed when this runs. With
    torch 2.13 and gloo, a C++ thread now and then aborts the process during
    teardown ("terminate called without an active exception"; seen in about
    4 of 150 two-process runs on a busy 2-core machine, always after
    ``destroy_process_group()`` had returned on both ranks), which would
    report a finished run as failed. ``os._exit`` skips that teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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


# ---------------------------------------------------------------- plumbing


def _check_training(func, steps, batch_size, lr, hidden, seed, world_size):
    steps = check_int(steps, "steps", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1, maximum=N_SAMPLES)
    if batch_size % world_size != 0:
        _fail(
            ValueError,
            func,
            f"batch_size divisible by world_size={world_size} (equal shards)",
            f"batch_size={batch_size}",
            f"use a multiple of {world_size}, e.g. {world_size * max(1, batch_size // world_size)}",
        )
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    hidden = check_int(hidden, "hidden", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    return steps, batch_size, lr, hidden, seed


def _check_process_group(func, rank, world_size):
    if not dist.is_available() or not dist.is_initialized():
        _fail(
            RuntimeError,
            func,
            "an initialised process group",
            "none",
            "call dist.init_process_group first (torchrun + main() do), or use run_demo()",
        )
    if dist.get_world_size() != world_size or dist.get_rank() != rank:
        _fail(
            ValueError,
            func,
            f"rank={dist.get_rank()}, world_size={dist.get_world_size()} (the process group's)",
            f"rank={rank}, world_size={world_size}",
            "pass dist.get_rank() and dist.get_world_size()",
        )


def _setup(hidden, seed, device):
    device = torch.device(device)
    x, y = make_problem(seed=seed)
    model = make_model(x.shape[1], hidden, seed).to(device)
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), model


def _named_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().cpu().numpy().copy() for name, p in model.named_parameters()}


def _unflatten(vector: np.ndarray, model: nn.Module) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, p in model.named_parameters():
        out[name] = vector[start : start + p.numel()].reshape(tuple(p.shape)).copy()
        start += p.numel()
    return out


def _loopback_interface() -> str | None:
    """The name of the loopback network interface ("lo" on Linux, "lo0" on macOS), or None.

    By default gloo binds to the address the machine's hostname resolves to,
    which may be a network card; setting ``GLOO_SOCKET_IFNAME`` to this name
    keeps the demo's traffic on 127.0.0.1.
    """
    names = {name for _, name in socket.if_nameindex()} if hasattr(socket, "if_nameindex") else set()
    for loopback in ("lo", "lo0"):
        if loopback in names:
            return loopback
    return None


@contextmanager
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- command line


def main(argv=None) -> int:
    """``python -m course_lib.distributed --demo``, or one rank under ``torchrun``.

    Shapes: none. Twin: torchrun.
    """
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.distributed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--demo", action="store_true", help="spawn CPU processes here (gloo, 127.0.0.1)")
    parser.add_argument("--world-size", type=int, default=2, help="processes for --demo (default 2)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default 8 * world size)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default=None, help="default: nccl with CUDA")
    args = parser.parse_args(argv)
    if args.demo:
        result = run_demo(
            args.world_size,
            args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            hidden=args.hidden,
            seed=args.seed,
        )
        print(result.summary())
        return 0 if result.matches_single and result.ranks_identical else 1
    missing = [name for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK") if name not in os.environ]
    if missing:
        parser.error(
            f"{', '.join(missing)} not set: launch with "
            "`torchrun --nproc_per_node=2 -m course_lib.distributed`, or pass --demo"
        )
    return _torchrun_rank(args)


def _torchrun_rank(args) -> int:
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    check_choice(backend, "backend", "main", ("gloo", "nccl"))
    if backend == "nccl":
        if not torch.cuda.is_available():
            _fail(ValueError, "main", "a CUDA GPU for --backend nccl", "none", "use --backend gloo")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(1)
    batch_size = args.batch_size if args.batch_size is not None else 8 * world_size
    options = dict(batch_size=batch_size, lr=args.lr, hidden=args.hidden, seed=args.seed)
    start = time.perf_counter()
    dist.init_process_group(backend, timeout=INIT_TIMEOUT)  # env://: MASTER_ADDR, MASTER_PORT, RANK, ...
    try:
        parallel = _train_both(rank, world_size, args.steps, options, True, device)
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return 0
    seconds = time.perf_counter() - start
    single_model, single_losses = train_single_process(args.steps, device=device, **options)
    result = _compare(
        world_size, args.steps, backend, parallel, _named_arrays(single_model), single_losses, seconds
    )
    print(result.summary())
    return 0 if result.matches_single and result.ranks_identical else 1


if __name__ == "__main__":
    exit_code = main()
    if "RANK" in os.environ:  # a torchrun rank: see _leave_now
        _leave_now(exit_code)
    sys.exit(exit_code)
