import matplotlib

matplotlib.use("Agg")

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import plots
from course_lib.chapters.ch01_perceptron.widgets import perceptron_widget
from course_lib.data import make_blobs
from course_lib.timing import time_call


def test_decision_boundary_shades_both_classes():
    X, y = make_blobs(n=50)
    ax = plots.plot_decision_boundary(lambda G: (G[:, 0] > 2).astype(int), X, y, resolution=20, title="t")
    assert ax.get_title() == "t" and len(ax.collections) >= 2
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    assert x_lo < X[:, 0].min() and X[:, 0].max() < x_hi and y_lo < X[:, 1].min() and X[:, 1].max() < y_hi


def test_line_and_curves():
    _, ax = plt.subplots()
    plots.plot_line(np.array([1.0, 2.0]), -1.0, ax, (0, 1))
    plots.plot_line(np.array([1.0, 0.0]), -1.0, ax, (0, 1))
    assert len(ax.lines) == 2
    ax = plots.plot_curves({"train": [3, 2, 1], "test": [3, 2.5, 2]}, logy=True)
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"


def test_image_grid():
    fig = plots.plot_image_grid(np.zeros((5, 1, 8, 8)), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: plots.plot_points(np.ones((3, 3)), np.zeros(3, int)), ValueError, r"X of shape \(N, 2\)"),
        (lambda: plots.plot_decision_boundary("f", np.ones((3, 2)), np.zeros(3, int)), TypeError, "predict function"),
        (lambda: plots.plot_line(np.ones(3), 0.0, None, (0, 1)), ValueError, r"w of shape \(2,\)"),
        (lambda: plots.plot_curves([1, 2]), TypeError, "dict of name -> values"),
        (lambda: plots.plot_image_grid(np.zeros((2, 3, 8, 8))), ValueError, "one channel"),
        (lambda: time_call(3), TypeError, "a function taking no arguments"),
        (lambda: time_call(lambda: None, repeats=0), ValueError, "repeats >= 1"),
    ],
)
def test_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_perceptron_widget_has_three_sliders_and_redraws():
    X, y = make_blobs(n=30)
    demo = perceptron_widget(X, y)
    sliders = [w for w in demo.children if isinstance(w, ipywidgets.FloatSlider)]
    assert [s.description for s in sliders] == ["w1", "w2", "b"]
    before = len(plt.get_fignums())
    sliders[2].value = -3.0  # moving a slider calls the drawing function again
    assert demo.kwargs["b"] == -3.0 and len(plt.get_fignums()) >= before
    with pytest.raises(ValueError, match=r"y in \[0, 2\)"):
        perceptron_widget(X, y + 2)


def test_time_call_returns_a_median():
    assert 0 <= time_call(lambda: sum(range(100)), repeats=3, warmup=0) < 1


def test_progress_is_silent_when_headless(monkeypatch):
    from course_lib.progress import progress

    items = [1, 2, 3]
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    assert progress(items) is items
    monkeypatch.setenv("COURSE_HEADLESS", "0")
    bar = progress(items, desc="x")
    assert list(bar) == items and bar.total == 3
    with pytest.raises(TypeError, match="an iterable"):
        progress(5)
