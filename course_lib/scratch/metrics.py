"""Metrics in NumPy."""

from __future__ import annotations

import numpy as np

from course_lib.checks import check_array, check_same_length


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the labels.

    Shapes: y_true (N,), y_pred (N,) -> float in [0, 1].
    Twin: (y_pred == y_true).float().mean() in torch.
    """
    y_true = check_array(np.asarray(y_true), "y_true", "accuracy", ndim=1, shape_doc="(N,)", dtype_kind="iub")
    y_pred = check_array(np.asarray(y_pred), "y_pred", "accuracy", ndim=1, shape_doc="(N,)", dtype_kind="iub")
    check_same_length(y_true, y_pred, ("y_true", "y_pred"), "accuracy")
    return float(np.mean(y_true == y_pred))
