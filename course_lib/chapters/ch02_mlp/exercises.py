"""Checks for chapter 2, the multi-layer perceptron."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, not_attempted, passed, where_differs
from course_lib.scratch.layers import relu_backward, relu_forward
from course_lib.scratch.perceptron import step, train_perceptron

EXERCISES = ("2.1 two linear layers are one", "2.2 ReLU forward and backward", "2.3 XOR by hand",
             "2.4 a two-layer MLP by hand", "2.5 counting parameters")

_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR = np.array([0, 1, 1, 0])
_GATES = {
    "AND": (0, 0, 0, 1),
    "OR": (0, 1, 1, 1),
    "NAND": (1, 1, 1, 0),
    "NOR": (1, 0, 0, 0),
    "XNOR": (1, 0, 0, 1),
}
_COLLAPSE = "section 1, 'Why the activation matters'"


def _numbers(value):
    """``value`` as a float array, or None when it is not numbers."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def check_collapse(func) -> Feedback:
    """Exercise 2.1: ``func(W1, b1, W2, b2)`` returns one layer (W, b) equal to two stacked ones."""
    name = "2.1 two linear layers are one"
    rng = np.random.default_rng(21)
    W1, b1 = rng.normal(size=(4, 3)), rng.normal(size=4)  # 3 -> 4
    W2, b2 = rng.normal(size=(2, 4)), rng.normal(size=2)  # 4 -> 2
    result, problem = call_student(name, func, W1.copy(), b1.copy(), W2.copy(), b2.copy())
    if problem:
        return problem
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return failed(name, "return the pair (W, b).")
    W, b = (_numbers(v) for v in result)
    if W is None or b is None:
        return failed(name, "W and b should be arrays of numbers.")
    if W.shape == (3, 2) and close(W.T, W2 @ W1):
        return failed(name, "W is transposed: in PyTorch's (out, in) layout, W for layers 3 -> 4 -> 2 has shape "
                      "(2, 3) (section 1).")
    if W.shape != (2, 3):
        return failed(name, f"for layers 3 -> 4 -> 2, W should map 3 inputs to 2 outputs, shape (2, 3); got "
                      f"{W.shape} (section 1's layout).")
    if not close(W, W2 @ W1):
        return failed(name, f"{where_differs('W', W, W2 @ W1)}; multiply the two layers out ({_COLLAPSE}).")
    if b.shape != (2,):
        return failed(name, f"b should hold one bias per output, shape (2,); got {b.shape} (section 1).")
    if close(b, b2):
        return failed(name, f"close: b is the second layer's bias alone, but the first bias also passes through the "
                      f"second layer ({_COLLAPSE}).")
    if close(b, W2 @ b1):
        return failed(name, f"close: the second layer's own bias b2 is missing from b ({_COLLAPSE}).")
    if not close(b, W2 @ b1 + b2):
        return failed(name, f"W is right; {where_differs('b', b, W2 @ b1 + b2)}: multiply the two layers out and "
                      f"collect what does not touch x ({_COLLAPSE}).")
    return passed(name, "W = W2 W1 and b = W2 b1 + b2: without an activation, depth adds nothing.")


def check_relu(forward, backward) -> Feedback:
    """Exercise 2.2: ``forward(x) -> out`` and ``backward(dout, x) -> dx`` for ReLU."""
    name = "2.2 ReLU forward and backward"
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0], [1.5, -1.0, 2.0, 0.0, -3.0]])
    out, problem = call_student(name, forward, x.copy())
    if problem:
        return problem
    expected_out, cache = relu_forward(x)
    if not close(out, expected_out):
        if close(out, np.abs(x)):
            return failed(name, "forward: negative inputs become 0, not their absolute value (section 2's table).")
        if close(out, np.minimum(x, 0.0)):
            return failed(name, "forward keeps the negative part; ReLU keeps the positive part (section 2's table).")
        if _numbers(out) is None:
            return failed(name, "forward should return an array of numbers, one per element of x.")
        return failed(name, f"forward: {where_differs('relu(x)', out, expected_out)}; ReLU works elementwise "
                      "(section 2's table).")
    dout = np.arange(1.0, 11.0).reshape(2, 5)
    dx, problem = call_student(name, backward, dout.copy(), x.copy())
    if problem:
        return problem
    (expected_dx,) = relu_backward(dout, cache)
    if close(dx, expected_dx):
        return passed(name, "the gradient passes through where x > 0 and stops elsewhere.")
    if close(dx, (x > 0).astype(float)):
        return failed(name, "backward returned the local slope alone: the upstream gradient dout is missing "
                      "(section 2).")
    if close(dx, np.where(x >= 0, dout, 0.0)):
        return failed(name, "almost: at exactly x = 0 your gradient passes, but ReLU's slope there is 0, as in "
                      "PyTorch (section 2's table).")
    if close(dx, dout):
        return failed(name, "backward passes dout everywhere: it must block the gradient where the input was "
                      "negative (section 2's table).")
    if close(dx, np.where(x < 0, dout, 0.0)):
        return failed(name, "backward lets the gradient through on the wrong side: it flows where the input was "
                      "positive (section 2's table).")
    if _numbers(dx) is None:
        return failed(name, "backward should return an array of numbers, one per element of x.")
    return failed(name, f"backward: {where_differs('dx', dx, expected_dx)}; compare with ReLU's slope in section "
                  "2's table.")


