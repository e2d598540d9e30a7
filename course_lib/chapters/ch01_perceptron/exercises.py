"""Checks for chapter 1, the perceptron.

Each check names the mistake it recognises and the section that explains
it; none prints the answer.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, student_value, where_differs
from course_lib.scratch.perceptron import _update, perceptron_forward, perceptron_update, train_perceptron

from .experiments import perceptron_criterion, pocket_perceptron

EXERCISES = ("1.1 weighted sum", "1.2 OR gate", "1.2 NAND gate", "1.3 learning rule", "1.4 perceptron criterion",
             "1.5 pocket perceptron")

_GATES = {
    "AND": np.array([0, 0, 0, 1]),
    "OR": np.array([0, 1, 1, 1]),
    "NAND": np.array([1, 1, 1, 0]),
}
_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_CRITERION = "section 3's perceptron criterion"


# --------------------------------------------------------------------------- 1.1


class _Watched(np.ndarray):
    """An array that notes when it is iterated row by row (a Python loop over X)."""

    def __iter__(self):
        self.looped = True
        return super().__iter__()

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            self.looped = True
        return super().__getitem__(key)


_LOOPS = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
_LOOP_CALLS = {"map", "vectorize", "apply_along_axis", "fromiter"}


def _loop_in_source(func) -> str | None:
    """The kind of Python loop in ``func``'s own source, or None (also when the source is unavailable)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == getattr(func, "__name__", "")]
    if not defs:  # a lambda: its line may hold other code, so only the run-time watch applies
        return None
    for node in ast.walk(defs[0]):
        if isinstance(node, _LOOPS):
            return {ast.For: "a for loop", ast.While: "a while loop"}.get(type(node), "a comprehension")
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in _LOOP_CALLS:
                return f"{name}(...), a loop in disguise"
    return None


def check_weighted_sum(func) -> Feedback:
    """Exercise 1.1: ``func(X, w, b)`` returns the pre-activation w . x + b for every row, without a Python loop."""
    name = "1.1 weighted sum"
    rng = np.random.default_rng(11)
    X, w, b = rng.normal(size=(5, 3)), rng.normal(size=3), 0.7
    watched = X.copy().view(_Watched)
    result, problem = call_student(name, func, watched, w.copy(), b)
    if problem is not None:
        return problem
    if np.shape(result) != (5,):
        return failed(name, f"for X of shape (5, 3) expected 5 sums, one per row, got shape {np.shape(result)}. "
                      "See section 1: a batch's sums are one matrix-vector product.")
    if close(result, X @ w):
        return failed(name, "close: the sums are right but the bias b is missing (section 1's formula).")
    if close(result, X @ w - b):
        return failed(name, "the bias is subtracted; z adds it (section 1's formula).")
    if not close(result, X @ w + b):
        try:
            where = where_differs("z", result, X @ w + b)
        except (TypeError, ValueError):
            return failed(name, "return the sums as numbers, one per row of X.")
        return failed(name, f"{where}; compare each sum with section 1's formula for z.")
    loop = _loop_in_source(func) or ("a loop over the rows of X" if getattr(watched, "looped", False) else None)
    if loop:
        return failed(name, f"the values are right, but the function uses {loop}. The exercise asks for no Python "
                      "loop: section 1 shows how all N sums come out of one matrix-vector product.")
    return passed(name, "one matrix-vector product computes every example's sum at once.")


# --------------------------------------------------------------------------- 1.2


def check_gate(w, b, gate: str) -> Feedback:
    """Exercise 1.2: weights (w, b) that make a perceptron compute a logic gate."""
    name = f"1.2 {gate} gate"
    if gate not in _GATES:
        return failed(name, f"gate must be one of {sorted(_GATES)}, got {gate!r}.")
    if w is None or b is None:
        return student_value(name, None)[1]
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
    if np.array_equal(outputs, 1 - _GATES[gate]):
        return failed(name, f"your neuron computes the opposite of {gate} at every input: the 1-outputs lie on the "
                      "negative side of the line w . x + b = 0 (section 2).")
    wrong = [tuple(int(v) for v in _INPUTS[i]) for i in np.flatnonzero(outputs != _GATES[gate])]
    on_line = [tuple(int(v) for v in _INPUTS[i]) for i in np.flatnonzero(outputs != _GATES[gate])
               if abs(_INPUTS[i] @ w + b) < 1e-12]
    if on_line:
        return failed(name, f"the input {on_line[0]} lies exactly on the line (z = 0), and step(0) is 1, not 0 "
                      "(section 1's step); move the line off that point.")
    if len(set(outputs.tolist())) == 1:
        return failed(name, f"the neuron answers {outputs[0]} for all four inputs: the line w . x + b = 0 leaves "
                      "every point on one side, but it must pass between them (section 2).")
    return failed(
        name,
        f"wrong for inputs {wrong}; the line w . x + b = 0 must put exactly the 1-outputs on its positive side "
        "(section 2).",
    )


