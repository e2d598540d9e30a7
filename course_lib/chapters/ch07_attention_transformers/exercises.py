"""Checks for chapter 7, attention and transformers.

Each check runs the student's function on small random inputs, compares
it with PyTorch (``F.multi_head_attention_forward`` for 7.2, autograd
through ``F.scaled_dot_product_attention`` for 7.3, in float64), and when
it differs tries the usual mistakes one by one (a missing 1/sqrt(d), the
softmax over the wrong axis, K used without transposing, heads cut from
the wrong axis, the mask applied after the softmax or with 0 instead of
-inf, a mean where the softmax backward needs a sum) and names the one
that matches, with the section to reread. Anything else gets where the
largest difference is and how large it is; the solution is never printed.
"""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs


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


def _where_it_differs(name, result, expected, what="out", section="section 1"):
    """The hint for an answer no common mistake explains: which element differs most and by how much (the course's
    ``where_differs``), plus this chapter's advice and the section to reread."""
    if not np.all(np.isfinite(result)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(result))[0])
        return failed(name, f"{what}{list(index)} is {result[index]}: not a finite number. exp of a large score "
                            "overflows unless the row maximum is subtracted first, and a row with every score "
                            f"blocked has nothing to normalise ({section}).")
    return failed(name, f"{where_differs(what, result, expected)}; no common mistake matches, so print your "
                        f"intermediate scores and weights for a 2 x 2 example and check each step ({section}).")


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


def _mha(x, w_in, w_out, heads, variant=None):
    """Causal multi-head self-attention of one sequence, right (variant None) or with a named mistake."""
    t, e = x.shape
    d = e // heads
    q, k, v = np.split(x @ w_in.T, 3, axis=1)
    if variant == "split_no_transpose":
        split = [a.reshape(heads, t, d) for a in (q, k, v)]
    else:
        split = [a.reshape(t, heads, d).transpose(1, 0, 2) for a in (q, k, v)]
    qh, kh, vh = split
    s = qh @ kh.transpose(0, 2, 1) / np.sqrt(e if variant == "scale_e" else d)
    lower = np.tril(np.ones((t, t), dtype=bool))
    if variant == "no_mask":
        w = _softmax(s)
    elif variant == "mask_after":
        w = _softmax(s) * lower
    elif variant == "mask_zero":
        w = _softmax(np.where(lower, s, 0.0))
    elif variant == "mask_upper":
        w = _softmax(np.where(lower.T, s, -np.inf))
    else:
        w = _softmax(np.where(lower, s, -np.inf))
    o = w @ vh  # (heads, T, d)
    merged = o.reshape(t, e) if variant == "merge_no_transpose" else o.transpose(1, 0, 2).reshape(t, e)
    if variant == "no_out_proj":
        return merged
    return merged @ (w_out if variant == "out_not_transposed" else w_out.T)


_MHA_MISTAKES = {
    "no_mask": "no mask was applied: every query still sees the future (section 5).",
    "mask_after": "the mask is applied after the softmax: the weights of a row no longer sum to 1. Block the "
                  "scores before the softmax (section 5).",
    "mask_zero": "the blocked scores are set to 0, but exp(0) = 1 still gives the future a weight; a blocked "
                 "score needs a value whose exp is 0 (section 5).",
    "mask_upper": "the mask keeps the upper triangle: query t may see keys 0..t, not t..T-1 (section 5).",
    "scale_e": "the scale uses the model width E; each head works in E / heads dimensions, and that is the d "
               "of its scores (sections 1 and 4).",
    "split_no_transpose": "the heads are cut out of the wrong axis: a plain reshape of the (T, E) projection to "
                          "(heads, T, E/heads) mixes positions. Each head takes a slice of the features of every "
                          "position: reshape so that the head axis comes from the features, then move it to the "
                          "front (section 4).",
    "merge_no_transpose": "the heads are merged along the wrong axis: the output of position t must hold every "
                          "head's output for position t, side by side (section 4).",
    "no_out_proj": "the last projection, out_proj_weight, is missing (section 4).",
    "out_not_transposed": "out_proj_weight is used untransposed: a Linear weight is (out, in), so it multiplies "
                          "from the right transposed, like in_proj_weight (section 4).",
}


def _torch_causal_mha(x, w_in, w_out, heads):
    """The reference: torch.nn.functional.multi_head_attention_forward, float64, no biases, causal."""
    import torch
    import torch.nn.functional as F

    t, e = x.shape
    xt = torch.tensor(x)[:, None]  # (T, N=1, E)
    blocked = torch.ones(t, t, dtype=torch.bool).triu(1)
    out, _ = F.multi_head_attention_forward(
        xt, xt, xt, e, heads, torch.tensor(w_in), torch.zeros(3 * e, dtype=torch.float64), None, None, False, 0.0,
        torch.tensor(w_out), torch.zeros(e, dtype=torch.float64), training=False, need_weights=False,
        attn_mask=blocked)
    return out[:, 0].numpy()


