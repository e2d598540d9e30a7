"""Attention from scratch: scaled dot-product attention, the causal mask, multi-head attention.

Scaled dot-product attention (Vaswani et al., 2017) reads, for each query,
a weighted average of the values; the weights say how well the query
matches each key::

    S = Q K^T / sqrt(E) (+ mask)        scores, (..., L, S)
    P = softmax(S) along the keys       each row sums to 1
    O = P V                             (..., L, Ev)

and its backward, with dO the upstream gradient::

    dV = P^T dO
    dP = dO V^T
    dS = P * (dP - sum(dP * P) over the keys)     (the softmax backward)
    dQ = dS K / sqrt(E),   dK = dS^T Q / sqrt(E)

Layouts and argument names follow PyTorch:

* ``scaled_dot_product_attention_forward`` takes what
  ``torch.nn.functional.scaled_dot_product_attention`` takes: query
  (..., L, E), key (..., S, E), value (..., S, Ev), ``attn_mask`` and
  ``is_causal``. A *boolean* mask there means True = "may attend"; a float
  mask is added to the scores (0 to keep, -inf to block).
* ``multi_head_attention_forward`` takes what ``torch.nn.MultiheadAttention``
  holds: ``in_proj_weight`` (3E, E) with the query, key and value
  projections stacked in that order, ``in_proj_bias`` (3E,),
  ``out_proj.weight`` (E, E) and ``out_proj.bias`` (E,), and time-major
  inputs (L, N, E) as with torch's default ``batch_first=False``.
  nn.MultiheadAttention reads a *boolean* mask the other way round (True =
  "blocked"); to avoid that trap this function takes only float masks and
  ``is_causal``.

The causal mask lets position t attend to positions 0..t only, which a
model that predicts the next token needs: otherwise it reads the answer.
It is applied *before* the softmax, by setting the blocked scores to -inf,
so that the weights of each row still sum to one over what is allowed.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_dout, check_float, check_int, check_rng

MHA_PARAM_NAMES = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")


# ----------------------------------------------------------------------------
# The causal mask
# ----------------------------------------------------------------------------


def causal_mask(target_len: int, source_len: int | None = None) -> np.ndarray:
    """Boolean mask, True where query t may attend to key s, i.e. s <= t.

    Aligned at the top left, as torch's ``is_causal=True`` is: row t allows
    keys 0..t. ``source_len`` defaults to ``target_len``.
    Shapes: -> mask (L, S) bool, L = target_len, S = source_len.
    Twin: torch.ones(L, S, dtype=torch.bool).tril()
    """
    func = "causal_mask"
    target_len = check_int(target_len, "target_len", func, minimum=1)
    source_len = target_len if source_len is None else check_int(source_len, "source_len", func, minimum=1)
    return np.tril(np.ones((target_len, source_len), dtype=bool))


def causal_float_mask(target_len: int, source_len: int | None = None) -> np.ndarray:
    """The causal mask as an additive float mask: 0 where allowed, -inf where blocked.

    Shapes: -> mask (L, S) float64.
    Twin: torch.nn.Transformer.generate_square_subsequent_mask(L) (for L == S)
    """
    func = "causal_float_mask"
    target_len = check_int(target_len, "target_len", func, minimum=1)
    source_len = target_len if source_len is None else check_int(source_len, "source_len", func, minimum=1)
    return np.where(causal_mask(target_len, source_len), 0.0, -np.inf)


# ----------------------------------------------------------------------------
# Scaled dot-product attention
# ----------------------------------------------------------------------------


def _check_qkv(func, query, key, value):
    """Check query (..., L, E), key (..., S, E), value (..., S, Ev); same leading axes."""
    for name, arr in (("query", query), ("key", key), ("value", value)):
        fix = "add the sequence axis, e.g. x[None]" if getattr(arr, "ndim", 2) < 2 else None
        doc = "(..., L, E)" if name == "query" else "(..., S, E)" if name == "key" else "(..., S, Ev)"
        check_array(arr, name, func, ndim=tuple(range(2, 8)), shape_doc=doc, dtype_kind="f", fix=fix)
    if key.shape[-1] != query.shape[-1]:
        _fail(ValueError, func, f"key with E={query.shape[-1]} features, as query has",
              f"key of shape {key.shape}", "queries and keys are compared by a dot product")
    if key.shape[:-1] != value.shape[:-1]:
        _fail(ValueError, func, f"value with one row per key, shape {key.shape[:-1]} + (Ev,)",
              f"value of shape {value.shape}", "key and value come in pairs")
    if query.shape[:-2] != key.shape[:-2]:
        _fail(ValueError, func, f"query and key with the same leading (batch, head) axes {query.shape[:-2]}",
              f"key of shape {key.shape}", "this version does not broadcast: repeat the arrays first")


def _masked_softmax(func, scores, attn_mask, is_causal):
    """Softmax over the keys of the masked scores, computed in place in ``scores``.

    The mask is a boolean (True = attend) or additive float array, or the
    causal mask; blocked scores become -inf, so their weight is exp(-inf) = 0.
    """
    length, source = scores.shape[-2:]
    if is_causal:
        if attn_mask is not None:
            _fail(ValueError, func, "attn_mask or is_causal=True, not both", "both",
                  "as in torch: pass is_causal=True alone for a causal mask")
        scores += causal_float_mask(length, source).astype(scores.dtype)
    elif attn_mask is not None:
        scores += _additive_mask(func, attn_mask, scores.shape).astype(scores.dtype, copy=False)
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def _additive_mask(func, attn_mask, shape):
    """A user's bool (True = attend) or float mask as a float array to add to the scores."""
    if not isinstance(attn_mask, np.ndarray):
        _fail(TypeError, func, "attn_mask to be a numpy.ndarray or None", type(attn_mask).__name__, None)
    try:
        np.broadcast_shapes(attn_mask.shape, shape)
    except ValueError:
        _fail(ValueError, func, f"attn_mask that broadcasts to the scores' shape {shape}",
              f"shape {attn_mask.shape}", "e.g. an (L, S) mask")
    if attn_mask.dtype == bool:
        attn_mask = np.where(attn_mask, 0.0, -np.inf)
    elif attn_mask.dtype.kind != "f":
        _fail(TypeError, func, "attn_mask with a bool or floating dtype", f"dtype {attn_mask.dtype}",
              "a bool mask (True = may attend) or a float one (0 = keep, -inf = block)")
    if np.isnan(attn_mask).any() or np.isposinf(attn_mask).any():
        _fail(ValueError, func, "attn_mask of finite values or -inf", "NaN or +inf", "use -inf to block")
    if not np.all(np.isfinite(np.broadcast_to(attn_mask, shape)).any(axis=-1)):
        _fail(ValueError, func, "every query to be allowed at least one key", "a row of attn_mask that blocks "
              "every key", "a query with no key to attend to has no softmax")
    return attn_mask


