"""The transformer's other pieces from scratch: layer normalisation, positions, a pre-norm block.

* **Layer normalisation** (Ba, Kiros and Hinton, 2016) normalises each
  example over its *features*, not over the batch as batch normalisation
  does: for every position of every sequence, subtract the mean of its E
  features, divide by their standard deviation, then scale and shift with
  learned ``weight`` and ``bias``. No running statistics, the same
  computation in training and at test time, and it works for a batch of one.
* **Positional encodings.** Attention compares every query with every key
  and does not care about their order: shuffle the keys and values together
  and the output does not change. Order has to be added to the input.
  ``sinusoidal_positional_encoding`` gives Vaswani et al.'s fixed sines and
  cosines; a learned table (an embedding of the position, as GPT uses) is
  the alternative.
* **A pre-norm transformer block**, the form GPT-2 and most models since
  use::

      h   = x + MHA(LN1(x))                      (causal self-attention)
      out = h + W2 relu(W1 LN2(h) + b1) + b2     (position-wise feed-forward)

  Each sub-layer adds to a residual stream (chapter 4's residual
  connections), and the normalisation sits *inside* the branch, so the
  identity path from input to output is never normalised.

Layouts and names are PyTorch's: sequences are time-major (T, N, E), the
block's parameters carry ``torch.nn.TransformerEncoderLayer``'s state_dict
names (``self_attn.in_proj_weight``, ``linear1.weight``, ``norm1.weight``,
...), so a state dict copies across unchanged.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_dout, check_float, check_int, check_rng
from course_lib.scratch.attention import (
    init_multi_head_attention,
    multi_head_attention_backward,
    multi_head_attention_forward,
)

BLOCK_PARAM_NAMES = (
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
)


# ----------------------------------------------------------------------------
# Layer normalisation
# ----------------------------------------------------------------------------


def _normalized_shape(func, normalized_shape, x):
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        _fail(TypeError, func, "normalized_shape as an int or a tuple of ints", repr(normalized_shape),
              "e.g. normalized_shape=E for the last axis")
    shape = tuple(check_int(s, "normalized_shape", func, minimum=1) for s in normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        _fail(ValueError, func, f"x whose last axes are normalized_shape {shape}", f"x of shape {x.shape}",
              "normalized_shape names the trailing axes to normalise, e.g. (E,) for x (T, N, E)")
    return shape


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise each example over its trailing ``normalized_shape`` axes, then scale and shift.

    out = (x - mean) / sqrt(var + eps) * weight + bias, with the mean and the
    (biased) variance taken over the normalised axes. ``weight`` and
    ``bias`` may be None (torch's ``elementwise_affine=False``).
    Shapes: x (..., *normalized_shape), weight and bias normalized_shape -> out (x's shape).
    Twin: torch.nn.functional.layer_norm / torch.nn.LayerNorm
    """
    func = "layer_norm_forward"
    check_array(x, "x", func, dtype_kind="f")
    shape = _normalized_shape(func, normalized_shape, x)
    eps = check_float(eps, "eps", func, minimum=0.0, strict_min=True)
    for name, arr in (("weight", weight), ("bias", bias)):
        if arr is not None:
            check_array(arr, name, func, ndim=len(shape), shape_doc=str(shape), dtype_kind="f")
            if arr.shape != shape:
                _fail(ValueError, func, f"{name} of shape normalized_shape {shape}", f"shape {arr.shape}",
                      "one value per normalised feature")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat = centred * rstd
    out = x_hat if weight is None else x_hat * weight
    if bias is not None:
        out = out + bias
    return out, (x_hat, rstd, weight, bias is not None, axes)


def layer_norm_backward(dout, cache):
    """Gradients of ``layer_norm_forward``: (dx, dweight, dbias); None where there was no parameter.

    With M normalised elements per example, g = dout * weight:
    dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)), means over the normalised axes.
    Shapes: dout (x's shape) -> dx (x's shape), dweight and dbias normalized_shape.
    Twin: torch.autograd through torch.nn.functional.layer_norm
    """
    if not isinstance(cache, tuple) or len(cache) != 5:
        _fail(TypeError, "layer_norm_backward", "the cache layer_norm_forward returned", type(cache).__name__,
              "pass the second value layer_norm_forward returned")
    x_hat, rstd, weight, has_bias, axes = cache
    check_dout(dout, x_hat.shape, "layer_norm_backward")
    lead = tuple(range(x_hat.ndim - len(axes)))
    dweight = None if weight is None else np.sum(dout * x_hat, axis=lead)
    dbias = np.sum(dout, axis=lead) if has_bias else None
    g = dout if weight is None else dout * weight
    dx = rstd * (g - g.mean(axis=axes, keepdims=True) - x_hat * np.mean(g * x_hat, axis=axes, keepdims=True))
    return dx, dweight, dbias



