"""Numeric gradients, to check hand-written backward passes.

The central difference

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)

has a truncation error of order h**2 and a rounding error of order
eps * |f| / h. In float64 the two balance near h = 1e-5, the default here:
measured on small MLPs, h = 1e-5 gave relative errors around 1e-9, while
h = 1e-6 gave up to 2e-7 on gradient entries near 1e-3. An analytic
gradient with a bug is off by far more (1e-3 to 1).

``numeric_gradient`` perturbs the array *in place* and restores it, so ``f``
is a closure over that same array:

    x = rng.normal(size=(3, 4))
    out, cache = relu_forward(x)
    dout = rng.normal(size=out.shape)
    dx_num = numeric_gradient(lambda: relu_forward(x)[0], x, dout)
    dx, = relu_backward(dout, cache)
    rel_error(dx, dx_num)          # ~1e-11

``check_pair`` and ``check_module`` run that recipe for a whole
forward/backward pair or a Module and return one relative error per input.
"""

from __future__ import annotations

import numbers

import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_rng


def numeric_gradient(f, x: np.ndarray, dout: np.ndarray | None = None, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``f()`` (or of ``sum(f() * dout)``) with respect to ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place one
    element at a time and restored exactly afterwards. Without ``dout``,
    ``f()`` must return a scalar; with it, ``f()`` returns an array of
    ``dout``'s shape and the result is the vector-Jacobian product
    ``dout . d f / d x``, which is what a backward pass computes.

    Shapes: x (any, float) -> gradient of the same shape; dout the shape of f().
    Twin: torch.autograd.gradcheck (which does the same comparison on tensors).
    """
    func = "numeric_gradient"
    if not callable(f):
        _fail(
            TypeError,
            func,
            "f to be a function of no arguments",
            type(f).__name__,
            "pass e.g. lambda: loss(x)",
        )
    check_array(x, "x", func, dtype_kind="f", fix="x must be a float array so it can be nudged by h")
    _check_float64(x, "x", func)
    h = check_float(h, "h", func, minimum=0.0, strict_min=True)
    if dout is not None:
        check_array(dout, "dout", func, dtype_kind="f", allow_empty=True)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + h
        f_plus = _evaluate(f, dout, func)
        x[index] = saved - h
        f_minus = _evaluate(f, dout, func)
        x[index] = saved
        if dout is None:
            grad[index] = (f_plus - f_minus) / (2.0 * h)
        else:  # difference first, then weight: outputs that did not move cancel exactly
            grad[index] = np.sum((f_plus - f_minus) * dout) / (2.0 * h)
    return grad


def _check_float64(x: np.ndarray, name: str, func: str) -> None:
    """Refuse float16/float32: their rounding error swamps a central difference.

    With h = 1e-5 the rounding error is about eps * |f| / h: 1e-11 in
    float64, but 1e-2 in float32 and 1e+1 in float16, so a correct gradient
    would look wrong (torch.autograd.gradcheck insists on float64 too).
    """
    if x.dtype != np.float64:
        _fail(
            TypeError,
            func,
            f"{name} of dtype float64 (a numeric gradient in lower precision is mostly rounding error)",
            f"dtype {x.dtype}",
            f"check gradients in float64, e.g. {name}.astype(np.float64)",
        )


def _evaluate(f, dout, func: str):
    """f() as a float (no dout) or as an array of dout's shape."""
    value = f()
    if dout is None:
        arr = np.asarray(value)
        if arr.size != 1:
            _fail(
                ValueError,
                func,
                "f() to return a scalar when dout is None",
                f"an array of shape {arr.shape}",
                "pass dout (an array of f()'s shape) to check a vector-valued function",
            )
        return float(arr.reshape(()))
    if not isinstance(value, np.ndarray) or value.shape != dout.shape:
        got = f"shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        _fail(ValueError, func, f"f() to return an array of dout's shape {dout.shape}", got, None)
    return value.copy()  # f may return a view of, or a buffer it reuses for, its output


def rel_error(a, b) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-12, |a| + |b|)``.

    Around 1e-7 or below means two float64 gradients agree; 1e-2 or above
    usually means a bug.

    Shapes: a, b (any, the same) or two numbers -> float.
    Twin: torch.testing.assert_close (which checks rather than measures).
    """
    a = _as_float_array(a, "a")
    b = _as_float_array(b, "b")
    if a.shape != b.shape:
        _fail(ValueError, "rel_error", "a and b of the same shape", f"{a.shape} and {b.shape}", None)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b))))


def _as_float_array(value, name: str) -> np.ndarray:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float64)
    check_array(value, name, "rel_error", dtype_kind="fiu", allow_empty=True)
    return value


def check_pair(forward, backward, *inputs, dout=None, rng=None, h: float = 1e-5) -> list[float]:
    """Relative errors of a forward/backward pair's gradients against numeric ones.

    ``forward(*inputs) -> (out, cache)`` and ``backward(dout, cache)`` returns
    one gradient per array or None input, in order (numbers among
    ``inputs``, such as a slope, are hyperparameters and get none; a None
    input, such as a missing bias, gets a None gradient, which is skipped).
    ``dout`` defaults to standard normal noise.

    Shapes: inputs as forward takes them -> one float per gradient returned.
    Twin: torch.autograd.gradcheck.
    """
    func = "check_pair"
    rng = check_rng(rng, func)
    for name, fn in (("forward", forward), ("backward", backward)):
        if not callable(fn):
            hint = "pass e.g. relu_forward, relu_backward"
            _fail(TypeError, func, f"{name} to be a function", type(fn).__name__, hint)
    if not any(isinstance(x, np.ndarray) for x in inputs):
        got = f"{len(inputs)} inputs, no array"
        _fail(ValueError, func, "at least one array input", got, "pass the forward's arrays")
    for position, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            _check_float64(x, f"inputs[{position}]", func)
    if dout is not None:
        check_array(dout, "dout", func, dtype_kind="f")
        _check_float64(dout, "dout", func)
    out, cache = forward(*inputs)
    if dout is None:
        dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    slots = [x for x in inputs if x is None or isinstance(x, np.ndarray)]
    if len(grads) != len(slots):
        _fail(
            ValueError,
            "check_pair",
            f"backward to return one gradient per array or None input ({len(slots)})",
            f"{len(grads)} gradients",
            None,
        )
    errors = []
    for x, grad in zip(slots, grads):
        if x is None or grad is None:
            continue
        numeric = numeric_gradient(lambda: forward(*inputs)[0], x, dout, h)
        errors.append(rel_error(grad, numeric))
    return errors


def check_module(module, x: np.ndarray, dout=None, rng=None, h: float = 1e-5) -> dict[str, float]:
    """Relative errors of a Module's dx and parameter gradients against numeric ones.

    Runs ``module.forward(x)`` and ``module.backward(dout)``, then nudges x
    and every parameter in place. Returns ``{"x": err, "weight": err, ...}``
    with parameters named as in ``state_dict``.

    Shapes: x as the module takes it -> dict of floats.
    Twin: torch.autograd.gradcheck on the twin module.
    """
    func = "check_module"
    if not (hasattr(module, "forward") and hasattr(module, "backward") and hasattr(module, "named_parameters")):
        _fail(TypeError, func, "a scratch Module (forward, backward)", type(module).__name__, None)
    rng = check_rng(rng, func)
    check_array(x, "x", func, dtype_kind="f")
    _check_float64(x, "x", func)
    for name, value, _ in module.named_parameters():
        _check_float64(value, f"parameter {name}", func)
    if dout is not None:
        check_array(dout, "dout", func, dtype_kind="f")
        _check_float64(dout, "dout", func)
    out = module.forward(x)
    if dout is None:
        dout = rng.standard_normal(out.shape)
    dx = module.backward(dout)
    analytic = {"x": dx}
    analytic.update({name: grad.copy() for name, _, grad in module.named_parameters()})
    targets = {"x": x}
    targets.update({name: value for name, value, _ in module.named_parameters()})
    return {
        name: rel_error(analytic[name], numeric_gradient(lambda: module.forward(x), value, dout, h))
        for name, value in targets.items()
    }