def _gate_name(outputs) -> str | None:
    for gate, table in _GATES.items():
        if tuple(int(v) for v in outputs) == table:
            return gate
    return None


def check_xor_weights(W1, b1, w2, b2) -> Feedback:
    """Exercise 2.3: a 2-2-1 network of step neurons that computes XOR.

    Hidden layer ``h = step(x @ W1.T + b1)`` with W1 (2, 2) in PyTorch's
    (out, in) layout and b1 (2,); output ``step(h @ w2 + b2)`` with w2 (2,).
    """
    name = "2.3 XOR by hand"
    if any(v is None for v in (W1, b1, w2, b2)):
        return not_attempted(name)
    try:
        W1, b1 = np.asarray(W1, dtype=float), np.asarray(b1, dtype=float)
        w2, b2 = np.asarray(w2, dtype=float), float(b2)
    except (TypeError, ValueError):
        return failed(name, "W1 should be a 2x2 array, b1 and w2 two numbers each, b2 one number.")
    if W1.shape != (2, 2) or b1.shape != (2,) or w2.shape != (2,):
        return failed(
            name,
            f"expected W1 (2, 2), b1 (2,), w2 (2,); got {W1.shape}, {b1.shape}, {w2.shape}. "
            "Row k of W1 holds hidden unit k's two input weights (section 1's layout).",
        )
    if not all(np.all(np.isfinite(v)) for v in (W1, b1, w2, b2)):
        return failed(name, "the weights must be finite numbers (no NaN or inf).")
    hidden = step(_INPUTS @ W1.T + b1)
    output = step(hidden @ w2 + b2)
    if np.array_equal(output, _XOR):
        return passed(name, f"hidden units compute {_describe(hidden)}; the output combines them into XOR.")
    if not np.array_equal(W1, W1.T) and np.array_equal(step(step(_INPUTS @ W1 + b1) @ w2 + b2), _XOR):
        return failed(name, "W1 is transposed: row k holds hidden unit k's input weights, PyTorch's (out, in) "
                      "layout (section 1).")
    _, _, history = train_perceptron(hidden.astype(float), _XOR, max_epochs=100)
    if not history.converged:
        return failed(
            name,
            f"the hidden units compute {_describe(hidden)}; in those codes XOR is still not linearly "
            "separable, so no output neuron can finish the job. "
            "Make the hidden units OR and NAND (exercise 1.2; section 3 shows what they do).",
        )
    return failed(
        name,
        f"the hidden units compute {_describe(hidden)}, which can work; now pick w2, b2 so the output "
        "fires exactly for the XOR-1 inputs (section 3, 'What the hidden layer learned').",
    )


def _describe(hidden) -> str:
    names = []
    for k in range(hidden.shape[1]):
        names.append(_gate_name(hidden[:, k]) or f"the table {hidden[:, k].tolist()}")
    return " and ".join(names)


def check_count_parameters(func) -> Feedback:
    """Exercise 2.5: ``func(sizes)`` returns the number of weights and biases of MLP(sizes)."""
    name = "2.5 counting parameters"
    for sizes in ([64, 128, 10], [2, 2, 1], [784, 256, 128, 10], [5, 1]):
        count, problem = call_student(name, func, list(sizes))
        if problem:
            return problem
        pairs = list(zip(sizes[:-1], sizes[1:]))
        expected = sum(d_in * d_out + d_out for d_in, d_out in pairs)
        if count == expected:
            continue
        if count == sum(d_in * d_out for d_in, d_out in pairs):
            return failed(name, f"for {sizes}: the biases are missing; every unit of a layer has one (section 1).")
        if count == sum(d_in * d_out + d_in for d_in, d_out in pairs):
            return failed(name, f"for {sizes}: there is one bias per *output* unit of each layer, "
                          "not per input (section 1).")
        if len(pairs) > 1 and count in (expected - pairs[0][0] * pairs[0][1] - pairs[0][1],
                                        expected - pairs[-1][0] * pairs[-1][1] - pairs[-1][1]):
            return failed(name, f"for {sizes}: one layer is left out of the count; every neighbouring pair of "
                          "sizes is a layer (section 1).")
        return failed(name, f"for {sizes} expected {expected}, got {count!r}; count each layer's weights and biases "
                      "from the shapes of its W and b (section 1), and activations have none.")
    return passed(name, "sum over layers of d_in * d_out + d_out; MLP(sizes).num_parameters() agrees.")


# --------------------------------------------------------------------------- 2.4 a two-layer MLP by hand


