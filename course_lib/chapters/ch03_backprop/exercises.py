"""Checks for chapter 3, backpropagation."""

from __future__ import annotations

import math

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed
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
            return failed(name, "you skipped the tanh step: multiply by dtanh/dz = 1 - tanh(z)**2.")
        if close(dw, -dw_ref, 1e-6) or close(db, -db_ref, 1e-6):
            return failed(name, "the sign is flipped: dL/da = 2 (a - y), not 2 (y - a).")
        if close(dw, db_ref, 1e-6) and close(db, dw_ref, 1e-6):
            return failed(name, "the two gradients are swapped: return (dL/dw, dL/db).")
        if close(db, db_ref, 1e-6):
            return failed(name, "dL/db is right; dL/dw needs one more factor, dz/dw = x.")
        return failed(name, "multiply the local derivatives along the path: "
                            "dL/da * da/dz * dz/dw (and dz/db = 1).")
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
        return failed(name, f"dx must have x's shape {x.shape}, got {np.shape(result)}; work elementwise.")
    numeric = numeric_gradient(lambda: sigmoid(x), x, dout)
    if close(result, numeric, 1e-6):
        return passed(name, "dx = dout * s * (1 - s) matches the numeric gradient.")
    if close(result, out * (1 - out), 1e-8):
        return failed(name, "that is the local derivative s (1 - s) alone; multiply by the upstream dout.")
    twice = dout * sigmoid(out) * (1 - sigmoid(out))  # sigmoid applied to the cached output again
    if close(result, twice, 1e-8) or close(result, dout * x * (1 - x), 1e-8):
        return failed(name, "out is already sigmoid(x): use dout * out * (1 - out) directly.")
    if close(result, dout * out, 1e-8) or close(result, dout * (1 - out), 1e-8):
        return failed(name, "sigmoid'(x) = s (1 - s): you need both factors.")
    return failed(name, f"dx differs from the numeric gradient by up to {np.max(np.abs(result - numeric)):.3g}; "
                        "the local derivative of the sigmoid is written in terms of its output (section 4).")


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
            return failed(name, f"{grad_name} must have the shape {want} of what it is the gradient of, "
                                f"got {got}; {fix}.")
    def forward():
        return linear_forward(x, W, b)[0]

    errors = {
        key: rel_error(np.asarray(grad, dtype=float), numeric_gradient(forward, wrt, dout))
        for key, grad, wrt in [("dx", dx, x), ("dW", dW, W), ("db", db, b)]
    }
    wrong = [key for key, err in errors.items() if err > 1e-6]
    if not wrong:
        return passed(name, "dx, dW and db all match numeric gradients (relative errors below 1e-6).")
    if "db" in wrong and close(db, dout.mean(axis=0), 1e-8):
        return failed(name, "db is a sum over the batch, not a mean: every example adds its own dout.")
    return failed(name, f"{', '.join(wrong)} differ from the numeric gradient; write out one element, "
                        "e.g. out[n, k] = sum_d x[n, d] W[k, d] + b[k], and differentiate it.")


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
        return failed(name, f"the forward value is {out.data:.4g}, expected sin(0.7) = {math.sin(0.7):.4g}.")
    if x not in out.children:
        return failed(name, "the result must remember its input: pass children=(self,).")
    loss = out * x + x  # x is used three times: gradients must add up
    loss.backward()
    expected = math.cos(0.7) * 0.7 + math.sin(0.7) + 1.0
    if math.isclose(x.grad, expected, abs_tol=1e-6):
        return passed(name, "d sin(x)/dx = cos(x): one local gradient is all a new operation needs.")
    if math.isclose(x.grad, -math.cos(0.7) * 0.7 + math.sin(0.7) + 1.0, abs_tol=1e-6):
        return failed(name, "the derivative of sin is +cos (it is cos whose derivative is -sin).")
    if math.isclose(x.grad, math.sin(0.7) * 0.7 + math.sin(0.7) + 1.0, abs_tol=1e-6):
        return failed(name, "the local gradient is cos(x), not sin(x).")
    return failed(name, "set local_grads=(math.cos(self.data),): the derivative of sin at the input.")


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
            (ref["dlogits"] * n, "dlogits is N times too large: the loss is the *mean* over the batch, so "
                                 "divide by N (softmax cross-entropy, " + _SECTION4 + ")."),
            (p / n, "dlogits misses the label term: the correct class's logit is pushed up (" + _SECTION4 + ")."),
            ((onehot - p) / n, "dlogits has the wrong sign: it is probabilities minus labels, not labels minus "
                               "probabilities (" + _SECTION4 + ")."),
        ],
        "dW2": [(ref["dW2"] * n, "dW2 is N times too large: dlogits already carries the 1/N of the mean.")],
        "db2": [(ref["db2"] / n, "db2 is a sum over the batch, not a mean (the 1/N is already in dlogits)."),
                (ref["db2"] * n, "db2 is N times too large: dlogits already carries the 1/N of the mean.")],
        "dh": [],
        "dz1": [(ref["dh"], "dz1 equals dh: you skipped the ReLU's local derivative, which is 0 where "
                            "z1 <= 0 and 1 elsewhere."),
                (ref["dh"] * np.maximum(z1, 0), "dz1 multiplies dh by the ReLU's output; its local derivative "
                                                "is 1 where z1 > 0 and 0 elsewhere, not the output itself.")],
        "dW1": [(ref["dW1"] * n, "dW1 is N times too large: dlogits already carries the 1/N of the mean.")],
        "db1": [(ref["db1"] / n, "db1 is a sum over the batch, not a mean (the 1/N is already in dz1).")],
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
                                f"got {got.shape}.")
        if close(got, want, 1e-9):
            continue
        for value, hint in mistakes[key]:
            if close(got, value, 1e-9):
                return failed(name, hint)
        index = np.unravel_index(int(np.argmax(np.abs(got - want))), want.shape)
        return failed(name, f"{key} is the first gradient that differs from torch.autograd: element "
                            f"{tuple(int(i) for i in index)} is off by {abs(got[index] - want[index]):.3g} "
                            "(every gradient before it is right). Write out one element of the forward step "
                            "it comes from and differentiate it.")
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
                            "parameter's .data in place (a new Value or a rebound name is not the parameter).")
    for kwargs, hint in [
        (dict(zero=False), "the gradients pile up from step to step: Value's backward adds into .grad "
                           "(the += of section 3), so reset every parameter's grad to 0 before each backward."),
        (dict(sign=-1.0), "the loss goes up: step *against* the gradient."),
        (dict(record_after=True), "the parameters are right but the losses are one step late: record the loss "
                                  "you computed before the update."),
    ]:
        wrong_losses, wrong_params = _reference_loop(lr, steps, **kwargs)
        if close([w.data, b.data], wrong_params, 1e-9) and (kwargs.get("record_after") or
                                                           close(losses, wrong_losses, 1e-9)):
            return failed(name, hint)
    if not close(losses, ref_losses, 1e-9) and close([w.data, b.data], ref_params, 1e-9):
        return failed(name, "the parameters are right; the recorded losses are not: append each step's loss.")
    first = next((i for i, (a, r) in enumerate(zip(losses, ref_losses)) if abs(a - r) > 1e-9), steps - 1)
    return failed(name, f"step {first + 1} gives loss {losses[first]:.6g} where {ref_losses[first]:.6g} was "
                        "expected; each step is: zero the grads, compute the loss, backward, update.")


EXERCISES = ("3.1 chain rule", "3.2 a new operation", "3.3 training loop on Value", "3.4 linear backward",
             "3.5 sigmoid backward", "3.6 MLP backward")
