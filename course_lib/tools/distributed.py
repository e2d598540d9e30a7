"""``python -m course_lib.tools.distributed --demo``, or one rank under ``torchrun -m course_lib.tools.distributed``."""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist

from course_lib.chapters.ch11_hardware_and_scale._spawn import RankFailed, leave_now
from course_lib.chapters.ch11_hardware_and_scale.demo import _compare, _train_both, run_demo
from course_lib.chapters.ch11_hardware_and_scale.distributed import INIT_TIMEOUT, _named_arrays, train_single_process
from course_lib.checks import _fail, check_argv, check_choice

# ---------------------------------------------------------------- command line


def main(argv=None) -> int:
    """``python -m course_lib.tools.distributed --demo``, or one rank under ``torchrun``.

    Shapes: none. Twin: torchrun.
    """
    argv = check_argv(argv, "main")
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.tools.distributed",
        description="Data-parallel training with torch.distributed, on one small problem.",
    )
    parser.add_argument("--demo", action="store_true", help="spawn CPU processes here (gloo, 127.0.0.1)")
    parser.add_argument("--world-size", type=int, default=2, help="processes for --demo (default 2)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default 8 * world size)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default=None, help="default: nccl with CUDA")
    parser.add_argument("--port", type=int, default=None, help="rendezvous port for --demo (default: a free one)")
    args = parser.parse_args(argv)
    if args.demo:
        try:
            result = run_demo(
                args.world_size,
                args.steps,
                batch_size=args.batch_size,
                lr=args.lr,
                hidden=args.hidden,
                seed=args.seed,
                port=args.port,
            )
        except KeyboardInterrupt:
            print(f"{parser.prog}: interrupted; every rank stopped", file=sys.stderr)
            return 130
        except (ValueError, TypeError, OSError, RankFailed) as exc:
            print(f"{parser.prog}: {exc}", file=sys.stderr)  # one line, no traceback
            return 1
        print(result.summary())
        return 0 if result.matches_single and result.ranks_identical else 1
    missing = [name for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK") if name not in os.environ]
    if missing:
        parser.error(
            f"{', '.join(missing)} not set: launch with "
            "`torchrun --nproc_per_node=2 -m course_lib.tools.distributed`, or pass --demo"
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
    result = _compare(world_size, args.steps, backend, parallel, _named_arrays(single_model), single_losses, seconds)
    print(result.summary())
    return 0 if result.matches_single and result.ranks_identical else 1


def run_main() -> None:
    """``python -m course_lib.tools.distributed``: run ``main`` and exit with its code."""
    exit_code = main()
    if "RANK" in os.environ:  # a torchrun rank: see _spawn.leave_now
        leave_now(exit_code)
    sys.exit(exit_code)


if __name__ == "__main__":
    run_main()
