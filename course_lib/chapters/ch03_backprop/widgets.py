"""Chapter 3 demo: the learning rate of gradient descent, on a 2-D quadratic bowl.

The bowl ``f(w) = (c1 w1**2 + c2 w2**2) / 2`` has curvatures c1, c2 (the
eigenvalues of its Hessian). Gradient descent multiplies coordinate i by
``1 - lr * c_i`` at every step, so it converges exactly when
``lr < 2 / max(c)`` and fastest near ``lr = 2 / (c1 + c2)``. The widget
re-runs the descent at every change of its sliders (a run takes microseconds).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_float, check_int, named_errors

CURVATURES = (1.0, 10.0)
START = (-4.0, 2.0)
LEARNING_RATES = (0.01, 0.05, 0.1, 0.15, 0.18, 0.19, 0.21)


def quadratic_descent(lr: float, steps: int = 40, curvatures=CURVATURES, start=START):
    """Run ``steps`` of gradient descent on ``f(w) = sum(c_i w_i**2) / 2`` from ``start``.

    Returns ``(path, losses)``: the weights after 0..steps updates and f at
    each of them. A diverging run is stopped (its rows stay inf) once f
    passes 1e12, so nothing overflows.

    Shapes: -> path (steps + 1, 2), losses (steps + 1,).
    Twin: torch.optim.SGD(params, lr) on the same function.
    """
    func = "quadratic_descent"
    lr = check_float(lr, "lr", func, minimum=0.0)
    steps = check_int(steps, "steps", func, minimum=1)
    c = _pair(curvatures, "curvatures", func, positive=True)
    w = _pair(start, "start", func)
    path = np.full((steps + 1, 2), np.inf)
    losses = np.full(steps + 1, np.inf)
    for t in range(steps + 1):
        path[t] = w
        losses[t] = 0.5 * float(np.sum(c * w * w))
        if losses[t] > 1e12:
            break
        w = w - lr * c * w  # the gradient of f is c * w
    return path, losses


def learning_rate_sweep(lrs=LEARNING_RATES, steps: int = 40, curvatures=CURVATURES, start=START) -> dict:
    """``{lr: (path, losses)}`` from ``quadratic_descent`` for every learning rate.

    Shapes: -> dict of (steps + 1, 2) and (steps + 1,) arrays.
    """
    lrs = _check_lrs(lrs, "learning_rate_sweep")
    return {lr: quadratic_descent(lr, steps, curvatures, start) for lr in lrs}


def plot_path(runs: dict, lr: float, curvatures=CURVATURES, ax=None):
    """Draw the run with learning rate ``lr`` on the bowl's contours; returns the Axes.

    Shapes: runs as ``learning_rate_sweep`` returns -> Axes.
    """
    path, losses = _run(runs, lr, "plot_path")
    c = _pair(curvatures, "curvatures", "plot_path", positive=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    g1, g2 = np.meshgrid(np.linspace(-5, 5, 201), np.linspace(-3, 3, 121))
    ax.contour(g1, g2, 0.5 * (c[0] * g1**2 + c[1] * g2**2), levels=np.geomspace(0.05, 60, 12), cmap="Blues_r",
               linewidths=0.8)
    shown = path[np.all(np.isfinite(path), axis=1)]
    ax.plot(shown[:, 0], shown[:, 1], "o-", color="tab:red", ms=3, lw=1)
    ax.plot(0, 0, "k*", ms=10)
    ax.set_xlim(-5, 5)
    ax.set_ylim(-3, 3)
    ax.set_xlabel(f"$w_1$ (curvature {c[0]:g})")
    ax.set_ylabel(f"$w_2$ (curvature {c[1]:g})")
    ax.set_title(f"lr = {lr:g}: {verdict(losses)}", fontsize=10)
    return ax


def plot_losses(runs: dict, highlight: float | None = None, ax=None):
    """Every run's loss against the step on a log scale, the ``highlight`` run bold; returns the Axes.

    Shapes: runs as ``learning_rate_sweep`` returns -> Axes.
    """
    _check_runs(runs, "plot_losses")
    if highlight is not None:
        _run(runs, highlight, "plot_losses")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    for lr, (_, losses) in runs.items():
        steps = np.arange(len(losses))
        ok = np.isfinite(losses)
        faint = highlight is not None and lr != highlight
        ax.plot(steps[ok], losses[ok], lw=0.8 if faint else 2.0, alpha=0.35 if faint else 1.0,
                label=f"lr = {lr:g}")
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 1e4)
    ax.set_xlabel("step")
    ax.set_ylabel("f(w)")
    ax.legend(fontsize=7, ncol=2)
    return ax


def _check_runs(runs, func: str) -> None:
    if not isinstance(runs, dict) or not runs:
        _fail(TypeError, func, "runs as a non-empty dict {lr: (path, losses)}", type(runs).__name__,
              "use learning_rate_sweep(...)")


def _run(runs, lr, func: str):
    _check_runs(runs, func)
    if lr not in runs:
        _fail(ValueError, func, f"lr to be one of {sorted(runs)}", repr(lr), None)
    return runs[lr]


def verdict(losses: np.ndarray) -> str:
    """'diverges', 'slow' (still above 1% of the start) or 'converges', from a loss curve.

    Shapes: losses (T,) -> str.
    """
    func = "verdict"
    if not isinstance(losses, (np.ndarray, list, tuple)):
        _fail(TypeError, func, "losses as a 1-D array of loss values", type(losses).__name__,
              "pass the losses of quadratic_descent(...)")
    values = np.asarray(losses)
    if values.dtype.kind not in "fiu":
        _fail(TypeError, func, "losses as numbers", f"dtype {values.dtype}",
              "pass the losses of quadratic_descent(...)")
    if values.ndim != 1 or values.size == 0:
        _fail(ValueError, func, "losses as a non-empty 1-D array, shape (T,)", f"shape {values.shape}",
              "pass the losses of quadratic_descent(...)")
    final = values[-1]
    if not np.isfinite(final) or final > values[0]:
        return "diverges"
    return "slow" if final > 0.01 * values[0] else "converges"


def learning_rate_widget(lrs=LEARNING_RATES, steps: int = 40, curvatures=CURVATURES, start=START,
                         lr: float = 0.1):
    """Sliders for the learning rate and the steep curvature: every change re-runs gradient descent and redraws.

    The left panel is the run at the slider's learning rate on the bowl's
    contours; the right panel its loss beside the runs at ``lrs`` (faint),
    all re-computed for the chosen curvature. The title gives the
    divergence threshold 2 / c_max for that curvature.

    Shapes: curvatures and start are pairs of numbers.
    """
    func = "learning_rate_widget"
    with named_errors(func):
        lrs = _check_lrs(lrs, func)
        steps = check_int(steps, "steps", func, minimum=1)
        c = _pair(curvatures, "curvatures", func, positive=True)
        w0 = _pair(start, "start", func)
        lr = check_float(lr, "lr", func, minimum=1e-3, maximum=1.0)

    def draw(lr, steep):
        curv = (float(c[0]), float(steep))
        runs = {rate: quadratic_descent(rate, steps, curv, w0) for rate in lrs}
        runs[lr] = quadratic_descent(lr, steps, curv, w0)
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        plot_path(runs, lr, curv, ax=axes[0])
        plot_losses(runs, highlight=lr, ax=axes[1])
        axes[1].set_title(f"diverges above lr = 2 / {steep:g} = {2 / steep:.3g}", fontsize=10)
        plt.show()

    return widgets.interactive(
        draw,
        lr=widgets.FloatLogSlider(value=lr, base=10, min=-3, max=0, step=0.05, description="learning rate",
                                  readout_format=".3f", continuous_update=False,
                                  style={"description_width": "initial"}),
        steep=widgets.FloatSlider(value=float(c[1]), min=2.0, max=20.0, step=1.0,
                                  description="steep curvature c2", continuous_update=False,
                                  style={"description_width": "initial"}),
    )


def _check_lrs(lrs, func: str) -> tuple[float, ...]:
    if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__iter__"):
        _fail(TypeError, func, "lrs as a list of learning rates", type(lrs).__name__, "e.g. [0.01, 0.1]")
    lrs = tuple(check_float(lr, f"lrs[{i}]", func, minimum=0.0, strict_min=True) for i, lr in enumerate(lrs))
    if not lrs:
        _fail(ValueError, func, "at least one learning rate", "an empty list", "e.g. [0.01, 0.1]")
    return lrs


def _pair(values, name: str, func: str, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(TypeError, func, f"{name} as two numbers", type(values).__name__, None)
    if arr.shape != (2,):
        _fail(ValueError, func, f"{name} as two numbers (one per axis)", f"shape {arr.shape}", None)
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        what = "positive finite" if positive else "finite"
        _fail(ValueError, func, f"{what} {name}", repr(arr.tolist()), None)
    return arr
