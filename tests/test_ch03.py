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
         "tanh step"),
        (lambda w, x, b, y: tuple(-g for g in _chain_right(w, x, b, y)), "sign is flipped"),
        (lambda w, x, b, y: _chain_right(w, x, b, y)[::-1], "swapped"),
        (lambda w, x, b, y: (_chain_right(w, x, b, y)[1], _chain_right(w, x, b, y)[1]), "dz/dw = x"),
        (lambda w, x, b, y: (1.0, 2.0), "local derivatives"),
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
        (_MinusCos, "+cos"),
        (_SinGrad, "not sin(x)"),
        (_NoChildren, "children=(self,)"),
        (_Float, "must return a Value"),
        (_WrongValue, "expected sin(0.7)"),
        (_NoGrad, "local_grads=(math.cos"),
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
        (lambda dout, x, W: (dout @ W, dout.T @ x, dout.sum()), "db must have the shape (3,)"),
        (lambda dout, x, W: (dout, dout.T @ x, dout.sum(axis=0)), "dx must have the shape (5, 4)"),
        (lambda dout, x, W: (dout @ W, dout.T @ x, dout.mean(axis=0)), "sum over the batch, not a mean"),
        (lambda dout, x, W: (2 * dout @ W, dout.T @ x, dout.sum(axis=0)), "dx differ"),
        (lambda dout, x, W: (dout @ W, dout.T @ x), "triple"),
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
        (lambda dout, out: out * (1 - out), "multiply by the upstream dout"),
        (lambda dout, out: dout * out, "both factors"),
        (lambda dout, out: dout * (1 / (1 + np.exp(-out))) * (1 - 1 / (1 + np.exp(-out))), "already sigmoid"),
        (lambda dout, out: dout.sum(), "x's shape"),
        (lambda dout, out: -dout * out * (1 - out), "differs from the numeric gradient by up to"),
        (_not_attempted, "not attempted yet"),
    ],
)
def test_sigmoid_backward_check_hints(wrong, hint):
    feedback = check_sigmoid_backward(wrong)
    assert not feedback.passed and hint in feedback.message


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

_CODE_FRAGMENTS = ("@", ".T", "np.", ".sum(", "axis=", "dout *", "p.data -=", "p.grad = 0", "return ")


def _no_code(message):
    return not any(fragment in message for fragment in _CODE_FRAGMENTS)


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
        ("transposed", "transposed"),
        ("mean db2", "db2 is a sum over the batch, not a mean"),
        ("no relu", "you skipped the ReLU's local derivative"),
        ("relu output", "not the output itself"),
        ("other", "dW1 is the first gradient that differs from torch.autograd: element"),
    ],
)
def test_mlp_check_names_the_first_wrong_tensor_and_the_mistake(mistake, hint):
    fb = check_mlp_backward(lambda *args: _mlp_grads(*args, mistake=mistake))
    assert not fb.passed and hint in fb.message and _no_code(fb.message)


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
    "kwargs, hint",
    [
        (dict(zero=False), "reset every parameter's grad to 0 before each backward"),
        (dict(sign=-1.0), "step *against* the gradient"),
        (dict(late=True), "one step late"),
        (dict(rebind=True), "the parameters never changed"),
    ],
)
def test_value_training_check_names_the_mistake(kwargs, hint):
    fb = check_value_training(lambda *a: _loop(*a, **kwargs))
    assert not fb.passed and hint in fb.message and _no_code(fb.message)


def test_value_training_check_wrong_length_and_not_attempted():
    assert "one loss per step" in check_value_training(lambda *a: _loop(*a)[:-1]).message
    assert "not attempted yet" in check_value_training(_not_attempted).message


def test_exercises_are_listed_in_chapter_order():
    assert [e.split()[0] for e in EXERCISES] == ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6"]
