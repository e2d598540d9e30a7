"""Rosenblatt's perceptron in NumPy.

A neuron computes a weighted sum of its inputs plus a bias and passes it
through a step:

    z = w . x + b          y_hat = step(z) = 1 if z >= 0 else 0

The learning rule looks at one example at a time and moves the weights only
when the prediction is wrong:

    w <- w + lr * (y - y_hat) * x
    b <- b + lr * (y - y_hat)

On linearly separable data this stops making mistakes after a finite number
of updates (Novikoff's convergence theorem); on XOR it never does.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_int, check_labels, check_same_length


def step(z: np.ndarray) -> np.ndarray:
    """The Heaviside step: 1 where z >= 0, else 0.

    Shapes: z (any) -> same shape, int64.
    Twin: torch.heaviside(z, torch.tensor(1.0)) (as in course_lib.twins.perceptron).
    """
    try:
        z = np.asarray(z, dtype=float)
    except (TypeError, ValueError):
        _fail(TypeError, "step", "z as numbers (an array, list or scalar)", type(z).__name__,
              "pass the perceptron's scores, e.g. X @ w + b")
    z = check_array(z, "z", "step", allow_empty=True)
    return (z >= 0).astype(np.int64)


def perceptron_forward(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Predictions of a perceptron for a batch.

    Shapes: X (N, D), w (D,), b scalar -> y_hat (N,) int64 in {0, 1}.
    Twin: course_lib.twins.perceptron.TorchPerceptron.forward.
    """
    X, w = _check_xw(X, w, "perceptron_forward")
    b = check_float(b, "b", "perceptron_forward")
    return step(X @ w + b)


@dataclass
class PerceptronHistory:
    """What happened during training, epoch by epoch.

    ``weights[k]``/``biases[k]`` are the parameters after epoch k (index 0 is
    the starting point); ``mistakes[k]`` counts the updates made in epoch
    k+1; ``converged`` is True when an epoch made no mistake.

    Shapes: weights[k] (D,), biases[k] and mistakes[k] numbers; epochs + 1 weights and biases.
    Twin: the list of mistakes course_lib.twins.perceptron.TorchPerceptron.fit returns.
    """

    weights: list = field(default_factory=list)
    biases: list = field(default_factory=list)
    mistakes: list = field(default_factory=list)
    converged: bool = False

    @property
    def epochs(self) -> int:
        return len(self.mistakes)

    @property
    def updates(self) -> int:
        return int(sum(self.mistakes))


def perceptron_update(x: np.ndarray, y: int, w: np.ndarray, b: float, lr: float) -> tuple[np.ndarray, float, bool]:
    """One step of Rosenblatt's rule on one example.

    Returns the new (w, b) and whether the example was misclassified.

    Shapes: x (D,), y scalar in {0, 1}, w (D,).
    Twin: course_lib.twins.perceptron.TorchPerceptron.update.
    """
    func = "perceptron_update"
    x = check_array(x, "x", func, ndim=1, shape_doc="(D,)", fix="pass one example, e.g. X[i]")
    w = check_array(w, "w", func, ndim=1, shape_doc="(D,)")
    if w.shape != x.shape:
        _fail(ValueError, func, f"w of x's shape {x.shape}", f"shape {w.shape}", "one weight per feature")
    if isinstance(y, np.ndarray) and y.ndim == 0:
        y = y.item()
    if isinstance(y, bool) or not isinstance(y, numbers.Integral) or y not in (0, 1):
        _fail(
            ValueError if isinstance(y, numbers.Real) and not isinstance(y, bool) else TypeError,
            func,
            "y to be the label 0 or 1 (an int)",
            f"{type(y).__name__} {y!r}",
            "a perceptron's labels are 0 and 1; map -1/+1 labels with (y + 1) // 2",
        )
    b = check_float(b, "b", func)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    return _update(x, int(y), w, b, lr)


def _update(x, y, w, b, lr):
    """perceptron_update without the checks, for the training loop."""
    y_hat = 1 if x @ w + b >= 0 else 0
    error = y - y_hat  # -1, 0 or +1
    if error == 0:
        return w, b, False
    return w + lr * error * x, b + lr * error, True


def train_perceptron(
    X: np.ndarray,
    y: np.ndarray,
    lr: float = 1.0,
    max_epochs: int = 100,
    w0: np.ndarray | None = None,
    b0: float = 0.0,
) -> tuple[np.ndarray, float, PerceptronHistory]:
    """Train with Rosenblatt's rule, examples in the given order, until an
    epoch makes no mistake or ``max_epochs`` have run.

    Returns (w, b, history).

    Shapes: X (N, D) float, y (N,) int in {0, 1}, w0 (D,) -> w (D,), b scalar.
    Twin: course_lib.twins.perceptron.TorchPerceptron.fit.
    """
    func = "train_perceptron"
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, D)")
    y = check_labels(y, 2, "y", func)
    check_same_length(X, y, ("X", "y"), func)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    max_epochs = check_int(max_epochs, "max_epochs", func, minimum=1)
    w = np.zeros(X.shape[1]) if w0 is None else _check_xw(X, w0, func)[1].astype(float).copy()
    b = check_float(b0, "b0", func)

    history = PerceptronHistory(weights=[w.copy()], biases=[b])
    for _ in range(max_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            w, b, wrong = _update(x_i, int(y_i), w, b, lr)
            mistakes += wrong
        history.weights.append(w.copy())
        history.biases.append(b)
        history.mistakes.append(mistakes)
        if mistakes == 0:
            history.converged = True
            break
    return w, b, history


def _check_xw(X, w, func):
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, D)")
    w = check_array(w, "w", func, ndim=1, shape_doc="(D,)")
    if w.shape[0] != X.shape[1]:
        _fail(
            ValueError,
            func,
            f"w with one weight per feature, shape ({X.shape[1]},)",
            f"shape {w.shape}",
            "X has one column per feature; make w match it",
        )
    return X, w
