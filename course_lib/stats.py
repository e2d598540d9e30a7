"""Comparing runs over seeds: means, spreads, and whether a difference stands out of the noise.

A claim such as "mini-batches reach a lower loss than full batches" is
tested on several seeds: the difference of the two means must exceed twice
its standard error, sqrt(var_a / n_a + var_b / n_b). Chapters 3 and 4 use it.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail


def _runs(values, name: str, func: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(TypeError, func, f"{name} as a list of numbers (one result per seed)", type(values).__name__,
              "e.g. [0.91, 0.93, 0.92]")
    if arr.ndim != 1 or arr.size < 2:
        _fail(ValueError, func, f"{name} as a 1-D list of at least 2 results (one per seed)",
              f"shape {arr.shape}", "run the experiment with more seeds")
    if not np.all(np.isfinite(arr)):
        _fail(ValueError, func, f"finite {name}", repr(arr.tolist())[:60], "drop or mark diverged runs first")
    return arr


def mean_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation) of one setting's results over seeds.

    Shapes: values (S,), S >= 2 seeds -> (float, float).
    """
    arr = _runs(values, "values", "mean_std")
    return float(arr.mean()), float(arr.std(ddof=1))


def mean_std_se(values) -> tuple[float, float, float]:
    """(mean, sample standard deviation, standard error of the mean) of one setting's results over seeds.

    Shapes: values (S,), S >= 2 seeds -> (float, float, float).
    """
    arr = _runs(values, "values", "mean_std_se")
    std = float(arr.std(ddof=1))
    return float(arr.mean()), std, std / float(np.sqrt(arr.size))


def difference(a, b, paired: bool = False) -> tuple[float, float]:
    """(mean(b) - mean(a), standard error of that difference) for two settings' results over seeds.

    The difference stands out of the seed-to-seed noise when it exceeds about
    twice its standard error. ``paired=True`` when run i of ``a`` and run i
    of ``b`` share their seed (the same initial weights): then the standard
    error is that of the per-seed differences, which leaves out the spread
    the two settings share.

    Shapes: a (S,), b (S,) (or S_a, S_b unpaired) -> (float, float).
    """
    a = _runs(a, "a", "difference")
    b = _runs(b, "b", "difference")
    if not isinstance(paired, bool):
        _fail(TypeError, "difference", "paired to be True or False", repr(paired)[:40], None)
    if paired:
        if a.size != b.size:
            _fail(ValueError, "difference", "a and b with one result per shared seed (the same length)",
                  f"lengths {a.size} and {b.size}", "pass paired=False for independent runs")
        d = b - a
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return float(b.mean() - a.mean()), float(se)


def clearly_below(a, b, paired: bool = False) -> bool:
    """True when mean(a) < mean(b) by more than twice the standard error of the difference (see ``difference``).

    Shapes: a (S_a,), b (S_b,) -> bool.
    """
    a = _runs(a, "a", "clearly_below")
    b = _runs(b, "b", "clearly_below")
    diff, se = difference(a, b, paired)
    return bool(diff > 2 * se)
