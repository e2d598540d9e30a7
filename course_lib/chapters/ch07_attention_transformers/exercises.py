"""Checks for chapter 7, attention and transformers.

Each check runs the student's function on small random inputs, compares
it with the right answer, and when it differs tries the usual mistakes one
by one (a missing 1/sqrt(d), the softmax over the wrong axis, K used
without transposing, the mask applied after the softmax or with 0 instead
of -inf, a mean where the softmax backward needs a sum) and names the one
that matches, with the section to reread. Anything else gets where the
first difference is and how large it is; the solution is never printed.
"""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed


def _softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _attention(Q, K, V, causal=False):
    s = Q @ K.T / np.sqrt(Q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    return _softmax(s) @ V


def _not_attempted(name, func):
    if func is None:
        return failed(name, "not attempted yet: write the function above, then run this check.")
    return None


def _as_array(name, result, shape):
    """(array, None) when result is a float array of ``shape``, else (None, Feedback)."""
    try:
        arr = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        return None, failed(name, f"return a NumPy array, got {type(result).__name__}.")
    if arr.shape != shape:
        return None, failed(name, f"expected an array of shape {shape}, got shape {arr.shape}.")
    return arr, None


def _where_it_differs(name, result, expected, what="out"):
    diff = np.abs(result - expected)
    if not np.all(np.isfinite(result)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(result))[0])
        return failed(name, f"{what}{list(index)} is {result[index]}: not a finite number. Subtract the row "
                            "maximum before exp, and make sure every row keeps at least one score.")
    index = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    return failed(name, f"{what}{list(index)} is {result[index]:.4f} where {expected[index]:.4f} is expected "
                        f"(off by {diff[index]:.2g}); no common mistake matches, so print your intermediate "
                        "scores and weights for a 2 x 2 example and check each step.")


def _cases(rng):
    """(Q, K, V) triples: a square one, more keys than queries, and an odd head size."""
    return [
        (rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 2))),
        (rng.normal(size=(3, 5)), rng.normal(size=(6, 5)), rng.normal(size=(6, 4))),
    ]


def check_attention_forward(func) -> Feedback:
    """Exercise 7.1: ``func(Q, K, V) -> softmax(Q K^T / sqrt(d)) V`` for one sequence, no mask."""
    name = "7.1 scaled dot-product attention"
    problem = _not_attempted(name, func)
    if problem is not None:
        return problem
    for Q, K, V in _cases(np.random.default_rng(71)):
        result, problem = call_student(name, func, Q.copy(), K.copy(), V.copy())
        if problem is not None and "matmul" in problem.message:
            return failed(name, problem.message + " Check the shapes: Q (L, d) @ K.T (d, S) gives the (L, S) "
                                "scores, and the weights (L, S) @ V (S, Ev) the output (section 1).")
        if problem is not None:
            return problem
        shape = (Q.shape[0], V.shape[1])
        out, problem = _as_array(name, result, shape)
        if problem is not None:
            return problem
        d = Q.shape[1]
        right = _attention(Q, K, V)
        if close(out, right):
            continue
        scores = Q @ K.T
        if close(out, _softmax(scores) @ V):
            return failed(name, "the scores are not scaled: divide Q K^T by sqrt(d) before the softmax "
                                "(section 1, why the scale).")
        if close(out, _softmax(scores / d) @ V):
            return failed(name, "the scale is 1/sqrt(d), not 1/d (section 1).")
        if close(out, _softmax(scores / np.sqrt(d), axis=0) @ V):
            return failed(name, "the softmax runs over the wrong axis: each query's weights (a row of the "
                                "scores) must sum to 1 over the keys, axis=-1 (section 1).")
        if Q.shape[1] == K.shape[0] and close(out, _softmax(Q @ K / np.sqrt(d)) @ V):
            return failed(name, "K is not transposed: the scores are Q @ K.T, one row per query and one column "
                                "per key (section 1).")
        if close(out, (scores / np.sqrt(d)) @ V):
            return failed(name, "the softmax is missing: the weights are softmax(scores), not the raw "
                                "scores (section 1).")
        return _where_it_differs(name, out, right)
    return passed(name, "each query reads a weighted average of the values, weighted by how well it matches "
                        "each key.")


