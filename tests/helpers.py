"""The unit tests' one way to check a scratch piece against torch and against numeric gradients.

In the spirit of tinygrad's ``helper_test_op``: one call of ``check_op``
draws float64 inputs of the given shapes, runs a scratch forward/backward
pair and its torch twin on them, and checks

* the outputs against torch's (values and shapes),
* every gradient against torch autograd's (values and shapes; a None input,
  such as a missing bias, must get a None gradient on both sides),
* every gradient against a central-difference numeric gradient.

Modules use ``check_module_twin`` (a scratch Module against its torch twin,
parameter gradients matched by state_dict name) and ``check_module_numeric``.

The tolerance policy lives here and nowhere else:

* against torch (float64, the same formulas): ``|ours - torch| <= TOL +
  REL_TOL * |torch|``, elementwise; ``tol=0`` demands bit-for-bit equality;
* against numeric gradients: ``rel_error <= GRAD_TOL``, or, for gradients
  whose entries are exactly zero analytically (the numeric ones are then
  rounding noise), a largest absolute difference below ``GRAD_ATOL``.

Tests import it as ``from helpers import check_op`` (tests/ has no
``__init__.py``, so pytest puts tests/ on sys.path for tests/conftest.py).
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import torch

from course_lib.scratch.gradcheck import numeric_gradient, rel_error

TOL = 1e-10  # absolute difference from torch in float64
REL_TOL = 1e-12  # plus this relative part, for values far from 1 (a scalar exp(40), a loss of 15000)
GRAD_TOL = 1e-7  # relative error against central differences (h = 1e-5)
GRAD_ATOL = 1e-9  # ...or an absolute one, where the analytic gradient is exactly 0


def rng_for(*key) -> np.random.Generator:
    """A generator seeded by the test case itself (names, shapes), so every case draws its own numbers."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def to_numpy(value):
    """A torch tensor as a NumPy array (detached, on the CPU); arrays and numbers unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def to_torch(value, requires_grad: bool = False):
    """A NumPy array as a torch tensor: floats as float64 leaves, integer labels as int64; others unchanged."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "f":
        return torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad)
    if value.dtype.kind in "iu":
        return torch.from_numpy(value.astype(np.int64))
    return torch.from_numpy(value.copy())


def max_diff(ours, theirs) -> float:
    """Largest absolute difference of two arrays, tensors or numbers of the same shape."""
    a = np.asarray(to_numpy(ours), dtype=np.float64)
    b = np.asarray(to_numpy(theirs), dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} and {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def assert_close(ours, theirs, name: str = "value", tol: float = TOL) -> None:
    """ours agrees with theirs (torch's, or a reference) under the policy above; None must meet None.

    ``tol=0`` asks for exact equality (no relative part either).
    """
    if ours is None or theirs is None:
        assert ours is None and theirs is None, f"{name}: one side is None ({ours is None}, {theirs is None})"
        return
    a = np.asarray(to_numpy(ours), dtype=np.float64)
    b = np.asarray(to_numpy(theirs), dtype=np.float64)
    assert a.shape == b.shape, f"{name}: shape {a.shape}, expected {b.shape}"
    if a.size == 0:
        return
    allowed = tol + (REL_TOL * np.abs(b) if tol else 0.0)
    excess = np.abs(a - b) - allowed
    assert np.all(excess <= 0), f"{name}: max |diff| {max_diff(a, b):.3g} exceeds tol {tol:g}"


def assert_pairs_close(pairs: dict, tol: float = TOL) -> None:
    """Every ``name: (ours, theirs)`` pair agrees (the form twins' ``*_pairs`` helpers return)."""
    for name, (ours, theirs) in pairs.items():
        assert_close(ours, theirs, name, tol)


def assert_numeric_close(analytic, numeric, name: str = "gradient") -> None:
    """An analytic gradient agrees with a numeric one under the policy above."""
    assert np.shape(analytic) == np.shape(numeric), f"{name}: shape {np.shape(analytic)} vs {np.shape(numeric)}"
    error = rel_error(analytic, numeric)
    if error <= GRAD_TOL:
        return
    worst = max_diff(analytic, numeric)
    assert worst < GRAD_ATOL, f"{name}: rel_error {error:.3g} > {GRAD_TOL:g} and max |diff| {worst:.3g}"


def _flat(outputs) -> np.ndarray:
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outputs])