def check_causal_self_attention(func) -> Feedback:
    """Exercise 7.2: ``func(x, in_proj_weight, out_proj_weight, num_heads)``: causal multi-head self-attention.

    One sequence x (T, E), no biases; the reference is PyTorch's
    ``F.multi_head_attention_forward`` with a causal mask, in float64.
    """
    name = "7.2 causal multi-head self-attention"
    problem = _not_attempted(name, func)
    if problem is not None:
        return problem
    rng = np.random.default_rng(72)
    for t, e, heads in [(5, 6, 2), (4, 6, 3), (3, 4, 1)]:
        x, w_in, w_out = rng.normal(size=(t, e)), rng.normal(size=(3 * e, e)) / e, rng.normal(size=(e, e)) / e
        with np.errstate(all="ignore"):
            result, problem = call_student(name, func, x.copy(), w_in.copy(), w_out.copy(), heads)
        if problem is not None and ("matmul" in problem.message or "reshape" in problem.message):
            return failed(name, problem.message + " Check each shape: in_proj_weight is (3E, E), a Linear weight "
                                "(out, in), and each head's slice of the features is E / heads wide (section 4).")
        if problem is not None:
            return problem
        out, problem = _as_array(name, result, (t, e))
        if problem is not None:
            return problem
        right = _torch_causal_mha(x, w_in, w_out, heads)
        if close(out, right):
            continue
        for variant, hint in _MHA_MISTAKES.items():
            with np.errstate(all="ignore"):
                if close(out, _mha(x, w_in, w_out, heads, variant)):
                    return failed(name, hint)
        if not np.all(np.isfinite(out[0])) and np.all(np.isfinite(out[1:])):
            return failed(name, "the first row came out NaN: it has no key left, so the diagonal is blocked too. "
                                "A position may attend to itself (section 5).")
        return _where_it_differs(name, out, right, section="sections 4 and 5")
    return passed(name, "each head attends to the past in its own slice of the features; the blocked scores get "
                        "weight exactly 0, and PyTorch's multi_head_attention_forward agrees.")


def _torch_backward(dout, Q, K, V):
    """The reference gradients (dQ, dK, dV): PyTorch's autograd through F.scaled_dot_product_attention, float64."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.tensor(a, requires_grad=True) for a in (Q, K, V))
    F.scaled_dot_product_attention(q[None], k[None], v[None])[0].backward(torch.tensor(dout))
    return q.grad.numpy(), k.grad.numpy(), v.grad.numpy()


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
        _, _, _, P, dP = _backward(dout, Q, K, V)
        rQ, rK, rV = _torch_backward(dout, Q, K, V)
        if close(dQ, rQ) and close(dK, rK) and close(dV, rV):
            continue
        d = Q.shape[1]
        if not close(dV, rV):
            if P.shape[0] == P.shape[1] and close(dV, P @ dout):
                return failed(name, "dV uses the weights untransposed: out = P V, so V's gradient takes P's "
                                    "transpose (section 6).")
            return _where_it_differs(name, dV, rV, "dV", "section 6")
        dS_mean = P * (dP - (dP * P).mean(axis=1, keepdims=True))
        if close(dQ, dS_mean @ K / np.sqrt(d)):
            return failed(name, "the softmax backward subtracts the *sum* over the row of dP * P, not its mean "
                                "(section 6).")
        dS = P * (dP - (dP * P).sum(axis=1, keepdims=True))
        if close(dQ, dS @ K) or close(dK, dS.T @ Q):
            return failed(name, "dQ and dK carry the same 1/sqrt(d) as the forward scores (section 6).")
        if close(dQ, P * dP @ K / np.sqrt(d)) or close(dQ, P * (1 - P) * dP @ K / np.sqrt(d)):
            return failed(name, "the softmax backward is not elementwise: each weight depends on the whole "
                                "row of scores, so a row-wide term is missing (section 6, the softmax Jacobian).")
        if dS.shape[0] == dS.shape[1] and close(dK, dS @ Q / np.sqrt(d)):
            return failed(name, "dK: the scores are Q K^T, so K's gradient needs the transpose of the scores' "
                                "gradient (section 6).")
        if not close(dQ, rQ):
            return _where_it_differs(name, dQ, rQ, "dQ", "section 6")
        return _where_it_differs(name, dK, rK, "dK", "section 6")
    return passed(name, "your dQ, dK and dV equal PyTorch's autograd through F.scaled_dot_product_attention.")


EXERCISES = (
    "7.1 scaled dot-product attention",
    "7.2 causal multi-head self-attention",
    "7.3 attention backward",
)