def check_causal_mask(func) -> Feedback:
    """Exercise 7.2: ``func(Q, K, V)`` = attention where query t sees keys 0..t only."""
    name = "7.2 the causal mask"
    problem = _not_attempted(name, func)
    if problem is not None:
        return problem
    rng = np.random.default_rng(72)
    for length, d in [(5, 3), (4, 1)]:
        Q, K, V = rng.normal(size=(length, d)), rng.normal(size=(length, d)), rng.normal(size=(length, 2))
        with np.errstate(all="ignore"):
            result, problem = call_student(name, func, Q.copy(), K.copy(), V.copy())
        if problem is not None:
            return problem
        out, problem = _as_array(name, result, (length, 2))
        if problem is not None:
            return problem
        right = _attention(Q, K, V, causal=True)
        if close(out, right):
            continue
        s = Q @ K.T / np.sqrt(d)
        lower = np.tril(np.ones((length, length)))
        if close(out, _attention(Q, K, V)):
            return failed(name, "no mask was applied: every query still sees the future (section 5).")
        if close(out, (_softmax(s) * lower) @ V):
            return failed(name, "the mask is applied after the softmax: the weights of a row no longer sum to "
                                "1. Set the blocked scores to -inf *before* the softmax (section 5).")
        if close(out, _softmax(s * lower) @ V) or close(out, _softmax(np.where(lower > 0, s, 0.0)) @ V):
            return failed(name, "the blocked scores are set to 0, but exp(0) = 1 still gives the future a "
                                "weight. Use -inf, whose exp is 0 (section 5).")
        if close(out, _softmax(np.where(lower.T > 0, s, -np.inf)) @ V):
            return failed(name, "the mask keeps the upper triangle: query t may see keys 0..t (np.tril), "
                                "not t..T-1 (section 5).")
        if not np.all(np.isfinite(out[0])) and np.all(np.isfinite(out[1:])):
            return failed(name, "the first row came out NaN: it has no key left, so the diagonal is blocked too. "
                                "A position may attend to itself: np.tril with k = 0 (section 5).")
        return _where_it_differs(name, out, right)
    return passed(name, "the -inf scores get weight exp(-inf) = 0, and each row still sums to 1 over the past.")


def _backward(dout, Q, K, V):
    d = Q.shape[1]
    P = _softmax(Q @ K.T / np.sqrt(d))
    dV = P.T @ dout
    dP = dout @ V.T
    dS = P * (dP - (dP * P).sum(axis=1, keepdims=True))
    return dS @ K / np.sqrt(d), dS.T @ Q / np.sqrt(d), dV, P, dP


def check_attention_backward(func) -> Feedback:
    """Exercise 7.3: ``func(dout, Q, K, V) -> (dQ, dK, dV)`` for out = softmax(Q K^T / sqrt(d)) V."""
    name = "7.3 attention backward"
    problem = _not_attempted(name, func)
    if problem is not None:
        return problem
    rng = np.random.default_rng(73)
    for Q, K, V in _cases(rng):
        dout = rng.normal(size=(Q.shape[0], V.shape[1]))
        result, problem = call_student(name, func, dout.copy(), Q.copy(), K.copy(), V.copy())
        if problem is not None:
            return problem
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            return failed(name, f"return the three gradients (dQ, dK, dV), got {type(result).__name__}.")
        grads = []
        for what, value, shape in zip(("dQ", "dK", "dV"), result, (Q.shape, K.shape, V.shape)):
            arr, problem = _as_array(f"{name}: {what}", value, shape)
            if problem is not None:
                return failed(name, f"{what}: {problem.message}")
            grads.append(arr)
        dQ, dK, dV = grads
        rQ, rK, rV, P, dP = _backward(dout, Q, K, V)
        if close(dQ, rQ) and close(dK, rK) and close(dV, rV):
            continue
        d = Q.shape[1]
        if not close(dV, rV):
            if P.shape[0] == P.shape[1] and close(dV, P @ dout):
                return failed(name, "dV = P^T dout: transpose the weights (out = P V, section 6).")
            return _where_it_differs(name, dV, rV, "dV")
        dS_mean = P * (dP - (dP * P).mean(axis=1, keepdims=True))
        if close(dQ, dS_mean @ K / np.sqrt(d)):
            return failed(name, "the softmax backward subtracts the *sum* over the row of dP * P, not its mean "
                                "(section 6).")
        dS = P * (dP - (dP * P).sum(axis=1, keepdims=True))
        if close(dQ, dS @ K) or close(dK, dS.T @ Q):
            return failed(name, "dQ and dK carry the same 1/sqrt(d) as the forward scores (section 6).")
        if close(dQ, P * dP @ K / np.sqrt(d)) or close(dQ, P * (1 - P) * dP @ K / np.sqrt(d)):
            return failed(name, "the softmax backward is not elementwise: each weight depends on the whole "
                                "row, dS = P * (dP - sum(dP * P, axis=1)) (section 6).")
        if dS.shape[0] == dS.shape[1] and close(dK, dS @ Q / np.sqrt(d)):
            return failed(name, "dK = dS^T Q / sqrt(d): the scores are Q K^T, so K's gradient takes the "
                                "transpose of dS (section 6).")
        if not close(dQ, rQ):
            return _where_it_differs(name, dQ, rQ, "dQ")
        return _where_it_differs(name, dK, rK, "dK")
    return passed(name, "dV = P^T dout, dP = dout V^T, the softmax backward, then dQ and dK with the 1/sqrt(d).")
