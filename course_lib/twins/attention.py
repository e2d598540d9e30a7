"""PyTorch twins of the scratch attention and transformer pieces, and the "prove they agree" helpers.

``torch_mha_like``, ``torch_layer_norm_like`` and ``torch_block_like`` build
torch modules holding a copy of scratch parameters (same names, no
transposes). The ``*_pairs`` functions run a scratch piece and its twin
forward and backward on the same input and upstream gradient and return
``{name: (scratch_value, torch_value)}`` for every output and gradient,
ready for ``course_lib.twins.compare.compare``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.checks import _fail, check_array, check_int
from course_lib.scratch.attention import (
    MHA_PARAM_NAMES,
    multi_head_attention_backward,
    multi_head_attention_forward,
    scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
)
from course_lib.scratch.transformer import (
    BLOCK_PARAM_NAMES,
    layer_norm_backward,
    layer_norm_forward,
    transformer_block_backward,
    transformer_block_forward,
)


def _check_params(func, params, names):
    if not isinstance(params, dict) or any(name not in params for name in names):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        _fail(ValueError if isinstance(params, dict) else TypeError, func,
              f"a dict with the keys {list(names)}", f"{got}", "build it with the scratch init_* function")


def _load(module, params):
    module.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in params.items()})
    return module


def torch_mha_like(params: dict, num_heads: int, dtype=torch.float64) -> torch.nn.MultiheadAttention:
    """A torch.nn.MultiheadAttention (time-major, dropout 0) holding a copy of scratch MHA parameters.

    Shapes: params as ``init_multi_head_attention`` makes them: in_proj_weight (3E, E), ...
    Twin: course_lib.scratch.attention.multi_head_attention_forward (with the same params dict)
    """
    _check_params("torch_mha_like", params, MHA_PARAM_NAMES)
    embed_dim = params["in_proj_weight"].shape[1]
    twin = torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, dtype=dtype)
    return _load(twin, {name: params[name] for name in MHA_PARAM_NAMES})


def torch_layer_norm_like(weight, bias, eps: float = 1e-5) -> torch.nn.LayerNorm:
    """A torch.nn.LayerNorm over weight's shape holding copies of weight and bias (float64).

    Shapes: weight, bias normalized_shape.
    Twin: course_lib.scratch.transformer.layer_norm_forward (with the same weight and bias)
    """
    check_array(weight, "weight", "torch_layer_norm_like", dtype_kind="f")
    twin = torch.nn.LayerNorm(weight.shape, eps=eps, dtype=torch.float64)
    return _load(twin, {"weight": weight, "bias": bias})


def torch_block_like(params: dict, num_heads: int, dtype=torch.float64) -> torch.nn.TransformerEncoderLayer:
    """A pre-norm torch.nn.TransformerEncoderLayer (ReLU, dropout 0) holding a copy of a scratch block.

    Shapes: params keyed by ``BLOCK_PARAM_NAMES`` (see ``init_block_params``).
    Builds torch.nn.TransformerEncoderLayer(E, num_heads, F, dropout=0.0, norm_first=True).
    Twin: course_lib.scratch.transformer.transformer_block_forward / transformer_block_backward
    """
    _check_params("torch_block_like", params, BLOCK_PARAM_NAMES)
    embed_dim = params["norm1.weight"].shape[0]
    dim_feedforward = params["linear1.weight"].shape[0]
    twin = torch.nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward, dropout=0.0,
                                            activation="relu", norm_first=True, dtype=dtype)
    return _load(twin, {name: params[name] for name in BLOCK_PARAM_NAMES})


def _leaf(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _upstream(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _causal_float(length):
    return torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64)


def sdpa_pairs(query, key, value, is_causal: bool = False, seed: int = 0) -> dict:
    """Scratch scaled dot-product attention against F.scaled_dot_product_attention, float64.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> {"out": (...), "dquery": ..., ...}.
    Twin: course_lib.scratch.attention.scaled_dot_product_attention_forward / _backward
    """
    for name, arr in (("query", query), ("key", key), ("value", value)):
        check_array(arr, name, "sdpa_pairs", ndim=tuple(range(2, 8)), shape_doc="(..., L, E)", dtype_kind="f")
    out, cache = scaled_dot_product_attention_forward(query, key, value, is_causal=is_causal)
    dout = _upstream(out.shape, seed)
    grads = scaled_dot_product_attention_backward(dout, cache)
    leaves = [_leaf(a) for a in (query, key, value)]
    out_t = F.scaled_dot_product_attention(*leaves, is_causal=is_causal)
    out_t.backward(torch.from_numpy(dout))
    pairs = {"out": (out, out_t)}
    for name, grad, leaf in zip(("dquery", "dkey", "dvalue"), grads, leaves):
        pairs[name] = (grad, leaf.grad)
    return pairs


def mha_pairs(params: dict, x, num_heads: int, is_causal: bool = True, seed: int = 0) -> dict:
    """Scratch multi-head self-attention against torch.nn.MultiheadAttention, float64.

    The gradient on x is the sum of the query, key and value gradients (x is all three).
    Shapes: x (L, N, E) -> {"out": ..., "dx": ..., "in_proj_weight": ..., ...}.
    Twin: course_lib.scratch.attention.multi_head_attention_forward / multi_head_attention_backward
    """
    check_array(x, "x", "mha_pairs", ndim=3, shape_doc="(L, N, E)", dtype_kind="f")
    num_heads = check_int(num_heads, "num_heads", "mha_pairs", minimum=1)
    twin = torch_mha_like(params, num_heads)
    out, cache = multi_head_attention_forward(x, x, x, num_heads, *(params[n] for n in MHA_PARAM_NAMES),
                                              is_causal=is_causal)
    dout = _upstream(out.shape, seed)
    dq, dk, dv, *dparams = multi_head_attention_backward(dout, cache)
    x_t = _leaf(x)
    mask = _causal_float(x.shape[0]) if is_causal else None
    out_t = twin(x_t, x_t, x_t, attn_mask=mask, need_weights=False, is_causal=is_causal)[0]
    out_t.backward(torch.from_numpy(dout))
    named = dict(twin.named_parameters())
    pairs = {"out": (out, out_t), "dx": (dq + dk + dv, x_t.grad)}
    for name, grad in zip(MHA_PARAM_NAMES, dparams):
        pairs[name] = (grad, named[name].grad)
    return pairs


def layer_norm_pairs(x, weight, bias, eps: float = 1e-5, seed: int = 0) -> dict:
    """Scratch layer norm over weight's shape against torch.nn.LayerNorm, float64.

    Shapes: x (..., *weight.shape) -> {"out", "dx", "weight", "bias"}.
    Twin: course_lib.scratch.transformer.layer_norm_forward / layer_norm_backward
    """
    for name, arr in (("x", x), ("weight", weight), ("bias", bias)):
        check_array(arr, name, "layer_norm_pairs", dtype_kind="f")
    out, cache = layer_norm_forward(x, weight.shape, weight, bias, eps)
    dout = _upstream(out.shape, seed)
    dx, dweight, dbias = layer_norm_backward(dout, cache)
    twin = torch_layer_norm_like(weight, bias, eps)
    x_t = _leaf(x)
    out_t = twin(x_t)
    out_t.backward(torch.from_numpy(dout))
    return {"out": (out, out_t), "dx": (dx, x_t.grad), "weight": (dweight, twin.weight.grad),
            "bias": (dbias, twin.bias.grad)}


def block_pairs(params: dict, x, num_heads: int, seed: int = 0) -> dict:
    """A scratch pre-norm causal block against torch.nn.TransformerEncoderLayer, float64.

    Shapes: x (T, N, E) -> {"out", "dx", and one entry per parameter name}.
    The torch side: torch.nn.TransformerEncoderLayer(norm_first=True) with a causal src_mask.
    Twin: course_lib.scratch.transformer.transformer_block_forward / transformer_block_backward
    """
    check_array(x, "x", "block_pairs", ndim=3, shape_doc="(T, N, E)", dtype_kind="f")
    twin = torch_block_like(params, num_heads)
    out, cache = transformer_block_forward(x, params, num_heads, is_causal=True)
    dout = _upstream(out.shape, seed)
    dx, grads = transformer_block_backward(dout, cache)
    x_t = _leaf(x)
    out_t = twin(x_t, src_mask=_causal_float(x.shape[0]), is_causal=True)
    out_t.backward(torch.from_numpy(dout))
    named = dict(twin.named_parameters())
    pairs = {"out": (out, out_t), "dx": (dx, x_t.grad)}
    for name in BLOCK_PARAM_NAMES:
        pairs[name] = (grads[name], named[name].grad)
    return pairs
