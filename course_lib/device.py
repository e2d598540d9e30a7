"""Which device torch code runs on, seeding, and a description of the hardware.

Every notebook starts with ``setup(seed=0)``: one call that seeds Python,
NumPy and torch, fixes the number of CPU threads (results differ in their
last digits across thread counts) and sets print precision.

The device is chosen CUDA first, then Apple's MPS, then the CPU. Set the
environment variable ``COURSE_DEVICE`` to ``cpu``, ``cuda``, ``cuda:1`` or
``mps`` to override; an unknown or unavailable value is an error, never a
silent fallback.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import sys

import numpy as np

from course_lib.checks import _fail, check_int

DEVICE_ENV = "COURSE_DEVICE"
THREADS_ENV = "COURSE_THREADS"
# Another base seed for a whole chapter: 0 (the default) keeps every seed as written.
SEED_ENV = "COURSE_SEED"
# Seeds of base b are k + b * SEED_STRIDE: distinct from every seed a chapter writes (all below it).
SEED_STRIDE = 100_003
DEFAULT_THREADS = 2

_blas_limiter = None


def _torch():
    import torch

    return torch


def get_device(name: str | None = None):
    """Return the ``torch.device`` the course's torch code should run on.

    ``name`` (or the ``COURSE_DEVICE`` variable when ``name`` is None) forces
    a device; otherwise CUDA, then MPS, then CPU.
    """
    torch = _torch()
    requested = name if name is not None else os.environ.get(DEVICE_ENV, "").strip()
    if not requested:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(requested, str):
        _fail(TypeError, "get_device", "a device name such as 'cpu'", type(requested).__name__, None)
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", requested):
        _fail(
            ValueError,
            "get_device",
            f"{DEVICE_ENV} (or name) to be 'cpu', 'cuda', 'cuda:N' or 'mps'",
            repr(requested),
            f"unset {DEVICE_ENV} to choose automatically",
        )
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            _fail(
                ValueError,
                "get_device",
                "a CUDA GPU for device " + repr(requested),
                "none (torch.cuda.is_available() is False)",
                f"unset {DEVICE_ENV} or set it to 'cpu'",
            )
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            _fail(
                ValueError,
                "get_device",
                f"a CUDA device index below {torch.cuda.device_count()}",
                str(index),
                "pick an existing GPU, e.g. 'cuda:0'",
            )
    if requested == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            _fail(ValueError, "get_device", "Apple MPS for device 'mps'", "none available", f"unset {DEVICE_ENV}")
    return torch.device(requested)


def base_seed() -> int:
    """The chapter's base seed, from ``COURSE_SEED`` (default 0: every seed as written in the notebook).

    Re-running a chapter with ``COURSE_SEED=1`` (or 2, 3, ...) changes every
    seed it takes through ``seed_for`` and ``rng`` at once: the data splits,
    the initial weights, the mini-batch order. A claim the chapter makes
    should hold for every base seed; ``make test-seeds`` checks that.
    """
    raw = os.environ.get(SEED_ENV, "0").strip() or "0"
    if not raw.isdigit():
        _fail(ValueError, "base_seed", f"{SEED_ENV} to be a non-negative integer", repr(raw),
              f"e.g. {SEED_ENV}=1, or unset it for the seeds as written")
    return int(raw)


def seed_for(k: int) -> int:
    """The seed to use where the notebook writes ``k``: ``k`` itself unless ``COURSE_SEED`` asks for another base.
    """
    k = check_int(k, "k", "seed_for", minimum=0, maximum=SEED_STRIDE - 1)
    return k + base_seed() * SEED_STRIDE


def rng(k: int) -> np.random.Generator:
    """``np.random.default_rng(seed_for(k))``: a generator that follows the chapter's base seed.

    Shapes: none. Twin: torch.Generator().manual_seed(seed_for(k)).
    """
    if isinstance(k, bool) or not isinstance(k, int):
        _fail(TypeError, "rng", "k to be an int (the seed as the notebook writes it)", type(k).__name__,
              "e.g. rng(0)")
    return np.random.default_rng(seed_for(k))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all devices)."""
    seed = check_int(seed, "seed", "seed_everything", minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global generator students may use
    _torch().manual_seed(seed)  # also seeds every CUDA device


def torch_seeded(seed: int):
    """Seed torch's global generator inside a ``with`` block and restore it after (weights made with a fixed seed).

    The seed is checked when this is called, not when the block starts.
    """
    return _torch_seeded(check_int(seed, "seed", "torch_seeded", minimum=0))


@contextlib.contextmanager
def _torch_seeded(seed: int):
    torch = _torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def set_threads(threads: int) -> None:
    """Fix the CPU thread count of torch and of NumPy's BLAS."""
    global _blas_limiter
    threads = check_int(threads, "threads", "set_threads", minimum=1)
    torch = _torch()
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    _blas_limiter = threadpool_limits(limits=threads)


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    For tiny networks, splitting each small operation across threads costs
    more than it saves (on a busy 2-core machine, many times more).

    Shapes: none (a context manager).
    Twin: torch.set_num_threads
    """
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def setup(seed: int = 0, threads: int | None = None) -> None:
    """Make a notebook reproducible: seeds, thread count, print precision.

    ``threads`` defaults to the ``COURSE_THREADS`` variable, else 2. The
    saving and the checking runs of the notebooks use the same value (see
    ``tools/run_notebooks.py``). Returns None, so it prints nothing as the
    last line of a cell.
    """
    seed = check_int(seed, "seed", "setup", minimum=0, maximum=2**32 - 1)
    if threads is not None:
        threads = check_int(threads, "threads", "setup", minimum=1)
    if threads is None:
        raw = os.environ.get(THREADS_ENV, str(DEFAULT_THREADS))
        if not raw.isdigit() or int(raw) < 1:
            _fail(ValueError, "setup", f"{THREADS_ENV} to be a positive integer", repr(raw), "e.g. COURSE_THREADS=2")
        threads = int(raw)
    set_threads(threads)
    seed_everything(seed_for(seed) if seed < SEED_STRIDE else seed)
    np.set_printoptions(precision=4, suppress=True)
    _install_name_error_hint()
    if base_seed():
        print(f"{SEED_ENV}={base_seed()}: every seed of this chapter is shifted (seed k becomes "
              f"k + {base_seed()} * {SEED_STRIDE}); shipped results are not used")
    torch = _torch()
    torch.set_printoptions(precision=4, sci_mode=False)
    get_device()  # fail early on a bad COURSE_DEVICE


def twin_dtype(device):
    """The dtype the course's torch twins use on ``device``: float64, or float32 on MPS (which has no float64).

    float64 makes a twin agree with the NumPy code to about 1e-12, so a
    comparison shows bugs, not rounding. Timings of a GPU use float32
    (``course_lib.timing.compare_devices``).
    """
    torch = _torch()
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            _fail(ValueError, "twin_dtype", "a device name such as 'cpu', 'cuda' or 'mps'", repr(device),
                  str(exc).split("\n")[0])
    if not isinstance(device, torch.device):
        _fail(TypeError, "twin_dtype", "device to be a torch.device (or a name such as 'cpu')",
              type(device).__name__, "pass get_device()")
    return torch.float32 if device.type == "mps" else torch.float64


def synchronize(device=None) -> None:
    """Wait for queued work on ``device`` to finish (a no-op on the CPU).

    Call it before reading a clock around GPU work: CUDA and MPS launch
    kernels asynchronously.
    """
    torch = _torch()
    if device is None:
        device = get_device()
    elif not isinstance(device, torch.device):
        if not isinstance(device, str):
            _fail(TypeError, "synchronize", "device to be None, a torch.device or a name such as 'cuda'",
                  type(device).__name__, "pass get_device()")
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            _fail(ValueError, "synchronize", "a device name such as 'cpu', 'cuda' or 'cuda:1'", repr(device),
                  str(exc).split("\n")[0])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def describe_hardware() -> dict:
    """Describe this machine: CPU, core and thread counts, versions, GPU."""
    torch = _torch()
    device = get_device()
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu": _cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    elif device.type == "mps":
        info["gpu"] = "Apple GPU (MPS)"
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _name_error_hint(shell, etype, evalue, tb, tb_offset=None):
    """A NameError in a notebook: the usual cause is a cell run before the one that defines the name."""
    shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)
    match = re.search(r"name '(\w+)' is not defined", str(evalue))
    name = f"`{match.group(1)}`" if match else "this name"
    print(f"Hint: {name} is made by a cell above this one that has not run yet (or ran before a kernel restart). "
          "Run the cells above first: Run > Run All Above Selected Cell.", file=sys.stderr)


def _install_name_error_hint() -> None:
    """In IPython (Jupyter), add the hint above to every NameError; elsewhere do nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "set_custom_exc"):
        shell.set_custom_exc((NameError,), _name_error_hint)
