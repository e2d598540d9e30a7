"""Timing that is fair to every device, and the chapters' "NumPy vs torch CPU vs GPU" comparison.

``time_call`` runs a function a few times to warm up (caches, lazy CUDA
initialisation, the allocator), then times several repeats, synchronising
the device before reading the clock, and returns the median.
``compare_devices`` prints one step's time three ways, the comparison most
chapters end a section with.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

from course_lib.checks import _fail, check_int
from course_lib.device import get_device, one_thread, synchronize, twin_dtype


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, device=None) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs.

    ``device`` (a torch device or name) is synchronised before each clock
    reading, because GPU work is queued asynchronously; leave it None for
    NumPy code.
    """
    if not callable(fn):
        _fail(TypeError, "time_call", "a function taking no arguments", type(fn).__name__, "wrap it: lambda: f(x)")
    repeats = check_int(repeats, "repeats", "time_call", minimum=1)
    warmup = check_int(warmup, "warmup", "time_call", minimum=0)

    def sync():
        if device is not None:
            synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_devices(numpy_step: Callable[[], object], torch_step_on: Callable, repeats: int = 20,
                    what: str = "per step", single_thread: bool = False, device=None) -> dict:
    """Time one step of NumPy, of torch on the CPU and of torch on the GPU, and print the three medians.

    ``numpy_step()`` runs one step of the scratch code (float64).
    ``torch_step_on(dev, dtype)`` builds the torch model on ``dev`` and returns
    a function that runs one step. The CPU runs in ``twin_dtype`` (float64,
    the same numbers as NumPy); a GPU runs in float32, the type it is fast in.
    ``single_thread`` times the two CPU columns on one thread (fair to NumPy
    when the step is small). ``device`` defaults to ``get_device()``; on a
    machine without a GPU the third line says so.

    Returns ``{"numpy": s, "torch_cpu": s, "torch_gpu": s or None}`` (median seconds).
    """
    func = "compare_devices"
    for value, name in ((numpy_step, "numpy_step"), (torch_step_on, "torch_step_on")):
        if not callable(value):
            _fail(TypeError, func, f"{name} to be a function", type(value).__name__,
                  "see the docstring: numpy_step() runs one step; torch_step_on(dev, dtype) returns one")
    repeats = check_int(repeats, "repeats", func, minimum=1)
    if not isinstance(what, str):
        _fail(TypeError, func, "what to be a string such as 'per step'", type(what).__name__, None)
    import torch

    device = get_device() if device is None else torch.device(device)
    cpu = torch.device("cpu")
    cpu_dtype = twin_dtype(cpu)
    name = str(cpu_dtype).replace("torch.", "")
    with one_thread() if single_thread else contextlib.nullcontext():
        t_numpy = time_call(numpy_step, repeats=repeats)
        t_cpu = time_call(_step(torch_step_on, cpu, cpu_dtype, func), repeats=repeats)
    print(f"NumPy ({name})       : {t_numpy * 1e3:8.2f} ms {what}")
    print(f"torch CPU ({name})   : {t_cpu * 1e3:8.2f} ms {what}")
    t_gpu = None
    if device.type != "cpu":
        t_gpu = time_call(_step(torch_step_on, device, torch.float32, func), repeats=repeats, device=device)
        print(f"torch {device.type:4s} (float32): {t_gpu * 1e3:8.2f} ms {what}")
    else:
        print("torch GPU             : not available on this machine")
    return {"numpy": t_numpy, "torch_cpu": t_cpu, "torch_gpu": t_gpu}


def _step(torch_step_on, dev, dtype, func):
    step = torch_step_on(dev, dtype)
    if not callable(step):
        _fail(TypeError, func, "torch_step_on(dev, dtype) to return a function that runs one step",
              type(step).__name__, "end torch_step_on with `return step`")
    return step

