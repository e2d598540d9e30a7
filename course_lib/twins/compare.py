"""Prove that a scratch piece and its torch twin agree.

``copy_weights`` gives both the same parameters (matched by state_dict
name, no transposes); ``compare`` prints one line per quantity:

    out                    allclose=True   max|diff|=< 1e-12
    0.weight.grad          allclose=True   max|diff|=< 1e-12

Differences below 1e-12 print as "< 1e-12" (the exact rounding noise
differs between machines, and notebook outputs must not); larger ones with
two significant digits, e.g. "3.4e-05".
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch

from course_lib.checks import _fail, check_choice

NOISE_FLOOR = 1e-12


class _CompareFields(NamedTuple):
    name: str
    allclose: bool
    max_abs_diff: float


class CompareRow(_CompareFields):
    """One compared quantity: its name, whether allclose holds, and the max absolute difference.

    Shapes: three scalars (str, bool, float); str(row) is the printed line.
    """

    __slots__ = ()

    def __new__(cls, name: str, allclose: bool, max_abs_diff: float):
        if not isinstance(name, str):
            _fail(TypeError, "CompareRow", "name to be a str", type(name).__name__, "e.g. 'out' or '0.weight.grad'")
        if not isinstance(allclose, (bool, np.bool_)):
            _fail(TypeError, "CompareRow", "allclose to be True or False", type(allclose).__name__, None)
        _check_diff(max_abs_diff, "CompareRow", "max_abs_diff")
        return super().__new__(cls, name, allclose, max_abs_diff)

    def __str__(self) -> str:
        return f"{self.name:<22} allclose={self.allclose!s:<5}  max|diff|={format_diff(self.max_abs_diff)}"


def format_diff(diff: float) -> str:
    """'< 1e-12' below the noise floor, else two significant digits ('1.2e-06'); 'nan' for NaN.

    Shapes: a float -> str.
    """
    _check_diff(diff, "format_diff", "diff")
    if np.isnan(diff):
        return "nan"
    if diff < NOISE_FLOOR:
        return "< 1e-12"
    return f"{diff:.1e}"


def _check_diff(diff, func: str, name: str) -> None:
    if isinstance(diff, (bool, np.bool_)) or not isinstance(diff, numbers.Real):
        _fail(TypeError, func, f"{name} to be a number (a max absolute difference)",
              f"{type(diff).__name__} {diff!r}", "pass a float, e.g. float(np.abs(a - b).max())")
    if diff < 0:
        _fail(ValueError, func, f"{name} >= 0 (a max absolute difference)", repr(diff), None)


def _to_numpy(value, name: str, func: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float64)
    hint = "did backward run? a torch .grad is None until it does" if value is None else None
    _fail(TypeError, func, f"{name} to be a numpy array, torch tensor or number", type(value).__name__, hint)


def compare(
    first,
    second=None,
    name: str | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    verbose: bool = True,
):
    """Compare scratch and torch values; print one line each and return the rows.

    Two forms: ``compare(scratch_value, torch_value, name)`` returns one
    CompareRow; ``compare({name: (scratch_value, torch_value), ...})``
    returns a list of them. Values may be arrays, tensors or numbers and
    must have the same shape (no broadcasting). ``allclose`` uses
    np.allclose's rule with ``rtol``/``atol`` (torch.allclose's defaults).
    Like torch.testing.assert_close, but it reports instead of raising.

    Shapes: each pair the same shape -> CompareRow or list of CompareRow.
    """
    func = "compare"
    if isinstance(first, dict):
        if second is not None or name is not None:
            _fail(
                TypeError,
                func,
                "either a dict {name: (scratch, torch)} or (scratch, torch, name)",
                "a dict and more arguments",
                None,
            )
        return [_compare_one(a_b, key, rtol, atol, verbose) for key, a_b in first.items()]
    if name is None or not isinstance(name, str):
        _fail(
            TypeError,
            func,
            "a name (str) as the third argument",
            type(name).__name__,
            "e.g. compare(out, out_torch, 'out')",
        )
    return _compare_one((first, second), name, rtol, atol, verbose)


def _compare_one(pair, name: str, rtol: float, atol: float, verbose: bool) -> CompareRow:
    func = "compare"
    if not isinstance(pair, tuple) or len(pair) != 2:
        _fail(TypeError, func, f"{name!r} to map to a (scratch, torch) pair", type(pair).__name__, None)
    a = _to_numpy(pair[0], f"{name} (scratch)", func)
    b = _to_numpy(pair[1], f"{name} (torch)", func)
    if a.shape != b.shape:
        _fail(
            ValueError,
            func,
            f"{name} with the same shape on both sides",
            f"{a.shape} and {b.shape}",
            "reshape one of them; compare does not broadcast",
        )
    a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    diff = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
    row = CompareRow(name, bool(np.allclose(a64, b64, rtol=rtol, atol=atol)), diff)
    if verbose:
        print(row)
    return row


def copy_weights(scratch_module, torch_module, direction: str = "to_torch") -> None:
    """Copy parameters between a scratch Module and its torch twin, matched by state_dict name.

    ``direction="to_torch"`` (default) sets the torch module's weights from
    the scratch one's; ``"to_scratch"`` goes the other way. Keys and shapes
    must match exactly and the torch parameters must be float64, so the
    copy is exact.

    Shapes: every parameter the same shape on both sides (torch layouts).
    Twin: course_lib.scratch.modules.Module.load_state_dict (which also takes a torch state_dict)
    """
    func = "copy_weights"
    check_choice(direction, "direction", func, ["to_torch", "to_scratch"])
    if not isinstance(torch_module, torch.nn.Module):
        _fail(
            TypeError,
            func,
            "torch_module to be a torch.nn.Module",
            type(torch_module).__name__,
            "pass (scratch_module, torch_module) in that order",
        )
    if not hasattr(scratch_module, "named_parameters") or isinstance(scratch_module, torch.nn.Module):
        _fail(
            TypeError,
            func,
            "scratch_module to be a course_lib.scratch Module",
            type(scratch_module).__name__,
            "pass (scratch_module, torch_module) in that order",
        )
    scratch = {name: value for name, value, _ in scratch_module.named_parameters()}
    twin = dict(torch_module.named_parameters())
    if set(scratch) != set(twin):
        _fail(
            ValueError,
            func,
            f"the same parameter names on both sides, torch has {sorted(twin)}",
            f"scratch {sorted(scratch)}",
            "build both from the same sizes and layer order",
        )
    for key, param in twin.items():
        if param.dtype != torch.float64:
            _fail(
                TypeError,
                func,
                f"float64 torch parameters for an exact copy ({key})",
                f"{param.dtype}",
                "call torch_module.double() first",
            )
        if tuple(param.shape) != scratch[key].shape:
            _fail(
                ValueError,
                func,
                f"{key} of shape {tuple(param.shape)} on both sides",
                f"scratch shape {scratch[key].shape}",
                "the two models' layer sizes differ",
            )
    with torch.no_grad():
        for key, param in twin.items():
            if direction == "to_torch":
                param.copy_(torch.from_numpy(np.ascontiguousarray(scratch[key], dtype=np.float64)))
            else:
                scratch[key][...] = param.detach().cpu().numpy()
