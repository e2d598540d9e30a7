"""Tests of course_lib.scratch.attention against torch (float64) and numeric gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, assert_pairs_close, check_op
from torch.func import functional_call

from course_lib.scratch.attention import (
    MHA_PARAM_NAMES,
    causal_float_mask,
    causal_mask,
    init_multi_head_attention,
    multi_head_attention_backward,
    multi_head_attention_forward,
    scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
)
from course_lib.twins.attention import mha_pairs, sdpa_pairs, torch_mha_like

# (batch axes, L, S, E, Ev): one query, one key, one feature, odd sizes, more keys than queries and fewer.
SDPA_SHAPES = [((1,), 1, 1, 1, 1), ((2,), 1, 4, 3, 2), ((1, 1), 5, 5, 1, 3), ((2, 3), 4, 7, 5, 1),
               ((3,), 6, 2, 4, 4), ((1, 2), 7, 7, 3, 5)]
# (L, N, E, heads): T = 1, one head, head size 1, odd head sizes 3 and 5.
MHA_SHAPES = [(1, 1, 3, 1), (1, 2, 4, 2), (5, 1, 7, 1), (4, 3, 8, 8), (6, 2, 6, 2), (5, 2, 15, 3)]


def _qkv(rng, batch, length, source, e, ev):
    return (rng.normal(size=(*batch, length, e)), rng.normal(size=(*batch, source, e)),
            rng.normal(size=(*batch, source, ev)))


def _params(rng, e):
    params = init_multi_head_attention(e, rng)
    params["in_proj_bias"] = rng.normal(size=3 * e) * 0.3  # nonzero biases, so their gradients are tested
    params["out_proj.bias"] = rng.normal(size=e) * 0.3
    return params


def _sdpa(**kwargs):
    """Scratch scaled dot-product attention and torch's, with the same keyword arguments."""

    def forward(q, k, v):
        return scaled_dot_product_attention_forward(q, k, v, **kwargs)

    def twin(q, k, v):
        kw = {key: torch.from_numpy(val) if isinstance(val, np.ndarray) else val for key, val in kwargs.items()}
        return F.scaled_dot_product_attention(q, k, v, **kw)

    return forward, scaled_dot_product_attention_backward, twin


def _mha(params, heads, attn_mask=None, is_causal=False):
    """Scratch multi-head attention as a pair over (query, key, value, *params), and its torch twin."""
    mask_t = None if attn_mask is None else torch.from_numpy(attn_mask)
    twin = torch_mha_like(params, heads)

    def forward(q, k, v, *ps):
        return multi_head_attention_forward(q, k, v, heads, *ps, attn_mask=attn_mask, is_causal=is_causal)

    def twin_fn(q, k, v, *ps):
        mask = torch.from_numpy(causal_float_mask(q.shape[0])) if is_causal else mask_t
        return functional_call(twin, dict(zip(MHA_PARAM_NAMES, ps)), (q, k, v),
                               {"attn_mask": mask, "need_weights": False})[0]

    return forward, multi_head_attention_backward, twin_fn


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("length, source", [(1, 1), (4, 4), (3, 5), (5, 2)])
def test_causal_masks_are_torchs(length, source):
    assert np.array_equal(causal_mask(length, source), torch.ones(length, source, dtype=torch.bool).tril().numpy())
    if length == source:
        ref = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64).numpy()
        assert np.array_equal(causal_float_mask(length), ref)


# ----------------------------------------------------------------------------- scaled dot-product attention


@pytest.mark.parametrize("shape", SDPA_SHAPES)
@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_matches_torch(shape, is_causal):
    batch, length, source, e, ev = shape
    q, k, v = _qkv(np.random.default_rng(len(batch) + length + source), batch, length, source, e, ev)
    assert_pairs_close(sdpa_pairs(q, k, v, is_causal=is_causal, seed=e))
    check_op(*_sdpa(is_causal=is_causal), inputs=[q, k, v])


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_masks_match_torch(kind):
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, (2,), 4, 5, 3, 2)
    allowed = rng.random((4, 5)) < 0.6
    allowed[:, 0] = True  # every query keeps a key
    mask = allowed if kind == "bool" else np.where(allowed, rng.normal(size=(4, 5)), -np.inf)
    check_op(*_sdpa(attn_mask=mask), inputs=[q, k, v], rng=rng)
    _, cache = scaled_dot_product_attention_forward(q, k, v, attn_mask=mask)
    assert np.all(cache[3][..., ~allowed] == 0)  # blocked keys get weight exactly 0


def test_sdpa_scale_and_weights():
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng, (1,), 3, 4, 2, 2)
    out, cache = scaled_dot_product_attention_forward(q, k, v, scale=0.3)
    ref = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)), scale=0.3)
    assert_close(out, ref, "out")
    assert np.allclose(cache[3].sum(axis=-1), 1.0)


@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_backward_matches_numeric_gradients(is_causal):
    rng = np.random.default_rng(5)
    check_op(*_sdpa(is_causal=is_causal), inputs=list(_qkv(rng, (2,), 4, 4, 3, 5)), rng=rng)


def test_sdpa_float32_stays_float32():
    rng = np.random.default_rng(6)
    q, k, v = (a.astype(np.float32) for a in _qkv(rng, (2,), 3, 3, 4, 4))
    out, cache = scaled_dot_product_attention_forward(q, k, v, is_causal=True)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in scaled_dot_product_attention_backward(out, cache))


# ----------------------------------------------------------------------------- multi-head attention


