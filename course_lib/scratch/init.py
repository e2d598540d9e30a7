"""Weight initialisation: naive small Gaussians, Xavier/Glorot and Kaiming/He.

All initialisers fill a weight array IN PLACE (the trailing underscore, as in
``torch.nn.init``) and return it. Fans are computed as torch computes them,
so the same formulas hold for a Linear weight ``(out_features, in_features)``
and a conv weight ``(F, C, KH, KW)``:

    fan_in  = shape[1] * KH * KW        fan_out = shape[0] * KH * KW

* Xavier:  std = gain * sqrt(2 / (fan_in + fan_out))
* Kaiming: std = gain / sqrt(fan),  gain = sqrt(2) for ReLU
* a uniform initialiser with standard deviation ``std`` draws from
  U(-bound, bound) with ``bound = sqrt(3) * std``.

``rng`` is a ``np.random.Generator``; when None, one is seeded from NumPy's
global state (so ``np.random.seed(0)`` makes the result reproducible).
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.checks import _fail, check_choice, check_float, check_rng

_GAINS = ("linear", "conv1d", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu")


def compute_fans(W) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight array, exactly as torch computes them.

    Shapes: W (out_features, in_features) or (F, C, KH, KW) (any trailing kernel dims).
    Twin: torch.nn.init._calculate_fan_in_and_fan_out
    """
    shape = _weight_shape(W, "compute_fans")
    if len(shape) < 2:
        _fail(
            ValueError,
            "compute_fans",
            "W with at least 2 dimensions, (out, in) or (F, C, KH, KW)",
            f"shape {shape}",
            "fans are not defined for a bias vector; initialise it directly",
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def calculate_gain(nonlinearity: str = "relu", param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (sqrt(2) for ReLU, 5/3 for tanh, ...).

    Shapes: -> a float.
    Twin: torch.nn.init.calculate_gain
    """
    check_choice(nonlinearity, "nonlinearity", "calculate_gain", _GAINS)
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    slope = 0.01 if param is None else check_float(param, "param", "calculate_gain")
    return math.sqrt(2.0 / (1.0 + slope**2))


def naive_normal_(W, std: float = 0.01, rng: np.random.Generator | None = None):
    """Fill W with N(0, std^2): the "small random numbers" that fail in deep nets.

    Shapes: W any shape (filled in place and returned).
    Twin: torch.nn.init.normal_
    """
    func = "naive_normal_"
    _check_weight(W, func, min_ndim=1)
    std = check_float(std, "std", func, minimum=0.0)
    W[...] = check_rng(rng, func).normal(0.0, std, size=W.shape)
    return W


def xavier_uniform_(W, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot/Xavier uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).

    Shapes: W (out_features, in_features) or (F, C, KH, KW) (filled in place and returned).
    Twin: torch.nn.init.xavier_uniform_
    """
    std = _xavier_std(W, gain, "xavier_uniform_")
    return _uniform_with_std(W, std, rng, "xavier_uniform_")


def xavier_normal_(W, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot/Xavier normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).

    Shapes: W (out_features, in_features) or (F, C, KH, KW) (filled in place and returned).
    Twin: torch.nn.init.xavier_normal_
    """
    std = _xavier_std(W, gain, "xavier_normal_")
    W[...] = check_rng(rng, "xavier_normal_").normal(0.0, std, size=W.shape)
    return W


def kaiming_uniform_(
    W,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    rng: np.random.Generator | None = None,
):
    """He/Kaiming uniform: U(-b, b), b = sqrt(3) * gain / sqrt(fan).

    ``a`` is the negative slope used when ``nonlinearity='leaky_relu'``.

    Shapes: W (out_features, in_features) or (F, C, KH, KW) (filled in place and returned).
    Twin: torch.nn.init.kaiming_uniform_
    """
    std = _kaiming_std(W, a, mode, nonlinearity, "kaiming_uniform_")
    return _uniform_with_std(W, std, rng, "kaiming_uniform_")


def kaiming_normal_(
    W,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    rng: np.random.Generator | None = None,
):
    """He/Kaiming normal: N(0, std^2), std = gain / sqrt(fan) (sqrt(2 / fan_in) for ReLU).

    Shapes: W (out_features, in_features) or (F, C, KH, KW) (filled in place and returned).
    Twin: torch.nn.init.kaiming_normal_
    """
    std = _kaiming_std(W, a, mode, nonlinearity, "kaiming_normal_")
    W[...] = check_rng(rng, "kaiming_normal_").normal(0.0, std, size=W.shape)
    return W


# ----------------------------------------------------------------------------- helpers


def _xavier_std(W, gain, func):
    _check_weight(W, func, min_ndim=2)
    gain = check_float(gain, "gain", func, minimum=0.0)
    fan_in, fan_out = compute_fans(W)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _kaiming_std(W, a, mode, nonlinearity, func):
    _check_weight(W, func, min_ndim=2)
    check_choice(mode, "mode", func, ("fan_in", "fan_out"))
    a = check_float(a, "a", func)
    fan_in, fan_out = compute_fans(W)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def _uniform_with_std(W, std, rng, func):
    bound = math.sqrt(3.0) * std  # U(-b, b) has standard deviation b / sqrt(3)
    W[...] = check_rng(rng, func).uniform(-bound, bound, size=W.shape)
    return W


def _weight_shape(W, func):
    if not isinstance(W, np.ndarray):
        _fail(
            TypeError,
            func,
            "W to be a numpy.ndarray",
            type(W).__name__,
            "this is NumPy code; pass a NumPy weight array",
        )
    return tuple(W.shape)


def _check_weight(W, func, min_ndim):
    # Not check_array: W is often fresh np.empty memory, which may hold NaNs.
    _weight_shape(W, func)
    if W.dtype.kind != "f":
        _fail(
            TypeError,
            func,
            "W with a floating dtype",
            f"dtype {W.dtype}",
            "cast it, e.g. W.astype(np.float64)",
        )
    if W.size == 0:
        _fail(ValueError, func, "a non-empty W", f"shape {W.shape}", None)
    if W.ndim < min_ndim:
        _fail(
            ValueError,
            func,
            f"W with at least {min_ndim} dimensions, (out, in) or (F, C, KH, KW)",
            f"shape {W.shape}",
            "fans are not defined for a bias vector; initialise it directly",
        )
    if not W.flags.writeable:
        _fail(
            ValueError,
            func,
            "a writeable W (it is filled in place)",
            "a read-only array",
            "pass a copy, e.g. W.copy()",
        )
