"""Numeric gradients and rel_error: checked against derivatives known in closed form."""

import numpy as np
import pytest
import torch

from course_lib.scratch.gradcheck import check_module, check_pair, numeric_gradient, rel_error
from course_lib.scratch.layers import linear_forward, tanh_forward
from course_lib.scratch.modules import Linear


def test_numeric_gradient_of_a_scalar_function():
    x = np.random.default_rng(0).normal(size=(3, 4))
    grad = numeric_gradient(lambda: np.sum(x**3), x)
    assert rel_error(grad, 3 * x**2) < 1e-7


def test_numeric_gradient_with_dout_is_a_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5))
    dout = rng.normal(size=(2, 5))
    grad = numeric_gradient(lambda: np.sin(x), x, dout)
    assert rel_error(grad, dout * np.cos(x)) < 1e-8


def test_numeric_gradient_restores_x_exactly_and_handles_0d():
    x = np.random.default_rng(2).normal(size=(4, 3))
    before = x.copy()
    numeric_gradient(lambda: np.sum(np.exp(x)), x)
    assert np.array_equal(x, before)
    s = np.array(0.7)
    assert rel_error(numeric_gradient(lambda: np.tanh(s), s), 1 - np.tanh(0.7) ** 2) < 1e-8


def test_numeric_gradient_agrees_with_torch_autograd():
    x = np.random.default_rng(3).normal(size=(3, 3))
    xt = torch.tensor(x, requires_grad=True)
    torch.logsumexp(xt, dim=1).sum().backward()
    numeric = numeric_gradient(lambda: np.sum(np.log(np.sum(np.exp(x), axis=1))), x)
    assert rel_error(numeric, xt.grad.numpy()) < 1e-8


def test_rel_error_values():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx(0.5)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1e-20]), np.array([0.0])) == pytest.approx(1e-8)  # floor of 1e-12
    assert rel_error(np.array([1, 2]), np.array([1.0, 2.0])) == 0.0


def test_check_pair_and_check_module_catch_a_wrong_backward():
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)

    def good_backward(dout, cache):
        x, W, _ = cache
        return dout @ W, dout.T @ x, dout.sum(0)

    def bad_backward(dout, cache):  # forgets the sum over the batch for db
        x, W, _ = cache
        return dout @ W, dout.T @ x, dout[0]

    assert max(check_pair(linear_forward, good_backward, x, W, b, rng=rng)) < 1e-7
    assert check_pair(linear_forward, bad_backward, x, W, b, rng=rng)[2] > 1e-2
    assert max(check_pair(tanh_forward, lambda d, c: (d * (1 - c**2),), x)) < 1e-7
    assert check_pair(tanh_forward, lambda d, c: (d * (1 - c),), x)[0] > 1e-2
    errors = check_module(Linear(4, 2, rng=rng), x, rng=rng)
    assert set(errors) == {"x", "weight", "bias"} and max(errors.values()) < 1e-7


def test_bad_inputs():
    x = np.ones((2, 2))
    with pytest.raises(TypeError, match="numeric_gradient: expected f to be a function"):
        numeric_gradient(3.0, x)
    with pytest.raises(
        TypeError, match="numeric_gradient: expected x with a floating dtype, got dtype int64"
    ):
        numeric_gradient(lambda: 0.0, np.ones(3, dtype=np.int64))
    with pytest.raises(
        TypeError, match=r"got Tensor; this is NumPy code; pass x.detach\(\).cpu\(\).numpy\(\)"
    ):
        numeric_gradient(lambda: 0.0, torch.ones(3))
    with pytest.raises(ValueError, match=r"expected h > 0.0, got 0.0"):
        numeric_gradient(lambda: 0.0, x, h=0.0)
    with pytest.raises(
        ValueError, match=r"expected f\(\) to return a scalar when dout is None, got an array"
    ):
        numeric_gradient(lambda: x * 2, x)
    with pytest.raises(
        ValueError, match=r"expected f\(\) to return an array of dout's shape \(3,\), got shape"
    ):
        numeric_gradient(lambda: x * 2, x, np.ones(3))
    with pytest.raises(
        ValueError, match=r"rel_error: expected a and b of the same shape, got \(2,\) and \(3,\)"
    ):
        rel_error(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="rel_error: expected a to be a numpy.ndarray, got list"):
        rel_error([1.0], np.ones(1))
    with pytest.raises(TypeError, match="check_pair: expected rng to be a numpy.random.Generator"):
        check_pair(tanh_forward, None, x, rng=0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_gradient_checks_refuse_low_precision(dtype):
    # float16 once gave [1.0] for a correct sigmoid gradient: rounding, not a bug.
    from course_lib.scratch.layers import sigmoid_backward, sigmoid_forward

    x = np.ones((2, 3), dtype=dtype)
    with pytest.raises(TypeError, match=rf"check_pair: expected inputs\[0\] of dtype float64 .* {dtype.__name__}"):
        check_pair(sigmoid_forward, sigmoid_backward, x)
    with pytest.raises(TypeError, match=rf"numeric_gradient: expected x of dtype float64.*got dtype {dtype.__name__}"):
        numeric_gradient(lambda: float(np.sum(x)), x)
    with pytest.raises(TypeError, match=r"check_module: expected x of dtype float64"):
        check_module(Linear(3, 2), x)
