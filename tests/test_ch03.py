"""Chapter 3: the exercise checks, the graph drawing and the learning-rate widget."""


import math

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib.chapters.ch03_backprop.exercises import (
    EXERCISES,
    check_chain_rule,
    check_linear_backward,
    check_mlp_backward,
    check_sigmoid_backward,
    check_sin_op,
    check_value_training,
)
from course_lib.chapters.ch03_backprop.graphs import draw_graph, graph_layout
from course_lib.chapters.ch03_backprop.widgets import (
    learning_rate_sweep,
    learning_rate_widget,
    plot_losses,
    plot_path,
    quadratic_descent,
    verdict,
)
from course_lib.scratch.autograd import Value


def _not_attempted(*args):
    raise NotImplementedError


_CODE_FRAGMENTS = ("@", ".T", "np.", ".sum(", "axis=", "dout *", "p.data -=", "p.grad = 0", "return ", "1 - tanh",
                   "2 (a - y)", "(y - a)", "s (1 - s)", "out * (1 - out)", "local_grads=", "math.cos", "children=(",
                   "z1 > 0", "z1 <= 0", "divide by N", "minus labels", "dz/dw = x")


def _no_code(message):
    return not any(fragment in message for fragment in _CODE_FRAGMENTS)


def _names(fb, words, section):
    """The hint names the mistake (words), points to its section and holds no solution code."""
    assert not fb.passed and words in fb.message and f"section {section}" in fb.message, fb.message
    assert _no_code(fb.message), fb.message


# --------------------------------------------------------------------------- exercise 3.1


def _chain_right(w, x, b, y):
    a = math.tanh(w * x + b)
    return 2 * (a - y) * (1 - a * a) * x, 2 * (a - y) * (1 - a * a)