def scaled_dot_product_attention_forward(query, key, value, attn_mask=None, is_causal: bool = False,
                                         scale: float | None = None):
    """softmax(query key^T * scale + mask) value, with scale = 1/sqrt(E) by default.

    ``attn_mask``: None, a bool array (True = may attend, as in torch's
    function) or a float array added to the scores; it broadcasts to
    (..., L, S). ``is_causal=True`` applies ``causal_mask`` instead.
    The cache holds the attention weights P as ``cache[3]`` (..., L, S).
    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> out (..., L, Ev).
    Twin: torch.nn.functional.scaled_dot_product_attention (dropout_p=0)
    """
    func = "scaled_dot_product_attention_forward"
    _check_qkv(func, query, key, value)
    if not isinstance(is_causal, bool):
        _fail(TypeError, func, "is_causal to be True or False", type(is_causal).__name__, None)
    if scale is None:
        scale = 1.0 / np.sqrt(query.shape[-1])
    scale = check_float(scale, "scale", func, minimum=0.0, strict_min=True)
    scores = query @ key.swapaxes(-1, -2)
    scores *= query.dtype.type(scale)
    weights = _masked_softmax(func, scores, attn_mask, is_causal)
    out = weights @ value
    return out, (query, key, value, weights, scale)


def scaled_dot_product_attention_backward(dout, cache):
    """Gradients of ``scaled_dot_product_attention_forward``: (dquery, dkey, dvalue).

    Blocked positions have weight 0, so no gradient flows through them.
    Shapes: dout (..., L, Ev) -> dquery (..., L, E), dkey (..., S, E), dvalue (..., S, Ev).
    Twin: torch.autograd through torch.nn.functional.scaled_dot_product_attention
    """
    query, key, value, weights, scale = _unpack_cache("scaled_dot_product_attention_backward", cache, 5)
    out_shape = query.shape[:-1] + value.shape[-1:]
    check_dout(dout, out_shape, "scaled_dot_product_attention_backward")
    dvalue = weights.swapaxes(-1, -2) @ dout
    dweights = dout @ value.swapaxes(-1, -2)
    dscores = dweights  # the softmax backward, in place: P * (dP - sum(dP * P))
    dscores -= np.einsum("...ls,...ls->...l", dweights, weights)[..., None]
    dscores *= weights
    dscores *= query.dtype.type(scale)
    return dscores @ key, dscores.swapaxes(-1, -2) @ query, dvalue