# ----------------------------------------------------------------------------
# Positional encodings
# ----------------------------------------------------------------------------


def sinusoidal_positional_encoding(num_positions: int, embed_dim: int, base: float = 10000.0) -> np.ndarray:
    """Vaswani et al.'s fixed positional encodings: sines and cosines of geometric wavelengths.

    PE[t, 2i] = sin(t / base^(2i/E)), PE[t, 2i+1] = cos(t / base^(2i/E)).
    Each pair of features is a clock turning at its own speed, from one
    turn every 2*pi positions (features 0, 1) to one every 2*pi*base
    positions; position t + k is a fixed rotation of position t, so a dot
    product can read relative offsets. An odd E ends with a lone sine.
    torch has no such function; a learned torch.nn.Embedding(T, E) is its alternative.
    Shapes: -> (T, E), T = num_positions, E = embed_dim.
    """
    func = "sinusoidal_positional_encoding"
    num_positions = check_int(num_positions, "num_positions", func, minimum=1)
    embed_dim = check_int(embed_dim, "embed_dim", func, minimum=1)
    base = check_float(base, "base", func, minimum=1.0, strict_min=True)
    positions = np.arange(num_positions)[:, None]
    frequencies = base ** (-np.arange(0, embed_dim, 2) / embed_dim)  # one per pair of features
    angles = positions * frequencies
    pe = np.empty((num_positions, embed_dim))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : embed_dim // 2])
    return pe


# ----------------------------------------------------------------------------
# The pre-norm transformer block
# ----------------------------------------------------------------------------


def init_block_params(embed_dim: int, num_heads: int, dim_feedforward: int, rng=None, dtype=np.float64) -> dict:
    """Parameters of one block, initialised as torch.nn.TransformerEncoderLayer initialises them.

    Attention as ``init_multi_head_attention``; the two Linear layers uniform
    in +-1/sqrt(fan_in) (weights and biases, nn.Linear's default); the layer
    norms with weight 1 and bias 0. Keys are the torch layer's state_dict names.
    Shapes: -> a dict of arrays keyed by ``BLOCK_PARAM_NAMES``: linear1.weight (F, E),
    linear2.weight (E, F), norm*.weight (E,), ... with F = dim_feedforward.
    Twin: torch.nn.TransformerEncoderLayer(E, num_heads, F, dropout=0.0, norm_first=True)
    """
    func = "init_block_params"
    embed_dim = check_int(embed_dim, "embed_dim", func, minimum=1)
    num_heads = check_int(num_heads, "num_heads", func, minimum=1)
    dim_feedforward = check_int(dim_feedforward, "dim_feedforward", func, minimum=1)
    if embed_dim % num_heads:
        _fail(ValueError, func, f"embed_dim ({embed_dim}) divisible by num_heads", f"num_heads={num_heads}",
              "each head gets embed_dim // num_heads features")
    rng = check_rng(rng, func)
    params = {f"self_attn.{k}": v for k, v in init_multi_head_attention(embed_dim, rng, dtype).items()}
    shapes = (("linear1", (dim_feedforward, embed_dim)), ("linear2", (embed_dim, dim_feedforward)))
    for name, (fan_out, fan_in) in shapes:
        bound = 1.0 / np.sqrt(fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, size=fan_out).astype(dtype)
    for name in ("norm1", "norm2"):
        params[f"{name}.weight"] = np.ones(embed_dim, dtype=dtype)
        params[f"{name}.bias"] = np.zeros(embed_dim, dtype=dtype)
    return params


def _check_block_params(func, params, embed_dim):
    if not isinstance(params, dict):
        _fail(TypeError, func, "params as a dict of arrays (see init_block_params)", type(params).__name__, None)
    missing = [name for name in BLOCK_PARAM_NAMES if name not in params]
    if missing:
        _fail(ValueError, func, "params with every key of BLOCK_PARAM_NAMES", f"{missing[0]!r} missing",
              "build them with init_block_params or copy a TransformerEncoderLayer's state_dict")
    dim_feedforward = params["linear1.weight"].shape[0] if np.ndim(params["linear1.weight"]) == 2 else -1
    expected = {"linear1.weight": (dim_feedforward, embed_dim), "linear1.bias": (dim_feedforward,),
                "linear2.weight": (embed_dim, dim_feedforward), "linear2.bias": (embed_dim,),
                "norm1.weight": (embed_dim,), "norm1.bias": (embed_dim,),
                "norm2.weight": (embed_dim,), "norm2.bias": (embed_dim,)}
    for name, shape in expected.items():
        arr = check_array(params[name], name, func, dtype_kind="f")
        if arr.shape != shape:
            _fail(ValueError, func, f"{name} of shape {shape} for embed_dim={embed_dim}", f"shape {arr.shape}",
                  "torch's layout: linear1.weight (F, E), linear2.weight (E, F)")