def test_chain_rule_check_accepts_the_chain_rule_and_a_numeric_answer():
    assert check_chain_rule(_chain_right).passed

    def numeric(w, x, b, y, h=1e-6):
        f = lambda w_, b_: (math.tanh(w_ * x + b_) - y) ** 2  # noqa: E731
        return (f(w + h, b) - f(w - h, b)) / (2 * h), (f(w, b + h) - f(w, b - h)) / (2 * h)

    assert check_chain_rule(numeric).passed  # an independent computation agrees with the reference


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda w, x, b, y: (2 * (math.tanh(w * x + b) - y) * x, 2 * (math.tanh(w * x + b) - y)),
         "skipped the tanh step: its local derivative da/dz is missing"),
        (lambda w, x, b, y: tuple(-g for g in _chain_right(w, x, b, y)), "sign is flipped"),
        (lambda w, x, b, y: (_chain_right(w, x, b, y)[1], _chain_right(w, x, b, y)[1]), "missing the last factor"),
        (lambda w, x, b, y: (1.0, 2.0), "dL/dw is 1 but should be"),
    ],
)
def test_chain_rule_check_names_the_mistake_and_section_2(wrong, hint):
    _names(check_chain_rule(wrong), hint, 2)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda w, x, b, y: _chain_right(w, x, b, y)[::-1], "swapped"),
        (lambda w, x, b, y: 3.0, "return the pair"),
        (_not_attempted, "not attempted yet"),
        (lambda w, x, b, y: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_chain_rule_check_hints(wrong, hint):
    feedback = check_chain_rule(wrong)
    assert not feedback.passed and hint in feedback.message


# --------------------------------------------------------------------------- exercise 3.2


class _RightSin(Value):
    def sin(self):
        return Value(math.sin(self.data), (self,), "sin", local_grads=(math.cos(self.data),))


def test_sin_check_accepts_a_right_op():
    assert check_sin_op(_RightSin).passed


class _MinusCos(Value):
    def sin(self):
        return Value(math.sin(self.data), (self,), "sin", local_grads=(-math.cos(self.data),))


class _SinGrad(Value):
    def sin(self):
        return Value(math.sin(self.data), (self,), "sin", local_grads=(math.sin(self.data),))


class _NoChildren(Value):
    def sin(self):
        return Value(math.sin(self.data))


class _Float(Value):
    def sin(self):
        return math.sin(self.data)


class _WrongValue(Value):
    def sin(self):
        return Value(math.cos(self.data), (self,), "sin", local_grads=(math.cos(self.data),))


class _NoGrad(Value):
    def sin(self):
        return Value(math.sin(self.data), (self,), "sin", local_grads=(0.0,))


class _Placeholder(Value):
    def sin(self):
        raise NotImplementedError


@pytest.mark.parametrize(
    "cls, hint",
    [
        (_MinusCos, "sign is flipped"),
        (_SinGrad, "repeats the forward value"),
        (_NoChildren, "without self among its children"),
        (_WrongValue, "expected sin(0.7)"),
        (_NoGrad, "x.grad is 1.64422 but should be 2.17961"),
    ],
)
def test_sin_check_names_the_mistake_and_section_3(cls, hint):
    _names(check_sin_op(cls), hint, 3)


@pytest.mark.parametrize(
    "cls, hint",
    [
        (_Float, "must return a Value"),
        (_Placeholder, "not attempted yet"),
        (Value, "add a method sin"),
        (3, "subclass of Value"),
    ],
)
def test_sin_check_hints(cls, hint):
    feedback = check_sin_op(cls)
    assert not feedback.passed and hint in feedback.message


# --------------------------------------------------------------------------- exercise 3.3


def test_linear_backward_check_accepts_the_right_formulas():
    assert check_linear_backward(lambda dout, x, W: (dout @ W, dout.T @ x, dout.sum(axis=0))).passed


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda dout, x, W: (dout @ W, x.T @ dout, dout.sum(axis=0)), "dW must have the shape (3, 4)"),
        (lambda dout, x, W: (dout @ W, x.T @ dout, dout.sum(axis=0)), "got (4, 3), its transpose"),
        (lambda dout, x, W: (dout @ W, dout.T @ x, dout.sum()), "db must have the shape (3,)"),
        (lambda dout, x, W: (dout, dout.T @ x, dout.sum(axis=0)), "dx must have the shape (5, 4)"),
        (lambda dout, x, W: (dout @ W, dout.T @ x, dout.mean(axis=0)), "db is a sum over the batch, not a mean"),
        (lambda dout, x, W: (dout @ W, dout.T @ x / 5, dout.sum(axis=0)), "dW is a sum over the batch, not a mean"),
        (lambda dout, x, W: (2 * dout @ W, dout.T @ x, dout.sum(axis=0)), "but should be"),
    ],
)
def test_linear_backward_check_names_the_mistake_and_section_4(wrong, hint):
    _names(check_linear_backward(wrong), hint, 4)


def test_linear_backward_check_locates_an_unrecognised_answer():
    fb = check_linear_backward(lambda dout, x, W: (2 * dout @ W, dout.T @ x, dout.sum(axis=0)))
    assert fb.message.startswith("dx[") and "20 of 20 elements differ" in fb.message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda dout, x, W: (dout @ W, dout.T @ x), "triple"),
        (lambda dout, x, W: (dout @ W, dout.T @ x, ["a", "b", "c"]), "db should be an array of numbers"),
        (_not_attempted, "not attempted yet"),
    ],
)
def test_linear_backward_check_hints(wrong, hint):
    feedback = check_linear_backward(wrong)
    assert not feedback.passed and hint in feedback.message


# --------------------------------------------------------------------------- exercise 3.4


def test_sigmoid_backward_check():
    assert check_sigmoid_backward(lambda dout, out: dout * out * (1 - out)).passed
    # the library's backward functions return a tuple (dx,): accepted too
    assert check_sigmoid_backward(lambda dout, out: (dout * out * (1 - out),)).passed


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda dout, out: out * (1 - out), "upstream gradient dout is missing"),
        (lambda dout, out: dout * out, "two factors and one is missing"),
        (lambda dout, out: dout * (1 - out), "two factors and one is missing"),
        (lambda dout, out: dout * (1 / (1 + np.exp(-out))) * (1 - 1 / (1 + np.exp(-out))), "applied twice"),
        (lambda dout, out: dout.sum(), "x's shape"),
        (lambda dout, out: -dout * out * (1 - out), "but should be"),
    ],
)
def test_sigmoid_backward_check_names_the_mistake_and_section_4(wrong, hint):
    _names(check_sigmoid_backward(wrong), hint, 4)