def _mlp_case():
    rng = np.random.default_rng(25)
    X = rng.normal(size=(6, 4))
    y = np.array([0, 2, 1, 2, 0, 1])
    W1, b1 = rng.normal(size=(5, 4)) * 0.7, rng.normal(size=5) * 0.3  # 4 inputs -> 5 hidden (ReLU)
    W2, b2 = rng.normal(size=(3, 5)) * 0.7, rng.normal(size=3) * 0.3  # 5 hidden -> 3 classes
    return X, y, W1, b1, W2, b2


def _mlp_mistakes(X, y, W1, b1, W2, b2):
    """(description, (loss, grads)) of the wrong answers the check recognises."""
    from .experiments import two_layer_forward_backward

    loss, g = two_layer_forward_backward(X, y, W1, b1, W2, b2)
    n = len(y)
    pre = X @ W1.T + b1
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ W2.T + b2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    no_mask = probs.copy()
    no_mask[np.arange(n), y] -= 1
    no_mask /= n
    dpre_nomask = no_mask @ W2
    wrong_dlogits = probs / n
    dpre_wrong = (wrong_dlogits @ W2) * (pre > 0)
    return [
        ("the loss and every gradient are summed over the batch; the loss is the mean over the batch "
         "(section 5, exercise 2.4)", (loss * n, {k: v * n for k, v in g.items()})),
        ("the gradient of the first layer ignores the ReLU: where a hidden unit's input was negative, no gradient "
         "flows back through it (section 2's table)",
         (loss, {**g, "W1": dpre_nomask.T @ X, "b1": dpre_nomask.sum(axis=0)})),
        ("the gradient at the logits is missing the '- 1' at the correct class, the one-hot labels' term "
         "(section 5, exercise 2.4)", (loss, {"W1": dpre_wrong.T @ X, "b1": dpre_wrong.sum(axis=0),
                                              "W2": wrong_dlogits.T @ hidden, "b2": wrong_dlogits.sum(axis=0)})),
        ("the bias gradients are averaged over the batch; like the weights' gradients, they are summed over "
         "the examples, the 1/N is already in the gradient at the logits (section 5, exercise 2.4)",
         (loss, {**g, "b1": g["b1"] / n, "b2": g["b2"] / n})),
    ]


def check_two_layer(func) -> Feedback:
    """Exercise 2.4: ``func(X, y, W1, b1, W2, b2)`` returns (loss, grads) of a ReLU MLP with softmax cross-entropy."""
    from .experiments import two_layer_forward_backward

    name = "2.4 a two-layer MLP by hand"
    X, y, W1, b1, W2, b2 = _mlp_case()
    result, problem = call_student(name, func, X.copy(), y.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy())
    if problem is not None:
        return problem
    try:
        loss, grads = result
        loss = float(loss)
        grads = {k: np.asarray(grads[k], dtype=float) for k in ("W1", "b1", "W2", "b2")}
    except (TypeError, ValueError, KeyError, IndexError):
        return failed(name, "return the pair (loss, grads) with grads a dict holding 'W1', 'b1', 'W2' and 'b2'.")
    ref_loss, ref = two_layer_forward_backward(X, y, W1, b1, W2, b2)
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    for key, value in params.items():
        if grads[key].shape != value.shape:
            if grads[key].shape == value.shape[::-1] and value.ndim == 2:
                return failed(name, f"d{key} has shape {grads[key].shape}, the transpose of {key}'s {value.shape}: "
                              "PyTorch's layout is (out, in), and so is its gradient (section 1).")
            return failed(name, f"d{key} should have {key}'s shape {value.shape}, got {grads[key].shape}; "
                          "a bias gradient sums over the batch axis only (section 5, exercise 2.4).")
    if not close(loss, ref_loss):
        if close(loss, ref_loss * len(y)):
            return failed(name, "the loss is summed over the batch; the cross-entropy loss is the mean "
                                "(section 5, exercise 2.4).")
        return failed(name, f"the loss is off by {loss - ref_loss:+.4g}: check the forward pass step by step "
                      "against exercise 2.4's formulas, hidden layer, logits, mean cross-entropy (section 5).")
    if all(close(grads[k], ref[k]) for k in ref):
        return passed(name, "loss and all four gradients match PyTorch's autograd and numeric gradients.")
    for mistake, (m_loss, m_grads) in _mlp_mistakes(X, y, W1, b1, W2, b2):
        if close(loss, m_loss) and all(close(grads[k], m_grads[k]) for k in ref):
            return failed(name, mistake + ".")
    for key in ("W2", "b2", "W1", "b1"):  # backward order: the first wrong one is where to look
        if not close(grads[key], ref[key]):
            return failed(name, f"{where_differs('d' + key, grads[key], ref[key])}; d{key} is the first wrong one in "
                          "backward order W2, b2, W1, b1 (section 5, exercise 2.4).")
    return failed(name, "not yet right (section 5, exercise 2.4).")
