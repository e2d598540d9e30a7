"""Initialisers (course_lib.scratch.init) against torch.nn.init's fans, gains and formulas."""

import math

import numpy as np
import pytest
import torch

from course_lib.scratch.init import (
    calculate_gain,
    compute_fans,
    kaiming_normal_,
    kaiming_uniform_,
    naive_normal_,
    xavier_normal_,
    xavier_uniform_,
)

SHAPES = [(7, 3), (1, 1), (3, 1), (16, 3, 5, 5), (4, 2, 3), (8, 3, 1, 7)]
# Large arrays for the empirical checks: a Linear (out, in) and a conv (F, C, KH, KW) weight.
BIG = [(300, 200), (64, 16, 5, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert compute_fans(np.empty(shape)) == tuple(expected)


@pytest.mark.parametrize(
    "nonlinearity, param",
    [
        ("linear", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("conv2d", None),
    ],
)
def test_gains_equal_torch(nonlinearity, param):
    assert calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


def torch_std(kind, shape, **kw):
    """The standard deviation torch.nn.init's formulas give, from torch's own fan and gain functions."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if kind == "xavier":
        return kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
    return torch.nn.init.calculate_gain(kw.get("nonlinearity", "relu"), kw.get("a", 0.0)) / math.sqrt(fan)


CASES = [
    (xavier_uniform_, torch.nn.init.xavier_uniform_, "xavier", {}),
    (xavier_uniform_, torch.nn.init.xavier_uniform_, "xavier", {"gain": 2.0}),
    (xavier_normal_, torch.nn.init.xavier_normal_, "xavier", {}),
    (kaiming_uniform_, torch.nn.init.kaiming_uniform_, "kaiming", {}),
    (kaiming_uniform_, torch.nn.init.kaiming_uniform_, "kaiming", {"a": 0.3, "nonlinearity": "leaky_relu"}),
    (kaiming_normal_, torch.nn.init.kaiming_normal_, "kaiming", {}),
    (kaiming_normal_, torch.nn.init.kaiming_normal_, "kaiming", {"mode": "fan_out"}),
]


@pytest.mark.parametrize("shape", BIG)
@pytest.mark.parametrize("ours, theirs, kind, kw", CASES)
def test_initialiser_distribution_matches_torch(ours, theirs, kind, kw, shape):
    std = torch_std(kind, shape, **kw)
    W = np.empty(shape)
    assert ours(W, rng=np.random.default_rng(0), **kw) is W  # in place, returned
    torch.manual_seed(0)
    Wt = theirs(torch.empty(shape, dtype=torch.float64), **kw).numpy()
    for sample in (W, Wt):  # both empirical stds match the formula (60000+ draws: within 2%)
        assert abs(sample.std() / std - 1) < 0.02
        assert abs(sample.mean()) < 0.05 * std
    if "uniform" in ours.__name__:
        bound = math.sqrt(3.0) * std
        assert np.abs(W).max() <= bound and np.abs(Wt).max() <= bound
        assert np.abs(W).max() > 0.999 * bound
    else:  # a normal sample reaches beyond sqrt(3) std
        assert np.abs(W).max() > 3 * std


def test_known_values_and_determinism():
    # Kaiming normal for ReLU: std = sqrt(2 / fan_in); Xavier uniform bound = sqrt(6 / (fan_in + fan_out)).
    assert torch_std("kaiming", (10, 50)) == pytest.approx(math.sqrt(2 / 50))
    W = xavier_uniform_(np.empty((100, 200)), rng=np.random.default_rng(1))
    assert np.abs(W).max() <= math.sqrt(6 / 300)
    a = kaiming_normal_(np.empty((5, 3, 3, 3)), rng=np.random.default_rng(7))
    b = kaiming_normal_(np.empty((5, 3, 3, 3)), rng=np.random.default_rng(7))
    assert np.array_equal(a, b)
    W = naive_normal_(np.empty((400, 300)), std=0.05, rng=np.random.default_rng(2))
    assert abs(W.std() / 0.05 - 1) < 0.02
    np.random.seed(0)  # noqa: NPY002 (the legacy global seed is what rng=None follows)
    c = xavier_normal_(np.empty((3, 4)))
    np.random.seed(0)  # noqa: NPY002 (the legacy global seed is what rng=None follows)
    assert np.array_equal(c, xavier_normal_(np.empty((3, 4))))  # rng=None follows np.random.seed


def test_init_bad_inputs():
    with pytest.raises(
        ValueError, match=r"kaiming_normal_: expected W with at least 2 dimensions.*got shape \(5,\)"
    ):
        kaiming_normal_(np.empty(5))
    with pytest.raises(
        ValueError, match=r"compute_fans: expected W with at least 2 dimensions.*got shape \(5,\)"
    ):
        compute_fans(np.empty(5))
    with pytest.raises(
        TypeError, match=r"xavier_uniform_: expected W with a floating dtype, got dtype int64"
    ):
        xavier_uniform_(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"xavier_uniform_: expected W to be a numpy.ndarray, got Tensor"):
        xavier_uniform_(torch.empty(3, 3))
    with pytest.raises(
        ValueError, match=r"kaiming_uniform_: expected mode to be one of 'fan_in', 'fan_out', got 'fan'"
    ):
        kaiming_uniform_(np.empty((3, 3)), mode="fan")
    with pytest.raises(
        ValueError, match=r"calculate_gain: expected nonlinearity to be one of .*got 'softmax'"
    ):
        calculate_gain("softmax")
    with pytest.raises(ValueError, match=r"naive_normal_: expected std >= 0.0, got -1.0"):
        naive_normal_(np.empty((2, 2)), std=-1.0)
    with pytest.raises(TypeError, match=r"expected rng to be a numpy.random.Generator or None, got int"):
        xavier_normal_(np.empty((2, 2)), rng=3)
    read_only = np.empty((2, 2))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"expected a writeable W"):
        xavier_normal_(read_only)
