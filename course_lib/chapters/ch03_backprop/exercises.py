"""Checks for chapter 3, backpropagation."""

from __future__ import annotations

import math

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs
from course_lib.scratch.autograd import Value
from course_lib.scratch.gradcheck import numeric_gradient, rel_error
from course_lib.scratch.layers import linear_forward, sigmoid


def check_chain_rule(func) -> Feedback:
    """Exercise 3.1: ``func(w, x, b, y) -> (dL/dw, dL/db)`` for L = (tanh(w x + b) - y)**2."""
    name = "3.1 chain rule"
    for w, x, b, y in [(0.3, -1.5, 0.2, 1.0), (-0.8, 0.7, 0.1, -0.5), (1.2, 2.0, -0.4, 0.25)]:
        result, problem = call_student(name, func, w, x, b, y)
        if problem is not None:
            return problem
        try:
            dw, db = (float(v) for v in result)
        except (TypeError, ValueError):
            return failed(name, "return the pair (dL_dw, dL_db) as two numbers.")
        a = math.tanh(w * x + b)
        dw_ref = 2 * (a - y) * (1 - a * a) * x
        db_ref = 2 * (a - y) * (1 - a * a)
        if close(dw, dw_ref, 1e-6) and close(db, db_ref, 1e-6):
            continue
        if close(db, 2 * (a - y), 1e-6) or close(dw, 2 * (a - y) * x, 1e-6):
            return failed(name, "you skipped the tanh step: its local derivative da/dz is missing from the product "
                                "(section 2 derives it).")
        if close(dw, -dw_ref, 1e-6) or close(db, -db_ref, 1e-6):
            return failed(name, "the sign is flipped: check the order of the difference when you differentiate the "
                                "squared error (section 2).")
        if close(dw, db_ref, 1e-6) and close(db, dw_ref, 1e-6):
            return failed(name, "the two gradients are swapped: return (dL/dw, dL/db).")
        if close(db, db_ref, 1e-6):
            return failed(name, "dL/db is right, but dL/dw is missing the last factor of its chain, dz/dw "
                                "(section 2).")
        got, want, label = (dw, dw_ref, "dL/dw") if not close(dw, dw_ref, 1e-6) else (db, db_ref, "dL/db")
        return failed(name, f"at w = {w}, x = {x}, b = {b}, y = {y}, {label} is {got:.6g} but should be {want:.6g}; "
                            "multiply the local derivatives along the path from L back to it (section 2).")
    return passed(name, "dL/dw = 2 (a - y) (1 - a**2) x: one local derivative per node, multiplied.")


def check_sigmoid_backward(func) -> Feedback:
    """Exercise 3.5: ``func(dout, out) -> dx`` where out = sigmoid(x) was cached by the forward pass."""
    name = "3.5 sigmoid backward"
    rng = np.random.default_rng(32)
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    out = sigmoid(x)
    result, problem = call_student(name, func, dout.copy(), out.copy())
    if problem is not None:
        return problem
    if isinstance(result, tuple) and len(result) == 1:
        result = result[0]
    if np.shape(result) != x.shape:
        return failed(name, f"dx must have x's shape {x.shape}, got {np.shape(result)}; work elementwise "
                            "(section 4).")
    numeric = numeric_gradient(lambda: sigmoid(x), x, dout)
    if close(result, numeric, 1e-6):
        return passed(name, "dx = dout * s * (1 - s) matches the numeric gradient.")
    if close(result, out * (1 - out), 1e-8):
        return failed(name, "that is the sigmoid's local derivative alone: the upstream gradient dout is missing "
                            "from the product (section 4).")
    twice = dout * sigmoid(out) * (1 - sigmoid(out))  # sigmoid applied to the cached output again
    if close(result, twice, 1e-8) or close(result, dout * x * (1 - x), 1e-8):
        return failed(name, "the sigmoid is applied twice: out is already sigmoid(x), cached by the forward pass "
                            "(section 4, exercise 3.5).")
    if close(result, dout * out, 1e-8) or close(result, dout * (1 - out), 1e-8):
        return failed(name, "the sigmoid's local derivative has two factors and one is missing (section 4, "
                            "exercise 3.5).")
    try:
        where = where_differs("dx", result, dout * out * (1 - out))
    except (TypeError, ValueError):
        return failed(name, "return dx as an array of numbers.")
    return failed(name, f"{where}; the sigmoid's local derivative is written in terms of its output (section 4).")


