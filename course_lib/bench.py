"""Timing that is fair to every device.

``time_call`` runs a function a few times to warm up (caches, lazy CUDA
initialisation, the allocator), then times several repeats, synchronising
the device before reading the clock, and returns the median.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from course_lib._checks import _fail, check_int


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
            from course_lib.device import synchronize

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
