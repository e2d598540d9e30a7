"""Chapter 10 figures and demo: accuracy against labels per class, over seeds; one live fine-tuning run.

``plot_label_curves`` draws every strategy's mean test accuracy with its
spread over seeds (error bars: one standard deviation; every run faintly).
``live_run_widget`` trains one new run on every change (a target, a strategy,
a number of labels per class, a seed) and draws it over the measured spread
of that cell, so a student can see how far one run can fall from the mean.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.chapters.ch10_transfer_learning.transfer import STRATEGIES, STRATEGY_NAMES
from course_lib.checks import _fail

COLOURS = {"scratch": "tab:gray", "probe": "tab:blue", "top": "tab:orange", "all": "tab:green"}


def check_curves(curves, counts, func: str = "check_curves") -> tuple[dict, tuple[int, ...]]:
    """Validate ``curves = {strategy: accuracies}`` against ``counts`` (labels per class).

    Every strategy's accuracies are one row per count and one column per
    seed (a single column is allowed).

    Shapes: counts (L,) increasing positive ints; every accuracy array (L,) or (L, S) in [0, 1].
    """
    try:
        counts = tuple(int(c) for c in counts)
    except (TypeError, ValueError):
        _fail(TypeError, func, "counts as a list of labels per class, e.g. [5, 20, 100]", repr(counts), None)
    if not counts or any(c < 1 for c in counts) or list(counts) != sorted(set(counts)):
        _fail(ValueError, func, "counts to be increasing positive numbers", repr(counts), None)
    if not isinstance(curves, dict) or set(curves) != set(STRATEGIES):
        got = sorted(curves) if isinstance(curves, dict) else type(curves).__name__
        _fail(TypeError if not isinstance(curves, dict) else ValueError, func,
              f"curves as a dict with the strategies {STRATEGIES}", f"{got}", None)
    checked = {}
    for strategy in STRATEGIES:
        try:
            acc = np.asarray(curves[strategy], dtype=float)
        except (TypeError, ValueError):
            _fail(TypeError, func, f"numbers for {strategy!r}", type(curves[strategy]).__name__, None)
        acc = acc[:, None] if acc.ndim == 1 else acc
        if acc.ndim != 2 or acc.shape[0] != len(counts):
            _fail(ValueError, func, f"{len(counts)} rows of accuracies for {strategy!r} (one per count)",
                  f"shape {acc.shape}", None)
        if np.any(~np.isfinite(acc)) or acc.min() < 0 or acc.max() > 1:
            _fail(ValueError, func, "accuracies in [0, 1]", repr(acc.ravel()[:4].tolist()),
                  "pass fractions, not percent")
        checked[strategy] = acc
    return checked, counts


def plot_label_curves(curves, counts, title: str = "", ax=None):
    """Mean test accuracy against labels per class (log scale), error bars of one std, every run faintly.

    Shapes: curves {strategy: (L, S) accuracies}, counts (L,) -> Axes.
    """
    curves, counts = check_curves(curves, counts, "plot_label_curves")
    if not isinstance(title, str):
        _fail(TypeError, "plot_label_curves", "title as a str", type(title).__name__, None)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for strategy in STRATEGIES:
        acc = curves[strategy]
        ax.plot(counts, acc, color=COLOURS[strategy], alpha=0.2, lw=0.8)
        spread = acc.std(axis=1, ddof=1) if acc.shape[1] > 1 else np.zeros(len(counts))
        ax.errorbar(counts, acc.mean(axis=1), yerr=spread, fmt="o-", capsize=3, color=COLOURS[strategy],
                    label=STRATEGY_NAMES[strategy])
    ax.set_xscale("log")
    ax.set_xticks(counts)
    ax.set_xticklabels([str(c) for c in counts])
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    ax.set_xlabel("labelled examples per class (the last point: all of them)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def live_run_widget(tasks: dict, pretrained, measured: dict, counts=(5, 20, "all")):
    """Train one new run per change and draw it over the measured runs of the same cell.

    ``tasks`` maps a target name to its three-way split (``load_target``);
    ``measured[target, strategy, count]`` holds the chapter's test accuracies
    over seeds. A change of target, strategy, labels per class or seed calls
    ``run_strategy`` once (0.1-2 s on a 2-core CPU; the slowest, training from
    scratch on every label, 1.95 s) and redraws.

    Shapes: tasks {target: split}, measured {(target, strategy, count): (S,)} -> an ipywidgets.interactive.
    """
    from course_lib.chapters.ch10_transfer_learning.training import run_strategy  # training imports transfer

    func = "live_run_widget"
    if not isinstance(tasks, dict) or not tasks:
        _fail(TypeError, func, "tasks as a dict {target: load_target(target)}", type(tasks).__name__, None)
    if not isinstance(measured, dict):
        _fail(TypeError, func, "measured as a dict {(target, strategy, count): accuracies}",
              type(measured).__name__, None)

    def draw(target, strategy, count, seed):
        run = run_strategy(strategy, tasks[target], pretrained, count=count, seed=seed, device="cpu")
        _, ax = plt.subplots(figsize=(6, 3.4))
        for i, name in enumerate(STRATEGIES):
            accs = np.asarray(measured.get((target, name, count), []), dtype=float)
            ax.scatter(np.full(accs.size, i), accs, color=COLOURS[name], alpha=0.4, s=18)
            if accs.size:
                ax.errorbar(i + 0.15, accs.mean(), yerr=accs.std(ddof=1) if accs.size > 1 else 0, fmt="s",
                            color=COLOURS[name], capsize=4)
        ax.scatter([STRATEGIES.index(strategy)], [run.test_acc], marker="*", s=220, color="k", zorder=3,
                   label=f"this run: test {run.test_acc:.3f} (stopped at step {run.steps})")
        ax.set_xticks(range(len(STRATEGIES)))
        ax.set_xticklabels(STRATEGIES)
        ax.set_ylim(0, 1)
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{target} target, {count} labels per class: measured runs and a new one", fontsize=9)
        ax.legend(fontsize=8, loc="lower right")
        plt.show()

    style = {"description_width": "initial"}
    targets = list(tasks)
    return widgets.interactive(
        draw,
        target=widgets.Dropdown(options=targets, value=targets[0], description="target", style=style),
        strategy=widgets.Dropdown(options=list(STRATEGIES), value="probe", description="strategy", style=style),
        count=widgets.SelectionSlider(options=list(counts), value=counts[0], description="labels per class",
                                      continuous_update=False, style=style),
        seed=widgets.IntSlider(value=100, min=100, max=120, description="seed of the new run",
                               continuous_update=False, style=style),
    )