@pytest.mark.parametrize("shape", MHA_SHAPES)
@pytest.mark.parametrize("is_causal", [False, True])
def test_mha_self_attention_matches_torch(shape, is_causal):
    length, n, e, heads = shape
    rng = np.random.default_rng(sum(shape))
    pairs = mha_pairs(_params(rng, e), rng.normal(size=(length, n, e)), heads, is_causal=is_causal, seed=heads)
    assert set(pairs) == {"out", "dx", *MHA_PARAM_NAMES}
    assert_pairs_close(pairs)


@pytest.mark.parametrize("length, source, n, e, heads", [(1, 3, 2, 6, 2), (4, 1, 1, 5, 1), (3, 6, 2, 9, 3)])
def test_mha_cross_attention_with_a_float_mask_matches_torch(length, source, n, e, heads):
    rng = np.random.default_rng(length * source)
    params = _params(rng, e)
    query = rng.normal(size=(length, n, e))
    key, value = rng.normal(size=(source, n, e)), rng.normal(size=(source, n, e))
    mask = np.where(rng.random((length, source)) < 0.7, 0.0, -np.inf)
    mask[:, 0] = 0.0
    weights = [params[p] for p in MHA_PARAM_NAMES]
    check_op(*_mha(params, heads, attn_mask=mask), inputs=[query, key, value, *weights], rng=rng)
    _, cache = multi_head_attention_forward(query, key, value, heads, *weights, attn_mask=mask)
    with torch.no_grad():
        _, weights_t = torch_mha_like(params, heads)(*(torch.from_numpy(a) for a in (query, key, value)),
                                                     attn_mask=torch.from_numpy(mask), average_attn_weights=False)
    assert_close(cache["weights"], weights_t, "attention weights")


def test_mha_backward_matches_numeric_gradients():
    rng = np.random.default_rng(7)
    length, n, e, heads = 4, 2, 6, 2
    params = _params(rng, e)
    inputs = [rng.normal(size=(length, n, e)) for _ in range(3)] + [params[p] for p in MHA_PARAM_NAMES]
    # the key bias adds the same q . b_k to every score of a row, which the softmax ignores: its gradient is
    # exactly 0 and the numeric one rounding noise, which check_op's absolute floor (GRAD_ATOL) allows for
    result = check_op(*_mha(params, heads, is_causal=True), inputs=inputs, rng=rng)
    assert np.abs(result.grads[4][6:12]).max() < 1e-15


def test_init_is_torchs_scheme():
    params = init_multi_head_attention(8, np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == {"in_proj_weight": (24, 8), "in_proj_bias": (24,),
                                                         "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    assert np.abs(params["in_proj_weight"]).max() <= np.sqrt(6 / 32)
    assert np.abs(params["out_proj.weight"]).max() <= 1 / np.sqrt(8)
    assert not params["in_proj_bias"].any() and not params["out_proj.bias"].any()
    twin = torch_mha_like(params, 2)
    assert set(twin.state_dict()) == set(MHA_PARAM_NAMES)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_are_explained():
    rng = np.random.default_rng(8)
    q, k, v = _qkv(rng, (1,), 3, 4, 2, 2)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention_forward: expected key with E=2 features"):
        scaled_dot_product_attention_forward(q, k[..., :1], v)
    with pytest.raises(ValueError, match="expected value with one row per key"):
        scaled_dot_product_attention_forward(q, k, v[:, :3])
    with pytest.raises(TypeError, match="pass query.detach"):
        scaled_dot_product_attention_forward(torch.from_numpy(q), k, v)
    with pytest.raises(ValueError, match="expected query of shape \\(..., L, E\\), got shape \\(2,\\); add the"):
        scaled_dot_product_attention_forward(np.ones(2), k, v)
    with pytest.raises(ValueError, match="attn_mask or is_causal=True, not both"):
        scaled_dot_product_attention_forward(q, k, v, attn_mask=np.ones((3, 4), bool), is_causal=True)
    with pytest.raises(ValueError, match="every query to be allowed at least one key"):
        scaled_dot_product_attention_forward(q, k, v, attn_mask=np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="broadcasts to the scores' shape"):
        scaled_dot_product_attention_forward(q, k, v, attn_mask=np.ones((4, 3), bool))
    with pytest.raises(TypeError, match="attn_mask with a bool or floating dtype"):
        scaled_dot_product_attention_forward(q, k, v, attn_mask=np.ones((3, 4), int))
    out, cache = scaled_dot_product_attention_forward(q, k, v)
    with pytest.raises(ValueError, match="expected dout of the forward output's shape"):
        scaled_dot_product_attention_backward(out[..., :1], cache)
    with pytest.raises(TypeError, match="scaled_dot_product_attention_backward: expected the cache its forward"):
        scaled_dot_product_attention_backward(out, cache[:3])
    with pytest.raises(TypeError, match="multi_head_attention_backward: expected the cache"):
        multi_head_attention_backward(out, cache)
    with pytest.raises(ValueError, match="causal_float_mask: expected target_len >= 1"):
        causal_float_mask(0)

    params = _params(rng, 4)
    weights = [params[p] for p in MHA_PARAM_NAMES]
    x = rng.normal(size=(3, 2, 4))
    with pytest.raises(ValueError, match="embed_dim \\(4\\) divisible by num_heads, got num_heads=3"):
        multi_head_attention_forward(x, x, x, 3, *weights)
    with pytest.raises(ValueError, match="time-major \\(L, N, E\\); for one sequence of shape \\(L, E\\) use x"):
        multi_head_attention_forward(x[:, 0], x[:, 0], x[:, 0], 2, *weights)
    with pytest.raises(TypeError, match="nn.MultiheadAttention reads True as 'blocked'"):
        multi_head_attention_forward(x, x, x, 2, *weights, attn_mask=causal_mask(3))
    with pytest.raises(ValueError, match="expected in_proj_weight of shape \\(12, 4\\)"):
        multi_head_attention_forward(x, x, x, 2, params["out_proj.weight"], *weights[1:])
