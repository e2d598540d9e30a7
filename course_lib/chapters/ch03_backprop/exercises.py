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
    """Exercise 3.4: ``func(dout, out) -> dx`` where out = sigmoid(x) was cached by the forward pass."""
    name = "3.4 sigmoid backward"
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
    return failed(name, "dx = dout * out * (1 - out), elementwise.")


def check_linear_backward(func) -> Feedback:
    """Exercise 3.3: ``func(dout, x, W) -> (dx, dW, db)`` for out = x @ W.T + b."""
    name = "3.3 linear backward"
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
                "dx": "dx = dout @ W (N, K) @ (K, D)",
                "dW": "dW = dout.T @ x (K, N) @ (N, D)",
                "db": "db = dout.sum(axis=0): one number per output, summed over the batch",
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