def transformer_block_forward(x, params: dict, num_heads: int, is_causal: bool = True, eps: float = 1e-5):
    """One pre-norm block: h = x + MHA(LN1(x)), out = h + linear2(relu(linear1(LN2(h)))).

    ``params`` holds torch.nn.TransformerEncoderLayer's state_dict names
    (``BLOCK_PARAM_NAMES``). ``is_causal=True`` (the default, as in a GPT)
    lets each position attend to itself and earlier positions only. The
    attention weights of every head are ``cache["attn"]["weights"]``, (N, heads, T, T).
    Shapes: x (T, N, E) -> out (T, N, E).
    Twin: torch.nn.TransformerEncoderLayer(E, num_heads, F, dropout=0.0, activation="relu",
    norm_first=True) called with a causal src_mask
    """
    func = "transformer_block_forward"
    fix = "sequences are time-major (T, N, E); for one sequence use x[:, None]" if np.ndim(x) == 2 else None
    check_array(x, "x", func, ndim=3, shape_doc="(T, N, E)", dtype_kind="f", fix=fix)
    embed_dim = x.shape[-1]
    _check_block_params(func, params, embed_dim)
    p = params
    a, ln1_cache = layer_norm_forward(x, embed_dim, p["norm1.weight"], p["norm1.bias"], eps)
    attn, attn_cache = multi_head_attention_forward(
        a, a, a, num_heads, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
        p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"], is_causal=is_causal)
    h = x + attn
    b, ln2_cache = layer_norm_forward(h, embed_dim, p["norm2.weight"], p["norm2.bias"], eps)
    b2 = b.reshape(-1, embed_dim)
    u = b2 @ p["linear1.weight"].T + p["linear1.bias"]
    r = np.maximum(u, 0.0)
    f = r @ p["linear2.weight"].T + p["linear2.bias"]
    out = h + f.reshape(x.shape)
    cache = {"ln1": ln1_cache, "attn": attn_cache, "ln2": ln2_cache, "b2": b2, "u": u, "r": r, "params": p,
             "shape": x.shape}
    return out, cache


def transformer_block_backward(dout, cache):
    """Gradients of ``transformer_block_forward``: (dx, grads), grads keyed by ``BLOCK_PARAM_NAMES``.

    Both residual connections pass dout straight through: dh = dout + (the
    feed-forward branch's gradient), dx = dh + (the attention branch's).
    Shapes: dout (T, N, E) -> dx (T, N, E), grads {name: array of the parameter's shape}.
    Twin: torch.autograd through torch.nn.TransformerEncoderLayer(norm_first=True)
    """
    if not isinstance(cache, dict) or "ln1" not in cache or "shape" not in cache:
        _fail(TypeError, "transformer_block_backward", "the cache transformer_block_forward returned",
              type(cache).__name__, "pass the second value transformer_block_forward returned")
    check_dout(dout, cache["shape"], "transformer_block_backward")
    p, embed_dim = cache["params"], cache["shape"][-1]
    grads = {}
    d2 = dout.reshape(-1, embed_dim)
    grads["linear2.weight"] = d2.T @ cache["r"]
    grads["linear2.bias"] = d2.sum(axis=0)
    du = (d2 @ p["linear2.weight"]) * (cache["u"] > 0)
    grads["linear1.weight"] = du.T @ cache["b2"]
    grads["linear1.bias"] = du.sum(axis=0)
    db = (du @ p["linear1.weight"]).reshape(dout.shape)
    dh_branch, grads["norm2.weight"], grads["norm2.bias"] = layer_norm_backward(db, cache["ln2"])
    dh = dout + dh_branch
    dq, dk, dv, *attn_grads = multi_head_attention_backward(dh, cache["attn"])
    for name, grad in zip(BLOCK_PARAM_NAMES[:4], attn_grads):
        grads[name] = grad
    dx_branch, grads["norm1.weight"], grads["norm1.bias"] = layer_norm_backward(dq + dk + dv, cache["ln1"])
    return dh + dx_branch, {name: grads[name] for name in BLOCK_PARAM_NAMES}
