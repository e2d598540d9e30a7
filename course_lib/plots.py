"""Plots the chapters share: decision boundaries, training curves, image grids.

Each function draws on a given matplotlib ``Axes`` (or a new one) and
returns it, so a notebook can combine several in one figure.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_array, check_int

CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    return ax


def data_limits(X: np.ndarray, padding: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Lower-left and upper-right corners of 2-D data, with a margin.

    Shapes: X (N, 2) -> (x_min, y_min), (x_max, y_max).
    """
    X = check_array(X, "X", "data_limits", ndim=2, shape_doc="(N, 2)")
    return X.min(axis=0) - padding, X.max(axis=0) + padding


def plot_points(X: np.ndarray, y: np.ndarray, ax=None, s: float = 18):
    """Scatter 2-D points coloured by class.

    Shapes: X (N, 2), y (N,) int.
    """
    X = check_array(X, "X", "plot_points", ndim=2, shape_doc="(N, 2)")
    if X.shape[1] != 2:
        _fail(ValueError, "plot_points", "X of shape (N, 2)", f"shape {X.shape}", "plot two features at a time")
    y = check_array(np.asarray(y), "y", "plot_points", ndim=1, shape_doc="(N,)", dtype_kind="iub")
    ax = _axes(ax)
    for label in np.unique(y):
        mask = y == label
        colour = CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]
        ax.scatter(X[mask, 0], X[mask, 1], s=s, c=colour, edgecolors="k", linewidths=0.3, label=f"class {label}")
    return ax


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    ax=None,
    resolution: int = 200,
    padding: float = 0.5,
    title: str | None = None,
):
    """Shade the regions a classifier assigns to each class, with the data on top.

    ``predict`` maps an (M, 2) array to M integer labels.

    Shapes: X (N, 2), y (N,).
    """
    if not callable(predict):
        _fail(TypeError, "plot_decision_boundary", "a predict function", type(predict).__name__, None)
    X = check_array(X, "X", "plot_decision_boundary", ndim=2, shape_doc="(N, 2)")
    resolution = check_int(resolution, "resolution", "plot_decision_boundary", minimum=10)
    ax = _axes(ax)
    (x0, y0), (x1, y1) = data_limits(X, padding)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    labels = np.asarray(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, labels, alpha=0.25, levels=np.arange(labels.max() + 2) - 0.5, cmap="coolwarm")
    plot_points(X, y, ax=ax)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if title:
        ax.set_title(title)
    return ax


def plot_line(w: np.ndarray, b: float, ax, xlim: tuple[float, float], **style):
    """Draw the line w[0] x + w[1] y + b = 0 across ``xlim`` (a vertical one if w[1] = 0)."""
    try:
        w = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        _fail(TypeError, "plot_line", "w as two numbers (w[0], w[1])", type(w).__name__, None)
    if w.shape != (2,):
        _fail(ValueError, "plot_line", "w of shape (2,)", f"shape {w.shape}", None)
    if isinstance(b, bool) or np.asarray(b).ndim != 0 or np.asarray(b).dtype.kind not in "fiu":
        _fail(TypeError, "plot_line", "b to be a number", type(b).__name__, None)
    if not (hasattr(ax, "plot") and hasattr(ax, "axvline")):
        _fail(TypeError, "plot_line", "ax to be a matplotlib Axes", type(ax).__name__, "e.g. fig, ax = plt.subplots()")
    if not isinstance(xlim, tuple | list) or len(xlim) != 2 or not all(isinstance(v, numbers.Real) for v in xlim):
        _fail(TypeError, "plot_line", "xlim as a pair of numbers (left, right)", repr(xlim)[:60], "e.g. ax.get_xlim()")
    if abs(w[1]) > 1e-12:
        xs = np.array(xlim)
        ax.plot(xs, -(w[0] * xs + b) / w[1], **style)
    elif abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], **style)
    return ax


def plot_curves(curves: Mapping[str, list], ax=None, xlabel: str = "epoch", ylabel: str = "", logy: bool = False):
    """Plot one or more training curves, e.g. ``{"train loss": [...], "test loss": [...]}``."""
    if not isinstance(curves, Mapping) or not curves:
        _fail(TypeError, "plot_curves", "a non-empty dict of name -> values", type(curves).__name__, None)
    ax = _axes(ax)
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, values.size + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_image_grid(images: np.ndarray, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.2):
    """Show a batch of single-channel images in a grid; returns the figure.

    Shapes: images (N, H, W) or (N, 1, H, W).
    """
    images = check_array(images, "images", "plot_image_grid", ndim=(3, 4), shape_doc="(N, H, W)")
    if images.ndim == 4:
        if images.shape[1] != 1:
            _fail(ValueError, "plot_image_grid", "one channel", f"{images.shape[1]}", "pass images[:, 0]")
        images = images[:, 0]
    ncols = check_int(ncols, "ncols", "plot_image_grid", minimum=1)
    n = images.shape[0]
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig
