"""Layers of a multi-layer perceptron as forward/backward pairs.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward``
takes the upstream gradient ``dout`` (same shape as ``out``) and that cache
and returns the gradients of the loss with respect to each array input, in
the order the forward took them. Layouts follow PyTorch: a linear layer's
weight is ``(out_features, in_features)``, so ``out = x @ W.T + b``.
"""

from __future__ import annotations

import numbers

import numpy as np

from course_lib.checks import _fail, check_array, check_cache, check_dout, check_float, check_int

# --------------------------------------------------------------------------- helpers


def _check_x(x, func: str, ndim: int | None = None, shape_doc: str | None = None) -> np.ndarray:
    return check_array(x, "x", func, ndim=ndim, shape_doc=shape_doc, dtype_kind="f")


def _check_batch(x, func: str) -> np.ndarray:
    """x must be a float batch (N, D); a single example gets a hint to add the batch axis."""
    _check_x(x, func)
    if x.ndim != 2:
        fix = (
            "pass a batch, e.g. x[None]"
            if x.ndim == 1
            else "flatten each example, e.g. x.reshape(len(x), -1)"
        )
        _fail(ValueError, func, "x of shape (N, D)", f"shape {x.shape}", fix)
    return x



# --------------------------------------------------------------------------- linear


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None):
    """Affine map ``out = x @ W.T + b``.

    Shapes: x (N, D), W (K, D), b (K,) or None -> out (N, K).
    Twin: torch.nn.functional.linear
    """
    func = "linear_forward"
    _check_batch(x, func)
    check_array(W, "W", func, ndim=2, shape_doc="(K, D)", dtype_kind="f")
    if W.shape[1] != x.shape[1]:
        _fail(
            ValueError,
            func,
            f"W of shape (K, {x.shape[1]}) to match x's {x.shape[1]} features",
            f"shape {W.shape}",
            "W is (out_features, in_features), as in torch.nn.Linear",
        )
    out = x @ W.T
    if b is not None:
        check_array(b, "b", func, ndim=1, shape_doc=f"({W.shape[0]},)", dtype_kind="f")
        if b.shape[0] != W.shape[0]:
            _fail(ValueError, func, f"b of shape ({W.shape[0]},)", f"shape {b.shape}", None)
        out += b
    return out, (x, W, b is not None)


def linear_backward(dout: np.ndarray, cache, need_dx: bool = True):
    """Gradients of the affine map: ``dx = dout @ W``, ``dW = dout.T @ x``, ``db = dout.sum(0)``.

    Returns (dx, dW, db); db is None when the forward had no bias, dx is None
    with ``need_dx=False`` (the first layer of a network: nothing needs the
    gradient of the data, and torch skips it too, saving a third of the work).

    Shapes: dout (N, K) -> dx (N, D), dW (K, D), db (K,).
    Twin: torch.nn.functional.linear (its autograd backward)
    """
    x, W, has_bias = check_cache(cache, "linear_backward", "linear_forward", 3)
    check_dout(dout, (x.shape[0], W.shape[0]), "linear_backward")
    dx = dout @ W if need_dx else None
    dW = dout.T @ x
    db = dout.sum(axis=0) if has_bias else None
    return dx, dW, db


