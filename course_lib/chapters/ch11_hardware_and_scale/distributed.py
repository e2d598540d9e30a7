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

    from course_lib.chapters.ch11_hardware_and_scale.demo import run_demo
    result = run_demo(world_size=2, steps=20)   # 2 CPU processes, gloo, 127.0.0.1 only
    print(result.summary())

From a shell, the same demo, or the launcher used on real clusters::

    python -m course_lib.tools.distributed --demo
    torchrun --nproc_per_node=2 -m course_lib.tools.distributed                  # 2 processes, this machine

``torchrun`` starts the processes and tells each one who it is through the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; ``main()`` reads them. With CUDA the
backend is NCCL and rank ``r`` on a machine uses ``cuda:LOCAL_RANK``
(``--backend gloo`` forces the CPU). Several GPUs on one machine::

    torchrun --nproc_per_node=4 -m course_lib.tools.distributed

Several machines (here 2 machines with 4 GPUs each; run one command per
machine, ``HOST0`` being the address of the first machine, reachable by all)::

    # on the first machine
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 --rdzv_endpoint=HOST0:29500 -m course_lib.tools.distributed
    # on the second machine
    torchrun --nnodes=2 --node_rank=1 --nproc_per_node=4 --rdzv_endpoint=HOST0:29500 -m course_lib.tools.distributed

(Or let the machines agree on ranks themselves: replace ``--node_rank`` by
``--rdzv_backend=c10d --rdzv_id=some_job_name``, the same on every machine.)
The global batch must split evenly: ``--batch-size`` defaults to
``8 * world_size``.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from course_lib.checks import _fail, check_array, check_float, check_int

N_SAMPLES = 256
IN_FEATURES = 3
INIT_TIMEOUT = timedelta(seconds=60)  # give up on a rank that never shows up
ATOL = 1e-12  # "equal up to float rounding" in float64
MAX_DEMO_PROCESSES = 8  # the demo runs on one machine's CPU; use torchrun beyond that
PORT_TRIES = 3  # run_demo picks a fresh free port this many times when another program takes it


# ---------------------------------------------------------------- the problem


def make_problem(n_samples: int = N_SAMPLES, in_features: int = IN_FEATURES, seed: int = 0):
    """A fixed regression problem: ``y = sin(x @ w) + noise``, float64.

    Shapes: x (N, D), y (N, 1).
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
    func = "batch_indices"
    step = check_int(step, "step", func, minimum=0)
    n_samples = check_int(n_samples, "n_samples", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1, maximum=n_samples)
    seed = check_int(seed, "seed", func, minimum=0)
    rng = np.random.default_rng([seed, step])
    return rng.choice(n_samples, size=batch_size, replace=False)


def shard_indices(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s share of a global batch: every ``world_size``-th index.

    The shards have equal sizes, which is what makes the mean of the shard
    gradients equal the full-batch gradient: ``B`` must divide evenly.

    Shapes: indices (B,) -> (B / world_size,).
    Twin: torch.utils.data.DistributedSampler (same strided split).
    """
    func = "shard_indices"
    check_array(indices, "indices", func, ndim=1, shape_doc="(B,)", dtype_kind="iu")
    world_size = check_int(world_size, "world_size", func, minimum=1)
    rank = check_int(rank, "rank", func, minimum=0, maximum=world_size - 1)
    if len(indices) % world_size != 0:
        _fail(
            ValueError,
            func,
            f"a batch that splits into {world_size} equal shards",
            f"{len(indices)} indices",
            f"use a batch size that is a multiple of {world_size}",
        )
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
    func = "average_gradients"
    _check_module(model, func)
    world_size = check_int(world_size, "world_size", func, minimum=1)
    if any(p.grad is None for p in model.parameters()):
        _fail(ValueError, func, "a gradient on every parameter", "p.grad None", "call loss.backward() first")
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
    _check_module(model, "gather_weights")
    world_size = check_int(world_size, "world_size", "gather_weights", minimum=1)
    vector = nn.utils.parameters_to_vector(model.parameters()).detach()
    vectors = [torch.empty_like(vector) for _ in range(world_size)]
    dist.all_gather(vectors, vector)
    return [_unflatten(v.cpu().numpy(), model) for v in vectors]


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


def _check_module(model, func):
    if not isinstance(model, nn.Module):
        _fail(TypeError, func, "model to be a torch.nn.Module", type(model).__name__, "pass the model itself")


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
