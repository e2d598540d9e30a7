"""Checks for chapter 6, recurrent networks and LSTM."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs
from course_lib.scratch.layers import sigmoid


def _where(label, yours, expected) -> str:
    """``where_differs`` for any answer: an answer that is not numbers is said to be so."""
    try:
        return where_differs(label, yours, expected)
    except (TypeError, ValueError):
        return f"{label} should be an array of numbers, got {type(yours).__name__}"


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
            return failed(name, "the non-linearity is missing: the new state is squashed by a tanh (section 1's "
                                "formula).")
        if close(result, np.tanh(W_xh @ x + b)):
            return failed(name, "h_prev is missing: the new state depends on the previous one too, through W_hh "
                                "(section 1's recurrence).")
        if close(result, np.tanh(W_hh @ h_prev + W_xh @ x)):
            return failed(name, "the bias b is missing: it belongs inside the tanh (section 1).")
        if close(result, sigmoid(a)):
            return failed(name, "the vanilla RNN of the slides uses tanh, not the sigmoid (section 1).")
        if close(result, np.tanh(W_hh.T @ h_prev + W_xh @ x + b)):
            return failed(name, "W_hh is transposed: the .T of section 1's loop is for row vectors; this exercise "
                                "uses column vectors, as on the slides (section 1).")
        return failed(name, f"{_where('h', result, np.tanh(a))}; no common mistake matches: compare each term "
                            "with section 1's formula.")
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
        return failed(name, "the forget and input gates are swapped: the forget gate decides how much of the old "
                            "cell to keep, the input gate how much of the candidate to write (section 4).")
    if close(c, c_prev + i * g):
        return failed(name, "the forget gate is missing: the old cell is kept only as far as the forget gate "
                            "lets it through (section 4).")
    if close(c, c_ref) and close(h, o * c_ref):
        return failed(name, "c is right; h is missing the tanh on the cell (section 4's formula for h_t).")
    if close(c, c_ref) and close(h, np.tanh(o * c_ref)):
        return failed(name, "c is right; h applies the tanh and the output gate in the wrong order (section 4's "
                            "formula for h_t).")
    if close(c, c_ref):
        return failed(name, f"c is right; {_where('h', h, h_ref)}: no common mistake matches, compare h with "
                            "section 4's formula for h_t.")
    return failed(name, f"{_where('c', c, c_ref)}; no common mistake matches: compare c with section 4's cell "
                        "update.")


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
            return failed(name, "one bias is missing: torch keeps two bias vectors, bias_ih and bias_hh "
                                "(section 1).")
        if value == 4 * h * (d + h):
            return failed(name, "that counts the weights alone, like the slides' W [4n x 2n]; torch's biases are "
                                "missing (sections 1 and 4).")
        if value == h * (d + h) + 2 * h:
            return failed(name, "that is a vanilla RNN; an LSTM has four gate blocks (i, f, g, o) (section 4).")
        if value == 3 * h * (d + h) + 6 * h:
            return failed(name, "that is a GRU's count (three blocks); the LSTM has four (sections 4 and 5).")
        if value == 4 * d * h + 8 * h:
            return failed(name, "the recurrent weights weight_hh are missing: they grow with H squared "
                                "(section 4).")
        return failed(name, f"for input_size={d}, hidden_size={h} your count {value} should be {right} (off by "
                            f"{value - right:+d}); no common mistake matches: count every array of section 4's "
                            "PyTorch layout.")
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
            return failed(name, "exp overflowed for large logits: softmax does not change when every logit "
                                "moves by the same amount, so exp need never see a large number (section 8).")
        zm = logits * temperature
        if close(result, np.exp(zm - zm.max()) / np.exp(zm - zm.max()).sum(), 1e-9):
            return failed(name, "the temperature multiplies the logits instead of dividing them, so a high "
                                "temperature sharpens where it should flatten (section 8).")
        e = np.exp(logits - logits.max())
        if close(result, e / e.sum(), 1e-9):
            return failed(name, "the temperature is ignored: your probabilities are those of temperature 1 "
                                f"for temperature {temperature:g} (section 8).")
        if not close(result.sum(), 1.0, 1e-9):
            return failed(name, "the probabilities do not sum to 1: the normalisation is missing (section 8's "
                                "formula).")
        return failed(name, f"for temperature {temperature:g}, {where_differs('p', result, ref)}; no common "
                            "mistake matches: compare with section 8's formula.")
    return passed(name, "low temperatures sharpen the distribution, high ones flatten it towards uniform.")


# ----------------------------------------------------------------------------- 6.5 and 6.6: backward by hand




def _torch_rnn_grads(x, h0, weight_ih, weight_hh, bias, dh_all):
    """torch.autograd through torch.nn.RNN (float64): (dx, dh0, dweight_ih, dweight_hh, dbias) for upstream dh_all."""
    import torch

    d, h = weight_ih.shape[1], weight_ih.shape[0]
    rnn = torch.nn.RNN(d, h, dtype=torch.float64)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", weight_ih), ("weight_hh_l0", weight_hh), ("bias_ih_l0", bias),
                            ("bias_hh_l0", np.zeros(h))):
            getattr(rnn, name).copy_(torch.from_numpy(value))
    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0[None], requires_grad=True)
    out = rnn(x_t, h0_t)[0]
    grads = torch.autograd.grad(out, (x_t, h0_t, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0),
                                torch.tensor(dh_all))
    dx, dh0, dw_ih, dw_hh, db = (g.numpy() for g in grads)
    return out.detach().numpy(), (dx, dh0[0], dw_ih, dw_hh, db)


def _step_case():
    gen = np.random.default_rng(65)
    n, d, h = 5, 3, 4  # D != H, so a transposed input weight cannot hide
    x, h_prev = gen.normal(size=(n, d)), gen.normal(size=(n, h))
    weight_ih, weight_hh, bias = gen.normal(size=(h, d)) * 0.5, gen.normal(size=(h, h)) * 0.5, gen.normal(size=h)
    dh = gen.normal(size=(n, h))
    h_next, grads = _torch_rnn_grads(x[None], h_prev, weight_ih, weight_hh, bias, dh[None])
    dx, dh_prev, dw_ih, dw_hh, db = grads
    return (dh, x, h_prev, h_next[0], weight_ih, weight_hh), (dx[0], dh_prev, dw_ih, dw_hh, db)


_STEP_NAMES = ("dx", "dh_prev", "dweight_ih", "dweight_hh", "dbias")


def _unpack(name, result, count, names):
    """The student's tuple as float arrays, or a Feedback saying what is wrong with it."""
    if not isinstance(result, tuple | list) or len(result) != count:
        return None, failed(name, f"return {count} arrays, ({', '.join(names)}), in that order.")
    try:
        return [np.asarray(r, dtype=float) for r in result], None
    except (TypeError, ValueError):
        return None, failed(name, f"each of ({', '.join(names)}) should be an array of numbers.")


