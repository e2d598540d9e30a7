"""Input checks for the torch side, in the message shape of ``course_lib.checks``.

    "<function>: expected <what>, got <what arrived>; <how to fix it>"

Kept apart from ``_checks`` because ``course_lib.scratch`` must not import torch.
"""

from __future__ import annotations

import torch

from course_lib.checks import _fail


def check_tensor(
    x,
    name: str,
    func: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape_doc: str | None = None,
    floating: bool = True,
    allow_empty: bool = False,
    finite: bool = True,
    fix: str | None = None,
) -> torch.Tensor:
    """Check a tensor's type, dtype (floating or integer), rank, size and finiteness; returns it."""
    if not isinstance(x, torch.Tensor):
        kind = type(x).__name__
        hint = f"convert it first, e.g. torch.as_tensor({name})"
        if kind == "ndarray":
            hint = f"this is torch code; pass torch.from_numpy({name})"
        _fail(TypeError, func, f"{name} to be a torch.Tensor", kind, hint)
    if floating and not x.is_floating_point():
        _fail(TypeError, func, f"{name} with a floating dtype", f"dtype {x.dtype}", f"cast it, e.g. {name}.float()")
    if not floating and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        _fail(TypeError, func, f"{name} with an integer dtype", f"dtype {x.dtype}", f"cast it, e.g. {name}.long()")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            expected = f"{name} of shape {shape_doc}" if shape_doc else f"{name} with {ndim} dimensions"
            if fix is None and len(allowed) == 1 and x.ndim == allowed[0] - 1:
                fix = f"pass a batch, e.g. {name}[None]"
            _fail(ValueError, func, expected, f"shape {tuple(x.shape)}", fix)
    if not allow_empty and x.numel() == 0:
        _fail(ValueError, func, f"a non-empty {name}", f"shape {tuple(x.shape)}", fix or "pass at least one example")
    if finite and x.is_floating_point() and not bool(torch.isfinite(x.detach()).all()):
        _fail(ValueError, func, f"finite values in {name}", "NaN or inf", "check for a diverged computation")
    return x


def check_module(model, name: str, func: str) -> torch.nn.Module:
    """Check that ``model`` is a ``torch.nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        _fail(TypeError, func, f"{name} to be a torch.nn.Module", type(model).__name__, f"pass the {name} itself")
    return model