def test_sigmoid_backward_check_locates_an_unrecognised_answer_and_placeholders():
    fb = check_sigmoid_backward(lambda dout, out: -dout * out * (1 - out))
    assert fb.message.startswith("dx[") and "12 of 12 elements differ" in fb.message
    assert "array of numbers" in check_sigmoid_backward(lambda dout, out: np.full(out.shape, "a")).message
    assert "not attempted yet" in check_sigmoid_backward(_not_attempted).message


# --------------------------------------------------------------------------- graphs


def _neuron():
    w, x, b, y = Value(0.8, label="w"), Value(1.5, label="x"), Value(-0.2, label="b"), Value(1.0, label="y")
    loss = ((w * x + b).tanh() - y) ** 2
    loss.label = "L"
    return loss, (w, x, b, y)


def test_layout_puts_inputs_left_of_results_and_the_output_last():
    loss, (w, x, b, y) = _neuron()
    nodes, edges = loss.graph()
    layout = graph_layout(loss)
    assert set(layout) == {id(n) for n in nodes}
    assert all(layout[id(child)][0] < layout[id(parent)][0] for child, parent in edges)
    assert layout[id(loss)][0] == max(c for c, _ in layout.values())
    assert layout[id(y)][0] == layout[id(loss)][0] - 2  # a leaf sits just before its first use
    assert sorted(layout[id(v)][1] for v in (w, x, b, y)) == [0.0, 1.0, 2.0, 3.0]


def test_draw_graph_shows_every_node_and_its_gradient():
    loss, (w, *_rest) = _neuron()
    loss.backward()
    ax = draw_graph(loss)
    texts = [t.get_text() for t in ax.texts if t.get_text()]  # arrows are empty annotations
    nodes, edges = loss.graph()
    ops = [n.op for n in nodes if n.op]
    assert len(texts) == len(nodes) + len(ops)
    assert any(t.startswith("w = 0.8") and f"grad {w.grad:.4g}" in t for t in texts)
    assert all(op in texts for op in ops)
    arrows = [t for t in ax.texts if not t.get_text()]
    assert len(arrows) == len(edges) + len(ops)  # one per edge, plus one from each operation to its result
    bare = [t.get_text() for t in draw_graph(loss, show_grad=False, fmt=".2f").texts]
    assert not any("grad" in t for t in bare) and "w = 0.80" in bare


def test_draw_graph_handles_a_lone_value_and_shared_nodes():
    ax = draw_graph(Value(3.0, label="c"))
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["c = 3\ngrad 0"]
    u = Value(2.0, label="u")
    out = u * u + u
    out.backward()
    assert math.isclose(u.grad, 5.0)
    texts = [t.get_text() for t in draw_graph(out).texts]
    assert sum(t.startswith("u =") for t in texts) == 1  # a shared node is drawn once


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: draw_graph(3.0), TypeError, "expected a Value"),
        (lambda: draw_graph(np.ones(2)), TypeError, "got ndarray"),
        (lambda: draw_graph(Value(1.0), show_grad="yes"), TypeError, "show_grad to be True or False"),
        (lambda: graph_layout([Value(1.0)]), TypeError, "graph_layout: expected a Value"),
    ],
)
def test_graph_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# --------------------------------------------------------------------------- learning-rate widget


def test_quadratic_descent_follows_the_closed_form():
    path, losses = quadratic_descent(0.15, steps=10, curvatures=(1.0, 10.0), start=(-4.0, 2.0))
    k = np.arange(11)
    expected = np.column_stack([-4.0 * 0.85**k, 2.0 * (-0.5) ** k])
    assert np.allclose(path, expected, rtol=1e-12)
    assert np.allclose(losses, 0.5 * (path[:, 0] ** 2 + 10 * path[:, 1] ** 2))