def _unpack_cache(func, cache, length):
    """The cache a forward returned, checked to be a tuple of ``length`` items."""
    if not isinstance(cache, tuple) or len(cache) != length:
        _fail(TypeError, func, "the cache its forward function returned", type(cache).__name__,
              "pass the second value the matching *_forward returned")
    return cache



# ----------------------------------------------------------------------------
# Multi-head attention (torch.nn.MultiheadAttention's layout)
# ----------------------------------------------------------------------------


def init_multi_head_attention(embed_dim: int, rng=None, dtype=np.float64) -> dict:
    """Parameters initialised as torch.nn.MultiheadAttention does.

    ``in_proj_weight`` Xavier-uniform over its (3E, E) shape, the out
    projection's weight uniform in +-1/sqrt(E) (nn.Linear's default), both
    biases zero. Keys are torch's state_dict names.
    Shapes: -> {"in_proj_weight": (3E, E), "in_proj_bias": (3E,), "out_proj.weight": (E, E),
    "out_proj.bias": (E,)}.
    Twin: torch.nn.MultiheadAttention(embed_dim, num_heads)._reset_parameters
    """
    func = "init_multi_head_attention"
    embed_dim = check_int(embed_dim, "embed_dim", func, minimum=1)
    rng = check_rng(rng, func)
    bound_in = np.sqrt(6.0 / (embed_dim + 3 * embed_dim))
    bound_out = 1.0 / np.sqrt(embed_dim)
    return {
        "in_proj_weight": rng.uniform(-bound_in, bound_in, size=(3 * embed_dim, embed_dim)).astype(dtype),
        "in_proj_bias": np.zeros(3 * embed_dim, dtype=dtype),
        "out_proj.weight": rng.uniform(-bound_out, bound_out, size=(embed_dim, embed_dim)).astype(dtype),
        "out_proj.bias": np.zeros(embed_dim, dtype=dtype),
    }


def _check_mha(func, query, key, value, num_heads, weights):
    for name, arr in (("query", query), ("key", key), ("value", value)):
        fix = None
        if getattr(arr, "ndim", None) == 2:
            fix = "inputs are time-major (L, N, E); for one sequence of shape (L, E) use x[:, None]"
        check_array(arr, name, func, ndim=3, shape_doc="(L, N, E)" if name == "query" else "(S, N, E)",
                    dtype_kind="f", fix=fix)
    length, n, embed_dim = query.shape
    if key.shape != value.shape or key.shape[1:] != (n, embed_dim):
        _fail(ValueError, func, f"key and value of shape (S, {n}, {embed_dim}), like query {query.shape}",
              f"key {key.shape} and value {value.shape}", "this version needs kdim == vdim == embed_dim")
    num_heads = check_int(num_heads, "num_heads", func, minimum=1)
    if embed_dim % num_heads:
        _fail(ValueError, func, f"embed_dim ({embed_dim}) divisible by num_heads", f"num_heads={num_heads}",
              "as in torch, each head gets embed_dim // num_heads features")
    in_w, in_b, out_w, out_b = weights
    shapes = ((3 * embed_dim, embed_dim), (3 * embed_dim,), (embed_dim, embed_dim), (embed_dim,))
    for name, arr, shape in zip(MHA_PARAM_NAMES, weights, shapes):
        check_array(arr, name, func, ndim=len(shape), shape_doc=str(shape), dtype_kind="f")
        if arr.shape != shape:
            _fail(ValueError, func, f"{name} of shape {shape} for embed_dim={embed_dim}", f"shape {arr.shape}",
                  "torch's layout: in_proj_weight stacks the q, k and v projections, (3E, E)")
    return num_heads


def _linear(x, weight, bias):
    """x @ weight.T + bias over the last axis, as one 2-D product (not one per time step)."""
    return (x.reshape(-1, x.shape[-1]) @ weight.T + bias).reshape(*x.shape[:-1], weight.shape[0])


