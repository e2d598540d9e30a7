"""Chapter 10 demo: accuracy against labels per class, for each target task and strategy.

The notebook measures the curves (every run is a training run, too slow to
repeat on every click); the widget only redraws them. Pick the target task
and a number of labels per class: the left panel shows every strategy's
curve, the right panel the four accuracies at that number of labels, with
the strategy the lecture slides recommend for that cell outlined.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.chapters.ch10_transfer_learning.transfer import SLIDES_ADVICE, STRATEGIES, STRATEGY_NAMES
from course_lib.checks import _fail

COLOURS = {"scratch": "tab:gray", "probe": "tab:blue", "top": "tab:orange", "all": "tab:green"}
_FUNC = "transfer_widget"


def check_curves(curves, counts, func: str = "check_curves") -> tuple[dict, tuple[int, ...]]:
    """Validate ``curves = {target: {strategy: accuracies}}`` against ``counts`` (labels per class).

    Shapes: counts (L,) increasing positive ints; every accuracy list (L,) in [0, 1].
    Twin: none.
    """
    try:
        counts = tuple(int(c) for c in counts)
    except (TypeError, ValueError):
        _fail(TypeError, func, "counts as a list of labels per class, e.g. [1, 5, 20, 125]", repr(counts),
              None)
    if not counts or any(c < 1 for c in counts) or list(counts) != sorted(set(counts)):
        _fail(ValueError, func, "counts to be increasing positive numbers", repr(counts), None)
    if not isinstance(curves, dict) or not curves:
        _fail(TypeError, func, "curves as a dict {target: {strategy: accuracies}}", type(curves).__name__,
              None)
    checked = {}
    for target, by_strategy in curves.items():
        if not isinstance(by_strategy, dict) or set(by_strategy) != set(STRATEGIES):
            got = sorted(by_strategy) if isinstance(by_strategy, dict) else type(by_strategy).__name__
            _fail(ValueError, func, f"curves[{target!r}] to have the strategies {STRATEGIES}", f"{got}", None)
        checked[target] = {}
        for strategy in STRATEGIES:
            acc = np.asarray(by_strategy[strategy], dtype=float)
            if acc.shape != (len(counts),):
                _fail(ValueError, func,
                      f"{len(counts)} accuracies for {target!r}/{strategy!r} (one per count)",
                      f"shape {acc.shape}", None)
            if np.any(~np.isfinite(acc)) or acc.min() < 0 or acc.max() > 1:
                _fail(ValueError, func, "accuracies in [0, 1]", repr(acc.tolist()),
                      "pass fractions, not percent")
            checked[target][strategy] = acc
    return checked, counts


def plot_label_curves(curves, counts, target: str, highlight: int | None = None, ax=None):
    """Test accuracy against labels per class (log scale) for every strategy on ``target``; returns the Axes.

    Shapes: curves as ``check_curves`` describes -> Axes.
    Twin: none (plotting).
    """
    curves, counts = check_curves(curves, counts, "plot_label_curves")
    if target not in curves:
        _fail(ValueError, "plot_label_curves", f"target to be one of {sorted(curves)}", repr(target), None)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for strategy in STRATEGIES:
        ax.plot(counts, curves[target][strategy], "o-", color=COLOURS[strategy],
                label=STRATEGY_NAMES[strategy])
    if highlight is not None:
        ax.axvline(highlight, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xticks(counts)
    ax.set_xticklabels([str(c) for c in counts])
    ax.set_ylim(0, 1)
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{target} target")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_bars(curves, counts, target: str, count: int, similar: bool, ax=None):
    """The four strategies' accuracies at ``count`` labels per class, the slides' pick outlined; -> Axes.

    ``similar`` says which column of the slides' table ``target`` belongs to;
    ``count`` at most 5 counts as "very little data".

    Shapes: curves as ``check_curves`` describes -> Axes.
    Twin: none (plotting).
    """
    curves, counts = check_curves(curves, counts, "plot_bars")
    if target not in curves:
        _fail(ValueError, "plot_bars", f"target to be one of {sorted(curves)}", repr(target), None)
    if count not in counts:
        _fail(ValueError, "plot_bars", f"count to be one of {counts}", repr(count), None)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    column = counts.index(count)
    accs = [curves[target][s][column] for s in STRATEGIES]
    advice = SLIDES_ADVICE[(count <= 5, bool(similar))]
    picked = "probe" if advice == "stages" else advice
    bars = ax.bar(range(len(STRATEGIES)), accs, color=[COLOURS[s] for s in STRATEGIES])
    bars[STRATEGIES.index(picked)].set_edgecolor("k")
    bars[STRATEGIES.index(picked)].set_linewidth(2.5)
    for i, acc in enumerate(accs):
        ax.text(i, acc + 0.01, f"{acc:.2f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(STRATEGIES)))
    ax.set_xticklabels(STRATEGIES)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{count} per class; slides' advice: {advice}", fontsize=9)
    return ax


def transfer_widget(curves, counts, similar_targets=("similar",)):
    """A target menu and a labels-per-class slider over precomputed accuracy curves.

    Shapes: curves {target: {strategy: (L,) accuracies}}, counts (L,).
    Twin: none (an ipywidgets demo).
    """
    curves, counts = check_curves(curves, counts, _FUNC)
    targets = list(curves)

    def draw(target, count):
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        plot_label_curves(curves, counts, target, highlight=count, ax=axes[0])
        plot_bars(curves, counts, target, count, similar=target in similar_targets, ax=axes[1])
        plt.show()

    return widgets.interactive(
        draw,
        target=widgets.Dropdown(options=targets, value=targets[0], description="target"),
        count=widgets.SelectionSlider(options=list(counts), value=counts[min(2, len(counts) - 1)],
                                      description="per class", continuous_update=False),
    )
