"""Dropout and batch norm (course_lib.scratch.regularization) against torch and numeric gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_module_twin, check_op, to_torch

from course_lib.scratch.modules import Linear, ReLU, Sequential
from course_lib.scratch.regularization import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
)
from course_lib.twins.regularization import batchnorm_twin, dropout_twin, to_torch_state_dict

# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5])
def test_dropout_fixed_mask_matches_torch_formula(shape, p):
    rng = np.random.default_rng(0)
    mask = rng.random(shape) >= p
    mask_t = to_torch(mask.astype(float))
    check_op(lambda x: dropout_forward(x, p, True, mask=mask), dropout_backward,
             lambda x: x * mask_t / (1 - p), [shape], rng=rng)


def test_dropout_mask_of_floats_and_p_one():
    x = np.arange(6.0).reshape(2, 3)
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    out, _ = dropout_forward(x, 0.5, True, mask=mask)
    assert np.array_equal(out, x * mask * 2)
    out1, cache1 = dropout_forward(x, 1.0, True, rng=np.random.default_rng(0))
    assert np.array_equal(out1, F.dropout(to_torch(x), p=1.0, training=True).numpy())
    assert np.array_equal(dropout_backward(np.ones_like(x), cache1), np.zeros_like(x))


def test_dropout_eval_is_identity_like_torch():
    x = np.random.default_rng(1).normal(size=(1, 7))
    out, cache = dropout_forward(x, 0.5, False)
    assert np.array_equal(out, F.dropout(to_torch(x), p=0.5, training=False).numpy())
    dout = np.random.default_rng(2).normal(size=x.shape)
    assert np.array_equal(dropout_backward(dout, cache), dout)


def test_dropout_statistics_match_torch():
    p, n = 0.3, 200_000
    x = np.ones(n)
    ours, _ = dropout_forward(x, p, True, rng=np.random.default_rng(3))
    torch.manual_seed(3)
    theirs = F.dropout(torch.ones(n, dtype=torch.float64), p=p, training=True).numpy()
    for out in (ours, theirs):
        assert abs(np.mean(out == 0) - p) < 0.005  # zero fraction ~ p
        assert abs(out.mean() - 1.0) < 0.01  # inverted scaling keeps the mean
        assert np.allclose(np.unique(out), [0.0, 1 / (1 - p)])
    assert abs(np.mean(ours == 0) - np.mean(theirs == 0)) < 0.01


def test_dropout_same_seed_same_mask_and_numeric_gradient():
    x = np.random.default_rng(4).normal(size=(4, 3))
    a, cache = dropout_forward(x, 0.4, True, rng=np.random.default_rng(9))
    b, _ = dropout_forward(x, 0.4, True, rng=np.random.default_rng(9))
    assert np.array_equal(a, b)
    mask = cache[0] != 0
    dout = np.random.default_rng(5).normal(size=x.shape)
    check_op(lambda x: dropout_forward(x, 0.4, True, mask=mask), dropout_backward,
             lambda x: x * to_torch(mask.astype(float)) / 0.6, inputs=[x], dout=dout)
    assert_close(dropout_backward(dout, cache), dout * mask / 0.6, "dx")


def test_dropout_module_train_eval_and_twin():
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(5, 6))
    out = layer(x)
    kept = out != 0
    assert np.allclose(out[kept], x[kept] / 0.75)
    assert np.array_equal(layer.backward(np.ones_like(x)), kept / 0.75)
    layer.eval()
    assert np.array_equal(layer(x), x)
    twin = dropout_twin(layer)
    assert not twin.training and twin.p == 0.25
    assert np.array_equal(twin(to_torch(x)).numpy(), layer(x))


def test_dropout_bad_inputs():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"dropout_forward: expected p <= 1.0, got 1.5"):
        dropout_forward(x, 1.5, True)
    with pytest.raises(TypeError, match=r"expected training to be a bool, got str 'yes'"):
        dropout_forward(x, 0.5, "yes")
    with pytest.raises(
        ValueError, match=r"expected mask of shape \(2, 3\) \(the shape of x\), got shape \(3, 2\)"
    ):
        dropout_forward(x, 0.5, True, mask=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"expected mask of 0s and 1s"):
        dropout_forward(x, 0.5, True, mask=np.full((2, 3), 2.0))
    with pytest.raises(TypeError, match=r"expected rng to be a numpy.random.Generator or None, got int"):
        dropout_forward(x, 0.5, True, rng=0)
    with pytest.raises(TypeError, match=r"expected x to be a numpy.ndarray, got list"):
        dropout_forward([1.0, 2.0], 0.5, True)
    _, cache = dropout_forward(x, 0.5, True, rng=np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"dropout_backward: expected dout of the forward output's shape \(2, 3\).*got shape \(2,\)"
    ):
        dropout_backward(np.zeros(2), cache)
    with pytest.raises(RuntimeError, match=r"Dropout.backward: expected a forward call first"):
        Dropout(0.5).backward(x)


# -------------------------------------------------------------------------- batch norm


BN_SHAPES = [(4, 3), (5, 1), (2, 7), (3, 2, 5), (3, 2, 5, 4), (1, 3, 2, 3), (2, 1, 1, 1)]


def _bn_inputs(shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    running_mean, running_var = rng.normal(size=C), rng.uniform(0.5, 2.0, size=C)
    return rng, x, gamma, beta, running_mean, running_var


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_function_matches_torch(shape, training):
    rng, x, gamma, beta, rm, rv = _bn_inputs(shape, 0)
    rm_t, rv_t = to_torch(rm), to_torch(rv)
    for _ in range(3):  # running statistics after several steps
        x = rng.normal(1.0, 2.0, size=shape)
        dout = rng.normal(size=shape)
        # one step each: both sides update their running statistics in place, once
        check_op(
            lambda x, g, b: batchnorm_forward(x, g, b, rm, rv, training, momentum=0.2, eps=1e-3),
            batchnorm_backward,
            lambda x, g, b: F.batch_norm(x, rm_t, rv_t, g, b, training=training, momentum=0.2, eps=1e-3),
            inputs=[x, gamma, beta],
            dout=dout,
            numeric=False,  # the numeric gradients are test_batchnorm_numeric_gradients' (fresh statistics)
        )
        assert_close(rm, rm_t, "running_mean")
        assert_close(rv, rv_t, "running_var")


@pytest.mark.parametrize("shape", [(4, 3), (3, 1), (3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_numeric_gradients(shape, training):
    rng, x, gamma, beta, rm, rv = _bn_inputs(shape, 1)
    rm_t, rv_t = to_torch(rm), to_torch(rv)
    # fresh copies on every call: the training forward updates the running stats in place
    check_op(
        lambda x, g, b: batchnorm_forward(x, g, b, rm.copy(), rv.copy(), training),
        batchnorm_backward,
        lambda x, g, b: F.batch_norm(x, rm_t.clone(), rv_t.clone(), g, b, training=training),
        inputs=[x, gamma, beta],
        dout=rng.normal(size=shape),
    )


def test_batchnorm_eval_leaves_running_stats_alone():
    _, x, gamma, beta, rm, rv = _bn_inputs((1, 4), 2)
    before = rm.copy(), rv.copy()
    batchnorm_forward(x, gamma, beta, rm, rv, False)
    assert np.array_equal(rm, before[0]) and np.array_equal(rv, before[1])


def test_batchnorm_one_value_per_channel_in_training_fails_like_torch():
    _, x, gamma, beta, rm, rv = _bn_inputs((1, 3), 3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(*(to_torch(a) for a in (x, rm, rv, gamma, beta)), training=True)
    with pytest.raises(
        ValueError,
        match=r"batchnorm_forward: expected more than 1 value per channel when training, "
        r"got x of shape \(1, 3\); use a batch of at least 2 examples, or call eval\(\)",
    ):
        batchnorm_forward(x, gamma, beta, rm, rv, True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3)(np.zeros((1, 3, 1, 1)))


def test_batchnorm_bad_inputs():
    _, x, gamma, beta, rm, rv = _bn_inputs((4, 3), 4)
    with pytest.raises(
        ValueError, match=r"expected x of shape \(N, D\), \(N, C, L\) or \(N, C, H, W\), got shape \(3,\)"
    ):
        batchnorm_forward(x[0], gamma, beta, rm, rv, True)
    with pytest.raises(
        ValueError, match=r"expected gamma of shape \(3,\) \(one per channel of x\), got shape \(4,\)"
    ):
        batchnorm_forward(x, np.ones(4), beta, rm, rv, True)
    with pytest.raises(ValueError, match=r"expected running_var of shape \(3,\)"):
        batchnorm_forward(x, gamma, beta, rm, np.ones(2), True)
    with pytest.raises(ValueError, match=r"expected momentum <= 1.0, got 1.5"):
        batchnorm_forward(x, gamma, beta, rm, rv, True, momentum=1.5)
    with pytest.raises(ValueError, match=r"expected eps > 0.0, got 0.0"):
        batchnorm_forward(x, gamma, beta, rm, rv, True, eps=0.0)
    with pytest.raises(TypeError, match=r"expected training to be a bool, got int 1"):
        batchnorm_forward(x, gamma, beta, rm, rv, 1)
    _, cache = batchnorm_forward(x, gamma, beta, rm, rv, True)
    with pytest.raises(
        ValueError,
        match=r"batchnorm_backward: expected dout of the forward output's shape \(4, 3\).*got shape \(3, 4\)",
    ):
        batchnorm_backward(np.zeros((3, 4)), cache)
    with pytest.raises(
        ValueError, match=r"BatchNorm2d.forward: expected x of shape \(N, C, H, W\), got shape \(4, 3\)"
    ):
        BatchNorm2d(3)(x)
    with pytest.raises(
        ValueError, match=r"BatchNorm1d.forward: expected x of shape \(N, D\) or \(N, C, L\), got shape"
    ):
        BatchNorm1d(3)(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected num_features >= 1, got 0"):
        BatchNorm1d(0)
    with pytest.raises(RuntimeError, match=r"BatchNorm1d.backward: expected a forward call first"):
        BatchNorm1d(3).backward(x)


# --------------------------------------------------------------------------- modules


@pytest.mark.parametrize(
    "cls, shape",
    [(BatchNorm1d, (6, 4)), (BatchNorm1d, (3, 1)), (BatchNorm1d, (2, 3, 5)), (BatchNorm2d, (3, 2, 5, 3))],
)
def test_batchnorm_module_matches_torch_over_training_then_eval(cls, shape):
    rng = np.random.default_rng(5)
    layer = cls(shape[1], momentum=0.3)
    layer.params["weight"][...] = rng.normal(size=shape[1])
    layer.params["bias"][...] = rng.normal(size=shape[1])
    twin = batchnorm_twin(layer)
    for step in range(4):
        if step == 3:
            layer.eval()
            twin.eval()
        x = rng.normal(size=shape if step < 3 else (1,) + shape[1:])  # N = 1 in eval
        check_module_twin(layer, twin, x, rng.normal(size=x.shape))
    ours, theirs = layer.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert_close(ours[key], theirs[key], key)
    assert int(ours["num_batches_tracked"]) == 3


def test_batchnorm_state_dict_round_trip_with_torch():
    torch.manual_seed(0)
    twin = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    twin(torch.randn(4, 3, 2, 2, dtype=torch.float64) * 3 + 1)
    layer = BatchNorm2d(3)
    layer.load_state_dict(twin.state_dict())  # tensors are accepted
    for key, value in twin.state_dict().items():
        assert np.array_equal(layer.state_dict()[key], value.numpy())
    state = layer.state_dict()
    del state["num_batches_tracked"]  # optional, as in old torch checkpoints
    BatchNorm2d(3).load_state_dict(state)
    with pytest.raises(ValueError, match=r"missing \['running_var'\]"):
        BatchNorm2d(3).load_state_dict({k: v for k, v in state.items() if k != "running_var"})
    with pytest.raises(ValueError, match=r"expected running_mean of shape \(3,\), got shape \(4,\)"):
        BatchNorm2d(3).load_state_dict({**state, "running_mean": np.zeros(4)})


def test_state_dict_with_buffers_walks_a_sequential_like_torch():
    rng = np.random.default_rng(6)
    net = Sequential(
        Linear(4, 5, rng=rng), BatchNorm1d(5), ReLU(), Dropout(0.5, rng=rng), Linear(5, 2, rng=rng)
    )
    twin = torch.nn.Sequential(
        torch.nn.Linear(4, 5),
        torch.nn.BatchNorm1d(5),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(5, 2),
    ).double()
    state = net.state_dict()
    assert list(state) == list(twin.state_dict())  # "1.running_mean", "1.num_batches_tracked", ...
    assert [name for name, _ in net.named_buffers()] == [name for name, _ in twin.named_buffers()]
    twin.load_state_dict(to_torch_state_dict(state))
    net[3].p = twin[3].p = 0.0  # dropout off so both nets are deterministic in training mode
    for _ in range(2):
        check_module_twin(net, twin, rng.normal(size=(6, 4)), rng.normal(size=(6, 2)))
    net.eval()
    twin.eval()
    x = rng.normal(size=(1, 4))
    assert_close(net(x), twin(to_torch(x)), "eval output")
    back = Sequential(Linear(4, 5), BatchNorm1d(5), ReLU(), Dropout(0.5), Linear(5, 2))
    back.load_state_dict(twin.state_dict())
    for key, value in twin.state_dict().items():
        assert_close(back.state_dict()[key], value, key)