def check_linear_backward(func) -> Feedback:
    """Exercise 3.4: ``func(dout, x, W) -> (dx, dW, db)`` for out = x @ W.T + b."""
    name = "3.4 linear backward"
    rng = np.random.default_rng(33)
    n, d, k = 5, 4, 3  # all different, so a transposed result has the wrong shape
    x, W, b = rng.normal(size=(n, d)), rng.normal(size=(k, d)), rng.normal(size=k)
    dout = rng.normal(size=(n, k))
    result, problem = call_student(name, func, dout.copy(), x.copy(), W.copy())
    if problem is not None:
        return problem
    try:
        dx, dW, db = result
    except (TypeError, ValueError):
        return failed(name, "return the triple (dx, dW, db).")
    shapes = {"dx": (np.shape(dx), x.shape), "dW": (np.shape(dW), W.shape), "db": (np.shape(db), b.shape)}
    for grad_name, (got, want) in shapes.items():
        if got != want:
            fix = {
                "dx": "dout is (N, K) and W is (K, D): which product of the two is (N, D)?",
                "dW": "dout is (N, K) and x is (N, D): which product of the two, with one transposed, is (K, D)?",
                "db": "one number per output unit, so reduce dout over the batch axis only",
            }[grad_name]
            transposed = ", its transpose" if got == want[::-1] and len(want) == 2 else ""
            return failed(name, f"{grad_name} must have the shape {want} of what it is the gradient of, "
                                f"got {got}{transposed}; {fix} (section 4).")

    def forward():
        return linear_forward(x, W, b)[0]

    grads = {}
    for key, grad in (("dx", dx), ("dW", dW), ("db", db)):
        try:
            grads[key] = np.asarray(grad, dtype=float)
        except (TypeError, ValueError):
            return failed(name, f"{key} should be an array of numbers, got {type(grad).__name__}.")
    numerics = {key: numeric_gradient(forward, wrt, dout) for key, wrt in (("dx", x), ("dW", W), ("db", b))}
    wrong = [key for key in grads if rel_error(grads[key], numerics[key]) > 1e-6]
    if not wrong:
        return passed(name, "dx, dW and db all match numeric gradients (relative errors below 1e-6).")
    n = len(x)
    for key in ("dW", "db"):
        if key in wrong and close(grads[key] * n, numerics[key], 1e-8):
            return failed(name, f"{key} is a sum over the batch, not a mean: every example adds its own share "
                                "(section 4).")
    key = wrong[0]
    return failed(name, f"{where_differs(key, grads[key], numerics[key])}; write out one element of out and "
                        "differentiate it (section 4).")


def check_sin_op(cls) -> Feedback:
    """Exercise 3.2: ``cls`` is a Value subclass whose ``sin()`` joins the graph with local gradient cos."""
    name = "3.2 a new operation"
    if not (isinstance(cls, type) and issubclass(cls, Value)):
        return failed(name, f"pass your class (a subclass of Value) itself, got {type(cls).__name__}.")
    x = cls(0.7, label="x")
    if not callable(getattr(x, "sin", None)):
        return failed(name, "add a method sin(self) to your class.")
    out, problem = call_student(name, x.sin)
    if problem is not None:
        return problem
    if not isinstance(out, Value):
        return failed(name, f"sin() must return a Value (so it joins the graph), got {type(out).__name__}.")
    if not math.isclose(out.data, math.sin(0.7), abs_tol=1e-12):
        return failed(name, f"the forward value is {out.data:.4g}, expected sin(0.7) = {math.sin(0.7):.4g} "
                            "(section 3).")
    if x not in out.children:
        return failed(name, "the result does not remember its input: without self among its children, backward() "
                            "never reaches x (section 3).")
    loss = out * x + x  # x is used three times: gradients must add up
    loss.backward()
    expected = math.cos(0.7) * 0.7 + math.sin(0.7) + 1.0
    if math.isclose(x.grad, expected, abs_tol=1e-6):
        return passed(name, "d sin(x)/dx = cos(x): one local gradient is all a new operation needs.")
    if math.isclose(x.grad, -math.cos(0.7) * 0.7 + math.sin(0.7) + 1.0, abs_tol=1e-6):
        return failed(name, "the local gradient's sign is flipped: the minus belongs to the derivative of cos, not "
                            "of sin (section 3).")
    if math.isclose(x.grad, math.sin(0.7) * 0.7 + math.sin(0.7) + 1.0, abs_tol=1e-6):
        return failed(name, "the local gradient repeats the forward value sin(x); it must be the derivative of sin "
                            "at the input (section 3).")
    return failed(name, f"in loss = sin(x) * x + x at x = 0.7, x.grad is {x.grad:.6g} but should be "
                        f"{expected:.6g}: the local gradient you stored is not the derivative of sin at the input "
                        "(section 3).")


# ----------------------------------------------------------------------------- exercise 3.6

MLP_GRADS = ("dlogits", "dW2", "db2", "dh", "dz1", "dW1", "db1")
_SECTION4 = "section 4"


