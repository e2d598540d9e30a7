"""Forward/backward pairs of course_lib.scratch.layers against torch (float64) and numeric gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_op, rng_for

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

# --------------------------------------------------------------------------- elementwise activations

ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward, (), torch.sigmoid),
    "tanh": (tanh_forward, tanh_backward, (), torch.tanh),
    "relu": (relu_forward, relu_backward, (), F.relu),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, (0.2,), F.leaky_relu),
    "leaky_relu_default": (leaky_relu_forward, leaky_relu_backward, (), F.leaky_relu),
    "elu": (elu_forward, elu_backward, (1.5,), lambda x, alpha=1.0: F.elu(x, alpha=alpha)),
    "elu_default": (elu_forward, elu_backward, (), F.elu),
    "softmax": (softmax_forward, softmax_backward, (), lambda x: F.softmax(x, dim=-1)),
}
ELEMENTWISE_SHAPES = [(1, 1), (1, 5), (7, 1), (3, 4), (2, 3, 5), (6,)]


@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch_and_numeric(name, shape):
    forward, backward, extra, twin = ACTIVATIONS[name]
    check_op(forward, backward, twin, [shape], extra=extra, scale=2.0, rng=rng_for(name, shape))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "elu_default", "leaky_relu_default"])
def test_kink_at_zero_uses_torchs_convention(name):
    forward, backward, extra, twin = ACTIVATIONS[name]
    x = np.array([[-1.0, 0.0, 0.0, 2.0]])
    dout = np.array([[1.0, 1.0, -3.0, 1.0]])
    check_op(forward, backward, twin, inputs=[x], extra=extra, dout=dout, numeric=False, tol=0.0)


def test_extreme_inputs_do_not_overflow():
    x = np.array([[-700.0, -40.0, -1e-300, 0.0, 40.0, 800.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        s = sigmoid(x)
        e, _ = elu_forward(x)
        sm = softmax(x * 10)
        lsm = log_softmax(x * 10)
    xt = torch.tensor(x)
    assert_close(s, torch.sigmoid(xt), "sigmoid", tol=0.0)
    assert np.all(s[0, :2] > 0)  # tiny, not rounded to zero
    assert_close(e, F.elu(xt), "elu")
    assert_close(sm, torch.softmax(xt * 10, dim=-1), "softmax")
    assert_close(lsm, torch.log_softmax(xt * 10, dim=-1), "log_softmax")
    assert lsm[0, 0] == pytest.approx(-15000.0)


def test_softmax_along_another_axis():
    check_op(softmax_forward, softmax_backward, lambda t, axis: F.softmax(t, dim=axis), [(3, 4, 2)], extra=(1,))


# --------------------------------------------------------------------------- linear and maxout

LINEAR_SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 2), (4, 3, 1), (6, 9, 5)]  # (N, D, K)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n,d,k", LINEAR_SHAPES)
def test_linear_matches_torch_and_numeric(n, d, k, bias):
    result = check_op(linear_forward, linear_backward, F.linear, [(n, d), (k, d), (k,) if bias else None])
    assert result.out.shape == (n, k)
    assert (result.grads[2] is None) is not bias


def _torch_maxout(x, W, b, pieces):
    z = F.linear(x, W, b)
    return z.view(x.shape[0], -1, pieces).max(dim=-1).values


@pytest.mark.parametrize("n,d,k,pieces", [(1, 1, 1, 1), (1, 4, 3, 2), (5, 1, 2, 3), (6, 7, 5, 4)])
def test_maxout_matches_torch_and_numeric(n, d, k, pieces):
    result = check_op(maxout_forward, maxout_backward, _torch_maxout, [(n, d), (k * pieces, d), (k * pieces,)],
                      extra=(pieces,))
    assert result.out.shape == (n, k)


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
    forward, backward, extra, _ = ACTIVATIONS[name]
    with pytest.raises(TypeError, match=f"{name}_forward: expected x with a floating dtype, got dtype int64"):
        forward(np.ones(3, dtype=np.int64), *extra)
    with pytest.raises(
        TypeError, match=r"got Tensor; this is NumPy code; pass x.detach\(\).cpu\(\).numpy\(\)"
    ):
        forward(torch.ones(3), *extra)
    _, cache = forward(np.ones((2, 3)), *extra)
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