def test_divergence_threshold_is_two_over_the_largest_curvature():
    runs = learning_rate_sweep([0.01, 0.1, 0.19, 0.21], steps=40)
    assert [verdict(losses) for _, losses in runs.values()] == ["slow", "converges", "converges", "diverges"]
    path, losses = quadratic_descent(2.0, steps=200)  # wildly unstable: stops before overflowing
    assert np.isinf(losses[-1]) and np.isfinite(losses[0]) and verdict(losses) == "diverges"


def test_widget_reruns_descent_for_any_rate_and_curvature():
    demo = learning_rate_widget(lrs=[0.05, 0.1, 0.21], steps=20, lr=0.1)
    sliders = {w.description: w for w in demo.children if isinstance(w, ipywidgets.ValueWidget)}
    assert set(sliders) == {"learning rate", "steep curvature c2"}
    assert all(w.style.description_width == "initial" for w in sliders.values())
    sliders["learning rate"].value = 0.15  # not one of lrs: computed live
    title = plt.figure(plt.get_fignums()[-1]).axes[0].get_title()
    assert demo.kwargs["lr"] == 0.15 and title == "lr = 0.15: converges"
    sliders["steep curvature c2"].value = 15.0  # now 2 / 15 < 0.15: the same rate diverges
    title = plt.figure(plt.get_fignums()[-1]).axes[0].get_title()
    assert title == "lr = 0.15: diverges"


def test_static_plots():
    runs = learning_rate_sweep([0.05, 0.21], steps=10)
    ax = plot_path(runs, 0.21)
    assert ax.get_title() == "lr = 0.21: diverges"
    ax = plot_losses(runs, highlight=0.05)
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: learning_rate_widget(lrs=[]), ValueError, "at least one learning rate"),
        (lambda: learning_rate_widget(lrs=[0.1, -0.1]), ValueError, r"lrs\[1\] > 0.0"),
        (lambda: learning_rate_widget(lrs=0.1), TypeError, "lrs as a list"),
        (lambda: learning_rate_widget(steps=0), ValueError, "steps >= 1"),
        (lambda: learning_rate_widget(lr=5.0), ValueError, "lr"),
        (lambda: quadratic_descent(0.1, curvatures=(1.0, 0.0)), ValueError, "positive finite curvatures"),
        (lambda: quadratic_descent(0.1, start=(1.0, 2.0, 3.0)), ValueError, r"start as two numbers"),
        (lambda: quadratic_descent("fast"), TypeError, "lr to be a number"),
        (lambda: plot_path(learning_rate_sweep([0.1]), 0.2), ValueError, r"lr to be one of \[0.1\]"),
        (lambda: plot_losses({}), TypeError, "non-empty dict"),
    ],
)
def test_widget_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# --------------------------------------------------------------------------- no solution code in hints


def test_linear_and_sigmoid_hints_show_no_solution_code():
    for wrong in (lambda dout, x, W: (dout @ W, x.T @ dout, dout.sum(axis=0)),
                  lambda dout, x, W: (dout, dout.T @ x, dout.sum(axis=0)),
                  lambda dout, x, W: (dout @ W, dout.T @ x, dout.sum())):
        assert _no_code(check_linear_backward(wrong).message)
    assert _no_code(check_sigmoid_backward(lambda dout, out: -dout * out * (1 - out)).message)


# --------------------------------------------------------------------------- exercise 3.6: MLP backward


def _mlp_grads(X, y, W1, b1, W2, b2, mistake=None):
    n = len(X)
    z1 = X @ W1.T + b1
    h = np.maximum(z1, 0.0)
    logits = h @ W2.T + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dlogits = (p - np.eye(W2.shape[0])[y]) / (1 if mistake == "sum" else n)
    if mistake == "no label":
        dlogits = p / n
    if mistake == "wrong sign":
        dlogits = -dlogits
    dW2, db2 = dlogits.T @ h, dlogits.sum(axis=0)
    if mistake == "transposed":
        dW2 = h.T @ dlogits
    if mistake == "mean db2":
        db2 = dlogits.mean(axis=0)
    dh = dlogits @ W2
    dz1 = dh if mistake == "no relu" else dh * (z1 > 0)
    if mistake == "relu output":
        dz1 = dh * h
    dW1, db1 = dz1.T @ X, dz1.sum(axis=0)
    if mistake == "other":
        dW1 = dW1 + 0.5
    return {"dlogits": dlogits, "dW2": dW2, "db2": db2, "dh": dh, "dz1": dz1, "dW1": dW1, "db1": db1}