# --------------------------------------------------------------------------- 1.3


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
        if close(w_new, w_ref) and close(b_new, b_ref):
            continue
        if not wrong:
            return failed(name, "a correctly classified example must leave w and b unchanged (section 3).")
        case = f"on the mistake at x = {x.tolist()}, y = {y}"
        if close(w_new, w) and close(b_new, b):
            return failed(name, f"{case}, w and b did not move: a mistake must move them (section 3).")
        if close(w_new, w_ref) and close(b_new, b):
            return failed(name, "w moves correctly, but the bias must move on a mistake too (section 3).")
        if close(w_new, 2 * w - w_ref):
            way = "on a missed 1, w must turn towards x" if y == 1 else "on a false 1, w must turn away from x"
            return failed(name, f"the weights move the wrong way: {way} (section 3).")
        if close(w_new, w + (w_ref - w) / lr) and close(b_new, b + (b_ref - b) / lr):
            return failed(name, f"{case}, the step ignores the learning rate lr = {lr:g} (section 3).")
        try:
            w_new, b_new = np.asarray(w_new, dtype=float), float(b_new)
        except (TypeError, ValueError):
            return failed(name, "return the pair (w, b): an array of weights and a number.")
        if close(w_new, w_ref):
            return failed(name, f"{case}, b is {b_new:.6g} but should be {b_ref:.6g}; compare with section 3's rule.")
        return failed(name, f"{case}, {where_differs('w', w_new, w_ref)}; compare with section 3's rule.")
    return passed(name, "mistakes move the boundary, correct answers leave it alone.")


# --------------------------------------------------------------------------- 1.4


def _criterion_case():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(8, 3))
    y = np.array([0, 1, 1, 0, 1, 1, 0, 1])
    w, b = np.array([0.6, -0.4, 0.3]), 0.2
    return X, y, w, b


def _criterion_mistakes(X, y, w, b):
    """(description, (loss, dw, db)) of the wrong answers the check recognises."""
    loss, dw, db = perceptron_criterion(X, y, w, b)
    n = len(y)
    s = 2.0 * y - 1.0
    wrong = perceptron_forward(X, w, b) != y
    z = X @ w + b
    return [
        ("the loss and gradients are summed over the batch; the criterion is their mean over the batch",
         (loss * n, dw * n, db * n)),
        ("the gradient points uphill: its sign is flipped", (loss, -dw, -db)),
        ("the labels 0/1 were used as the sign, so class 0 never counts; the criterion uses signs in {-1, +1}",
         (float(np.mean(np.maximum(0.0, -y * z))), -(y * wrong) @ X / n, float(-np.sum(y * wrong) / n))),
        ("the gradient sums over every example; only the mistakes contribute (max(0, .) is flat elsewhere)",
         (loss, -s @ X / n, float(-np.sum(s) / n))),
        ("the bias gradient db is missing", (loss, dw, 0.0)),
        ("the loss counts mistakes (the 0/1 loss); the criterion measures how far on the wrong side they are",
         (float(np.mean(wrong)), dw, db)),
    ]


def _numeric_dw(func, X, y, w, b, eps=1e-6):
    grad = np.zeros_like(w)
    for j in range(len(w)):
        step = np.zeros_like(w)
        step[j] = eps
        up, _ = call_student("numeric", func, X, y, w + step, b)
        down, _ = call_student("numeric", func, X, y, w - step, b)
        try:
            grad[j] = (float(up[0]) - float(down[0])) / (2 * eps)
        except (TypeError, ValueError, IndexError):
            return None
    return grad


def check_criterion(func) -> Feedback:
    """Exercise 1.4: ``func(X, y, w, b)`` returns the perceptron criterion and its gradient (loss, dw, db)."""
    name = "1.4 perceptron criterion"
    X, y, w, b = _criterion_case()
    result, problem = call_student(name, func, X.copy(), y.copy(), w.copy(), b)
    if problem is not None:
        return problem
    try:
        loss, dw, db = result
        loss, db = float(loss), float(db)
        dw = np.asarray(dw, dtype=float)
    except (TypeError, ValueError):
        return failed(name, "return the triple (loss, dw, db): two numbers and an array with one entry per weight.")
    if dw.shape != w.shape:
        return failed(name, f"dw should have w's shape {w.shape} (one entry per weight), got {dw.shape}; "
                      f"summing over the wrong axis gives one entry per example ({_CRITERION}).")
    answer = (loss, dw, db)
    reference = perceptron_criterion(X, y, w, b)
    if all(close(a, r) for a, r in zip(answer, reference)):
        return passed(name, "the mean of max(0, -s z) and its gradient over the mistakes; it matches autograd too.")
    for mistake, values in _criterion_mistakes(X, y, w, b):
        if all(close(a, v) for a, v in zip(answer, values)):
            return failed(name, f"{mistake} ({_CRITERION}).")
    if close(loss, reference[0]):
        numeric = _numeric_dw(func, X, y, w, b)
        if numeric is not None and not close(dw, numeric, atol=1e-4):
            j = int(np.argmax(np.abs(dw - numeric)))
            return failed(name, f"your loss is right, but dw[{j}] = {dw[j]:.4g} while a numeric gradient of your "
                          f"loss gives {numeric[j]:.4g}: dw is not the gradient of your loss ({_CRITERION}).")
    if not close(loss, reference[0]):
        return failed(name, f"the loss is off by {loss - reference[0]:+.4g} on the check's batch of 8 ({_CRITERION}).")
    if not close(dw, reference[1]):
        return failed(name, f"{where_differs('dw', dw, reference[1])} on the check's batch of 8 ({_CRITERION}).")
    return failed(name, f"db is off by {db - reference[2]:+.4g} on the check's batch of 8 ({_CRITERION}).")