def _split_heads(x, num_heads):
    """(L, N, E) -> (N, heads, L, E // heads), contiguous (NumPy's stacked matmul is fast on those)."""
    length, n, embed_dim = x.shape
    return np.ascontiguousarray(x.reshape(length, n, num_heads, embed_dim // num_heads).transpose(1, 2, 0, 3))


def _merge_heads(x):
    """(N, heads, L, Dh) -> (L, N, heads * Dh)."""
    n, heads, length, head_dim = x.shape
    return x.transpose(2, 0, 1, 3).reshape(length, n, heads * head_dim)


def multi_head_attention_forward(query, key, value, num_heads: int, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, attn_mask=None, is_causal: bool = False):
    """Multi-head attention: project, split into heads, attend in each head, merge, project.

    For head h with head_dim = E / num_heads, queries, keys and values are
    the rows h*head_dim..(h+1)*head_dim of the three projections; each head
    runs ``scaled_dot_product_attention_forward`` on its own slice, and
    ``out_proj`` mixes the concatenated heads. ``attn_mask`` is an additive
    float (L, S) mask or None; ``is_causal=True`` blocks the future. The
    weights of every head are ``cache["weights"]``, (N, heads, L, S).
    Shapes: query (L, N, E), key (S, N, E), value (S, N, E), in_proj_weight (3E, E),
    in_proj_bias (3E,), out_proj_weight (E, E), out_proj_bias (E,) -> out (L, N, E).
    Twin: torch.nn.MultiheadAttention(E, num_heads, dropout=0.0) (need_weights=False)
    """
    func = "multi_head_attention_forward"
    weights = (in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias)
    num_heads = _check_mha(func, query, key, value, num_heads, weights)
    if isinstance(attn_mask, np.ndarray) and attn_mask.dtype == np.bool_:
        _fail(TypeError, func, "a float attn_mask (0 = keep, -inf = block) or is_causal=True", "a bool mask",
              "nn.MultiheadAttention reads True as 'blocked' but F.scaled_dot_product_attention as 'allowed'; "
              "use causal_float_mask(L) or np.where(allowed, 0.0, -np.inf)")
    length, n, embed_dim = query.shape
    w_q, w_k, w_v = np.split(in_proj_weight, 3)
    b_q, b_k, b_v = np.split(in_proj_bias, 3)
    if query is key and key is value:  # self-attention: one product for all three projections
        q, k, v = np.split(_linear(query, in_proj_weight, in_proj_bias), 3, axis=-1)
    else:
        q, k, v = _linear(query, w_q, b_q), _linear(key, w_k, b_k), _linear(value, w_v, b_v)
    heads_out, attn_cache = scaled_dot_product_attention_forward(
        _split_heads(q, num_heads), _split_heads(k, num_heads), _split_heads(v, num_heads),
        attn_mask=attn_mask, is_causal=is_causal)
    merged = _merge_heads(heads_out)
    out = _linear(merged, out_proj_weight, out_proj_bias)
    cache = {"inputs": (query, key, value), "proj": (w_q, w_k, w_v), "merged": merged, "attn": attn_cache,
             "out_proj_weight": out_proj_weight, "num_heads": num_heads, "weights": attn_cache[3]}
    return out, cache


def multi_head_attention_backward(dout, cache):
    """Gradients of ``multi_head_attention_forward``.

    Returns (dquery, dkey, dvalue, din_proj_weight, din_proj_bias,
    dout_proj_weight, dout_proj_bias). For self-attention (query, key and
    value the same array x) the gradient on x is dquery + dkey + dvalue.
    Shapes: dout (L, N, E) -> dquery (L, N, E), dkey (S, N, E), dvalue (S, N, E),
    din_proj_weight (3E, E), din_proj_bias (3E,), dout_proj_weight (E, E), dout_proj_bias (E,).
    Twin: torch.autograd through torch.nn.MultiheadAttention
    """
    if not isinstance(cache, dict) or "attn" not in cache or "merged" not in cache:
        _fail(TypeError, "multi_head_attention_backward", "the cache multi_head_attention_forward returned",
              type(cache).__name__, "pass the second value multi_head_attention_forward returned")
    query, key, value = cache["inputs"]
    check_dout(dout, query.shape, "multi_head_attention_backward")
    merged, num_heads = cache["merged"], cache["num_heads"]
    embed_dim = query.shape[-1]
    dout2 = dout.reshape(-1, embed_dim)
    dout_proj_weight = dout2.T @ merged.reshape(-1, embed_dim)
    dout_proj_bias = dout2.sum(axis=0)
    dmerged = (dout2 @ cache["out_proj_weight"]).reshape(dout.shape)
    dmerged_heads = _split_heads(dmerged, num_heads)
    dq_h, dk_h, dv_h = scaled_dot_product_attention_backward(dmerged_heads, cache["attn"])
    dinputs, dweights, dbiases = [], [], []
    for d_heads, x, w in zip((dq_h, dk_h, dv_h), (query, key, value), cache["proj"]):
        d_proj = _merge_heads(d_heads)  # (L or S, N, E)
        d2 = d_proj.reshape(-1, embed_dim)
        dinputs.append((d2 @ w).reshape(x.shape))
        dweights.append(d2.T @ x.reshape(-1, embed_dim))
        dbiases.append(d2.sum(axis=0))
    return (*dinputs, np.concatenate(dweights), np.concatenate(dbiases), dout_proj_weight, dout_proj_bias)
