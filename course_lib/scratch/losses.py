"""Loss functions that return the loss and its gradient together.

Each takes the network's output and the targets and returns
``(loss, dout)``: the mean loss over the batch as a Python float, and the
gradient of that mean with respect to the output, ready to feed into the
last layer's backward pass.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_labels, check_same_length
from course_lib.scratch.layers import log_softmax, sigmoid, softplus


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray):
    """Mean of ``-log softmax(logits)[n, y[n]]`` and its gradient ``(softmax - onehot) / N``.

    Shapes: logits (N, K), y (N,) int in [0, K) -> (float, dlogits (N, K)).
    Twin: torch.nn.functional.cross_entropy
    """
    func = "softmax_cross_entropy"
    check_array(logits, "logits", func, dtype_kind="f")
    if logits.ndim != 2:
        fix = "pass a batch, e.g. logits[None]" if logits.ndim == 1 else "flatten to (N, K) first"
        _fail(ValueError, func, "logits of shape (N, K)", f"shape {logits.shape}", fix)
    if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape == logits.shape:
        _fail(ValueError, func, "y of class indices, shape (N,)", f"a one-hot-like array of shape {y.shape}",
              "pass the indices, y.argmax(1)")
    y = check_labels(y, logits.shape[1], "y", func)
    check_same_length(logits, y, ("logits", "y"), func)
    n = logits.shape[0]
    log_probs = log_softmax(logits, axis=1)
    rows = np.arange(n)
    loss = -float(np.mean(log_probs[rows, y]))
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1.0
    dlogits /= n
    return loss, dlogits


def mse_loss(pred: np.ndarray, target: np.ndarray):
    """Mean squared error ``mean((pred - target)**2)`` and its gradient ``2 (pred - target) / size``.

    Shapes: pred (any, e.g. (N, D)), target (same) -> (float, dpred (same)).
    Twin: torch.nn.functional.mse_loss
    """
    func = "mse_loss"
    _check_pair(pred, target, ("pred", "target"), func)
    diff = pred - target
    loss = float(np.mean(diff * diff))
    diff *= 2.0 / diff.size
    return loss, diff


def bce_with_logits(logits: np.ndarray, target: np.ndarray):
    """Binary cross-entropy on logits, mean over all elements, and its gradient.

    Uses ``max(x, 0) - x t + log(1 + exp(-|x|))``, which equals
    ``-t log s(x) - (1 - t) log(1 - s(x))`` but never overflows;
    the gradient is ``(sigmoid(x) - t) / size``.

    Shapes: logits (any, e.g. (N,) or (N, 1)), target (same, floats in [0, 1]) -> (float, dlogits).
    Twin: torch.nn.functional.binary_cross_entropy_with_logits
    """
    func = "bce_with_logits"
    _check_pair(logits, target, ("logits", "target"), func)
    if target.min() < 0 or target.max() > 1:
        _fail(
            ValueError,
            func,
            "target in [0, 1] (probabilities of the positive class)",
            f"values from {target.min():g} to {target.max():g}",
            "use 0/1 labels, not e.g. -1/+1",
        )
    loss = float(np.mean(softplus(logits) - logits * target))
    dlogits = sigmoid(logits)
    dlogits -= target
    dlogits /= dlogits.size
    return loss, dlogits


def _check_pair(pred, target, names: tuple[str, str], func: str) -> None:
    """Both float arrays of the same shape (no silent broadcasting of (N,) against (N, 1))."""
    check_array(pred, names[0], func, dtype_kind="f")
    check_array(target, names[1], func, dtype_kind="f")
    if pred.shape != target.shape:
        _fail(
            ValueError,
            func,
            f"{names[1]} of {names[0]}'s shape {pred.shape}",
            f"shape {target.shape}",
            "reshape one of them; (N,) against (N, 1) would broadcast to (N, N)",
        )