def check_rnn_step_backward(func) -> Feedback:
    """Exercise 6.5: ``func(dh, x, h_prev, h_next, weight_ih, weight_hh)`` -> the five gradients of one step.

    Returns (dx, dh_prev, dweight_ih, dweight_hh, dbias).

    One step h_next = tanh(x W_ih^T + h_prev W_hh^T + b) for a batch of rows;
    checked against torch.autograd through torch.nn.RNN (float64).
    """
    name = "6.5 RNN step backward"
    where = " (section 2: delta_t)"
    args, expected = _step_case()
    dh, x, h_prev, h_next, weight_ih, weight_hh = args
    result, problem = call_student(name, func, *(a.copy() for a in args))
    if problem is not None:
        return problem
    got, problem = _unpack(name, result, 5, _STEP_NAMES)
    if problem is not None:
        return problem
    for label, yours, exp in zip(_STEP_NAMES, got, expected):
        if yours.shape != exp.shape and yours.shape == exp.shape[::-1] and label.startswith("dweight"):
            return failed(name, f"{label} has shape {yours.shape}, the transpose of its weight's {exp.shape}: a "
                                f"weight's gradient has the weight's own shape (rows = hidden units){where}.")
        if yours.shape != exp.shape:
            return failed(name, f"{label} should have shape {exp.shape} (the shape of what it is the gradient "
                                f"of), got {yours.shape}.")
    if all(close(a, b) for a, b in zip(got, expected)):
        return passed(name, "all five gradients agree with torch.autograd through nn.RNN.")

    def grads_for(da, weight_hh_used=weight_hh):
        return (da @ weight_ih, da @ weight_hh_used, da.T @ x, da.T @ h_prev, da.sum(axis=0))

    wrong = {
        "no tanh": grads_for(dh),
        "h_prev": grads_for(dh * (1 - h_prev**2)),
        "1 - h": grads_for(dh * (1 - h_next)),
    }
    da = dh * (1 - h_next**2)
    messages = {
        "no tanh": "the gradient skipped the tanh: dL/da (the pre-activation) is dL/dh times the tanh's "
                   f"derivative at this step{where}.",
        "h_prev": f"the tanh's derivative belongs to THIS step's output, h_next, not to h_prev{where}.",
        "1 - h": f"that is not the derivative of tanh: compare with the factor in delta_t{where}.",
    }
    for key, grads in wrong.items():
        if sum(close(a, b) for a, b in zip(got, grads)) >= 3:
            return failed(name, messages[key])
    if close(got[4] * len(x), expected[4]):
        return failed(name, "dbias is an average over the batch; the bias was added to every row, so their "
                            f"gradients add up (a sum){where}.")
    if close(got[1], da @ weight_hh.T):
        return failed(name, "dh_prev uses W_hh transposed: the forward pass multiplied h_prev by the transpose "
                            f"of W_hh, so the gradient goes back through W_hh itself, untransposed{where}.")
    for label, yours, exp in zip(_STEP_NAMES, got, expected):
        if not close(yours, exp):
            return failed(name, f"{where_differs(label, yours, exp)}; no common mistake matches: compare each "
                                "gradient with section 2's.")
    return failed(name, f"the gradients differ from torch's{where}.")  # not reached: some element differs above


