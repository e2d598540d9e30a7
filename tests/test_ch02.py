"""Chapter 2: the exercise checks and the hidden-units widget."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.chapters.ch02_mlp import exercises as ex
from course_lib.chapters.ch02_mlp.exercises import (
    check_collapse,
    check_count_parameters,
    check_relu,
    check_two_layer,
    check_xor_weights,
)
from course_lib.chapters.ch02_mlp.experiments import standardise, two_layer_forward_backward
from course_lib.chapters.ch02_mlp.widgets import fit_error, plot_fit, width_widget
from course_lib.scratch.modules import MLP


def _not_attempted(*args):
    raise NotImplementedError


SOLUTION_BITS = ("@", "np.", "W2 W1", "W2 b1", "max(x, 0)", "x > 0", "x >= 0", "d_in * d_out", "out_features",
                 "divide by N")


def _names(fb, words, section):
    """The hint names the mistake (words), points to its section and holds no solution code."""
    assert not fb.passed and words in fb.message and f"section {section}" in fb.message, fb.message
    assert not any(bit in fb.message for bit in SOLUTION_BITS), fb.message


# --------------------------------------------------------------------------- 2.1 collapse


def test_collapse_check_passes_the_right_answer():
    fb = check_collapse(lambda W1, b1, W2, b2: (W2 @ W1, W2 @ b1 + b2))
    assert fb.passed and "W2 W1" in fb.message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda W1, b1, W2, b2: (W1.T @ W2.T, W2 @ b1 + b2), "W is transposed"),  # shape (3, 2)
        (lambda W1, b1, W2, b2: (W1.T @ W2.T @ np.ones((2, 1)), W2 @ b1 + b2), "shape (2, 3); got (3, 1)"),
        (lambda W1, b1, W2, b2: (W2 @ W1, b2), "the first bias also passes through"),  # b1 forgotten
        (lambda W1, b1, W2, b2: (W2 @ W1, W2 @ b1), "bias b2 is missing"),
        (lambda W1, b1, W2, b2: (W2 @ W1, b2[:1]), "shape (2,)"),
        (lambda W1, b1, W2, b2: (W2 @ W1 + 1, W2 @ b1 + b2), "multiply the two layers out"),
        (lambda W1, b1, W2, b2: (W2 @ W1, W2 @ b1 - b2), "collect what does not touch x"),
    ],
)
def test_collapse_check_hints(wrong, hint):
    _names(check_collapse(wrong), hint, 1)


def test_collapse_check_locates_an_unrecognised_answer_and_explains_the_form():
    fb = check_collapse(lambda W1, b1, W2, b2: (W2 @ W1 + np.eye(2, 3), W2 @ b1 + b2))
    assert "W[0, 0] is" in fb.message and "|difference| 1; 2 of 6 elements differ" in fb.message
    assert "return the pair" in check_collapse(lambda W1, b1, W2, b2: W2 @ W1).message
    assert "arrays of numbers" in check_collapse(lambda W1, b1, W2, b2: ("W", b2)).message


def test_collapse_check_handles_placeholders_and_crashes():
    assert "not attempted yet" in check_collapse(_not_attempted).message
    assert "ValueError" in check_collapse(lambda W1, b1, W2, b2: (W1 @ W2, b1)).message  # shapes (4,3)@(2,4)


# --------------------------------------------------------------------------- 2.2 relu


def test_relu_check_passes_the_right_answer():
    assert check_relu(lambda x: np.maximum(x, 0.0), lambda dout, x: np.where(x > 0, dout, 0.0)).passed


@pytest.mark.parametrize(
    "forward, backward, hint",
    [
        (np.abs, lambda d, x: np.where(x > 0, d, 0.0), "absolute value"),
        (lambda x: np.minimum(x, 0.0), lambda d, x: np.where(x > 0, d, 0.0), "keeps the negative part"),
        (lambda x: np.maximum(x, 1.0), lambda d, x: np.where(x > 0, d, 0.0), "relu(x)[0, 0] is 1 but should be 0"),
        (lambda x: np.maximum(x, 0.0), lambda d, x: (x > 0).astype(float), "upstream gradient dout is missing"),
        (lambda x: np.maximum(x, 0.0), lambda d, x: np.where(x >= 0, d, 0.0), "exactly x = 0"),
        (lambda x: np.maximum(x, 0.0), lambda d, x: d, "block the gradient"),
        (lambda x: np.maximum(x, 0.0), lambda d, x: np.where(x < 0, d, 0.0), "wrong side"),
        (lambda x: np.maximum(x, 0.0), lambda d, x: 2 * d, "ReLU's slope"),
    ],
)
def test_relu_check_hints(forward, backward, hint):
    _names(check_relu(forward, backward), hint, 2)  # hints name the mistake, never the code


def test_relu_check_locates_an_unrecognised_backward():
    fb = check_relu(lambda x: np.maximum(x, 0.0), lambda d, x: 2 * d)
    assert "dx[1, 4] is 20 but should be 0" in fb.message and "10 of 10 elements differ" in fb.message
    assert "array of numbers" in check_relu(lambda x: ["a"] * 5, _not_attempted).message


def test_relu_check_handles_placeholders():
    assert "not attempted yet" in check_relu(_not_attempted, _not_attempted).message
    assert "not attempted yet" in check_relu(lambda x: np.maximum(x, 0.0), _not_attempted).message
    assert "pass your function itself" in check_relu("relu", _not_attempted).message


# --------------------------------------------------------------------------- 2.3 xor by hand


def test_xor_check_passes_or_nand_and():
    fb = check_xor_weights([[1, 1], [-1, -1]], [-0.5, 1.5], [1, 1], -1.5)
    assert fb.passed and "OR and NAND" in fb.message


def test_xor_check_accepts_any_correct_network():
    # hidden: x1 AND NOT x2, x2 AND NOT x1; output: OR
    W1, b1 = np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([-0.5, -0.5])
    assert check_xor_weights(W1, b1, [1, 1], -0.5).passed


def test_xor_check_hints():
    _names(check_xor_weights([[1, 1], [-1, -1]], [-0.5, 1.5], [1, 1], -0.5), "which can work", 3)
    _names(check_xor_weights([[1, 0], [0, 1]], [-0.5, -0.5], [1, 1], -1.5), "not linearly separable", 3)
    _names(check_xor_weights([[1, -1], [1, -1]], [-0.5, 1.5], [1, 1], -1.5), "W1 is transposed", 1)
    assert "(2, 2)" in check_xor_weights([[1, 1]], [-0.5, 1.5], [1, 1], -1.5).message
    assert "2x2" in check_xor_weights([["a", 1], [1, 1]], [0, 0], [1, 1], 0).message
    assert "finite" in check_xor_weights([[np.nan, 1], [1, 1]], [0, 0], [1, 1], 0).message


# --------------------------------------------------------------------------- 2.4 counting parameters


def test_count_check_passes_and_agrees_with_the_library():
    def count(sizes):
        return sum(d_in * d_out + d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))

    assert check_count_parameters(count).passed
    assert count([64, 128, 10]) == MLP([64, 128, 10], rng=np.random.default_rng(0)).num_parameters()


def test_count_check_hints():
    _names(check_count_parameters(lambda s: sum(a * b for a, b in zip(s[:-1], s[1:]))), "biases are missing", 1)
    _names(check_count_parameters(lambda s: sum(a * b + a for a, b in zip(s[:-1], s[1:]))), "per *output* unit", 1)
    _names(check_count_parameters(lambda s: sum(a * b + b for a, b in zip(s[:-2], s[1:-1]))), "one layer is left out",
           1)  # off by one: the last layer is not counted
    other = check_count_parameters(lambda s: 7)
    _names(other, "expected 9610, got 7", 1)
    assert "not attempted yet" in check_count_parameters(_not_attempted).message


# --------------------------------------------------------------------------- 2.5 two-layer MLP by hand


def test_two_layer_reference_matches_torch_autograd_and_numeric_gradients():
    X, y, W1, b1, W2, b2 = ex._mlp_case()
    loss, grads = two_layer_forward_backward(X, y, W1, b1, W2, b2)
    params = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    loss_t = F.cross_entropy(F.linear(F.relu(F.linear(torch.tensor(X), params[0], params[1])), params[2], params[3]),
                             torch.tensor(y))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12
    for key, p in zip(("W1", "b1", "W2", "b2"), params):
        assert np.allclose(grads[key], p.grad.numpy(), atol=1e-12)
    eps, step = 1e-6, np.zeros_like(W1)
    step[1, 2] = eps
    numeric = (two_layer_forward_backward(X, y, W1 + step, b1, W2, b2)[0]
               - two_layer_forward_backward(X, y, W1 - step, b1, W2, b2)[0]) / (2 * eps)
    assert abs(numeric - grads["W1"][1, 2]) < 1e-6


def test_two_layer_check_passes_the_reference():
    assert check_two_layer(two_layer_forward_backward).passed


@pytest.mark.parametrize("index, words", [(0, "summed over the batch"), (1, "ignores the ReLU"), (2, "'- 1'"),
                                          (3, "bias gradients are averaged")])
def test_two_layer_check_names_typical_mistakes(index, words):
    answer = ex._mlp_mistakes(*ex._mlp_case())[index][1]
    _names(check_two_layer(lambda *a: answer), words, 2 if index == 1 else 5)


def test_two_layer_check_names_a_transposed_gradient_and_locates_other_errors():
    loss, grads = two_layer_forward_backward(*ex._mlp_case())
    _names(check_two_layer(lambda *a: (loss, {**grads, "W1": grads["W1"].T})), "transpose", 1)
    _names(check_two_layer(lambda *a: (loss, {**grads, "b1": grads["b1"][:3]})), "batch axis only", 5)
    off = grads["b1"].copy()
    off[3] += 0.25
    fb = check_two_layer(lambda *a: (loss, {**grads, "b1": off}))
    _names(fb, "(|difference| 0.25; 1 of 5 elements differ)", 5)
    assert fb.message.startswith("db1[3] is")
    assert "pair (loss, grads)" in check_two_layer(lambda *a: (loss, [1, 2])).message
    _names(check_two_layer(lambda *a: (loss + 0.5, grads)), "loss is off by +0.5", 5)
    _names(check_two_layer(lambda *a: (loss * 6, grads)), "loss is summed over the batch", 5)


def test_xor_check_placeholders_are_not_attempted():
    assert "not attempted yet" in check_xor_weights(None, None, None, None).message


def test_standardise_uses_training_statistics_only():
    train, other = np.array([[0.0, 5.0], [2.0, 5.0]]), np.array([[4.0, 6.0]])
    a, b = standardise(train, other)
    assert np.allclose(a, [[-1.0, 0.0], [1.0, 0.0]]) and np.allclose(b, [[3.0, 1.0]])


# --------------------------------------------------------------------------- widget


def _curve():
    x = np.linspace(-1, 1, 30)
    target = np.sin(3 * x)
    return x, target, {4: target + 0.1, 1: np.zeros_like(x), 2: target * 0.5}


def test_width_widget_retrains_on_every_change():
    x = np.linspace(-3, 3, 40)
    x_held = np.linspace(-2.9, 2.9, 25)
    demo = width_widget(x, np.sin(x), x_held, np.sin(x_held), max_units=8)
    units, start = [w for w in demo.children if isinstance(w, ipywidgets.IntSlider)]
    assert units.description == "hidden units" and start.description == "random start"
    assert units.style.description_width == "initial" and not units.continuous_update
    before = len(plt.get_fignums())
    units.value = 8  # moving the slider trains a new network and draws it
    assert demo.kwargs["hidden_units"] == 8 and len(plt.get_fignums()) >= before


def test_plot_fit_titles_with_width_and_errors():
    x, target, fits = _curve()
    _, ax = plt.subplots()
    plot_fit(ax, x, target, fits[4], 4)
    assert ax.get_title() == f"4 hidden units: MSE {fit_error(target, fits[4]):.4f}" and len(ax.lines) == 2
    assert abs(fit_error(target, fits[4]) - 0.01) < 1e-12
    _, ax = plt.subplots()
    plot_fit(ax, x, target, fits[1], 1, x[:5], target[:5], target[:5] + 0.2)
    assert ax.get_title().startswith("1 hidden unit:") and ax.get_title().endswith("held-out 0.0400")


def test_width_widget_rejects_bad_input():
    x, target, fits = _curve()
    with pytest.raises(ValueError, match=r"target with 30 values, one per point of x.*got 29 values"):
        width_widget(x, target[:-1], x, target)
    with pytest.raises(ValueError, match=r"target_held with 30 values"):
        width_widget(x, target, x, target[:10])
    with pytest.raises(ValueError, match=r"x of shape \(N,\) or \(N, 1\), got shape \(30, 2\)"):
        width_widget(np.column_stack([x, x]), target, x, target)
    with pytest.raises(TypeError, match=r"x to be a numpy.ndarray, got list"):
        width_widget(list(x), target, x, target)
