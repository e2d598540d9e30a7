"""Dropout and batch normalisation: forward/backward pairs and their Modules.

Both layers behave differently in training and in evaluation:

* dropout zeroes each activation with probability ``p`` while training and
  scales the survivors by ``1 / (1 - p)`` ("inverted dropout"), so at
  evaluation time it is the identity;
* batch normalisation normalises with the batch's own mean and (biased)
  variance while training, and keeps exponential running averages of them
  (with the *unbiased* variance, as torch does) to use at evaluation time.

Buffers. Batch norm's running statistics are state but not parameters: no
gradient, no optimiser step. Like torch, the Modules here keep them in a
second dict, ``self.buffers`` (``running_mean``, ``running_var`` and
``num_batches_tracked``), which ``Module.state_dict()`` /
``load_state_dict()`` include with exactly the keys of torch's
``state_dict``, for a single layer or a whole network.
``num_batches_tracked`` is counted (torch only uses it when
``momentum=None``, which is not offered here) and is optional on loading.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_cache, check_dout, check_float, check_rng, named_errors
from course_lib.scratch.modules import Module

# ----------------------------------------------------------------------------- dropout


def dropout_forward(x, p, training, rng=None, mask=None):
    """Inverted dropout: keep each value with probability 1 - p, scale by 1 / (1 - p).

    At evaluation time (``training=False``) the output is ``x`` unchanged.
    ``mask`` (same shape as ``x``, 1/True = keep) fixes which values survive,
    so a test can compare with torch exactly; otherwise the mask is drawn
    from ``rng`` (when None, one seeded from NumPy's global state).

    Shapes: x (N, ...) any shape -> out same shape.
    Twin: torch.nn.functional.dropout
    """
    func = "dropout_forward"
    check_array(x, "x", func)
    p = check_float(p, "p", func, minimum=0.0, maximum=1.0)
    if not isinstance(training, (bool, np.bool_)):
        _fail(TypeError, func, "training to be a bool", f"{type(training).__name__} {training!r}", None)
    if not training:
        return x.copy(), (None, x.shape)
    if mask is None:
        rng = check_rng(rng, func)
        keep = rng.random(x.shape) >= p
    else:
        keep = _check_mask(mask, x, func)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    scaled_mask = keep * np.asarray(scale, dtype=x.dtype)
    return x * scaled_mask, (scaled_mask, x.shape)


def dropout_backward(dout, cache):
    """Gradient of inverted dropout: the same scaled mask applied to dout.

    Shapes: dout same shape as the forward's x -> dx same shape.
    Twin: torch.nn.functional.dropout (autograd)
    """
    scaled_mask, shape = check_cache(cache, "dropout_backward", "dropout_forward", 2)
    check_dout(dout, shape, "dropout_backward")
    if scaled_mask is None:  # evaluation mode: identity
        return dout.copy()
    return dout * scaled_mask

def _check_mask(mask, x, func):
    check_array(mask, "mask", func, dtype_kind="biuf")
    if mask.shape != x.shape:
        _fail(ValueError, func, f"mask of shape {x.shape} (the shape of x)", f"shape {mask.shape}", None)
    if mask.dtype.kind != "b" and not np.all((mask == 0) | (mask == 1)):
        _fail(
            ValueError,
            func,
            "mask of 0s and 1s (1 = keep)",
            "other values",
            "pass (rng.random(x.shape) >= p)",
        )
    return mask.astype(bool, copy=False)



# ------------------------------------------------------------------------- batch norm


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over every axis except the channel axis 1.

    Training: normalise with the batch mean and biased variance, then update
    ``running_mean`` / ``running_var`` IN PLACE as torch does:
    ``running = (1 - momentum) * running + momentum * batch_stat``, using the
    unbiased variance (times m / (m - 1), m values per channel).
    Evaluation: normalise with the running statistics; nothing is updated.

    Shapes: x (N, D), (N, C, L) or (N, C, H, W); gamma, beta, running_mean,
    running_var (D,) or (C,) -> out same shape as x.
    Twin: torch.nn.functional.batch_norm
    """
    func = "batchnorm_forward"
    check_array(
        x,
        "x",
        func,
        ndim=(2, 3, 4),
        shape_doc="(N, D), (N, C, L) or (N, C, H, W)",
        fix="pass a batch, e.g. x[None]",
    )
    C = x.shape[1]
    _check_per_channel(C, func, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    if not isinstance(training, (bool, np.bool_)):
        _fail(TypeError, func, "training to be a bool", f"{type(training).__name__} {training!r}", None)
    momentum = check_float(momentum, "momentum", func, minimum=0.0, maximum=1.0)
    eps = check_float(eps, "eps", func, minimum=0.0, strict_min=True)

    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, C) + (1,) * (x.ndim - 2)  # broadcast a per-channel vector against x
    m = x.size // C
    if training:
        if m < 2:
            _fail(
                ValueError,
                func,
                "more than 1 value per channel when training",
                f"x of shape {x.shape}",
                "use a batch of at least 2 examples, or call eval()",
            )
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += momentum * var * (m / (m - 1))
    else:
        mean, var = running_mean, running_var
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    cache = (xhat, gamma, invstd, training, axes, bshape)
    return out, cache


def _check_per_channel(C, func, **arrays):
    """Check vectors with one value per channel (gamma, beta, running statistics)."""
    for name, arr in arrays.items():
        check_array(arr, name, func, ndim=1, shape_doc=f"({C},)")
        if arr.shape != (C,):
            _fail(
                ValueError,
                func,
                f"{name} of shape ({C},) (one per channel of x)",
                f"shape {arr.shape}",
                "x's axis 1 must be the feature/channel axis",
            )


def batchnorm_backward(dout, cache):
    """Gradients of batch norm, the compact vectorised formula.

    Training (batch statistics depend on x), with dxhat = dout * gamma and
    m values per channel:
    ``dx = invstd / m * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))``.
    Evaluation (running statistics are constants): ``dx = dout * gamma * invstd``.
    Always ``dgamma = sum(dout * xhat)``, ``dbeta = sum(dout)`` over all axes but 1.

    Shapes: dout same shape as x -> dx like x, dgamma (C,), dbeta (C,).
    Twin: torch.nn.functional.batch_norm (autograd)
    """
    xhat, gamma, invstd, training, axes, bshape = check_cache(cache, "batchnorm_backward", "batchnorm_forward", 6)
    check_dout(dout, xhat.shape, "batchnorm_backward")
    dgamma = np.sum(dout * xhat, axis=axes)
    dbeta = np.sum(dout, axis=axes)
    dxhat = dout * gamma.reshape(bshape)
    if not training:
        return dxhat * invstd.reshape(bshape), dgamma, dbeta
    m = xhat.size // xhat.shape[1]
    sum_dxhat = dxhat.sum(axis=axes).reshape(bshape)
    sum_dxhat_xhat = (dxhat * xhat).sum(axis=axes).reshape(bshape)
    dx = (invstd.reshape(bshape) / m) * (m * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------- Modules


class Dropout(Module):
    """Inverted dropout layer; identity after ``eval()``.

    Shapes: x any shape -> out same shape.
    Twin: torch.nn.Dropout
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        self.p = check_float(p, "p", "Dropout", minimum=0.0, maximum=1.0)
        self.rng = check_rng(rng, "Dropout")
        self._cache = None

    def forward(self, x):
        with named_errors("Dropout.forward"):
            out, self._cache = dropout_forward(x, self.p, self.training, rng=self.rng)
        return out

    def backward(self, dout):
        if not isinstance(dout, np.ndarray):
            _fail(TypeError, "Dropout.backward", "dout to be a numpy.ndarray", type(dout).__name__,
                  "pass the gradient of the loss with respect to this layer's output")
        if self._cache is None:
            _fail(RuntimeError, "Dropout.backward", "a forward call first", "no cached forward", None)
        with named_errors("Dropout.backward"):
            return dropout_backward(dout, self._cache)

    def __repr__(self):
        return f"Dropout(p={self.p})"


class _BatchNorm(Module):
    """Shared code of BatchNorm1d and BatchNorm2d (parameters + buffers)."""

    _ndims: tuple[int, ...] = ()
    _shape_doc = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            _fail(TypeError, name, "num_features to be an int", f"{type(num_features).__name__}", None)
        if num_features < 1:
            _fail(ValueError, name, "num_features >= 1", repr(num_features), None)
        self.num_features = int(num_features)
        self.eps = check_float(eps, "eps", name, minimum=0.0, strict_min=True)
        self.momentum = check_float(momentum, "momentum", name, minimum=0.0, maximum=1.0)
        self.params = {
            "weight": np.ones(num_features, dtype=dtype),
            "bias": np.zeros(num_features, dtype=dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(num_features, dtype=dtype),
            "running_var": np.ones(num_features, dtype=dtype),
            "num_batches_tracked": np.zeros((), dtype=np.int64),
        }
        self._cache = None

    def forward(self, x):
        name = type(self).__name__
        check_array(
            x,
            "x",
            f"{name}.forward",
            ndim=self._ndims,
            shape_doc=self._shape_doc,
            fix="use BatchNorm1d for (N, D) features and BatchNorm2d for (N, C, H, W) images",
        )
        out, self._cache = batchnorm_forward(
            x,
            self.params["weight"],
            self.params["bias"],
            self.buffers["running_mean"],
            self.buffers["running_var"],
            self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        if self.training:
            self.buffers["num_batches_tracked"] += 1
        return out

    def backward(self, dout):
        if self._cache is None:
            _fail(
                RuntimeError,
                f"{type(self).__name__}.backward",
                "a forward call first",
                "no cached forward",
                None,
            )
        dx, dgamma, dbeta = batchnorm_backward(dout, self._cache)
        self.grads["weight"][...] = dgamma
        self.grads["bias"][...] = dbeta
        return dx

    def __repr__(self):
        return f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum})"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features: per feature over the batch (and length).

    Shapes: x (N, D) or (N, C, L) -> out same shape; weight, bias, running_mean, running_var (D,).
    Twin: torch.nn.BatchNorm1d
    """

    _ndims = (2, 3)
    _shape_doc = "(N, D) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images: per channel over the batch and all pixels.

    Shapes: x (N, C, H, W) -> out same shape; weight, bias, running_mean, running_var (C,).
    Twin: torch.nn.BatchNorm2d
    """

    _ndims = (4,)
    _shape_doc = "(N, C, H, W)"