def _mlp_case():
    """A small batch and two-layer MLP with all sizes different, so a transposed gradient has the wrong shape."""
    rng = np.random.default_rng(35)
    n, d, hidden, k = 6, 5, 4, 3
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n)
    W1, b1 = rng.normal(size=(hidden, d)), rng.normal(size=hidden) * 0.5
    W2, b2 = rng.normal(size=(k, hidden)), rng.normal(size=k)
    return X, y, W1, b1, W2, b2


def _mlp_torch_grads(X, y, W1, b1, W2, b2) -> dict:
    """Every intermediate gradient of the two-layer MLP from torch.autograd (float64)."""
    import torch
    import torch.nn.functional as F

    leaves = {name: torch.tensor(v, requires_grad=True) for name, v in
              (("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2))}
    z1 = F.linear(torch.from_numpy(X), leaves["W1"], leaves["b1"])
    h = torch.relu(z1)
    logits = F.linear(h, leaves["W2"], leaves["b2"])
    for t in (z1, h, logits):
        t.retain_grad()
    F.cross_entropy(logits, torch.from_numpy(y)).backward()
    grads = {"dlogits": logits.grad, "dh": h.grad, "dz1": z1.grad,
             **{f"d{name}": leaf.grad for name, leaf in leaves.items()}}
    return {name: g.numpy() for name, g in grads.items()}


def _mlp_mistakes(X, y, W1, b1, W2, b2, ref: dict) -> dict:
    """Per gradient: the values that common mistakes give, each with the hint that names the mistake."""
    n = len(X)
    z1 = X @ W1.T + b1
    onehot = np.eye(W2.shape[0])[y]
    logits = np.maximum(z1, 0) @ W2.T + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return {
        "dlogits": [
            (ref["dlogits"] * n, "dlogits is N times too large: the loss is the *mean* over the batch "
                                 "(softmax cross-entropy, " + _SECTION4 + ")."),
            (p / n, "dlogits misses the label term: the correct class's logit is pushed up (" + _SECTION4 + ")."),
            ((onehot - p) / n, "dlogits has the wrong sign: a descent step along it would push the correct "
                               "class's logit down (softmax cross-entropy, " + _SECTION4 + ")."),
        ],
        "dW2": [(ref["dW2"] * n, "dW2 is N times too large: dlogits already carries the 1/N of the mean "
                                 "(" + _SECTION4 + ").")],
        "db2": [(ref["db2"] / n, "db2 is a sum over the batch, not a mean (the 1/N is already in dlogits; "
                                 + _SECTION4 + ")."),
                (ref["db2"] * n, "db2 is N times too large: dlogits already carries the 1/N of the mean "
                                 "(" + _SECTION4 + ").")],
        "dh": [],
        "dz1": [(ref["dh"], "dz1 equals dh: you skipped the ReLU's local derivative (" + _SECTION4 + ")."),
                (ref["dh"] * np.maximum(z1, 0), "dz1 multiplies dh by the ReLU's output itself, not by its local "
                                                "derivative (" + _SECTION4 + ").")],
        "dW1": [(ref["dW1"] * n, "dW1 is N times too large: dlogits already carries the 1/N of the mean "
                                 "(" + _SECTION4 + ").")],
        "db1": [(ref["db1"] / n, "db1 is a sum over the batch, not a mean (the 1/N is already in dz1; "
                                 + _SECTION4 + ").")],
    }


def check_mlp_backward(func) -> Feedback:
    """Exercise 3.6: ``func(X, y, W1, b1, W2, b2) -> dict`` of every gradient of a two-layer ReLU MLP.

    The network is ``z1 = X W1^T + b1``, ``h = relu(z1)``,
    ``logits = h W2^T + b2``, ``L = mean softmax cross-entropy``; the dict has
    the keys ``MLP_GRADS``. Each tensor is compared with ``torch.autograd``
    in the order the backward pass computes it, so the first wrong one is named.
    """
    name = "3.6 MLP backward"
    X, y, W1, b1, W2, b2 = _mlp_case()
    result, problem = call_student(name, func, X.copy(), y.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy())
    if problem is not None:
        return problem
    if not isinstance(result, dict):
        return failed(name, f"return a dict with the keys {', '.join(MLP_GRADS)}, got {type(result).__name__}.")
    missing = [key for key in MLP_GRADS if key not in result]
    if missing:
        return failed(name, f"the dict has no {', '.join(missing)}; return every one of {', '.join(MLP_GRADS)}.")
    ref = _mlp_torch_grads(X, y, W1, b1, W2, b2)
    mistakes = _mlp_mistakes(X, y, W1, b1, W2, b2, ref)
    for key in MLP_GRADS:
        want = ref[key]
        try:
            got = np.asarray(result[key], dtype=float)
        except (TypeError, ValueError):
            return failed(name, f"{key} must be an array of numbers, got {type(result[key]).__name__}.")
        if got.shape != want.shape:
            if got.shape == want.shape[::-1] and len(want.shape) == 2:
                return failed(name, f"{key} has the shape {got.shape}, transposed: a gradient has the shape "
                                    f"{want.shape} of the tensor it is the gradient of (" + _SECTION4 + ").")
            return failed(name, f"{key} must have the shape {want.shape} of the tensor it is the gradient of, "
                                f"got {got.shape} (" + _SECTION4 + ").")
        if close(got, want, 1e-9):
            continue
        for value, hint in mistakes[key]:
            if close(got, value, 1e-9):
                return failed(name, hint)
        return failed(name, f"{key} is the first gradient that differs from torch.autograd: "
                            f"{where_differs(key, got, want)}. Write out one element of the forward step it comes "
                            "from and differentiate it (" + _SECTION4 + ").")
    return passed(name, "all seven gradients agree with torch.autograd tensor by tensor: you have written "
                        "a network's whole backward pass.")


# ----------------------------------------------------------------------------- exercise 3.3

_NEURON_DATA = ((-1.0, -0.5), (0.5, 0.3), (1.5, 0.8), (2.0, 0.9))


def _neuron_loss_fn(w, b):
    """The mean squared error of a tanh neuron on four points, built from Values w and b."""
    total = 0
    for x, y in _NEURON_DATA:
        total = total + ((w * x + b).tanh() - y) ** 2
    return total / len(_NEURON_DATA)


def _reference_loop(lr, steps, zero=True, sign=1.0, record_after=False):
    """The loop of exercise 3.3, with switches that reproduce common mistakes; returns (losses, (w, b))."""
    w, b = Value(0.3), Value(-0.4)
    losses = []
    for _ in range(steps):
        if zero:
            w.grad = b.grad = 0.0
        loss = _neuron_loss_fn(w, b)
        loss.backward()
        for p in (w, b):
            p.data -= sign * lr * p.grad
        losses.append(_neuron_loss_fn(w, b).data if record_after else loss.data)
    return losses, (w.data, b.data)


def check_value_training(func) -> Feedback:
    """Exercise 3.3: ``func(params, loss_fn, lr, steps) -> list of losses``, gradient descent on ``Value`` leaves."""
    name = "3.3 training loop on Value"
    lr, steps = 0.5, 12
    w, b = Value(0.3, label="w"), Value(-0.4, label="b")
    result, problem = call_student(name, func, [w, b], lambda: _neuron_loss_fn(w, b), lr, steps)
    if problem is not None:
        return problem
    try:
        losses = [float(v.data if isinstance(v, Value) else v) for v in result]
    except (TypeError, ValueError):
        return failed(name, "return the list of the loss values, one per step (floats or Values).")
    ref_losses, ref_params = _reference_loop(lr, steps)
    if len(losses) != steps:
        return failed(name, f"expected one loss per step, {steps} in all, got {len(losses)}.")
    if close([w.data, b.data], ref_params, 1e-9) and close(losses, ref_losses, 1e-9):
        return passed(name, f"the loss fell from {ref_losses[0]:.3f} to {ref_losses[-1]:.3f} in {steps} steps: "
                            "zero, forward, backward, update, the same four steps every training loop takes.")
    if close([w.data, b.data], [0.3, -0.4], 1e-12):
        return failed(name, "the parameters never changed: call backward() on the loss and change each "
                            "parameter's .data in place; a new Value or a rebound name is not the parameter "
                            "(section 3).")
    for kwargs, hint in [
        (dict(zero=False), "the gradients pile up from step to step: Value's backward adds into .grad "
                           "(the += of section 3), so reset every parameter's grad to 0 before each backward."),
        (dict(sign=-1.0), "the loss goes up: step *against* the gradient (section 5's update)."),
        (dict(record_after=True), "the parameters are right but the losses are one step late: record the loss "
                                  "you computed before the update (exercise 3.3, section 3)."),
    ]:
        wrong_losses, wrong_params = _reference_loop(lr, steps, **kwargs)
        if close([w.data, b.data], wrong_params, 1e-9) and close(losses, wrong_losses, 1e-9):
            return failed(name, hint)
    if not close(losses, ref_losses, 1e-9) and close([w.data, b.data], ref_params, 1e-9):
        return failed(name, "the parameters are right; the recorded losses are not: append each step's loss "
                            "(exercise 3.3, section 3).")
    first = next((i for i, (a, r) in enumerate(zip(losses, ref_losses)) if abs(a - r) > 1e-9), steps - 1)
    return failed(name, f"step {first + 1} gives loss {losses[first]:.6g} where {ref_losses[first]:.6g} was "
                        "expected; each step is: zero the grads, compute the loss, backward, update (section 5).")


EXERCISES = ("3.1 chain rule", "3.2 a new operation", "3.3 training loop on Value", "3.4 linear backward",
             "3.5 sigmoid backward", "3.6 MLP backward")
