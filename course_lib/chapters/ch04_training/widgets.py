"""Chapter 4 demo: turn dropout, weight decay and augmentation up and down on a small net.

The notebook supplies the training run (``train_fn``), so the training loop
the student reads is the one the widget uses. Each setting is trained once
and cached: moving back to a setting already seen redraws instantly.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_float

WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
_FUNC = "regularization_widget"


def _check_history(history) -> dict:
    """train_fn must return per-epoch training and validation accuracies of one length."""
    expected = 'train_fn to return a dict {"train_acc": [...], "val_acc": [...]} of per-epoch accuracies'
    if not isinstance(history, Mapping) or not {"train_acc", "val_acc"} <= set(history):
        got = sorted(history) if isinstance(history, Mapping) else type(history).__name__
        _fail(ValueError, _FUNC, expected, f"{got}", "one value per epoch, both the same length")
    curves = {}
    for key in ("train_acc", "val_acc"):
        try:
            values = np.asarray(history[key], dtype=float)
        except (TypeError, ValueError):
            _fail(ValueError, _FUNC, expected, f"{key} that is not a list of numbers", None)
        if values.ndim != 1 or values.size == 0 or not np.all((values >= 0) & (values <= 1)):
            _fail(ValueError, _FUNC, expected, f"{key} of shape {values.shape} with values outside [0, 1] "
                  "or empty", "return accuracies as fractions, one per epoch")
        curves[key] = values
    if curves["train_acc"].size != curves["val_acc"].size:
        sizes = f"lengths {curves['train_acc'].size} and {curves['val_acc'].size}"
        _fail(ValueError, _FUNC, expected, sizes, None)
    n = curves["train_acc"].size
    curves["epoch"] = np.asarray(history.get("epoch", np.arange(1, n + 1)), dtype=float)
    if curves["epoch"].shape != (n,):
        _fail(ValueError, _FUNC, f"epoch numbers, one per accuracy ({n})", f"shape {curves['epoch'].shape}",
              "leave out the optional 'epoch' key to number them 1, 2, ...")
    return curves


def regularization_widget(train_fn, p: float = 0.0, weight_decay: float = 0.0, shift: bool = False,
                          weight_decays=WEIGHT_DECAYS):
    """Sliders for dropout and weight decay and a shift-augmentation box retrain a net and redraw its curves.

    ``train_fn(p, weight_decay, shift)`` trains one model and returns
    ``{"train_acc": [...], "val_acc": [...]}``, accuracies measured during
    training, optionally with ``"epoch": [...]`` saying after which epochs
    (default 1, 2, ...). Every setting is trained once and cached.

    Shapes: train_acc, val_acc and epoch (E,), E measurements.
    """
    if not callable(train_fn):
        _fail(TypeError, _FUNC, "train_fn to be a function (p, weight_decay, shift) -> history",
              type(train_fn).__name__, "pass the function itself, without calling it")
    p = check_float(p, "p", _FUNC, minimum=0.0, maximum=0.9)
    decays = tuple(weight_decays)
    if not decays or not all(isinstance(d, numbers.Real) and d >= 0 for d in decays):
        _fail(ValueError, _FUNC, "weight_decays to be non-negative numbers", repr(weight_decays), None)
    if weight_decay not in decays:
        _fail(ValueError, _FUNC, f"weight_decay to be one of {decays}", repr(weight_decay), None)
    if not isinstance(shift, bool):
        _fail(TypeError, _FUNC, "shift to be True or False", repr(shift), None)
    cache: dict = {}

    def key_of(p, weight_decay, shift):
        return round(float(p), 3), float(weight_decay), bool(shift)

    # Train the first setting here, not inside the widget's callback, so that a
    # train_fn returning the wrong thing raises at once instead of being logged.
    first = key_of(p, weight_decay, shift)
    cache[first] = _check_history(train_fn(*first))

    def draw(p, weight_decay, shift):
        key = key_of(p, weight_decay, shift)
        if key not in cache:
            cache[key] = _check_history(train_fn(*key))
        curves = cache[key]
        epochs = curves["epoch"]
        train, val = curves["train_acc"][-1], curves["val_acc"][-1]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(epochs, curves["train_acc"], label="train")
        ax.plot(epochs, curves["val_acc"], label="validation")
        ax.fill_between(epochs, curves["val_acc"], curves["train_acc"], alpha=0.15, color="gray",
                        label="gap")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right")
        ax.set_title(f"dropout {key[0]:.1f}, weight decay {key[1]:g}{', shifts' if shift else ''}: "
                     f"train {train:.3f}, validation {val:.3f}, gap {train - val:.3f}", fontsize=9)
        plt.show()

    return widgets.interactive(
        draw,
        p=widgets.FloatSlider(value=p, min=0.0, max=0.9, step=0.1, description="dropout p",
                              continuous_update=False, style={"description_width": "initial"}),
        weight_decay=widgets.SelectionSlider(options=[(f"{d:g}", d) for d in decays], value=weight_decay,
                                             description="weight decay", continuous_update=False,
                                             style={"description_width": "initial"}),
        shift=widgets.Checkbox(value=shift, description="augment: random shifts",
                              style={"description_width": "initial"}),
    )