def _is_slot(value) -> bool:
    """Inputs that get a gradient (or a None one): float arrays and None; labels and numbers get none."""
    return value is None or (isinstance(value, np.ndarray) and value.dtype.kind == "f")


def numeric_grads(forward, inputs, dout, names=None) -> list:
    """Central-difference gradients of ``sum(forward(*inputs)[0] * dout)`` for every float-array input.

    ``forward`` may return one output or a tuple of them (``dout`` then a tuple too).
    Returns one entry per gradient slot (None for a None input).
    """
    flat_dout = _flat(dout)
    grads = []
    for x in inputs:
        if not _is_slot(x):
            continue
        if x is None:
            grads.append(None)
            continue
        grads.append(numeric_gradient(lambda: _flat(forward(*inputs)[0]), x, flat_dout))
    return grads


def torch_vjp(torch_fn, inputs, dout):
    """Run ``torch_fn`` on tensors made from ``inputs`` and backprop ``dout``: (outputs, grads as arrays).

    Float arrays become float64 leaves; integer arrays int64 tensors; None and numbers pass through.
    ``torch_fn`` may return a tensor or a tuple of tensors (``dout`` then a tuple of the same length).
    Returns one gradient per slot, as ``numeric_grads`` does.
    """
    tensors = [to_torch(x, requires_grad=_is_slot(x)) for x in inputs]
    out = torch_fn(*tensors)
    outs = out if isinstance(out, tuple) else (out,)
    douts = dout if isinstance(dout, tuple) else (dout,)
    assert len(outs) == len(douts), f"torch_fn returned {len(outs)} outputs for {len(douts)} douts"
    total = sum((o * torch.as_tensor(np.asarray(d, dtype=np.float64))).sum() for o, d in zip(outs, douts))
    leaves = [t for t, x in zip(tensors, inputs) if x is not None and _is_slot(x)]
    grads_t = torch.autograd.grad(total, leaves, allow_unused=True) if leaves else ()
    grads_t = iter(grads_t)
    grads = []
    for t, x in zip(tensors, inputs):
        if not _is_slot(x):
            continue
        if x is None:
            grads.append(None)
            continue
        g = next(grads_t)
        grads.append(torch.zeros_like(t).numpy() if g is None else g.detach().numpy())
    outs_np = tuple(o.detach().numpy() for o in outs)
    return (outs_np if isinstance(out, tuple) else outs_np[0]), grads


class OpResult(NamedTuple):
    """What ``check_op`` ran, for a test's own further assertions."""

    inputs: list
    out: object
    grads: tuple
    dout: object