# --------------------------------------------------------------------------- activations


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), without overflow for large |x|.

    Shapes: x (any) -> same shape.
    Twin: torch.sigmoid
    """
    if isinstance(x, bool) or not isinstance(x, np.ndarray | numbers.Real) or np.asarray(x).dtype.kind not in "fiu":
        _fail(TypeError, "sigmoid", "x as a numpy array or a number", f"{type(x).__name__}",
              "convert it first, e.g. np.asarray(x, dtype=float)")
    z = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), without overflow: max(x, 0) + log1p(exp(-|x|)).

    Shapes: x (any) -> same shape.
    Twin: torch.nn.functional.softplus
    """
    if isinstance(x, bool) or not isinstance(x, np.ndarray | numbers.Real) or np.asarray(x).dtype.kind not in "fiu":
        _fail(TypeError, "softplus", "x as a numpy array or a number", f"{type(x).__name__}",
              "convert it first, e.g. np.asarray(x, dtype=float)")
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid_forward(x: np.ndarray):
    """Elementwise sigmoid; the cache is the output, since s' = s (1 - s).

    Shapes: x (any) -> out (same shape).
    Twin: torch.sigmoid
    """
    out = sigmoid(_check_x(x, "sigmoid_forward"))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache):
    """Returns (dx,) with dx = dout * s * (1 - s).

    Shapes: dout (any) -> dx (same shape).
    Twin: torch.sigmoid (its autograd backward)
    """
    out = check_cache(cache, "sigmoid_backward", "sigmoid_forward")
    check_dout(dout, out.shape, "sigmoid_backward")
    return (dout * out * (1.0 - out),)


def tanh_forward(x: np.ndarray):
    """Elementwise tanh; the cache is the output, since tanh' = 1 - tanh**2.

    Shapes: x (any) -> out (same shape).
    Twin: torch.tanh
    """
    out = np.tanh(_check_x(x, "tanh_forward"))
    return out, out


def tanh_backward(dout: np.ndarray, cache):
    """Returns (dx,) with dx = dout * (1 - tanh(x)**2).

    Shapes: dout (any) -> dx (same shape).
    Twin: torch.tanh (its autograd backward)
    """
    out = check_cache(cache, "tanh_backward", "tanh_forward")
    check_dout(dout, out.shape, "tanh_backward")
    return (dout * (1.0 - out * out),)


def relu_forward(x: np.ndarray):
    """Elementwise max(x, 0).

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.functional.relu
    """
    _check_x(x, "relu_forward")
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache):
    """Returns (dx,): dout where x > 0, else 0 (0 at x == 0, as torch does).

    Shapes: dout (any) -> dx (same shape).
    Twin: torch.nn.functional.relu (its autograd backward)
    """
    x = check_cache(cache, "relu_backward", "relu_forward")
    check_dout(dout, x.shape, "relu_backward")
    # Speed: a product with the mask is ~10x faster than np.where(x > 0, dout, 0.0) and gives
    # the same numbers, as dout is finite (checked above); + 0.0 turns the -0.0 of a
    # negative dout times 0 into 0.0.
    dx = dout * (x > 0)
    dx += 0.0
    return (dx,)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01):
    """Elementwise x where x > 0, else negative_slope * x.

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.functional.leaky_relu
    """
    _check_x(x, "leaky_relu_forward")
    negative_slope = check_float(negative_slope, "negative_slope", "leaky_relu_forward")
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache):
    """Returns (dx,): dout where x > 0, else negative_slope * dout.

    Shapes: dout (any) -> dx (same shape).
    Twin: torch.nn.functional.leaky_relu (its autograd backward)
    """
    x, negative_slope = check_cache(cache, "leaky_relu_backward", "leaky_relu_forward", 2)
    check_dout(dout, x.shape, "leaky_relu_backward")
    return (np.where(x > 0, dout, negative_slope * dout),)


def elu_forward(x: np.ndarray, alpha: float = 1.0):
    """Elementwise x where x > 0, else alpha * (exp(x) - 1).

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.functional.elu
    """
    _check_x(x, "elu_forward")
    alpha = check_float(alpha, "alpha", "elu_forward")
    negative = alpha * np.expm1(np.minimum(x, 0.0))  # min(): no overflow in the unused branch
    return np.where(x > 0, x, negative), (x, negative, alpha)


def elu_backward(dout: np.ndarray, cache):
    """Returns (dx,): dout where x > 0, else dout * alpha * exp(x) = dout * (out + alpha).

    Shapes: dout (any) -> dx (same shape).
    Twin: torch.nn.functional.elu (its autograd backward)
    """
    x, negative, alpha = check_cache(cache, "elu_backward", "elu_forward", 3)
    check_dout(dout, x.shape, "elu_backward")
    return (np.where(x > 0, dout, dout * (negative + alpha)),)


