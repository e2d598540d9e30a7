"""Modules, optimisers, mini-batches and the twins/compare helpers, against torch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_module_numeric, check_module_twin

from course_lib.scratch.data import minibatches
from course_lib.scratch.losses import softmax_cross_entropy
from course_lib.scratch.modules import (
    ELU,
    MLP,
    Flatten,
    LeakyReLU,
    Linear,
    Maxout,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from course_lib.scratch.optim import SGD, Adam, AdamW, RMSprop
from course_lib.twins.compare import CompareRow, compare, copy_weights, format_diff
from course_lib.twins.mlp import TorchMaxout, make_torch_mlp

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout"]


# --------------------------------------------------------------------------- modules against torch twins


@pytest.mark.parametrize("sizes", [[1, 1], [3, 5, 2], [4, 1, 7, 3]], ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_matches_torch_twin(activation, sizes):
    rng = np.random.default_rng(len(sizes) + sizes[0])
    model = MLP(sizes, activation, pieces=3, rng=rng)
    twin = make_torch_mlp(sizes, activation, pieces=3)
    assert list(model.state_dict()) == list(twin.state_dict())
    copy_weights(model, twin)
    for n in (1, 5):
        x = rng.normal(size=(n, sizes[0]))
        y = rng.integers(0, sizes[-1], size=n)
        logits = model.forward(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        dx = model.backward(dlogits)
        x_t = torch.tensor(x, requires_grad=True)
        twin.zero_grad()
        logits_t = twin(x_t)
        F.cross_entropy(logits_t, torch.tensor(y)).backward()
        assert_close(logits, logits_t, "logits")
        assert_close(dx, x_t.grad, "dx")
        for name, param in twin.named_parameters():
            grad = dict((k, g) for k, _, g in model.named_parameters())[name]
            assert_close(grad, param.grad, name)
        check_module_twin(model, twin, x)  # and under a random upstream gradient
    check_module_numeric(model, rng.normal(size=(3, sizes[0])), rng=rng)


@pytest.mark.parametrize(
    "scratch,twin",
    [
        (Sigmoid(), torch.nn.Sigmoid()),
        (Tanh(), torch.nn.Tanh()),
        (ReLU(), torch.nn.ReLU()),
        (LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
        (ELU(0.7), torch.nn.ELU(0.7)),
        (Flatten(), torch.nn.Flatten()),
    ],
    ids=lambda m: type(m).__name__,
)
def test_activation_modules_match_torch(scratch, twin):
    rng = np.random.default_rng(3)
    check_module_twin(scratch, twin, rng.normal(size=(2, 3, 5)), rng=rng)
    assert scratch.params == {} and scratch.num_parameters() == 0


def test_flatten_in_a_sequential_and_state_dict_round_trip():
    rng = np.random.default_rng(4)
    model = Sequential(
        Flatten(), Linear(6, 4, rng=rng), Tanh(), Maxout(4, 3, pieces=2, rng=rng), Linear(3, 2, rng=rng)
    )
    twin = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(6, 4, dtype=torch.float64),
        torch.nn.Tanh(),
        TorchMaxout(4, 3, pieces=2),
        torch.nn.Linear(3, 2, dtype=torch.float64),
    )
    copy_weights(model, twin, direction="to_torch")
    x = rng.normal(size=(8, 2, 3))
    check_module_twin(model, twin, x, rng=rng)
    check_module_numeric(model, x, rng=rng)
    # and back: scratch takes the torch weights
    fresh = Sequential(Flatten(), Linear(6, 4), Tanh(), Maxout(4, 3, pieces=2), Linear(3, 2))
    copy_weights(fresh, twin, direction="to_scratch")
    assert_close(fresh.forward(x), twin(torch.tensor(x)), "out")
    fresh.load_state_dict(twin.state_dict())
    assert model.num_parameters() == sum(p.numel() for p in twin.parameters())


def test_linear_init_matches_torch_distribution_and_rng():
    a = Linear(400, 300, rng=np.random.default_rng(0))
    b = Linear(400, 300, rng=np.random.default_rng(0))
    assert np.array_equal(a.params["weight"], b.params["weight"])
    bound = 1 / np.sqrt(400)
    w = a.params["weight"]
    assert w.shape == (300, 400) and w.dtype == np.float64
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.01)  # std of U(-a, a)
    torch.manual_seed(0)
    w_t = torch.nn.Linear(400, 300).weight.detach().numpy()
    assert np.std(w_t) == pytest.approx(np.std(w), rel=0.01)
    assert "bias" not in Linear(3, 2, bias=False).params
    # rng=None draws its seed from NumPy's global state, which course_lib.device.setup seeds
    saved = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(7)  # noqa: NPY002
        c = Linear(3, 2)
        np.random.seed(7)  # noqa: NPY002
        assert np.array_equal(Linear(3, 2).params["weight"], c.params["weight"])
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def test_grads_are_overwritten_in_place_not_accumulated():
    rng = np.random.default_rng(5)
    layer = Linear(3, 2, rng=rng)
    grad_array = layer.grads["weight"]
    x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer.forward(x)
    layer.backward(dout)
    first = grad_array.copy()
    layer.backward(dout)
    assert layer.grads["weight"] is grad_array
    assert np.allclose(grad_array, first)
    layer.zero_grad()
    assert not grad_array.any()


def test_module_errors():
    with pytest.raises(
        RuntimeError,
        match=r"Linear.backward: expected a forward\(x\) call first, "
        r"got no cached forward pass",
    ):
        Linear(2, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="ReLU.backward: expected a forward"):
        ReLU().backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"Linear: expected in_features >= 1, got 0"):
        Linear(0, 2)
    with pytest.raises(TypeError, match=r"Linear: expected out_features to be an int, got float 2.0"):
        Linear(2, 2.0)
    with pytest.raises(
        TypeError, match=r"Linear: expected rng to be a numpy.random.Generator or None, got int"
    ):
        Linear(2, 2, rng=0)
    with pytest.raises(
        TypeError,
        match=r"Sequential: expected module 1 to be a course_lib Module, got Linear; "
        r"use the torch twin",
    ):
        Sequential(ReLU(), torch.nn.Linear(2, 2))
    with pytest.raises(
        ValueError, match=r"MLP: expected activation to be one of 'sigmoid', .*'maxout', got 'gelu'"
    ):
        MLP([2, 3], "gelu")
    with pytest.raises(ValueError, match=r"MLP: expected sizes as a list .* of length >= 2, got \[3\]"):
        MLP([3])
    with pytest.raises(
        ValueError, match=r"Flatten.forward: expected x of shape \(N, ...\) with at least 2 axes"
    ):
        Flatten().forward(np.ones(3))
    with pytest.raises(ValueError, match=r"Maxout: expected pieces >= 1, got 0"):
        Maxout(2, 2, pieces=0)
    layer = Linear(3, 2)
    layer.forward(np.ones((4, 3)))
    with pytest.raises(
        ValueError, match=r"Linear.backward: expected dout of the forward output's shape \(4, 2\)"
    ):
        layer.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"load_state_dict: expected keys \['bias', 'weight'\]"):
        layer.load_state_dict({"weight": np.ones((2, 3))})


def test_repr_matches_torch_style():
    model = MLP([4, 3, 2], "leaky_relu", rng=np.random.default_rng(0))
    assert repr(model) == (
        "MLP(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (1): LeakyReLU(negative_slope=0.01)\n  (2): Linear(in_features=3, out_features=2, bias=True)\n)"
    )
    assert len(model) == 3 and isinstance(model[1], LeakyReLU)


# --------------------------------------------------------------------------- optimisers against torch.optim

OPTIMISERS = {
    "sgd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "sgd_momentum": (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "sgd_momentum_dampening_wd": (
        SGD,
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2},
    ),
    "sgd_nesterov_wd": (
        SGD,
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    ),
    "rmsprop": (RMSprop, torch.optim.RMSprop, {"lr": 1e-2}),
    "rmsprop_centered_momentum_wd": (
        RMSprop,
        torch.optim.RMSprop,
        {"lr": 1e-3, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 1e-2},
    ),
    "adam": (Adam, torch.optim.Adam, {"lr": 1e-2}),
    "adam_wd_amsgrad": (
        Adam,
        torch.optim.Adam,
        {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True},
    ),
    "adamw": (AdamW, torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
    "adam_decoupled": (Adam, torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.05}),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_optimiser_matches_torch_over_many_steps(name):
    ours_cls, torch_cls, kwargs = OPTIMISERS[name]
    rng = np.random.default_rng(6)
    model = MLP([5, 4, 3], "tanh", rng=rng)
    twin = make_torch_mlp([5, 4, 3], "tanh")
    copy_weights(model, twin)
    extra = {"decoupled_weight_decay": True} if name == "adam_decoupled" else {}
    opt = ours_cls(model, **kwargs, **extra)
    opt_t = torch_cls(twin.parameters(), foreach=False, **kwargs)
    for _ in range(25):  # a fresh mini-batch each step, as in training
        x = rng.normal(size=(8, 5))
        y = rng.integers(0, 3, size=8)
        opt.zero_grad()
        model.backward(softmax_cross_entropy(model.forward(x), y)[1])
        opt.step()
        opt_t.zero_grad()
        F.cross_entropy(twin(torch.tensor(x)), torch.tensor(y)).backward()
        opt_t.step()
    for key, param, _ in model.named_parameters():
        param_t = dict(twin.named_parameters())[key]
        assert_close(param, param_t, key)
    start = MLP([5, 4, 3], "tanh", rng=np.random.default_rng(6)).state_dict()["0.weight"]
    assert np.abs(model.state_dict()["0.weight"] - start).max() > 1e-3  # the test can fail: weights moved


def test_optimiser_on_param_grad_pairs_and_zero_grad():
    rng = np.random.default_rng(8)
    layer = Linear(3, 2, rng=rng)
    pairs = [(layer.params["weight"], layer.grads["weight"]), (layer.params["bias"], layer.grads["bias"])]
    opt = SGD(pairs, lr=0.5)
    before = layer.params["weight"].copy()
    layer.forward(rng.normal(size=(4, 3)))
    layer.backward(np.ones((4, 2)))
    expected = before - 0.5 * layer.grads["weight"]
    opt.step()
    assert np.allclose(layer.params["weight"], expected)
    opt.zero_grad()
    assert not layer.grads["weight"].any() and not layer.grads["bias"].any()
    opt.step()  # zero gradients: plain SGD leaves the weights alone
    assert np.allclose(layer.params["weight"], expected)
    assert repr(opt) == "SGD(lr=0.5, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)"


def test_optimiser_errors():
    model = Linear(2, 2)
    with pytest.raises(ValueError, match=r"SGD: expected lr >= 0.0, got -0.1"):
        SGD(model, lr=-0.1)
    with pytest.raises(
        ValueError, match=r"SGD: expected momentum > 0 and dampening = 0 for Nesterov momentum"
    ):
        SGD(model, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Adam: expected betas as a pair \(beta1, beta2\), got 0.9"):
        Adam(model, betas=0.9)
    with pytest.raises(ValueError, match=r"Adam: expected betas\[1\] <= 1.0, got 1.5"):
        Adam(model, betas=(0.9, 1.5))
    with pytest.raises(
        TypeError,
        match=r"RMSprop: expected a Module or a list of \(param, grad\) array pairs, "
        r"got int",
    ):
        RMSprop(3)
    with pytest.raises(
        TypeError,
        match=r"SGD: expected item 0 to be a \(param, grad\) pair of numpy arrays, "
        r"got Parameter; or pass the Module itself",
    ):
        SGD(list(torch.nn.Linear(2, 2).parameters()), lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: expected at least one parameter, got none"):
        Adam(ReLU())
    bad = SGD([(np.zeros(3), np.zeros(2))], lr=0.1)
    with pytest.raises(
        ValueError, match=r"SGD.step: expected the gradient of 0 in shape \(3,\), got shape \(2,\)"
    ):
        bad.step()


# --------------------------------------------------------------------------- mini-batches


def test_minibatches_cover_every_example_once():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    batches = list(minibatches(X, y, 3, rng=np.random.default_rng(0)))
    assert [len(xb) for xb, _ in batches] == [3, 3, 3, 1]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for xb, yb in batches:
        assert np.array_equal(xb, X[yb])  # rows stay paired with their labels
    again = list(minibatches(X, y, 3, rng=np.random.default_rng(0)))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, again))


def test_minibatches_without_shuffle_are_views_and_drop_last():
    X, y = np.zeros((7, 2)), np.arange(7)
    batches = list(minibatches(X, y, 2, shuffle=False, drop_last=True))
    assert [yb.tolist() for _, yb in batches] == [[0, 1], [2, 3], [4, 5]]
    assert all(np.shares_memory(xb, X) for xb, _ in batches)
    assert [xb.shape for xb, yb in minibatches(X, None, 5, shuffle=False)] == [(5, 2), (2, 2)]
    assert all(yb is None for _, yb in minibatches(X, None, 5))


def test_minibatches_errors_raise_at_call_time():
    X, y = np.zeros((4, 2)), np.arange(4)
    with pytest.raises(
        ValueError, match=r"minibatches: expected X and y with the same number of rows, got 4 and 3"
    ):
        minibatches(X, y[:3], 2)
    with pytest.raises(ValueError, match=r"minibatches: expected batch_size >= 1, got 0"):
        minibatches(X, y, 0)
    with pytest.raises(TypeError, match=r"minibatches: expected batch_size to be an int, got float 2.0"):
        minibatches(X, y, 2.0)
    with pytest.raises(ValueError, match=r"expected batch_size <= N = 4 when drop_last=True, got 5"):
        minibatches(X, y, 5, drop_last=True)
    with pytest.raises(
        TypeError, match=r"minibatches: expected rng to be a numpy.random.Generator or None, got int"
    ):
        minibatches(X, y, 2, rng=3)
    with pytest.raises(TypeError, match=r"minibatches: expected X to be a numpy.ndarray, got list"):
        minibatches([[1.0]], y, 2)
    with pytest.raises(
        TypeError, match=r"expected shuffle and drop_last to be True or False, got str and bool"
    ):
        minibatches(X, y, 2, shuffle="yes")


# --------------------------------------------------------------------------- compare and copy_weights


def test_compare_rows_and_printed_lines(capsys):
    a = np.array([1.0, 2.0])
    row = compare(a, torch.tensor(a + 1e-15), "same")
    assert row[:2] == CompareRow("same", True, 0.0)[:2] and row.max_abs_diff == pytest.approx(1e-15, abs=1e-15)
    rows = compare({"loss": (0.5, torch.tensor(0.5)), "far": (a, a + 3.4e-5)})
    assert [r.allclose for r in rows] == [True, False]
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "same                   allclose=True   max|diff|=< 1e-12",
        "loss                   allclose=True   max|diff|=< 1e-12",
        "far                    allclose=False  max|diff|=3.4e-05",
    ]
    assert format_diff(1.23456e-16) == "< 1e-12" and format_diff(1.26e-7) == "1.3e-07"
    assert format_diff(float("nan")) == "nan" and format_diff(12345.0) == "1.2e+04"
    compare(a, a, "quiet", verbose=False)
    assert capsys.readouterr().out == ""


def test_compare_and_copy_weights_errors():
    with pytest.raises(
        ValueError,
        match=r"compare: expected x with the same shape on both sides, "
        r"got \(2,\) and \(2, 1\); reshape one of them",
    ):
        compare(np.zeros(2), np.zeros((2, 1)), "x")
    with pytest.raises(
        TypeError,
        match=r"compare: expected w.grad \(torch\) to be a numpy array, torch tensor "
        r"or number, got NoneType; did backward run",
    ):
        compare(np.zeros(2), None, "w.grad")
    with pytest.raises(
        TypeError, match=r"compare: expected a name \(str\) as the third argument, got NoneType"
    ):
        compare(np.zeros(2), np.zeros(2))
    model = MLP([3, 2], "relu")
    with pytest.raises(ValueError, match=r"copy_weights: expected the same parameter names on both sides"):
        copy_weights(model, make_torch_mlp([3, 4, 2], "relu"))
    with pytest.raises(
        ValueError,
        match=r"copy_weights: expected 0.weight of shape \(4, 3\) on both sides, "
        r"got scratch shape \(2, 3\)",
    ):
        copy_weights(model, make_torch_mlp([3, 4], "relu"))
    with pytest.raises(
        TypeError,
        match=r"copy_weights: expected float64 torch parameters .*call "
        r"torch_module.double\(\) first",
    ):
        copy_weights(model, make_torch_mlp([3, 2], "relu", dtype=torch.float32))
    with pytest.raises(
        TypeError,
        match=r"copy_weights: expected torch_module to be a torch.nn.Module, got MLP; "
        r"pass \(scratch_module, torch_module\) in that order",
    ):
        copy_weights(model, model)
    with pytest.raises(
        ValueError, match=r"copy_weights: expected direction to be one of 'to_torch', 'to_scratch'"
    ):
        copy_weights(model, make_torch_mlp([3, 2], "relu"), direction="both")


def test_first_layer_can_skip_the_gradient_of_the_data():
    from course_lib.scratch.layers import linear_backward, linear_forward
    from course_lib.scratch.modules import MLP

    rng = np.random.default_rng(3)
    x, W, b = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    dout = rng.normal(size=(5, 3))
    _, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(dout, cache)
    none, dW2, db2 = linear_backward(dout, cache, need_dx=False)
    assert none is None and np.array_equal(dW, dW2) and np.array_equal(db, db2) and dx.shape == x.shape
    net = MLP([4, 6, 2], rng=np.random.default_rng(0))
    net.forward(x)
    full = net.backward(np.ones((5, 2)))
    grads = {k: g.copy() for k, _, g in net.named_parameters()}
    net.layers[0].needs_input_grad = False
    net.forward(x)
    assert net.backward(np.ones((5, 2))) is None and full.shape == x.shape
    assert all(np.array_equal(g, grads[k]) for k, _, g in net.named_parameters())
