"""Chapter 5: scratch convolution and pooling against torch, numeric gradients and the papers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_module_twin, check_op, max_diff

from course_lib.scratch import cnn, conv
from course_lib.scratch.modules import Linear, ReLU, Sequential
from course_lib.twins import conv as twins

# (N, C, H, W), (F, KH, KW), stride, padding: awkward on purpose
CONV_CASES = [
    ((1, 1, 5, 5), (1, 3, 3), 1, 0),
    ((2, 3, 7, 9), (4, 3, 2), 1, 1),
    ((2, 3, 7, 9), (4, 3, 2), 2, 1),
    ((3, 1, 9, 6), (2, 3, 2), (2, 1), (2, 0)),
    ((1, 3, 8, 7), (5, 1, 3), (1, 2), (0, 1)),
    ((2, 2, 6, 6), (3, 5, 5), 3, 2),
    ((1, 3, 4, 4), (2, 1, 1), 1, 0),
]


def conv_case(shape, fshape, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    weight = rng.standard_normal((fshape[0], shape[1], fshape[1], fshape[2]))
    b = rng.standard_normal(fshape[0]) if bias else None
    return rng, x, weight, b


# ----------------------------------------------------------------------------- conv2d


@pytest.mark.parametrize("shape, fshape, stride, padding", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(shape, fshape, stride, padding, bias):
    _, x, weight, b = conv_case(shape, fshape, bias=bias)
    result = check_op(conv.conv2d_forward, conv.conv2d_backward, _torch_conv2d,
                      inputs=[x, weight, b], extra=(stride, padding))
    assert (result.grads[2] is None) is not bias


def _torch_conv2d(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


@pytest.mark.parametrize("shape, fshape, stride, padding", CONV_CASES[:5])
def test_naive_and_vectorised_conv2d_agree(shape, fshape, stride, padding):
    rng, x, weight, b = conv_case(shape, fshape, seed=1)
    out, cache = conv.conv2d_forward(x, weight, b, stride, padding)
    out_naive, cache_naive = conv.conv2d_forward_naive(x, weight, b, stride, padding)
    assert_close(out, out_naive, "out")
    dout = rng.standard_normal(out.shape)
    for fast, slow in zip(conv.conv2d_backward(dout, cache), conv.conv2d_backward_naive(dout, cache_naive)):
        assert_close(fast, slow, "gradient")


@pytest.mark.parametrize("forward, backward", [
    (conv.conv2d_forward, conv.conv2d_backward),
    (conv.conv2d_forward_naive, conv.conv2d_backward_naive),
])
def test_conv2d_numeric_gradients(forward, backward):
    _, x, weight, b = conv_case((2, 2, 5, 4), (3, 3, 2), seed=2)
    check_op(forward, backward, _torch_conv2d, inputs=[x, weight, b], extra=((2, 1), (1, 0)))


def test_conv2d_keeps_float32():
    rng, x, weight, b = conv_case((2, 3, 6, 6), (4, 3, 3))
    x32, weight32, b32 = (a.astype(np.float32) for a in (x, weight, b))
    out, cache = conv.conv2d_forward(x32, weight32, b32, 1, 1)
    dx, dweight, dbias = conv.conv2d_backward(np.ones(out.shape, np.float32), cache)
    assert {out.dtype, dx.dtype, dweight.dtype, dbias.dtype} == {np.dtype(np.float32)}
    assert max_diff(out, conv.conv2d_forward(x, weight, b, 1, 1)[0]) < 1e-4  # float32 rounding


@pytest.mark.parametrize("shape, fshape, stride, padding", CONV_CASES[1:4])
def test_im2col_col2im_match_unfold_fold(shape, fshape, stride, padding):
    rng, x, _, _ = conv_case(shape, fshape)
    kernel = fshape[1:]
    cols = conv.im2col(x, kernel, stride, padding)
    cols_t = F.unfold(torch.tensor(x), kernel, stride=stride, padding=padding)
    assert_close(cols, cols_t, "cols", tol=0.0)
    dcols = rng.standard_normal(cols.shape)
    image = conv.col2im(dcols, x.shape, kernel, stride, padding)
    image_t = F.fold(torch.tensor(dcols), shape[2:], kernel, stride=stride, padding=padding)
    assert_close(image, image_t, "image")


def test_conv_output_size_matches_torch():
    checked = 0
    for size in (1, 4, 5, 7, 32):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    if kernel > size + 2 * padding:
                        continue
                    x = torch.empty(1, 1, size, size + 1, device="meta")
                    w = torch.empty(1, 1, kernel, kernel, device="meta")
                    out = F.conv2d(x, w, stride=stride, padding=padding)
                    assert conv.conv_output_size(size, kernel, stride, padding) == out.shape[2]
                    assert conv.conv_output_size(size + 1, kernel, stride, padding) == out.shape[3]
                    checked += 1
    assert checked > 100
    # the slides' examples: 32x32 input, 5x5 kernel, stride 1, pad 1 -> 30; 7x7, 3x3, pad 1 -> 7
    assert conv.conv_output_size(32, 5, 1, 0) == 28
    assert conv.conv_output_size(7, 3, 1, 1) == 7
    assert conv.conv_output_size(7, 3, 2, 0) == 3


# ----------------------------------------------------------------------------- pooling

POOL_CASES = [
    ((2, 3, 6, 6), 2, None),
    ((1, 1, 7, 9), 3, 2),
    ((2, 2, 7, 8), (3, 2), (1, 2)),
    ((1, 2, 5, 5), 2, 1),
    ((2, 1, 9, 4), (2, 3), 3),
]


POOLS = {
    "max": (conv.maxpool2d_forward, conv.maxpool2d_backward, F.max_pool2d),
    "avg": (conv.avgpool2d_forward, conv.avgpool2d_backward, F.avg_pool2d),
}


@pytest.mark.parametrize("shape, kernel, stride", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(shape, kernel, stride, kind):
    forward, backward, torch_pool = POOLS[kind]
    result = check_op(forward, backward, torch_pool, [shape], extra=(kernel, stride), rng=np.random.default_rng(3))
    assert result.grads[0].shape == shape


def test_maxpool_tie_sends_gradient_to_first_maximum():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 2:] = 5.0  # second window: two equal maxima, on its bottom row
    out, cache = conv.maxpool2d_forward(x, 2)
    dx = conv.maxpool2d_backward(np.ones(out.shape), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0] = 1.0  # all-zero window: its first element
    expected[0, 0, 1, 2] = 1.0  # first of the two fives in row-major order
    assert np.array_equal(dx, expected)


# ----------------------------------------------------------------------------- teaching functions


def test_conv1d_naive_matches_numpy_and_torch():
    rng = np.random.default_rng(4)
    signal, kernel = rng.standard_normal(11), rng.standard_normal(4)
    out = conv.conv1d_naive(signal, kernel)
    assert_close(out, np.correlate(signal, kernel, "valid"), "numpy")
    out_t = F.conv1d(torch.tensor(signal)[None, None], torch.tensor(kernel)[None, None])[0, 0]
    assert_close(out, out_t, "torch")
    with pytest.raises(ValueError, match=r"conv1d_naive: expected a kernel no longer than the signal, "
                                         r"got K=4 > T=3"):
        conv.conv1d_naive(signal[:3], kernel)


def test_correlate2d_matches_torch_on_an_integer_photo():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(9, 12)).astype(np.uint8)
    sobel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    image_t = torch.tensor(image, dtype=torch.float64)[None, None]
    for padding, torch_padding in (("same", 1), ("valid", 0), (2, 2), ((0, 1), (0, 1))):
        out = conv.correlate2d(image, sobel, padding=padding)
        out_t = F.conv2d(image_t, torch.tensor(sobel)[None, None], padding=torch_padding)[0, 0]
        assert_close(out, out_t, f"padding={padding!r}")
    assert conv.correlate2d(image, sobel, padding="same").shape == image.shape
    with pytest.raises(ValueError, match=r"odd kernel sizes for padding='same'"):
        conv.correlate2d(image, np.ones((2, 2)), padding="same")
    with pytest.raises(ValueError, match=r"expected image of shape \(H, W\), got shape \(9, 12, 3\); "
                                         r"pass one channel"):
        conv.correlate2d(np.zeros((9, 12, 3)), sobel)


# ----------------------------------------------------------------------------- errors that teach


def test_errors_name_what_was_expected_and_how_to_fix_it():
    x = np.zeros((2, 3, 6, 4))
    weight = np.zeros((5, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_forward: expected x of shape \(N, C, H, W\), "
                                         r"got shape \(3, 6, 4\); pass a batch, e.g. x\[None\]"):
        conv.conv2d_forward(x[0], weight, None)
    with pytest.raises(ValueError, match=r"x has C=1 channels but weight expects 3"):
        conv.conv2d_forward(np.zeros((2, 1, 6, 4)), weight, None)
    with pytest.raises(ValueError, match=r"got KW=5 > W\+2\*padding=4 \(W=4, padding=0\); use padding>=1"):
        conv.conv2d_forward(x, np.zeros((5, 3, 3, 5)), None)
    with pytest.raises(ValueError, match=r"got KH=9 > H\+2\*padding=8 \(H=6, padding=1\); use padding>=2"):
        conv.conv2d_forward_naive(x, np.zeros((5, 3, 9, 1)), None, padding=1)
    with pytest.raises(ValueError, match=r"conv2d_forward: expected stride >= 1, got 0"):
        conv.conv2d_forward(x, weight, None, stride=0)
    with pytest.raises(ValueError, match=r"expected stride >= 1, got \(2, -1\)"):
        conv.im2col(x, 3, stride=(2, -1))
    with pytest.raises(ValueError, match=r"expected padding >= 0, got -1"):
        conv.conv2d_forward(x, weight, None, padding=-1)
    with pytest.raises(TypeError, match=r"stride to be an int or a pair of ints \(h, w\), got float 1.5"):
        conv.conv2d_forward(x, weight, None, stride=1.5)
    with pytest.raises(TypeError, match=r"expected x with a floating dtype, got dtype int64; cast it"):
        conv.conv2d_forward(np.zeros((2, 3, 6, 4), dtype=np.int64), weight, None)
    with pytest.raises(TypeError, match=r"pass x.detach\(\).cpu\(\).numpy\(\)"):
        conv.conv2d_forward(torch.zeros(2, 3, 6, 4), weight, None)
    with pytest.raises(ValueError, match=r"expected bias of shape \(5\), got shape \(3,\)"):
        conv.conv2d_forward(x, weight, np.zeros(3))
    with pytest.raises(ValueError, match=r"expected weight of shape \(F, C, KH, KW\), got shape \(3, 3, 3\)"):
        conv.conv2d_forward(x, weight[0], None)
    with pytest.raises(ValueError, match=r"expected finite values in x, got NaN or inf"):
        conv.conv2d_forward(np.full((2, 3, 6, 4), np.nan), weight, None)
    _, cache = conv.conv2d_forward(x, weight, None, padding=1)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected dout of the forward output's shape \(2, 5, 6,"):
        conv.conv2d_backward(np.zeros((2, 5, 4, 2)), cache)
    with pytest.raises(ValueError, match=r"maxpool2d_forward: expected a pooling window that fits the input, "
                                         r"got KW=5 > W=4"):
        conv.maxpool2d_forward(x, 5)
    _, cache = conv.avgpool2d_forward(x, 2)
    with pytest.raises(ValueError, match=r"avgpool2d_backward: expected dout of the forward output's shape \(2, 3, 3"):
        conv.avgpool2d_backward(np.zeros((2, 3, 3, 3)), cache)
    with pytest.raises(ValueError, match=r"conv_output_size: expected kernel_size <= size \+ 2\*padding, "
                                         r"got kernel_size=5 > size\+2\*padding=4"):
        conv.conv_output_size(4, 5)
    with pytest.raises(ValueError, match=r"conv_output_size: expected stride >= 1, got 0"):
        conv.conv_output_size(8, 3, stride=0)


# ----------------------------------------------------------------------------- modules


def test_conv2d_module_matches_torch_module():
    torch.manual_seed(0)
    layer_t = torch.nn.Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dtype=torch.float64)
    layer = cnn.Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), rng=np.random.default_rng(0))
    assert sorted(layer.state_dict()) == sorted(layer_t.state_dict()) == ["bias", "weight"]
    layer.load_state_dict(layer_t.state_dict())
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 5))
    dout = rng.standard_normal((2, 4, 4, 4))
    check_module_twin(layer, layer_t, x, dout)
    layer.backward(dout)  # overwrites, never accumulates
    assert_close(layer.grads["weight"], layer_t.weight.grad, "weight.grad")


def test_conv2d_module_init_matches_torch_distribution():
    layer = cnn.Conv2d(8, 64, kernel_size=3, rng=np.random.default_rng(7))
    bound = 1 / math.sqrt(8 * 3 * 3)
    torch.manual_seed(7)
    layer_t = torch.nn.Conv2d(8, 64, kernel_size=3, dtype=torch.float64)
    for name in ("weight", "bias"):
        ours, theirs = layer.params[name], getattr(layer_t, name).detach().numpy()
        assert ours.shape == theirs.shape and ours.dtype == np.float64
        assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
    # U(-b, b) has standard deviation b / sqrt(3); 4608 draws pin it within a few percent
    assert abs(layer.params["weight"].std() / (bound / math.sqrt(3)) - 1) < 0.05
    assert abs(layer_t.weight.detach().numpy().std() / (bound / math.sqrt(3)) - 1) < 0.05
    assert "bias" not in cnn.Conv2d(2, 3, 3, bias=False).params


@pytest.mark.parametrize("ours, theirs", [
    (cnn.MaxPool2d(3, stride=2), torch.nn.MaxPool2d(3, stride=2)),
    (cnn.AvgPool2d((2, 3)), torch.nn.AvgPool2d((2, 3))),
    (cnn.Flatten(), torch.nn.Flatten()),
])
def test_parameter_free_modules_match_torch(ours, theirs):
    rng = np.random.default_rng(8)
    check_module_twin(ours, theirs, rng.standard_normal((2, 3, 7, 8)), rng=rng)
    assert ours.num_parameters() == 0


def test_module_backward_before_forward_teaches():
    with pytest.raises(RuntimeError, match=r"MaxPool2d.backward: expected a forward\(x\) call first"):
        cnn.MaxPool2d(2).backward(np.zeros((1, 1, 1, 1)))


def test_small_cnn_matches_torch_end_to_end():
    rng = np.random.default_rng(9)
    model = Sequential(
        cnn.Conv2d(1, 4, 3, padding=1, rng=rng), ReLU(), cnn.MaxPool2d(2),
        cnn.Conv2d(4, 6, (3, 2), stride=(1, 2), rng=rng), ReLU(), cnn.AvgPool2d(2, stride=1),
        cnn.Flatten(), Linear(6 * 2 * 1, 3, rng=rng),
    )
    nn = torch.nn
    model_t = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), stride=(1, 2)), nn.ReLU(), nn.AvgPool2d(2, stride=1),
        nn.Flatten(), nn.Linear(6 * 2 * 1, 3),
    ).double()
    assert sorted(model.state_dict()) == sorted(model_t.state_dict())
    model_t.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((2, 1, 10, 9))  # -> 10x9 -> 5x4 -> 3x2 -> 2x1
    out = check_module_twin(model, model_t, x, rng=rng)
    assert out.shape == (2, 3)


# ----------------------------------------------------------------------------- the torch twins


def test_twins_agree_with_scratch():
    rng, x, weight, b = conv_case((2, 3, 7, 6), (4, 3, 2))
    out, cache = conv.conv2d_forward(x, weight, b, (2, 1), 1)
    dout = rng.standard_normal(out.shape)
    out_t, grads_t = twins.conv2d(x, weight, b, stride=(2, 1), padding=1, dout=dout)
    assert_close(out, out_t, "out")
    for ours, theirs in zip(conv.conv2d_backward(dout, cache), grads_t):
        assert_close(ours, theirs, "gradient")
    assert twins.conv2d(x, weight)[1] is None
    for scratch_pair, twin in (
        ((conv.maxpool2d_forward, conv.maxpool2d_backward), twins.max_pool2d),
        ((conv.avgpool2d_forward, conv.avgpool2d_backward), twins.avg_pool2d),
    ):
        out, cache = scratch_pair[0](x, 3, 2)
        dout = rng.standard_normal(out.shape)
        out_t, dx_t = twin(x, 3, 2, dout=dout)
        assert_close(out, out_t, twin.__name__)
        assert_close(scratch_pair[1](dout, cache), dx_t, twin.__name__ + " dx")


# ----------------------------------------------------------------------------- classic architectures

# VGG Table 1, written out independently of the library: (kernel size, maps) per conv, "M" = 2x2 maxpool.
_A = [(3, 64), "M", (3, 128), "M", (3, 256), (3, 256), "M", (3, 512), (3, 512), "M", (3, 512), (3, 512), "M"]
_B = [(3, 64), (3, 64), "M", (3, 128), (3, 128), "M", (3, 256), (3, 256), "M", (3, 512), (3, 512), "M",
      (3, 512), (3, 512), "M"]
_C = [(3, 64), (3, 64), "M", (3, 128), (3, 128), "M", (3, 256), (3, 256), (1, 256), "M",
      (3, 512), (3, 512), (1, 512), "M", (3, 512), (3, 512), (1, 512), "M"]
_D = [(3, 64), (3, 64), "M", (3, 128), (3, 128), "M", (3, 256), (3, 256), (3, 256), "M",
      (3, 512), (3, 512), (3, 512), "M", (3, 512), (3, 512), (3, 512), "M"]
_E = [(3, 64), (3, 64), "M", (3, 128), (3, 128), "M"] + [(3, 256)] * 4 + ["M"] + ([(3, 512)] * 4 + ["M"]) * 2
VGG_TABLE = {"A": _A, "A-LRN": _A, "B": _B, "C": _C, "D": _D, "E": _E}
PAPER_MILLIONS = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}


def conv_params(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups) * k * k + c_out


def fc_params(sizes):
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def vgg_expected(table, num_classes=1000):
    total, channels = 0, 3
    for item in table:
        if item != "M":
            total += conv_params(channels, item[1], item[0])
            channels = item[1]
    return total + fc_params([512 * 7 * 7, 4096, 4096, num_classes])


@pytest.mark.parametrize("config", list(VGG_TABLE))
def test_vgg_parameter_counts_reproduce_the_paper(config):
    model = twins.vgg(config, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    n_convs = sum(item != "M" for item in VGG_TABLE[config])
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model) == n_convs
    count = twins.count_parameters(model)
    assert count == vgg_expected(VGG_TABLE[config])
    assert round(count / 1e6) == PAPER_MILLIONS[config]
    assert twins.meta_output_shape(model, (2, 3, 224, 224)) == (2, 1000)


def test_alexnet_and_lenet_parameter_counts():
    alex_convs = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2), (384, 256, 3, 2)]
    expected = sum(conv_params(*c) for c in alex_convs) + fc_params([256 * 6 * 6, 4096, 4096, 1000])
    model = twins.alexnet(device="meta")
    assert twins.count_parameters(model) == expected
    assert 60e6 < expected < 62e6  # "60 million parameters"
    assert twins.meta_output_shape(model, (1, 3, 224, 224)) == (1, 1000)
    ungrouped = sum(conv_params(*c[:3]) for c in alex_convs) + fc_params([256 * 6 * 6, 4096, 4096, 10])
    assert twins.count_parameters(twins.alexnet(num_classes=10, grouped=False, device="meta")) == ungrouped

    lenet = [conv_params(1, 6, 5), conv_params(6, 16, 5), conv_params(16, 120, 5), fc_params([120, 84, 10])]
    model = twins.lenet5()
    assert twins.count_parameters(model) == sum(lenet)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"vgg: expected config to be one of 'A', 'A-LRN'"):
        twins.vgg("F")
