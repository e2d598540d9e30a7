"""Chapter 1: the new exercises' checks (typical wrong answers named, no solution code in hints), the references
against torch autograd and numeric gradients, and the experiments' helpers."""

import numpy as np
import pytest
import torch

from course_lib.chapters.ch01_perceptron import exercises as ex
from course_lib.chapters.ch01_perceptron.experiments import (
    loglog_slope,
    margin_runs,
    mean_and_se,
    perceptron_criterion,
    pocket_perceptron,
    xor_epoch_accuracy,
)
from course_lib.data import blobs_separator, make_blobs
from course_lib.scratch.perceptron import perceptron_forward, train_perceptron

SOLUTION_BITS = ("@", "np.maximum", "2 * y", "2.0 * y", "2y - 1", "w.copy()", "np.where", "x @ w", "y - y_hat",
                 "w[0]*x[0]", "lr *", "divide by N")


def _no_solution(message):
    assert not any(bit in message for bit in SOLUTION_BITS), message


def _names(fb, words, section):
    """The hint names the mistake (words), points to its section and holds no solution code."""
    assert not fb.passed and words in fb.message and f"section {section}" in fb.message, fb.message
    _no_solution(fb.message)


# --------------------------------------------------------------------------- 1.1 no loop


def test_weighted_sum_accepts_the_matrix_product():
    def weighted_sum(X, w, b):
        return X @ w + b

    assert ex.check_weighted_sum(weighted_sum).passed


def _loop(X, w, b):
    return np.array([x @ w + b for x in X])


def _index_loop(X, w, b):
    out = np.zeros(len(X))
    for i in range(len(X)):
        out[i] = X[i] @ w + b
    return out


def _vectorize(X, w, b):
    return np.apply_along_axis(lambda x: x @ w + b, 1, X)


@pytest.mark.parametrize("func", [_loop, _index_loop, _vectorize, lambda X, w, b: np.array([x @ w + b for x in X])])
def test_weighted_sum_refuses_python_loops(func):
    fb = ex.check_weighted_sum(func)
    assert not fb.passed and "no Python loop" in fb.message
    _no_solution(fb.message)


def test_weighted_sum_names_value_mistakes():
    _names(ex.check_weighted_sum(lambda X, w, b: X @ w), "bias b is missing", 1)
    _names(ex.check_weighted_sum(lambda X, w, b: X @ w - b), "subtracted", 1)
    fb = ex.check_weighted_sum(lambda X, w, b: X @ w + 2 * b)  # unrecognised: which element, by how much
    _names(fb, "|difference| 0.7; 5 of 5 elements differ", 1)
    assert fb.message.startswith("z[") and "but should be" in fb.message
    assert "as numbers" in ex.check_weighted_sum(lambda X, w, b: np.array(["a"] * 5)).message


# --------------------------------------------------------------------------- 1.2 gates


@pytest.mark.parametrize(
    "w, b, gate, words",
    [
        ([-1, -1], 0.5, "OR", "opposite of OR"),  # NOR: the 1-outputs on the wrong side
        ([1, 1], -1.0, "AND", "(0, 1) lies exactly on the line"),  # step(0) = 1: off by one at the boundary
        ([1, 1], 5.0, "NAND", "answers 1 for all four inputs"),
        ([1, 1], -1.5, "OR", "wrong for inputs [(0, 1), (1, 0)]"),  # unrecognised: which inputs
    ],
)
def test_gate_check_names_typical_mistakes(w, b, gate, words):
    _names(ex.check_gate(w, b, gate), words, 2 if "exactly" not in words else 1)


# --------------------------------------------------------------------------- 1.3 update


def _rule(x, y, w, b, lr, sign=1.0, rate=True, bias=True, move=True):
    y_hat = 1 if x @ w + b >= 0 else 0
    step = sign * (lr if rate else 1.0) * (y - y_hat) * move
    return w + step * x, b + step * bias


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(move=False), "w and b did not move"),
        (dict(bias=False), "the bias must move"),
        (dict(sign=-1.0), "on a missed 1, w must turn towards x"),
        (dict(rate=False), "ignores the learning rate lr = 0.5"),
    ],
)
def test_update_check_names_typical_mistakes(kwargs, words):
    _names(ex.check_update(lambda *a: _rule(*a, **kwargs)), words, 3)


