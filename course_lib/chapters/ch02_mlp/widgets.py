"""Chapter 2 demo: how many hidden units does a network need to fit a curve?

The fits are computed beforehand (training inside a slider callback would
make the slider slow), one per width; the slider only redraws.
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


def check_fits(x, target, fits: dict, func: str = "check_fits"):
    """Validate the width demo's inputs; returns (x, target, {width: fit}), flat arrays sorted by width.

    Shapes: x (N,) or (N, 1), target like x, each fit like x.
    """
    x = _check_curve(x, "x", None, func)
    target = _check_curve(target, "target", x.size, func)
    if not isinstance(fits, dict) or not fits:
        _fail(TypeError, func, "fits as a non-empty dict {hidden units: predictions}",
              type(fits).__name__ if not isinstance(fits, dict) else "an empty dict",
              "e.g. {1: pred_1, 4: pred_4}")
    checked = {}
    for width, fit in fits.items():
        width = check_int(width, "a key of fits (number of hidden units)", func, minimum=1)
        checked[width] = _check_curve(fit, f"fits[{width}]", x.size, func)
    return x, target, dict(sorted(checked.items()))


def fit_error(target: np.ndarray, fit: np.ndarray) -> float:
    """Mean squared error between a fit and the target curve.

    Shapes: target (N,), fit (N,) -> float.
    Twin: torch.nn.functional.mse_loss
    """
    target = _check_curve(target, "target", None, "fit_error")
    fit = _check_curve(fit, "fit", target.size, "fit_error")
    return float(np.mean((fit - target) ** 2))


def plot_fit(ax, x: np.ndarray, target: np.ndarray, fit: np.ndarray, width: int):
    """Draw the target curve and one network's fit, titled with the width and the error.

    Shapes: x (N,), target (N,), fit (N,).
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
    ax.set_title(f"{units}: MSE {fit_error(target, fit):.4f}", fontsize=9)
    return ax


def width_widget(x, target, fits: dict):
    """A slider over the number of hidden units, redrawing the matching precomputed fit.

    Shapes: x (N,) or (N, 1), target like x, fits {width: predictions like x}.
    """
    x, target, fits = check_fits(x, target, fits, "width_widget")
    widths = list(fits)

    def draw(hidden_units):
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        plot_fit(ax, x, target, fits[hidden_units], hidden_units)
        ax.set_xlabel("x")
        ax.legend(loc="upper right", fontsize=8)
        plt.show()

    slider = widgets.SelectionSlider(options=widths, value=widths[0], description="hidden units",
                                     continuous_update=False)
    return widgets.interactive(draw, hidden_units=slider)
