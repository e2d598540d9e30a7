"""Checks for chapter 1, the perceptron."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed
from course_lib.scratch.perceptron import perceptron_update

_GATES = {
    "AND": np.array([0, 0, 0, 1]),
    "OR": np.array([0, 1, 1, 1]),
    "NAND": np.array([1, 1, 1, 0]),
}
_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def check_weighted_sum(func) -> Feedback:
    """Exercise 1.1: ``func(x, w, b)`` returns the pre-activation w . x + b for a batch."""
    name = "1.1 weighted sum"
    rng = np.random.default_rng(11)
    X, w, b = rng.normal(size=(5, 3)), rng.normal(size=3), 0.7
    result, problem = call_student(name, func, X, w, b)
    if problem is not None:
        return problem
    if np.shape(result) != (5,):
        return failed(name, f"for X of shape (5, 3) expected 5 sums, got shape {np.shape(result)}; use X @ w.")
    if close(result, X @ w):
        return failed(name, "close: the sums are right but the bias b is missing.")
    if not close(result, X @ w + b):
        return failed(name, "each sum should be w[0]*x[0] + w[1]*x[1] + ... + b; try X @ w + b.")
    return passed(name, "X @ w + b computes every example's sum in one matrix product.")


def check_gate(w, b, gate: str) -> Feedback:
    """Exercise 1.2: weights (w, b) that make a perceptron compute a logic gate."""
    name = f"1.2 {gate} gate"
    if gate not in _GATES:
        return failed(name, f"gate must be one of {sorted(_GATES)}, got {gate!r}.")
    try:
        w = np.asarray(w, dtype=float)
        b = float(b)
    except (TypeError, ValueError):
        return failed(name, "w should be two numbers and b one number.")
    if w.shape != (2,):
        return failed(name, f"w should hold two weights, one per input; got shape {w.shape}.")
    outputs = (_INPUTS @ w + b >= 0).astype(int)
    if np.array_equal(outputs, _GATES[gate]):
        return passed(name, f"outputs {outputs.tolist()} match the truth table.")
    wrong = [tuple(int(v) for v in _INPUTS[i]) for i in np.flatnonzero(outputs != _GATES[gate])]
    return failed(
        name,
        f"wrong for inputs {wrong}; the line w . x + b = 0 must put exactly the 1-outputs on its positive side.",
    )


def check_update(func) -> Feedback:
    """Exercise 1.3: ``func(x, y, w, b, lr)`` performs one Rosenblatt update -> (w, b)."""
    name = "1.3 learning rule"
    cases = [
        (np.array([1.0, 2.0]), 1, np.array([-1.0, 0.0]), -0.5, 0.5),  # wrongly 0: move towards x
        (np.array([2.0, -1.0]), 0, np.array([1.0, 1.0]), 0.0, 1.0),  # wrongly 1: move away
        (np.array([1.0, 1.0]), 1, np.array([1.0, 1.0]), 0.0, 1.0),  # right: stay
    ]
    for x, y, w, b, lr in cases:
        result, problem = call_student(name, func, x.copy(), y, w.copy(), b, lr)
        if problem is not None:
            return problem
        try:
            w_new, b_new = result
        except (TypeError, ValueError):
            return failed(name, "return the pair (w, b).")
        w_ref, b_ref, wrong = perceptron_update(x, y, w, b, lr)
        if not (close(w_new, w_ref) and close(b_new, b_ref)):
            if not wrong:
                return failed(name, "a correctly classified example must leave w and b unchanged.")
            return failed(name, "on a mistake: w += lr * (y - y_hat) * x and b += lr * (y - y_hat).")
    return passed(name, "mistakes move the boundary, correct answers leave it alone.")