def _sequence_case():
    gen = np.random.default_rng(66)
    t_steps, n, d, h = 5, 3, 2, 4
    x, h0 = gen.normal(size=(t_steps, n, d)), gen.normal(size=(n, h))
    weight_ih, weight_hh, bias = gen.normal(size=(h, d)) * 0.6, gen.normal(size=(h, h)) * 0.6, gen.normal(size=h)
    dh_all = gen.normal(size=(t_steps, n, h))
    h_all, grads = _torch_rnn_grads(x, h0, weight_ih, weight_hh, bias, dh_all)
    return (dh_all, x, h0, h_all, weight_ih, weight_hh), grads


_SEQ_NAMES = ("dx", "dh0", "dweight_ih", "dweight_hh", "dbias")


def _bptt(dh_all, x, h0, h_all, weight_ih, weight_hh, carry=True, accumulate=True, shift=True):
    """BPTT with switches for three classic mistakes (no carry, overwrite, wrong previous state)."""
    dx = np.zeros_like(x)
    dw_ih, dw_hh, db = np.zeros_like(weight_ih), np.zeros_like(weight_hh), np.zeros(weight_ih.shape[0])
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        h_prev = (h_all[t - 1] if t > 0 else h0) if shift else h_all[t]
        da = (dh_all[t] + (dh_next if carry else 0.0)) * (1 - h_all[t] ** 2)
        dx[t] = da @ weight_ih
        step = (da.T @ x[t], da.T @ h_prev, da.sum(axis=0))
        if accumulate:
            dw_ih, dw_hh, db = dw_ih + step[0], dw_hh + step[1], db + step[2]
        else:
            dw_ih, dw_hh, db = step
        dh_next = da @ weight_hh
    return dx, dh_next, dw_ih, dw_hh, db


def check_bptt(func) -> Feedback:
    """Exercise 6.6: ``func(dh_all, x, h0, h_all, weight_ih, weight_hh)`` -> the gradients of a whole sequence.

    Returns (dx, dh0, dweight_ih, dweight_hh, dbias).

    Back-propagation through time for a whole sequence, upstream gradients
    on every step's output; checked against torch.autograd through nn.RNN.
    """
    name = "6.6 back-propagation through time"
    where = " (section 2)"
    args, expected = _sequence_case()
    result, problem = call_student(name, func, *(a.copy() for a in args))
    if problem is not None:
        return problem
    got, problem = _unpack(name, result, 5, _SEQ_NAMES)
    if problem is not None:
        return problem
    for label, yours, exp in zip(_SEQ_NAMES, got, expected):
        if yours.shape != exp.shape:
            return failed(name, f"{label} should have shape {exp.shape}, got {yours.shape}.")
    if all(close(a, b) for a, b in zip(got, expected)):
        return passed(name, "dx, dh0 and the weight gradients agree with torch.autograd through nn.RNN over 5 steps.")
    variants = {
        "carry": (_bptt(*args, carry=False), "step t only received the gradient on its own output: the "
                  f"gradient that flows back from step t+1 through h_t is missing{where}."),
        "accumulate": (_bptt(*args, accumulate=False), "the weights are shared by every step, so their "
                       f"gradients are sums over the steps; yours keep only one step's contribution{where}."),
        "shift": (_bptt(*args, shift=False), "step t's previous state is h_{t-1} (h0 for the first step), "
                  f"not h_t: an off-by-one in the states fed to dweight_hh{where}."),
    }
    for wrong, hint in variants.values():
        if sum(close(a, b) for a, b in zip(got, wrong)) >= 4:
            return failed(name, hint)
    if close(got[1], np.zeros_like(expected[1])):
        return failed(name, "dh0 is zero: the gradient that leaves the first step towards h0 is what the "
                            f"loop carries after its last iteration{where}.")
    for label, yours, exp in zip(_SEQ_NAMES, got, expected):
        if not close(yours, exp):
            return failed(name, f"{where_differs(label, yours, exp)}; no common mistake matches: walk the steps "
                                "backwards as in section 2.")
    return failed(name, f"the gradients differ from torch's{where}.")


EXERCISES = ("6.1 one RNN step", "6.2 the LSTM cell update", "6.3 counting LSTM parameters",
             "6.4 softmax with temperature", "6.5 RNN step backward", "6.6 back-propagation through time")
