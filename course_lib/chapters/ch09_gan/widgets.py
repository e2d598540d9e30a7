"""Chapter 9 demo: a slider over the saved snapshots of a GAN learning eight Gaussians on a ring.

The training runs once in the notebook (``course_lib.chapters.ch09_gan.gan.train_gan_2d``);
the widget only replays its snapshots, so moving the slider is instant.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from course_lib.chapters.ch09_gan.gan import mode_coverage
from course_lib.checks import _fail, check_array, check_float, named_errors

_FUNC = "gan_snapshot_widget"


def draw_samples(ax, samples: np.ndarray, data: np.ndarray, centres: np.ndarray, radius: float,
                 min_count: int = 10, title: str = ""):
    """Real points (grey), generated points (blue) and a circle of ``radius`` around each mode.

    The title ends with the coverage: modes covered and the fraction of samples near a mode.

    Shapes: samples (M, 2), data (N, 2), centres (K, 2).
    Twin: none (a plot).
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


def gan_snapshot_widget(steps, snapshots, data, centres, radius: float, min_count: int = 10):
    """A slider over training steps redraws the generator's samples saved at that step.

    ``steps[i]`` is the step after which ``snapshots[i]`` was taken
    (``GANRun.snapshot_steps`` and ``GANRun.snapshots``).

    Shapes: steps (T,), snapshots (T, M, 2), data (N, 2), centres (K, 2).
    Twin: none (a teaching demo).
    """
    steps = [int(s) for s in steps] if hasattr(steps, "__iter__") else steps
    if not isinstance(steps, list) or not steps:
        _fail(TypeError, _FUNC, "steps to be a non-empty list of step numbers", type(steps).__name__,
              "pass run.snapshot_steps")
    snapshots = check_array(snapshots, "snapshots", _FUNC, ndim=3, shape_doc="(T, M, 2)",
                            fix="pass run.snapshots")
    if snapshots.shape[0] != len(steps) or snapshots.shape[2] != 2:
        _fail(ValueError, _FUNC, f"snapshots of shape ({len(steps)}, M, 2), one per step",
              f"shape {snapshots.shape}", "pass run.snapshot_steps and run.snapshots from the same run")
    check_array(data, "data", _FUNC, ndim=2, shape_doc="(N, 2)")
    check_array(centres, "centres", _FUNC, ndim=2, shape_doc="(K, 2)")
    radius = check_float(radius, "radius", _FUNC, minimum=0.0, strict_min=True)
    index = {s: i for i, s in enumerate(steps)}

    def draw(step):
        fig, ax = plt.subplots(figsize=(4, 4))
        draw_samples(ax, snapshots[index[step]], data, centres, radius, min_count, title=f"step {step}: ")
        plt.show()

    return widgets.interactive(
        draw,
        step=widgets.SelectionSlider(options=steps, value=steps[-1], description="step",
                                     continuous_update=False),
    )
