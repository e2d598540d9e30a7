"""Forward/backward pairs of course_lib.scratch.layers against torch (float64) and numeric gradients."""

import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.scratch.gradcheck import check_pair
from course_lib.scratch.layers import (
    elu_backward,
    elu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    linear_backward,
    linear_forward,
    log_softmax,
    maxout_backward,
    maxout_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)

TOL = 1e-10  # max abs difference against torch in float64
GRAD_TOL = 1e-7  # max relative error against numeric gradients


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


def _torch_vjp(fn, arrays, dout):
    """Run fn on tensors made from arrays, backprop dout; return (out, [grads])."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.tensor(dout))
    return out, [t.grad for t in tensors]


# --------------------------------------------------------------------------- elementwise activations

ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward, {}, torch.sigmoid),
    "tanh": (tanh_forward, tanh_backward, {}, torch.tanh),
    "relu": (relu_forward, relu_backward, {}, F.relu),
    "leaky_relu": (
        leaky_relu_forward,
        leaky_relu_backward,
        {"negative_slope": 0.2},
        lambda x: F.leaky_relu(x, 0.2),
    ),
    "leaky_relu_default": (leaky_relu_forward, leaky_relu_backward, {}, F.leaky_relu),
    "elu": (elu_forward, elu_backward, {"alpha": 1.5}, lambda x: F.elu(x, alpha=1.5)),
    "elu_default": (elu_forward, elu_backward, {}, F.elu),
    "softmax": (softmax_forward, softmax_backward, {}, lambda x: F.softmax(x, dim=-1)),
}
ELEMENTWISE_SHAPES = [(1, 1), (1, 5), (7, 1), (3, 4), (2, 3, 5), (6,)]


@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch_and_numeric(name, shape):
    forward, backward, kwargs, twin = ACTIVATIONS[name]
    rng = np.random.default_rng(zlib.crc32(repr((name, shape)).encode()))
    x = rng.normal(scale=2.0, size=shape)
    dout = rng.normal(size=shape)
    out, cache = forward(x, **kwargs)
    (dx,) = backward(dout, cache)
    out_t, (dx_t,) = _torch_vjp(twin, [x], dout)
    assert out.shape == shape and dx.shape == shape
    assert _max_diff(out, out_t) < TOL
    assert _max_diff(dx, dx_t) < TOL
    errors = check_pair(lambda a: forward(a, **kwargs), backward, x, dout=dout)
    assert max(errors) < GRAD_TOL


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "elu_default", "leaky_relu_default"])
def test_kink_at_zero_uses_torchs_convention(name):
    forward, backward, kwargs, twin = ACTIVATIONS[name]
    x = np.array([[-1.0, 0.0, 0.0, 2.0]])
    dout = np.array([[1.0, 1.0, -3.0, 1.0]])
    out, cache = forward(x, **kwargs)
    out_t, (dx_t,) = _torch_vjp(twin, [x], dout)
    assert _max_diff(out, out_t) == 0.0
    assert _max_diff(backward(dout, cache)[0], dx_t) == 0.0


def test_extreme_inputs_do_not_overflow():
    x = np.array([[-700.0, -40.0, -1e-300, 0.0, 40.0, 800.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        s = sigmoid(x)
        e, _ = elu_forward(x)
        sm = softmax(x * 10)
        lsm = log_softmax(x * 10)
    xt = torch.tensor(x)
    assert _max_diff(s, torch.sigmoid(xt)) == 0.0
    assert np.all(s[0, :2] > 0)  # tiny, not rounded to zero
    assert _max_diff(e, F.elu(xt)) < TOL
    assert _max_diff(sm, torch.softmax(xt * 10, dim=-1)) < TOL
    assert _max_diff(lsm, torch.log_softmax(xt * 10, dim=-1)) < TOL
    assert lsm[0, 0] == pytest.approx(-15000.0)


def test_softmax_along_another_axis():
    rng = np.random.default_rng(5)
    x, dout = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    out, cache = softmax_forward(x, axis=1)
    out_t, (dx_t,) = _torch_vjp(lambda t: F.softmax(t, dim=1), [x], dout)
    assert _max_diff(out, out_t) < TOL
    assert _max_diff(softmax_backward(dout, cache)[0], dx_t) < TOL


# --------------------------------------------------------------------------- linear and maxout

LINEAR_SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 2), (4, 3, 1), (6, 9, 5)]  # (N, D, K)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n,d,k", LINEAR_SHAPES)
def test_linear_matches_torch_and_numeric(n, d, k, bias):
    rng = np.random.default_rng(n * 100 + d * 10 + k)
    x, W, dout = rng.normal(size=(n, d)), rng.normal(size=(k, d)), rng.normal(size=(n, k))
    b = rng.normal(size=k) if bias else None
    out, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(dout, cache)
    arrays = [x, W, b] if bias else [x, W]
    out_t, grads_t = _torch_vjp(F.linear, arrays, dout)
    grads_t = grads_t + [None] * (3 - len(grads_t))
    assert out.shape == (n, k)
    assert _max_diff(out, out_t) < TOL
    for ours, theirs in zip([dx, dW, db], grads_t):
        if theirs is None:
            assert ours is None
            continue
        assert ours.shape == theirs.shape
        assert _max_diff(ours, theirs) < TOL
    errors = check_pair(linear_forward, linear_backward, x, W, b, dout=dout)
    assert len(errors) == len(arrays) and max(errors) < GRAD_TOL


def _torch_maxout(pieces):
    def fn(x, W, b=None):
        z = F.linear(x, W, b)
        return z.view(x.shape[0], -1, pieces).max(dim=-1).values

    return fn


@pytest.mark.parametrize("n,d,k,pieces", [(1, 1, 1, 1), (1, 4, 3, 2), (5, 1, 2, 3), (6, 7, 5, 4)])
def test_maxout_matches_torch_and_numeric(n, d, k, pieces):
    rng = np.random.default_rng(n + d + k + pieces)
    x, W, b = rng.normal(size=(n, d)), rng.normal(size=(k * pieces, d)), rng.normal(size=k * pieces)
    dout = rng.normal(size=(n, k))
    out, cache = maxout_forward(x, W, b, pieces)
    grads = maxout_backward(dout, cache)
    out_t, grads_t = _torch_vjp(_torch_maxout(pieces), [x, W, b], dout)
    assert out.shape == (n, k)
    assert _max_diff(out, out_t) < TOL
    for ours, theirs in zip(grads, grads_t):
        assert _max_diff(ours, theirs) < TOL
    errors = check_pair(lambda x, W, b: maxout_forward(x, W, b, pieces), maxout_backward, x, W, b, dout=dout)
    assert max(errors) < GRAD_TOL


def test_maxout_layout_is_unit_major():
    x = np.array([[1.0]])
    W = np.array([[1.0], [5.0], [3.0], [2.0]])  # unit 0: pieces 1, 5; unit 1: pieces 3, 2
    out, _ = maxout_forward(x, W, None, pieces=2)
    assert out.tolist() == [[5.0, 3.0]]
    _, dW, db = maxout_backward(np.array([[1.0, 10.0]]), _)
    assert dW.ravel().tolist() == [0.0, 1.0, 10.0, 0.0] and db is None


# --------------------------------------------------------------------------- errors that teach


def test_linear_bad_inputs():
    W, b = np.ones((3, 4)), np.ones(3)
    with pytest.raises(
        ValueError,
        match=r"linear_forward: expected x of shape \(N, D\), got shape \(4,\); "
        r"pass a batch, e.g. x\[None\]",
    ):
        linear_forward(np.ones(4), W, b)
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 4\); flatten each example"):
        linear_forward(np.ones((2, 2, 4)), W, b)
    with pytest.raises(
        ValueError,
        match=r"expected W of shape \(K, 5\) to match x's 5 features, got shape \(3, 4\)"
        r"; W is \(out_features, in_features\)",
    ):
        linear_forward(np.ones((2, 5)), W, b)
    with pytest.raises(ValueError, match=r"expected b of shape \(3,\), got shape \(4,\)"):
        linear_forward(np.ones((2, 4)), W, np.ones(4))
    with pytest.raises(TypeError, match=r"expected x with a floating dtype, got dtype int64; cast it"):
        linear_forward(np.ones((2, 4), dtype=np.int64), W, b)
    with pytest.raises(TypeError, match=r"expected x to be a numpy.ndarray, got list"):
        linear_forward([[1.0, 2.0, 3.0, 4.0]], W, b)
    with pytest.raises(ValueError, match=r"expected finite values in x, got NaN or inf"):
        linear_forward(np.full((2, 4), np.nan), W, b)
    with pytest.raises(ValueError, match=r"expected a non-empty x, got shape \(0, 4\)"):
        linear_forward(np.ones((0, 4)), W, b)
    _, cache = linear_forward(np.ones((2, 4)), W, b)
    with pytest.raises(
        ValueError,
        match=r"linear_backward: expected dout of the forward output's shape \(2, 3\), "
        r"got shape \(3, 2\)",
    ):
        linear_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match=r"linear_backward: expected dout to be a numpy.ndarray, got float"):
        linear_backward(1.0, cache)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax"])
def test_activation_bad_inputs(name):
    forward, backward, kwargs, _ = ACTIVATIONS[name]
    with pytest.raises(TypeError, match=f"{name}_forward: expected x with a floating dtype, got dtype int64"):
        forward(np.ones(3, dtype=np.int64), **kwargs)
    with pytest.raises(
        TypeError, match=r"got Tensor; this is NumPy code; pass x.detach\(\).cpu\(\).numpy\(\)"
    ):
        forward(torch.ones(3), **kwargs)
    _, cache = forward(np.ones((2, 3)), **kwargs)
    with pytest.raises(
        ValueError,
        match=rf"{name}_backward: expected dout of the forward output's shape \(2, 3\), "
        r"got shape \(3, 2\)",
    ):
        backward(np.ones((3, 2)), cache)


def test_hyperparameter_and_maxout_bad_inputs():
    x = np.ones((2, 3))
    with pytest.raises(
        TypeError, match=r"leaky_relu_forward: expected negative_slope to be a number, got str"
    ):
        leaky_relu_forward(x, "0.1")
    with pytest.raises(ValueError, match=r"elu_forward: expected a finite alpha, got inf"):
        elu_forward(x, float("inf"))
    with pytest.raises(ValueError, match=r"softmax_forward: expected axis <= 1, got 2"):
        softmax_forward(x, axis=2)
    with pytest.raises(
        ValueError,
        match=r"maxout_forward: expected W with a multiple of pieces=2 rows, "
        r"got shape \(5, 3\)",
    ):
        maxout_forward(x, np.ones((5, 3)), None, 2)
    with pytest.raises(ValueError, match=r"maxout_forward: expected pieces >= 1, got 0"):
        maxout_forward(x, np.ones((4, 3)), None, 0)
    with pytest.raises(TypeError, match=r"maxout_forward: expected pieces to be an int, got float 2.0"):
        maxout_forward(x, np.ones((4, 3)), None, 2.0)
    _, cache = maxout_forward(x, np.ones((4, 3)), None, 2)
    with pytest.raises(
        ValueError, match=r"maxout_backward: expected dout of the forward output's shape \(2, 2\)"
    ):
        maxout_backward(np.ones((2, 4)), cache)
