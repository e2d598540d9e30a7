"""Chapter 11 figures and demo: matrix-multiply speed against the machine's roofline.

``plot_roofline`` draws measured GFLOP/s for a few matrix sizes (passed in)
against the measured peak (left) and the roofline, the most a kernel of a
given arithmetic intensity can reach, min(peak, bandwidth x intensity),
with the matrix multiply of a chosen size placed on it (right).
``live_roofline_widget`` times a product of the size and library you pick,
now, and places it on the roofline.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_float, check_int


def matmul_intensity(n: int, bytes_per_element: int = 4) -> float:
    """Arithmetic intensity of an (n, n) @ (n, n) product: 2n^3 flops over 3n^2 elements moved.

    Reading A and B and writing C once each is the least memory traffic
    possible, so this is the highest intensity the product can have.

    Shapes: A (n, n), B (n, n) -> C (n, n).
    """
    n = check_int(n, "n", "matmul_intensity", minimum=1)
    bytes_per_element = check_int(bytes_per_element, "bytes_per_element", "matmul_intensity", minimum=1)
    return 2.0 * n**3 / (3.0 * n**2 * bytes_per_element)


def _check_measurements(sizes, gflops, peak, bandwidth, func):
    if not isinstance(sizes, (list, tuple, np.ndarray)) or len(sizes) == 0:
        _fail(ValueError, func, "sizes as a non-empty list of matrix sizes", repr(sizes), "e.g. [64, 128, 256]")
    sizes = [check_int(int(s) if isinstance(s, np.integer) else s, "sizes[i]", func, minimum=1) for s in sizes]
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        _fail(ValueError, func, "sizes in increasing order", repr(sizes), "sort them")
    if not isinstance(gflops, Mapping) or not gflops:
        got = type(gflops).__name__ if not isinstance(gflops, Mapping) else "an empty dict"
        _fail(TypeError if not isinstance(gflops, Mapping) else ValueError, func,
              "gflops as a dict {label: [GFLOP/s per size]}", got, "e.g. {'NumPy': [1.0, 2.0, 3.0]}")
    curves = {}
    for label, values in gflops.items():
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            _fail(ValueError, func, f"numbers for {label!r}", repr(values)[:60], None)
        if values.shape != (len(sizes),) or not np.all(np.isfinite(values)) or np.any(values < 0):
            _fail(ValueError, func, f"{len(sizes)} non-negative GFLOP/s values for {label!r}, one per size",
                  f"shape {values.shape}" if values.shape != (len(sizes),) else "negative or non-finite values",
                  "leave out a backend that was not measured")
        curves[str(label)] = values
    peak = check_float(peak, "peak", func, minimum=0.0, strict_min=True)
    bandwidth = check_float(bandwidth, "bandwidth", func, minimum=0.0, strict_min=True)
    return sizes, curves, peak, bandwidth


def plot_roofline(sizes, gflops, peak: float, bandwidth: float, n: int | None = None, bytes_per_element: int = 4):
    """Two panels: GFLOP/s against matrix size, and the roofline with the measured points.

    ``gflops`` maps a label ("NumPy", "torch CPU", ...) to one measured
    GFLOP/s per size; ``peak`` is in GFLOP/s, ``bandwidth`` in GB/s;
    ``n`` (one of ``sizes``) is highlighted. Returns the figure.

    Shapes: sizes (S,), each gflops curve (S,).
    """
    func = "plot_roofline"
    sizes, curves, peak, bandwidth = _check_measurements(sizes, gflops, peak, bandwidth, func)
    bytes_per_element = check_int(bytes_per_element, "bytes_per_element", func, minimum=1)
    if n is not None and n not in sizes:
        _fail(ValueError, func, f"n to be one of the measured sizes {sizes}", repr(n), None)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, values in curves.items():
        left.plot(sizes, values, "o-", label=label)
    left.axhline(peak, color="k", ls="--", lw=1, label=f"measured peak {peak:.0f}")
    left.axhline(peak / 2, color="gray", ls=":", lw=1, label="half the peak")
    left.set_xscale("log", base=2)
    left.set_xlabel("matrix size n  (n x n @ n x n)")
    left.set_ylabel("GFLOP/s")
    left.set_title("measured speed of a matrix multiply", fontsize=10)

    intensities = np.array([matmul_intensity(s, bytes_per_element) for s in sizes])
    ridge = peak / bandwidth
    grid = np.logspace(np.log10(min(0.1, intensities.min() / 2)), np.log10(max(intensities.max(), ridge) * 4), 200)
    right.plot(grid, np.minimum(peak, bandwidth * grid), "k-", lw=2, label="roofline")
    right.axvline(ridge, color="gray", ls=":", lw=1, label=f"ridge {ridge:.1f} flop/B")
    for label, values in curves.items():
        right.plot(intensities, values, "o", label=label)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("arithmetic intensity (flop per byte moved)")
    right.set_ylabel("GFLOP/s")
    if n is not None:
        i = sizes.index(n)
        left.axvline(n, color="C3", lw=1)
        right.axvline(intensities[i], color="C3", lw=1)
        bound = "compute-bound" if intensities[i] >= ridge else "memory-bound"
        right.set_title(f"n = {n}: {2 * n**3 / 1e6:.3g} MFLOP, {3 * n * n * bytes_per_element / 1e6:.3g} MB, "
                        f"{intensities[i]:.3g} flop/B: {bound}", fontsize=9)
    else:
        right.set_title("roofline: min(peak, bandwidth x intensity)", fontsize=10)
    left.legend(fontsize=8)
    right.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def live_roofline_widget(peak: float, bandwidth: float, sizes=(8, 16, 32, 64, 128, 256, 512, 1024, 2048)):
    """Time an (n, n) float32 product now, for the chosen n and library, and place it on the roofline.

    Every change of the slider or the menu measures again (the best of 3
    runs after a warm-up: about a second at n = 2048 on one laptop core), so
    the point shows this machine as it is at that moment.

    Shapes: A (n, n) @ B (n, n) for n in ``sizes``.
    """
    func = "live_roofline_widget"
    peak = check_float(peak, "peak", func, minimum=0.0, strict_min=True)
    bandwidth = check_float(bandwidth, "bandwidth", func, minimum=0.0, strict_min=True)
    if not isinstance(sizes, (list, tuple)) or not sizes:
        _fail(TypeError, func, "sizes as a non-empty list of matrix sizes", repr(sizes)[:40], None)
    sizes = [check_int(s, "sizes[i]", func, minimum=1) for s in sizes]
    import time

    import torch

    def measure(n, library):
        a = np.random.default_rng(n).standard_normal((n, n), dtype=np.float32)
        x = a if library == "NumPy" else torch.from_numpy(a)
        x @ x
        best = min(_timed(lambda: x @ x, time) for _ in range(3))
        return 2 * n**3 / best / 1e9

    def draw(n, library):
        speed = measure(n, library)
        intensity = matmul_intensity(n, 4)
        grid = np.logspace(-1, np.log10(max(matmul_intensity(sizes[-1], 4), peak / bandwidth) * 4), 200)
        _, ax = plt.subplots(figsize=(6.5, 3.8))
        ax.plot(grid, np.minimum(peak, bandwidth * grid), "k-", lw=2, label="roofline")
        ax.axvline(peak / bandwidth, color="gray", ls=":", lw=1, label=f"ridge {peak / bandwidth:.1f} flop/B")
        ax.plot([intensity], [speed], "o", color="C3", ms=9, label=f"{library}, n = {n}: {speed:.1f} GFLOP/s")
        roof = min(peak, bandwidth * intensity)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (flop per byte moved)")
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"measured now: {speed / roof:.0%} of the roof at this intensity", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        plt.show()

    style = {"description_width": "initial"}
    return widgets.interactive(
        draw,
        n=widgets.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2], description="matrix size n",
                                  continuous_update=False, style=style),
        library=widgets.Dropdown(options=["NumPy", "torch CPU"], value="NumPy", description="library", style=style),
    )


def _timed(fn, time) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