def test_update_check_locates_unrecognised_updates():
    assert ex.check_update(_rule).passed
    _names(ex.check_update(lambda x, y, w, b, lr: (w + lr * x, b + lr)), "on a false 1, w must turn away", 3)
    fb = ex.check_update(lambda x, y, w, b, lr: (_rule(x, y, w, b, lr)[0] + [0.0, 0.25], _rule(x, y, w, b, lr)[1]))
    _names(fb, "w[1] is 1.25 but should be 1 (|difference| 0.25", 3)
    fb = ex.check_update(lambda x, y, w, b, lr: (_rule(x, y, w, b, lr)[0], _rule(x, y, w, b, lr)[1] + 0.25))
    _names(fb, "b is 0.25 but should be 0", 3)


def test_gate_placeholder_is_not_attempted():
    assert "not attempted yet" in ex.check_gate(None, None, "OR").message


# --------------------------------------------------------------------------- 1.4 criterion


def test_criterion_reference_matches_torch_autograd_and_numeric_gradients():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(9, 4)), rng.integers(0, 2, size=9)
    w, b = rng.normal(size=4), 0.3
    loss, dw, db = perceptron_criterion(X, y, w, b)
    w_t = torch.tensor(w, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    s = torch.as_tensor(2.0 * y - 1.0)
    loss_t = torch.relu(-s * (torch.as_tensor(X) @ w_t + b_t)).mean()
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12
    assert np.allclose(dw, w_t.grad.numpy(), atol=1e-12) and abs(db - b_t.grad.item()) < 1e-12
    eps = 1e-6
    numeric = [(perceptron_criterion(X, y, w + eps * e, b)[0] - perceptron_criterion(X, y, w - eps * e, b)[0])
               / (2 * eps) for e in np.eye(4)]
    assert np.allclose(dw, numeric, atol=1e-6)


def test_criterion_check_passes_the_reference():
    assert ex.check_criterion(perceptron_criterion).passed


def _mistake(i):
    X, y, w, b = ex._criterion_case()
    return ex._criterion_mistakes(X, y, w, b)[i][1]


@pytest.mark.parametrize(
    "index, words",
    [(0, "summed over the batch"), (1, "sign is flipped"), (2, "labels 0/1"), (3, "only the mistakes"),
     (4, "bias gradient db is missing"), (5, "0/1 loss")],
)
def test_criterion_check_names_typical_mistakes(index, words):
    values = _mistake(index)
    _names(ex.check_criterion(lambda X, y, w, b: values), words, "3's perceptron criterion")


def test_criterion_check_explains_unrecognised_answers():
    X, y, w, b = ex._criterion_case()
    loss, dw, db = perceptron_criterion(X, y, w, b)
    dw_off = dw.copy()
    dw_off[2] += 0.5
    fb = ex.check_criterion(lambda X_, y_, w_, b_: (perceptron_criterion(X_, y_, w_, b_)[0], dw_off, db))
    _names(fb, "numeric gradient", 3)
    assert "dw[2]" in fb.message
    _names(ex.check_criterion(lambda *a: (loss + 1.0, dw, db)), "loss is off by +1", 3)
    _names(ex.check_criterion(lambda *a: (loss, np.zeros(8), db)), "shape (3,)", 3)
    fb = ex.check_criterion(lambda X_, y_, w_, b_: (perceptron_criterion(X_, y_, w_, b_)[0], dw, db + 0.5))
    _names(fb, "db is off by +0.5", 3)
    assert "triple" in ex.check_criterion(lambda *a: 3.0).message


# --------------------------------------------------------------------------- 1.5 pocket


def test_pocket_check_passes_the_reference():
    assert ex.check_pocket(pocket_perceptron).passed


def test_pocket_check_names_typical_mistakes():
    last = ex.check_pocket(lambda X, y, e, lr: (*train_perceptron(X, y, lr=lr, max_epochs=e)[:2], 0.5))
    assert not last.passed and "last weights" in last.message
    epoch = ex.check_pocket(lambda X, y, e, lr: ex._pocket_variant(X, y, e, lr, "epoch"))
    assert not epoch.passed and "end of each epoch" in epoch.message
    ties = ex.check_pocket(lambda X, y, e, lr: ex._pocket_variant(X, y, e, lr, "ties"))
    assert not ties.passed and "strictly" in ties.message

    def aliased(X, y, e, lr):
        _, _, acc = pocket_perceptron(X, y, e, lr)
        w, b, _ = train_perceptron(X, y, lr=lr, max_epochs=e)
        return w, b, acc

    alias = ex.check_pocket(aliased)
    assert not alias.passed and "store a copy" in alias.message
    for fb in (last, epoch, ties, alias):
        _names(fb, "", 6)


def test_pocket_check_catches_inconsistent_accuracy_and_in_place_changes():
    def wrong_acc(X, y, e, lr):
        w, b, acc = pocket_perceptron(X, y, e, lr)
        return w, b, acc - 0.1

    _names(ex.check_pocket(wrong_acc), "is not that of the weights", 6)

    def zero_weights(X, y, e, lr):
        return np.zeros(2), 0.0, float(np.mean(perceptron_forward(X, np.zeros(2), 0.0) == y))

    fb = ex.check_pocket(zero_weights)  # unrecognised: the accuracies and where w differs
    _names(fb, "the pocket's best", 6)
    assert "w[" in fb.message and "but should be" in fb.message

    def shuffles_in_place(X, y, e, lr):
        X[:] = X[::-1]
        return pocket_perceptron(X, y, e, lr)

    assert "in place" in ex.check_pocket(shuffles_in_place).message


def test_pocket_never_worse_than_any_weights_it_visits():
    X, y = make_blobs(n=60, margin=0.0, seed=4)
    y = y.copy()
    y[:6] = 1 - y[:6]  # label noise: not separable
    w, b, acc = pocket_perceptron(X, y, epochs=5)
    _, _, history = train_perceptron(X, y, max_epochs=5)
    visited = [np.mean(perceptron_forward(X, wk, bk) == y) for wk, bk in zip(history.weights, history.biases)]
    assert acc == np.mean(perceptron_forward(X, w, b) == y) and acc >= max(visited)


# --------------------------------------------------------------------------- experiments


def test_margin_runs_respect_the_bound():
    runs = margin_runs([0.3, 0.1], seeds=[0, 1], n=60)
    _, offset = blobs_separator()
    scale = np.sqrt(1 + offset**2)  # the extended separator (n, -c) has this length; gamma is the gap over it
    assert runs.shape == (4, 6) and np.all(runs[:, 5] <= runs[:, 4]) and np.all(runs[:, 2] * scale >= runs[:, 1] - 1e-9)


def test_loglog_slope_recovers_a_power_law():
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    slope, se = loglog_slope(x, 3 * x**0.5)
    assert abs(slope - 0.5) < 1e-12 and se < 1e-12


def test_xor_epoch_accuracy_shape_and_range():
    acc = xor_epoch_accuracy([0, 1], epochs=4, n=40)
    assert acc.shape == (2, 4) and np.all((acc >= 0) & (acc <= 1))


def test_mean_and_se():
    mean, se = mean_and_se([1.0, 3.0])
    assert mean == 2.0 and abs(se - 1.0) < 1e-12


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: pocket_perceptron(np.ones((3, 2)), np.array([0, 1, 2])), ValueError, r"y in \[0, 2\)"),
        (lambda: pocket_perceptron(np.ones((3, 2)), np.array([0, 1, 1]), epochs=0), ValueError, "epochs >= 1"),
        (lambda: perceptron_criterion(np.ones((3, 2)), np.array([0, 1, 1]), np.ones(3), 0.0), ValueError,
         r"shape \(2,\)"),
        (lambda: loglog_slope([1.0, 2.0], [1.0, 2.0]), ValueError, "at least 3 positive"),
        (lambda: margin_runs([0.1], seeds=3), TypeError, "seeds as a list"),
        (lambda: mean_and_se([1.0]), ValueError, "at least 2 values"),
    ],
)
def test_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