# --------------------------------------------------------------------------- 1.5


def _pocket_case():
    from course_lib.data import load_iris

    X, y = load_iris(features=("petal length", "petal width"), classes=("versicolor", "virginica"))
    order = np.random.default_rng(12).permutation(len(y))[:60]
    return X[order], y[order], 5, 1.0


def _pocket_variant(X, y, epochs, lr, mode):
    """The pocket perceptron done wrong in one recognised way."""
    w, b = np.zeros(X.shape[1]), 0.0
    best = (np.mean(perceptron_forward(X, w, b) == y), w.copy(), b)
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            w, b, wrong = _update(x_i, int(y_i), w, b, lr)
            if wrong and mode == "ties":
                acc = np.mean(perceptron_forward(X, w, b) == y)
                if acc >= best[0]:
                    best = (acc, w.copy(), b)
        if mode == "epoch":
            acc = np.mean(perceptron_forward(X, w, b) == y)
            if acc > best[0]:
                best = (acc, w.copy(), b)
    return best[1], best[2], float(best[0])


def check_pocket(func) -> Feedback:
    """Exercise 1.5: ``func(X, y, epochs, lr)`` returns the pocket perceptron's (w, b, train_accuracy)."""
    name = "1.5 pocket perceptron"
    X, y, epochs, lr = _pocket_case()
    X_given, y_given = X.copy(), y.copy()
    result, problem = call_student(name, func, X_given, y_given, epochs, lr)
    if problem is not None:
        return problem
    if not (np.array_equal(X_given, X) and np.array_equal(y_given, y)):
        return failed(name, "your function changed X or y in place; leave the data alone.")
    try:
        w, b, acc = result
        w, b, acc = np.asarray(w, dtype=float), float(b), float(acc)
    except (TypeError, ValueError):
        return failed(name, "return the triple (w, b, train_accuracy).")
    if w.shape != (X.shape[1],):
        return failed(name, f"w should hold one weight per feature, shape ({X.shape[1]},); got {w.shape}.")
    true_acc = float(np.mean(perceptron_forward(X, w, b) == y))
    w_ref, b_ref, acc_ref = pocket_perceptron(X, y, epochs, lr)
    w_last, b_last, _ = train_perceptron(X, y, lr=lr, max_epochs=epochs)
    if close(w, w_ref) and close(b, b_ref) and abs(acc - acc_ref) < 1e-12:
        return passed(name, f"the pocket holds the best weights visited ({acc_ref:.3f} on the training set).")
    if close(w, w_last) and close(b, b_last):
        if abs(acc - acc_ref) < 1e-12:
            return failed(name, "the accuracy is the best one, but w and b are the last weights: the pocket stored "
                          "a reference to arrays that later updates changed; store a copy (section 6).")
        return failed(name, "these are the rule's last weights; the pocket should return the best ones it visited "
                      "(section 6).")
    if abs(acc - true_acc) > 1e-12:
        return failed(name, f"the accuracy you return ({acc:.3f}) is not that of the weights you return "
                      f"({true_acc:.3f} on X, y); score the pocket's own weights (section 6).")
    for mode, mistake in (("epoch", "you compare only at the end of each epoch; better weights can appear after any "
                                    "update in between"),
                          ("ties", "equally good later weights replaced the pocket; keep the first (strictly "
                                   "better only)")):
        w_v, b_v, _ = _pocket_variant(X, y, epochs, lr, mode)
        if close(w, w_v) and close(b, b_v):
            return failed(name, mistake + " (section 6).")
    where = where_differs("b", b, b_ref) if close(w, w_ref) else where_differs("w", w, w_ref)
    return failed(name, f"your weights reach {true_acc:.3f} on the training set, the pocket's best {acc_ref:.3f}: "
                  f"{where} (section 6).")
