"""Losses of course_lib.scratch.losses against torch.nn.functional (float64) and numeric gradients."""

import numpy as np
import pytest
import torch.nn.functional as F
from helpers import assert_close, check_op, rng_for, to_torch

from course_lib.scratch.losses import bce_with_logits, mse_loss, softmax_cross_entropy


def _check_loss(loss_fn, torch_fn, pred, target, numeric=True):
    """check_op for a loss ``(pred, target) -> (loss, dpred)``: a float loss, and the gradient of pred only.

    The target (class labels or float values) is data: it gets no gradient on either side.
    """
    target_t = to_torch(target)

    def forward(p):
        loss, dpred = loss_fn(p, target)
        assert isinstance(loss, float)
        return loss, dpred

    return check_op(forward, lambda dout, dpred: dout * dpred, lambda p: torch_fn(p, target_t),
                    inputs=[pred], dout=np.array(1.0), numeric=numeric)


@pytest.mark.parametrize("n,k", [(1, 1), (1, 4), (5, 2), (7, 3), (16, 10)])
def test_softmax_cross_entropy(n, k):
    rng = rng_for("softmax_cross_entropy", n, k)
    y = rng.integers(0, k, size=n)
    _check_loss(softmax_cross_entropy, F.cross_entropy, rng.normal(scale=3.0, size=(n, k)), y, numeric=False)
    # A finite difference of a scalar loss L has an absolute error near eps * |L| / h, so the elementwise
    # relative check needs entries well above 1e-6: use logits of moderate size, as at initialisation.
    _check_loss(softmax_cross_entropy, F.cross_entropy, rng.normal(scale=0.5, size=(n, k)), y)


def test_softmax_cross_entropy_accepts_int32_labels_and_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 5000.0]])
    y = np.array([1, 2], dtype=np.int32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = _check_loss(softmax_cross_entropy, F.cross_entropy, logits, y, numeric=False)
    assert result.out == pytest.approx(1000.0)  # (2000 + 0) / 2


@pytest.mark.parametrize("shape", [(1,), (1, 1), (4, 1), (3, 5), (2, 3, 4)], ids=str)
def test_mse_loss(shape):
    rng = rng_for("mse_loss", shape)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    _check_loss(mse_loss, F.mse_loss, pred, target)
    _, dpred = mse_loss(pred, target)
    assert not np.shares_memory(dpred, pred)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (6,), (4, 1), (3, 5)], ids=str)
def test_bce_with_logits(shape):
    rng = rng_for("bce_with_logits", shape)
    logits = rng.normal(scale=3.0, size=shape)
    target = rng.uniform(size=shape)  # soft targets too
    target.flat[0] = 1.0
    _check_loss(bce_with_logits, F.binary_cross_entropy_with_logits, logits, target)


def test_bce_with_logits_is_stable_for_huge_logits():
    logits = np.array([800.0, -800.0, 40.0, -40.0])
    target = np.array([0.0, 1.0, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, _ = bce_with_logits(logits, target)
        _check_loss(bce_with_logits, F.binary_cross_entropy_with_logits, logits, target, numeric=False)
    assert_close(loss, 400.0, "loss")


def test_softmax_cross_entropy_bad_inputs():
    logits = np.zeros((3, 4))
    with pytest.raises(
        ValueError,
        match=r"softmax_cross_entropy: expected y in \[0, 4\), got values from 0 to 4; "
        r"labels must be class indices",
    ):
        softmax_cross_entropy(logits, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"expected y in \[0, 4\), got values from -1 to 2"):
        softmax_cross_entropy(logits, np.array([-1, 1, 2]))
    with pytest.raises(
        TypeError,
        match=r"expected y with an integer or unsigned integer dtype, got dtype float64; "
        r"cast it, e.g. y.astype\(np.int64\)",
    ):
        softmax_cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected logits and y with the same number of rows, got 3 and 2"):
        softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"expected y of shape \(N,\), got shape \(3, 1\)"):
        softmax_cross_entropy(logits, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"expected logits of shape \(N, K\), got shape \(4,\); pass a batch"
    ):
        softmax_cross_entropy(np.zeros(4), np.array([1]))
    with pytest.raises(TypeError, match=r"expected logits with a floating dtype, got dtype int64"):
        softmax_cross_entropy(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match=r"expected y to be a numpy.ndarray, got list"):
        softmax_cross_entropy(logits, [0, 1, 2])


def test_mse_and_bce_bad_inputs():
    with pytest.raises(
        ValueError,
        match=r"mse_loss: expected target of pred's shape \(4,\), got shape \(4, 1\); "
        r"reshape one of them",
    ):
        mse_loss(np.zeros(4), np.zeros((4, 1)))
    with pytest.raises(TypeError, match=r"mse_loss: expected target with a floating dtype, got dtype int64"):
        mse_loss(np.zeros(4), np.zeros(4, dtype=np.int64))
    with pytest.raises(
        ValueError,
        match=r"bce_with_logits: expected target in \[0, 1\] .*, got values from -1 to 1; "
        r"use 0/1 labels",
    ):
        bce_with_logits(np.zeros(3), np.array([-1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"bce_with_logits: expected target of logits's shape \(3,\)"):
        bce_with_logits(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"expected finite values in logits, got NaN or inf"):
        bce_with_logits(np.array([np.inf]), np.zeros(1))
