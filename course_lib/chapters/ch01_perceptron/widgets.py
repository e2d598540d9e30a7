"""Chapter 1 demo: set a perceptron's weights by hand and watch its boundary."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import check_array, check_labels, check_same_length
from course_lib.plots import data_limits, plot_line, plot_points
from course_lib.scratch.perceptron import perceptron_forward


def perceptron_widget(X: np.ndarray, y: np.ndarray, w=(1.0, -1.0), b: float = 0.0):
    """Sliders for w1, w2 and b redraw a perceptron's boundary and its accuracy.

    Shapes: X (N, 2), y (N,) in {0, 1}.
    """
    X = check_array(X, "X", "perceptron_widget", ndim=2, shape_doc="(N, 2)")
    y = check_labels(y, 2, "y", "perceptron_widget")
    check_same_length(X, y, ("X", "y"), "perceptron_widget")
    (x0, y0), (x1, y1) = data_limits(X)

    def draw(w1, w2, b):
        weights = np.array([w1, w2])
        acc = np.mean(perceptron_forward(X, weights, b) == y)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        plot_points(X, y, ax=ax)
        plot_line(weights, b, ax, (x0, x1), color="k")
        if np.any(weights):
            mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
            ax.arrow(*mid, *(0.5 * weights / np.linalg.norm(weights)), head_width=0.08, color="k")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"w = ({w1:.1f}, {w2:.1f}), b = {b:.1f}: accuracy {acc:.0%}")
        plt.show()

    slider = dict(min=-3.0, max=3.0, step=0.1, continuous_update=False, style={"description_width": "initial"})
    return widgets.interactive(
        draw,
        w1=widgets.FloatSlider(value=float(w[0]), description="w1", **slider),
        w2=widgets.FloatSlider(value=float(w[1]), description="w2", **slider),
        b=widgets.FloatSlider(value=float(b), description="b", **{**slider, "min": -6.0, "max": 6.0}),
    )
