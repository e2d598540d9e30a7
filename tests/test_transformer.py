"""Tests of course_lib.scratch.transformer against torch (float64) and numeric gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_pairs_close, check_op
from torch.func import functional_call

from course_lib.scratch.attention import causal_float_mask
from course_lib.scratch.transformer import (
    BLOCK_PARAM_NAMES,
    init_block_params,
    layer_norm_backward,
    layer_norm_forward,
    sinusoidal_positional_encoding,
    transformer_block_backward,
    transformer_block_forward,
)
from course_lib.twins.attention import block_pairs, layer_norm_pairs, torch_block_like

# (x shape, normalized shape): one feature, one example, two normalised axes, odd sizes.
LN_SHAPES = [((1, 1), (1,)), ((1, 3), (3,)), ((4, 2, 5), (5,)), ((2, 3, 4, 5), (4, 5)), ((7,), (7,)),
             ((3, 1, 2), (1, 2))]
# (T, N, E, heads, F): T = 1, one head, odd head sizes (3, 5), head size 1.
BLOCK_SHAPES = [(1, 1, 3, 1, 5), (1, 2, 4, 2, 3), (5, 1, 6, 2, 7), (4, 2, 15, 3, 8), (3, 3, 4, 4, 1)]


def _random_block(rng, e, heads, f):
    params = init_block_params(e, heads, f, rng)
    for name in params:  # move every parameter off its initial value so each gradient is exercised
        params[name] = params[name] + 0.2 * rng.normal(size=params[name].shape)
    return params


def _layer_norm(normalized, eps=1e-5):
    """Scratch layer norm as a pair over (x, weight, bias) (None for no affine), and F.layer_norm."""

    def forward(x, weight, bias):
        return layer_norm_forward(x, normalized, weight, bias, eps=eps)

    def twin(x, weight, bias):
        return F.layer_norm(x, normalized, weight, bias, eps=eps)

    return forward, layer_norm_backward, twin


def _block(params, heads):
    """The scratch block as a pair over (x, *parameters in BLOCK_PARAM_NAMES' order), and its torch twin."""
    twin = torch_block_like(params, heads)

    def forward(x, *ps):
        return transformer_block_forward(x, dict(zip(BLOCK_PARAM_NAMES, ps)), heads)

    def backward(dout, cache):
        dx, grads = transformer_block_backward(dout, cache)
        return (dx, *(grads[name] for name in BLOCK_PARAM_NAMES))

    def twin_fn(x, *ps):
        mask = torch.from_numpy(causal_float_mask(x.shape[0]))
        return functional_call(twin, dict(zip(BLOCK_PARAM_NAMES, ps)), (x,), {"src_mask": mask, "is_causal": True})

    return forward, backward, twin_fn


# ----------------------------------------------------------------------------- layer norm


@pytest.mark.parametrize("shape, normalized", LN_SHAPES)
def test_layer_norm_matches_torch(shape, normalized):
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = rng.normal(size=shape) * 3 + 1
    weight, bias = rng.normal(size=normalized), rng.normal(size=normalized)
    assert_pairs_close(layer_norm_pairs(x, weight, bias, seed=1))
    check_op(*_layer_norm(normalized), inputs=[x, weight, bias], rng=rng)


def test_layer_norm_without_affine_matches_torch():
    rng = np.random.default_rng(2)
    result = check_op(*_layer_norm((6,), eps=1e-3), [(3, 4, 6), None, None], rng=rng)
    assert result.grads[1] is None and result.grads[2] is None


def test_layer_norm_normalises_each_example_over_its_features():
    x = np.random.default_rng(3).normal(size=(5, 8)) * 4 + 2
    out, _ = layer_norm_forward(x, 8)
    assert np.allclose(out.mean(axis=1), 0) and np.allclose(out.std(axis=1), 1, atol=1e-5)
    one, _ = layer_norm_forward(x[:1], 8)  # a batch of one: the same answer (unlike batch norm)
    assert np.allclose(one, out[:1])


@pytest.mark.parametrize("shape, normalized", [((3, 4), (4,)), ((2, 3, 2), (3, 2))])
def test_layer_norm_backward_matches_numeric_gradients(shape, normalized):
    rng = np.random.default_rng(4)
    check_op(*_layer_norm(normalized), [shape, normalized, normalized], rng=rng)


# ----------------------------------------------------------------------------- positions


@pytest.mark.parametrize("e", [1, 2, 7, 16])
def test_sinusoidal_encoding(e):
    pe = sinusoidal_positional_encoding(50, e)
    assert pe.shape == (50, e) and np.all(np.abs(pe) <= 1)
    assert np.allclose(pe[0, 0::2], 0) and np.allclose(pe[0, 1::2], 1)
    i = np.arange(0, e, 2)
    assert np.allclose(pe[:, 0::2], np.sin(np.arange(50)[:, None] / 10000 ** (i / e)))


def test_sinusoidal_dot_products_depend_only_on_the_offset():
    pe = sinusoidal_positional_encoding(60, 16)
    for k in (1, 3, 10):
        dots = np.sum(pe[:-k] * pe[k:], axis=1)
        assert np.allclose(dots, dots[0])


# ----------------------------------------------------------------------------- the block


@pytest.mark.parametrize("shape", BLOCK_SHAPES)
def test_block_matches_torch_encoder_layer(shape):
    t, n, e, heads, f = shape
    rng = np.random.default_rng(sum(shape))
    pairs = block_pairs(_random_block(rng, e, heads, f), rng.normal(size=(t, n, e)), heads, seed=t)
    assert set(pairs) == {"out", "dx", *BLOCK_PARAM_NAMES}
    assert_pairs_close(pairs)


def test_block_backward_matches_numeric_gradients():
    rng = np.random.default_rng(5)
    params = _random_block(rng, 4, 2, 6)
    # the key bias's gradient is exactly 0 (see test_attention): check_op's absolute floor allows for it
    inputs = [rng.normal(size=(3, 2, 4))] + [params[name] for name in BLOCK_PARAM_NAMES]
    check_op(*_block(params, 2), inputs=inputs, rng=rng)


def test_block_is_causal():
    rng = np.random.default_rng(6)
    params = init_block_params(6, 3, 12, rng)
    x = rng.normal(size=(5, 1, 6))
    later = x.copy()
    later[3:] += 1.0  # change the last two positions
    out, cache = transformer_block_forward(x, params, 3)
    out_later, _ = transformer_block_forward(later, params, 3)
    assert np.allclose(out[:3], out_later[:3]) and not np.allclose(out[3:], out_later[3:])
    assert np.allclose(np.triu(cache["attn"]["weights"][0, 0], 1), 0)


def test_init_matches_torch_names_and_shapes():
    params = init_block_params(8, 2, 20, np.random.default_rng(0))
    twin = torch_block_like(params, 2)
    assert {k: tuple(v.shape) for k, v in twin.state_dict().items()} == {k: v.shape for k, v in params.items()}
    assert twin.norm_first and twin.self_attn.num_heads == 2


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_are_explained():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="layer_norm_forward: expected x whose last axes are normalized_shape"):
        layer_norm_forward(x, 4)
    with pytest.raises(TypeError, match="normalized_shape as an int or a tuple"):
        layer_norm_forward(x, "3")
    with pytest.raises(ValueError, match="expected weight of shape normalized_shape \\(3,\\)"):
        layer_norm_forward(x, 3, np.ones(2))
    with pytest.raises(ValueError, match="eps > 0"):
        layer_norm_forward(x, 3, eps=0.0)
    params = init_block_params(4, 2, 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="transformer_block_forward: expected x of shape \\(T, N, E\\), got shape "
                                         "\\(3, 4\\); sequences are time-major"):
        transformer_block_forward(np.ones((3, 4)), params, 2)
    broken = dict(params)
    del broken["norm2.bias"]
    with pytest.raises(ValueError, match="'norm2.bias' missing"):
        transformer_block_forward(np.ones((3, 1, 4)), broken, 2)
    with pytest.raises(ValueError, match="embed_dim \\(4\\) divisible by num_heads"):
        init_block_params(4, 3, 6)
    with pytest.raises(ValueError, match="num_positions >= 1"):
        sinusoidal_positional_encoding(0, 4)
    out, cache = layer_norm_forward(np.ones((2, 3)) + np.arange(3), 3)
    with pytest.raises(TypeError, match="layer_norm_backward: expected the cache layer_norm_forward returned"):
        layer_norm_backward(out, cache[:2])
    with pytest.raises(TypeError, match="transformer_block_backward: expected the cache"):
        transformer_block_backward(out, cache)
