"""Checks for chapter 6, recurrent networks and LSTM."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed
from course_lib.scratch.layers import sigmoid


def check_rnn_step(func) -> Feedback:
    """Exercise 6.1: ``func(x, h_prev, W_xh, W_hh, b) -> h`` = tanh(W_hh h_prev + W_xh x + b), column vectors."""
    name = "6.1 one RNN step"
    rng = np.random.default_rng(61)
    for d, h in [(3, 4), (1, 2)]:
        x, h_prev = rng.normal(size=d), rng.normal(size=h)
        W_xh, W_hh, b = rng.normal(size=(h, d)), rng.normal(size=(h, h)), rng.normal(size=h)
        result, problem = call_student(name, func, x.copy(), h_prev.copy(), W_xh.copy(), W_hh.copy(), b.copy())
        if problem is not None:
            return problem
        if np.shape(result) != (h,):
            return failed(name, f"h has one entry per hidden unit: shape ({h},), got {np.shape(result)}.")
        a = W_hh @ h_prev + W_xh @ x + b
        if close(result, np.tanh(a)):
            continue
        if close(result, a):
            return failed(name, "you forgot the non-linearity: h = tanh(...).")
        if close(result, np.tanh(W_xh @ x + b)):
            return failed(name, "h_prev is missing: the recurrence adds W_hh @ h_prev.")
        if close(result, np.tanh(W_hh @ h_prev + W_xh @ x)):
            return failed(name, "add the bias b inside the tanh.")
        if close(result, sigmoid(a)):
            return failed(name, "the vanilla RNN of the slides uses tanh, not the sigmoid.")
        if close(result, np.tanh(W_hh.T @ h_prev + W_xh @ x + b)):
            return failed(name, "W_hh is transposed: with column vectors it is W_hh @ h_prev.")
        return failed(name, "h = tanh(W_hh @ h_prev + W_xh @ x + b): two matrix-vector products, a bias, a tanh.")
    return passed(name, "h_t = tanh(W_hh h_{t-1} + W_xh x_t + b): the same weights at every step.")


def check_lstm_cell(func) -> Feedback:
    """Exercise 6.2: ``func(c_prev, i, f, o, g) -> (c, h)``: the slides' cell-state and output equations."""
    name = "6.2 the LSTM cell update"
    rng = np.random.default_rng(62)
    c_prev = rng.normal(size=(2, 5))
    i, f, o = (sigmoid(rng.normal(size=(2, 5))) for _ in range(3))
    g = np.tanh(rng.normal(size=(2, 5)))
    result, problem = call_student(name, func, c_prev.copy(), i.copy(), f.copy(), o.copy(), g.copy())
    if problem is not None:
        return problem
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return failed(name, f"return the pair (c, h), got {type(result).__name__}.")
    c, h = result
    c_ref = f * c_prev + i * g
    h_ref = o * np.tanh(c_ref)
    if close(c, c_ref) and close(h, h_ref):
        return passed(name, "c = f * c_prev + i * g keeps a sum, not a product of squashings: that is the "
                            "path along which gradients survive.")
    if close(c, h_ref) and close(h, c_ref):
        return failed(name, "c and h are swapped: return (c, h).")
    if close(c, i * c_prev + f * g):
        return failed(name, "the forget gate multiplies the old cell c_prev, the input gate the candidate g.")
    if close(c, c_ref) and close(h, o * c_ref):
        return failed(name, "c is right; h squashes it first: h = o * tanh(c).")
    if close(c, c_ref) and close(h, np.tanh(o * c_ref)):
        return failed(name, "c is right; the tanh goes on c before the output gate: h = o * tanh(c).")
    if close(c, c_ref):
        return failed(name, "c is right; h = o * tanh(c), elementwise.")
    return failed(name, "c = f * c_prev + i * g and h = o * tanh(c), all elementwise.")


def check_lstm_params(func) -> Feedback:
    """Exercise 6.3: ``func(input_size, hidden_size)`` = parameter count of torch.nn.LSTM(input_size, hidden_size)."""
    name = "6.3 counting LSTM parameters"
    for d, h in [(10, 20), (1, 1), (64, 128)]:
        result, problem = call_student(name, func, d, h)
        if problem is not None:
            return problem
        try:
            value = int(result)
        except (TypeError, ValueError):
            return failed(name, f"return one integer, got {type(result).__name__}.")
        if value != result:
            return failed(name, f"a parameter count is a whole number, got {result!r}.")
        right = 4 * h * (d + h) + 8 * h
        if value == right:
            continue
        if value == 4 * h * (d + h) + 4 * h:
            return failed(name, "torch keeps two bias vectors, bias_ih and bias_hh, each of 4H entries.")
        if value == 4 * h * (d + h):
            return failed(name, "that is the slides' W [4n x 2n] alone (no bias); torch adds bias_ih and bias_hh.")
        if value == h * (d + h) + 2 * h:
            return failed(name, "that is a vanilla RNN; an LSTM has four gate blocks (i, f, g, o).")
        if value == 3 * h * (d + h) + 6 * h:
            return failed(name, "that is a GRU's count (three blocks); the LSTM has four.")
        if value == 4 * d * h + 8 * h:
            return failed(name, "weight_hh (4H, H) is missing: the recurrent weights grow with H squared.")
        return failed(name, f"for input_size={d}, hidden_size={h} expected {right}, got {value}; add up "
                            "weight_ih (4H, D), weight_hh (4H, H), bias_ih (4H,) and bias_hh (4H,).")
    return passed(name, "4H(D + H) weights and 8H biases: the 4 is one block per gate.")


def check_temperature_softmax(func) -> Feedback:
    """Exercise 6.4: ``func(logits, temperature) -> p`` = softmax(logits / temperature), numerically safe."""
    name = "6.4 softmax with temperature"
    cases = [
        (np.array([2.0, 1.0, 0.1, -1.0]), 1.0),
        (np.array([2.0, 1.0, 0.1, -1.0]), 0.5),
        (np.array([2.0, 1.0, 0.1, -1.0]), 3.0),
        (np.array([1000.0, 999.0, 990.0]), 1.0),
    ]
    for logits, temperature in cases:
        with np.errstate(all="ignore"):
            result, problem = call_student(name, func, logits.copy(), temperature)
        if problem is not None:
            return problem
        z = logits / temperature
        ref = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        if np.shape(result) != logits.shape:
            return failed(name, f"return one probability per logit, shape {logits.shape}; got {np.shape(result)}.")
        result = np.asarray(result, dtype=float)
        if close(result, ref, 1e-9):
            continue
        if not np.all(np.isfinite(result)):
            return failed(name, "exp overflowed for large logits: subtract the largest logit first "
                                "(softmax does not change when every logit moves by the same amount).")
        zm = logits * temperature
        if close(result, np.exp(zm - zm.max()) / np.exp(zm - zm.max()).sum(), 1e-9):
            return failed(name, "divide the logits by the temperature, not multiply: a high temperature flattens.")
        e = np.exp(logits - logits.max())
        if close(result, e / e.sum(), 1e-9):
            return failed(name, "the temperature is ignored: use softmax(logits / temperature).")
        if not close(result.sum(), 1.0, 1e-9):
            return failed(name, "probabilities must sum to 1: divide by the sum of the exponentials.")
        return failed(name, "p = exp(z - max z) / sum(exp(z - max z)) with z = logits / temperature.")
    return passed(name, "low temperatures sharpen the distribution, high ones flatten it towards uniform.")
