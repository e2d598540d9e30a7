"""Chapter 9's figures and widget: samples on the ring, the verdict of many runs, and a GAN you retrain live.

``gan_live_widget`` retrains a small 2-D GAN (``train_gan_2d``) every time a
slider moves: k, the two learning rates, the number of steps and the seed.
Runs of 300 steps take about a second on a laptop's CPU.
"""

from __future__ import annotations

import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from course_lib.chapters.ch09_gan.gan import mode_coverage, train_gan_2d
from course_lib.chapters.ch09_gan.sweep import run_verdict
from course_lib.checks import _fail, check_array, check_float, check_int, named_errors

_FUNC = "gan_live_widget"
_COLOURS = {"converged": "tab:green", "mode collapse": "tab:orange", "not converged": "tab:red", "partly": "0.5"}


def draw_samples(ax, samples: np.ndarray, data: np.ndarray, centres: np.ndarray, radius: float,
                 min_count: int = 10, title: str = ""):
    """Real points (grey), generated points (blue) and a circle of ``radius`` around each mode.

    The title ends with the coverage: modes covered and the fraction of samples near a mode.

    Shapes: samples (M, 2), data (N, 2), centres (K, 2).
    """
    func = "draw_samples"
    if not isinstance(ax, Axes):
        _fail(TypeError, func, "ax to be a matplotlib Axes", type(ax).__name__, "e.g. fig, ax = plt.subplots()")
    check_array(data, "data", func, ndim=2, shape_doc="(N, 2)")
    if not isinstance(title, str):
        _fail(TypeError, func, "title to be a str", type(title).__name__, None)
    with named_errors(func):
        covered, near = mode_coverage(samples, centres, radius, min_count=min_count)
    ax.scatter(data[:, 0], data[:, 1], s=2, c="0.7", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated")
    for cx, cy in centres:
        ax.add_patch(plt.Circle((cx, cy), radius, fill=False, lw=0.6, color="tab:red"))
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}{covered}/{len(centres)} modes, {near:.0%} near", fontsize=9)
    return covered, near


def plot_verdicts(ax, summaries: dict, modes: int = 8):
    """Every run as a point (modes covered, fraction near a mode), one marker per setting, mean +- std as a cross.

    The corners are the verdicts: top right converged, top left mode
    collapse, bottom not converged. ``summaries`` maps a setting's label to
    ``summarise_runs``' result.

    Shapes: none (a plot).
    """
    func = "plot_verdicts"
    if not isinstance(ax, Axes):
        _fail(TypeError, func, "ax to be a matplotlib Axes", type(ax).__name__, "e.g. fig, ax = plt.subplots()")
    if not isinstance(summaries, dict) or not all(isinstance(v, dict) and "covered" in v for v in summaries.values()):
        _fail(TypeError, func, "a dict {label: summarise_runs(...)}", type(summaries).__name__, None)
    modes = check_int(modes, "modes", func, minimum=1)
    ax.axhspan(0.5, 1.02, xmin=(modes - 1.5) / (modes + 1), color="tab:green", alpha=0.08)
    ax.axhspan(0.5, 1.02, xmax=(modes // 2 + 1.5) / (modes + 1), color="tab:orange", alpha=0.08)
    ax.axhspan(-0.02, 0.3, color="tab:red", alpha=0.06)
    for (label, summary), marker in zip(summaries.items(), "osD^v"):
        covered, near = summary["covered"][:, -1], summary["near"][:, -1]
        jitter = np.linspace(-0.15, 0.15, len(covered))
        ax.scatter(covered + jitter, near, marker=marker, alpha=0.5, label=label)
        ax.errorbar(summary["covered_mean"], summary["near_mean"], xerr=summary["covered_std"],
                    yerr=summary["near_std"], color="k", capsize=3, lw=1)
    for text, (x, y) in (("converged", (modes - 1.4, 0.95)), ("mode collapse", (-0.4, 0.95)),
                         ("not converged", (modes / 2 - 1, 0.24))):
        ax.text(x, y, text, color=_COLOURS[text], fontsize=8)
    ax.set_xlim(-0.5, modes + 0.5)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("modes covered at the end")
    ax.set_ylabel("fraction of samples near a mode")
    ax.legend(fontsize=8, loc="center left")


def gan_live_widget(data, centres, radius: float, min_count: int = 10, batch_size: int = 128):
    """Sliders for k, the two learning rates, the steps and the seed; every change retrains a 2-D GAN and redraws.

    Left: the generator's samples after training (title: coverage and the
    verdict); right: modes covered and fraction near a mode at each tenth
    of the training. The status line says how long the training took.

    Shapes: data (N, 2), centres (K, 2).
    """
    check_array(data, "data", _FUNC, ndim=2, shape_doc="(N, 2)")
    check_array(centres, "centres", _FUNC, ndim=2, shape_doc="(K, 2)")
    radius = check_float(radius, "radius", _FUNC, minimum=0.0, strict_min=True)
    min_count = check_int(min_count, "min_count", _FUNC, minimum=1)
    batch_size = check_int(batch_size, "batch_size", _FUNC, minimum=1)

    def draw(k, lr_g, lr_d, steps, seed):
        start = time.perf_counter()
        run = train_gan_2d(data, steps=steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, d_steps=k, seed=seed,
                           snapshot_every=max(1, steps // 10), desc="GAN")
        seconds = time.perf_counter() - start
        cov = [mode_coverage(s, centres, radius, min_count) for s in run.snapshots]
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.8))
        covered, near = draw_samples(left, run.snapshots[-1], data, centres, radius, min_count,
                                     title=f"k={k}, lr_g={lr_g:.0e}, lr_d={lr_d:.0e}\n")
        left.set_xlabel(f"verdict: {run_verdict(covered, near, len(centres))} (trained in {seconds:.1f} s)")
        right.plot(run.snapshot_steps, [c for c, _ in cov], "o-", label="modes covered")
        right.set_ylim(-0.3, len(centres) + 0.3)
        right.set_xlabel("training step")
        right.set_ylabel("modes covered")
        twin = right.twinx()
        twin.plot(run.snapshot_steps, [n for _, n in cov], "s--", color="tab:orange", label="near a mode")
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("fraction near a mode", color="tab:orange")
        fig.tight_layout()
        plt.show()

    style = {"description_width": "initial"}
    log = dict(base=10, min=-4, max=-2, step=0.25, readout_format=".1e", continuous_update=False, style=style)
    return widgets.interactive(
        draw,
        k=widgets.IntSlider(value=3, min=1, max=5, description="k (discriminator steps per generator step)",
                            continuous_update=False, style=style),
        lr_g=widgets.FloatLogSlider(value=3e-3, description="generator learning rate", **log),
        lr_d=widgets.FloatLogSlider(value=1e-3, description="discriminator learning rate", **log),
        steps=widgets.IntSlider(value=300, min=100, max=400, step=50, description="training steps",
                                continuous_update=False, style=style),
        seed=widgets.IntSlider(value=0, min=0, max=9, description="seed", continuous_update=False, style=style),
    )