# --------------------------------------------------------------------------- maxout


def maxout_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, pieces: int):
    """Maxout: K units, each the max of ``pieces`` affine functions of x.

    Layout: ``z = x @ W.T + b`` has K * pieces columns; row ``k * pieces + p``
    of W is piece p of unit k, so ``out = z.reshape(N, K, pieces).max(axis=2)``.

    Shapes: x (N, D), W (K * pieces, D), b (K * pieces,) or None -> out (N, K).
    Twin: course_lib.twins.mlp.TorchMaxout (F.linear, then view(N, K, pieces).max(-1))
    """
    func = "maxout_forward"
    pieces = check_int(pieces, "pieces", func, minimum=1)
    check_array(W, "W", func, ndim=2, shape_doc="(K * pieces, D)", dtype_kind="f")
    if W.shape[0] % pieces:
        _fail(
            ValueError,
            func,
            f"W with a multiple of pieces={pieces} rows",
            f"shape {W.shape}",
            "W is (out_features * pieces, in_features)",
        )
    z, linear_cache = linear_forward(x, W, b)
    n, k = z.shape[0], z.shape[1] // pieces
    z = z.reshape(n, k, pieces)
    winner = np.argmax(z, axis=2)[:, :, None]  # first max, like torch.max(dim)
    out = np.take_along_axis(z, winner, axis=2)[:, :, 0]
    return out, (linear_cache, winner, pieces)


def maxout_backward(dout: np.ndarray, cache):
    """Returns (dx, dW, db): the gradient flows only through each unit's winning piece.

    Shapes: dout (N, K) -> dx (N, D), dW (K * pieces, D), db (K * pieces,) or None.
    Twin: course_lib.twins.mlp.TorchMaxout (its autograd backward)
    """
    linear_cache, winner, pieces = check_cache(cache, "maxout_backward", "maxout_forward", 3)
    n, k = winner.shape[0], winner.shape[1]
    check_dout(dout, (n, k), "maxout_backward")
    dz = np.zeros((n, k, pieces), dtype=dout.dtype)
    np.put_along_axis(dz, winner, dout[:, :, None], axis=2)
    return linear_backward(dz.reshape(n, k * pieces), linear_cache)


# --------------------------------------------------------------------------- softmax


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the max (no overflow).

    Shapes: x (any, e.g. logits (N, K)) -> same shape, rows summing to 1.
    Twin: torch.softmax
    """
    _check_x(x, "softmax")
    check_int(axis, "axis", "softmax", minimum=-x.ndim, maximum=x.ndim - 1)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    exp /= np.sum(exp, axis=axis, keepdims=True)
    return exp


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(x)) as ``x - max - log(sum(exp(x - max)))``: exact for very negative entries.

    Shapes: x (any, e.g. logits (N, K)) -> same shape.
    Twin: torch.log_softmax
    """
    _check_x(x, "log_softmax")
    check_int(axis, "axis", "log_softmax", minimum=-x.ndim, maximum=x.ndim - 1)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted


def softmax_forward(x: np.ndarray, axis: int = -1):
    """Softmax along ``axis`` as a layer; the cache is the output.

    Shapes: x (N, K) (or any, with axis) -> out (same shape).
    Twin: torch.nn.functional.softmax
    """
    _check_x(x, "softmax_forward")
    check_int(axis, "axis", "softmax_forward", minimum=-x.ndim, maximum=x.ndim - 1)
    out = softmax(x, axis)
    return out, (out, axis)


def softmax_backward(dout: np.ndarray, cache):
    """Returns (dx,) with dx = s * (dout - sum(dout * s)) along the softmax axis.

    Shapes: dout (same as out) -> dx (same shape).
    Twin: torch.nn.functional.softmax (its autograd backward)
    """
    out, axis = check_cache(cache, "softmax_backward", "softmax_forward", 2)
    check_dout(dout, out.shape, "softmax_backward")
    return (out * (dout - np.sum(dout * out, axis=axis, keepdims=True)),)
