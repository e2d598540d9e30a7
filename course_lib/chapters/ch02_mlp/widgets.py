"""Chapter 2 demo: how many hidden units does a network need to fit a curve?

Every slider change trains a fresh network of the chosen width from the
chosen start (800 full-batch Adam steps on 120 points, about a
second on a laptop CPU) and scores it on held-out points.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from course_lib.checks import _fail, check_array, check_int


def _check_curve(values, name: str, n: int | None, func: str) -> np.ndarray:
    values = check_array(values, name, func, ndim=(1, 2), shape_doc="(N,) or (N, 1)", dtype_kind="f")
    if values.ndim == 2 and values.shape[1] != 1:
        _fail(ValueError, func, f"{name} of shape (N,) or (N, 1)", f"shape {values.shape}",
              "this demo fits functions of one input to one output")
    values = values.reshape(-1)
    if n is not None and values.size != n:
        _fail(ValueError, func, f"{name} with {n} values, one per point of x", f"{values.size} values", None)
    return values


def fit_error(target: np.ndarray, fit: np.ndarray) -> float:
    """Mean squared error between a fit and the target curve.

    Shapes: target (N,), fit (N,) -> float.
    Twin: torch.nn.functional.mse_loss
    """
    target = _check_curve(target, "target", None, "fit_error")
    fit = _check_curve(fit, "fit", target.size, "fit_error")
    return float(np.mean((fit - target) ** 2))


def plot_fit(ax, x: np.ndarray, target: np.ndarray, fit: np.ndarray, width: int, x_held=None, target_held=None,
             fit_held=None):
    """Draw the target curve and one network's fit, titled with the width and the error.

    With held-out points (x_held, target_held) and the network's predictions
    there (fit_held), draws them as dots and titles with the held-out error too.

    Shapes: x (N,), target (N,), fit (N,); x_held, target_held, fit_held (M,).
    """
    func = "plot_fit"
    if not isinstance(ax, Axes):
        _fail(TypeError, func, "ax to be a matplotlib Axes", type(ax).__name__, "e.g. fig, ax = plt.subplots()")
    x = _check_curve(x, "x", None, func)
    target = _check_curve(target, "target", x.size, func)
    fit = _check_curve(fit, "fit", x.size, func)
    width = check_int(width, "width", func, minimum=1)
    ax.plot(x, target, color="0.6", lw=3, label="target")
    ax.plot(x, fit, color="tab:red", lw=1.5, label="network")
    units = "1 hidden unit" if width == 1 else f"{width} hidden units"
    title = f"{units}: MSE {fit_error(target, fit):.4f}"
    if x_held is not None:
        x_held = _check_curve(x_held, "x_held", None, func)
        target_held = _check_curve(target_held, "target_held", x_held.size, func)
        fit_held = _check_curve(fit_held, "fit_held", x_held.size, func)
        ax.plot(x_held, target_held, "k.", ms=2, label="held-out points")
        title += f", held-out {fit_error(target_held, fit_held):.4f}"
    ax.set_title(title, fontsize=9)
    return ax


def width_widget(x, target, x_held, target_held, max_units: int = 48):
    """Sliders for the number of hidden units and the random start; each change retrains and redraws.

    Shapes: x (N,) or (N, 1), target like x, x_held (M,) or (M, 1), target_held like x_held.
    """
    from .experiments import fit_curve

    func = "width_widget"
    x = _check_curve(x, "x", None, func)
    target = _check_curve(target, "target", x.size, func)
    x_held = _check_curve(x_held, "x_held", None, func)
    target_held = _check_curve(target_held, "target_held", x_held.size, func)
    max_units = check_int(max_units, "max_units", func, minimum=1)

    def draw(hidden_units, start):
        net = fit_curve(x[:, None], target[:, None], hidden_units, seed=start)
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        plot_fit(ax, x, target, net(x[:, None])[:, 0], hidden_units, x_held, target_held, net(x_held[:, None])[:, 0])
        ax.set_xlabel("x")
        ax.legend(loc="upper right", fontsize=8)
        plt.show()

    style = {"description_width": "initial"}
    units = widgets.IntSlider(value=4, min=1, max=max_units, description="hidden units", continuous_update=False,
                              style=style)
    start = widgets.IntSlider(value=1, min=1, max=20, description="random start", continuous_update=False,
                              style=style)
    return widgets.interactive(draw, hidden_units=units, start=start)