def test_mlp_check_passes_the_reference():
    assert check_mlp_backward(_mlp_grads).passed


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("sum", "the loss is the *mean* over the batch"),
        ("no label", "misses the label term"),
        ("wrong sign", "dlogits has the wrong sign"),
        ("transposed", "transposed"),
        ("mean db2", "db2 is a sum over the batch, not a mean"),
        ("no relu", "you skipped the ReLU's local derivative"),
        ("relu output", "the ReLU's output itself, not by its local derivative"),
        ("other", "dW1 is the first gradient that differs from torch.autograd: dW1["),
    ],
)
def test_mlp_check_names_the_first_wrong_tensor_and_the_mistake(mistake, hint):
    _names(check_mlp_backward(lambda *args: _mlp_grads(*args, mistake=mistake)), hint, 4)


def test_mlp_check_explains_a_missing_key_and_a_non_dict():
    def without_dz1(*args):
        return {k: v for k, v in _mlp_grads(*args).items() if k != "dz1"}

    assert "the dict has no dz1" in check_mlp_backward(without_dz1).message
    assert "return a dict" in check_mlp_backward(lambda *a: list(_mlp_grads(*a).values())).message
    assert "not attempted yet" in check_mlp_backward(_not_attempted).message


# --------------------------------------------------------------------------- exercise 3.3: training on Value


def _loop(params, loss_fn, lr, steps, zero=True, sign=1.0, late=False, rebind=False):
    losses = []
    for _ in range(steps):
        if zero:
            for p in params:
                p.grad = 0.0
        loss = loss_fn()
        loss.backward()
        for p in params:
            if rebind:
                p = Value(p.data - lr * p.grad)  # noqa: PLW2901 (the mistake under test)
            else:
                p.data -= sign * lr * p.grad
        losses.append(loss_fn().data if late else loss.data)
    return losses


def test_value_training_check_passes_the_reference_and_zero_grad():
    assert check_value_training(_loop).passed

    def with_zero_grad(params, loss_fn, lr, steps):
        out = []
        for _ in range(steps):
            loss = loss_fn()
            loss.zero_grad()
            loss.backward()
            for p in params:
                p.data -= lr * p.grad
            out.append(loss)  # Values are accepted too
        return out

    assert check_value_training(with_zero_grad).passed


@pytest.mark.parametrize(
    "kwargs, hint, section",
    [
        (dict(zero=False), "reset every parameter's grad to 0 before each backward", 3),
        (dict(sign=-1.0), "step *against* the gradient", 5),
        (dict(late=True), "one step late", 3),
        (dict(rebind=True), "the parameters never changed", 3),
    ],
)
def test_value_training_check_names_the_mistake(kwargs, hint, section):
    _names(check_value_training(lambda *a: _loop(*a, **kwargs)), hint, section)


def test_value_training_check_locates_an_unrecognised_loop():
    fb = check_value_training(lambda *a: _loop(*a)[:-1] + [0.0])
    _names(fb, "the recorded losses are not", 3)
    fb = check_value_training(lambda params, loss_fn, lr, steps: _loop(params, loss_fn, lr / 2, steps))
    _names(fb, "step 2 gives loss", 5)


def test_value_training_check_wrong_length_and_not_attempted():
    assert "one loss per step" in check_value_training(lambda *a: _loop(*a)[:-1]).message
    assert "not attempted yet" in check_value_training(_not_attempted).message


def test_exercises_are_listed_in_chapter_order():
    assert [e.split()[0] for e in EXERCISES] == ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6"]