def check_op(
    forward,
    backward,
    torch_fn,
    shapes=None,
    *,
    inputs=None,
    extra=(),
    dout=None,
    rng=None,
    scale: float = 1.0,
    numeric: bool = True,
    tol: float = TOL,
) -> OpResult:
    """Check a scratch forward/backward pair against torch and against numeric gradients, in float64.

    ``forward(*inputs, *extra) -> (out, cache)`` and ``backward(dout, cache)``
    returns one gradient per float-array or None input, in order (a single
    gradient may come bare). ``torch_fn(*tensors, *extra)`` is the twin, on
    the same inputs as tensors. ``out`` may be a tuple of outputs; ``dout``
    and ``torch_fn``'s result are then tuples as well.

    Inputs: ``shapes`` (one shape per input, drawn standard normal times
    ``scale``; None for a None input) or ``inputs`` (arrays, labels, None).
    ``extra`` are hyperparameters passed to both sides after the inputs
    (they get no gradient). ``dout`` defaults to standard normal noise of
    the output's shape. ``rng`` defaults to one seeded by the shapes.

    ``numeric=False`` skips the numeric gradients (inputs at a kink);
    ``tol=0`` asks torch for bit-for-bit equal values.
    """
    if rng is None:
        rng = rng_for("check_op", getattr(forward, "__name__", ""), shapes)
    if inputs is None:
        assert shapes is not None, "pass shapes or inputs"
        inputs = [None if s is None else scale * rng.standard_normal(s) for s in shapes]
    inputs = list(inputs)
    extra = tuple(extra)

    def scratch(*xs):
        return forward(*xs, *extra)

    out, cache = scratch(*inputs)
    if dout is None:
        if isinstance(out, tuple):
            dout = tuple(rng.standard_normal(np.shape(o)) for o in out)
        else:
            dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    n_slots = sum(_is_slot(x) for x in inputs)
    assert len(grads) == n_slots, f"backward returned {len(grads)} gradients for {n_slots} float or None inputs"

    out_t, grads_t = torch_vjp(lambda *ts: torch_fn(*ts, *extra), inputs, dout)
    outs = out if isinstance(out, tuple) else (out,)
    outs_t = out_t if isinstance(out_t, tuple) else (out_t,)
    assert len(outs) == len(outs_t), f"{len(outs)} scratch outputs, {len(outs_t)} torch outputs"
    for i, (o, o_t) in enumerate(zip(outs, outs_t)):
        assert_close(o, o_t, f"output {i}", tol)
    for i, (g, g_t) in enumerate(zip(grads, grads_t)):
        assert_close(g, g_t, f"gradient {i}", tol)

    if numeric:
        for i, (g, g_num) in enumerate(zip(grads, numeric_grads(scratch, inputs, dout))):
            if g_num is None:
                assert g is None, f"gradient {i}: expected None for a None input"
                continue
            assert_numeric_close(g, g_num, f"numeric gradient {i}")
    return OpResult(inputs, out, grads, dout)


def check_module_twin(module, twin, x, dout=None, rng=None, tol: float = TOL) -> np.ndarray:
    """A scratch Module and its torch twin agree on out, dx and every parameter gradient (by state_dict name).

    The two must already hold the same weights. The twin's gradients are
    zeroed first. Returns the scratch output.
    """
    rng = rng_for("check_module_twin", type(module).__name__, np.shape(x)) if rng is None else rng
    out = module.forward(x)
    if dout is None:
        dout = rng.standard_normal(out.shape)
    dx = module.backward(dout)
    twin.zero_grad()
    x_t = to_torch(x, requires_grad=True)
    out_t = twin(x_t)
    out_t.backward(torch.as_tensor(dout, dtype=out_t.dtype))
    assert_close(out, out_t, "out", tol)
    assert_close(dx, x_t.grad, "dx", tol)
    twin_params = dict(twin.named_parameters())
    for name, _, grad in module.named_parameters():
        assert_close(grad, twin_params[name].grad, f"{name}.grad", tol)
    return out


def check_module_numeric(module, x, rng=None, expected=None) -> dict:
    """A scratch Module's dx and parameter gradients agree with numeric ones; returns the errors by name.

    ``expected``, if given, is the set of names that must be checked (x plus
    the parameters, named as in state_dict).
    """
    from course_lib.scratch.gradcheck import check_module

    rng = rng_for("check_module_numeric", type(module).__name__, np.shape(x)) if rng is None else rng
    errors = check_module(module, x, rng=rng)
    if expected is not None:
        assert set(errors) == set(expected), sorted(errors)
    assert max(errors.values()) <= GRAD_TOL, errors
    return errors


def assert_diffs_small(diffs: dict, tol: float = TOL) -> None:
    """Every ``name: max |scratch - torch|`` (the form ``twins.recurrent.compare_recurrent`` returns) is within tol."""
    too_far = {name: d for name, d in diffs.items() if not d <= tol}
    assert not too_far, f"max |diff| above {tol:g}: {too_far}"
