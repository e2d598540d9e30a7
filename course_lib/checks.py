"""Input checks that raise errors which teach.

Every public function in course_lib validates what it is given with these
helpers, so a mistake produces a message of one shape:

    "<function>: expected <what>, got <what arrived>; <how to fix it>"

The helpers are NumPy-only so that ``course_lib.scratch`` can use them.
"""

from __future__ import annotations

import numbers

import numpy as np


def _fail(exc_type, func: str, expected: str, got: str, fix: str | None):
    message = f"{func}: expected {expected}, got {got}"
    if fix:
        message += f"; {fix}"
    raise exc_type(message)


def check_array(
    x,
    name: str,
    func: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape_doc: str | None = None,
    dtype_kind: str = "fc",
    allow_empty: bool = False,
    fix: str | None = None,
) -> np.ndarray:
    """Check that ``x`` is a NumPy array of a given rank and numeric kind.

    ``dtype_kind`` lists the accepted ``dtype.kind`` letters: ``"f"`` float,
    ``"c"`` complex, ``"i"``/``"u"`` integer, ``"b"`` bool. ``shape_doc`` is
    the human description of the expected shape, e.g. ``"(N, D)"``.
    Returns ``x`` unchanged so the call can sit in an assignment.
    """
    if not isinstance(x, np.ndarray):
        kind = type(x).__name__
        hint = fix or f"convert it first, e.g. np.asarray({name}, dtype=float)"
        if kind == "Tensor":
            hint = f"this is NumPy code; pass {name}.detach().cpu().numpy()"
        _fail(TypeError, func, f"{name} to be a numpy.ndarray", f"{kind}", hint)
    if x.dtype.kind not in dtype_kind:
        wanted = {
            "f": "floating",
            "c": "complex",
            "i": "integer",
            "u": "unsigned integer",
            "b": "boolean",
        }
        names = " or ".join(wanted.get(k, k) for k in dtype_kind)
        hint = fix or (
            f"cast it, e.g. {name}.astype(np.float64)"
            if "f" in dtype_kind
            else f"cast it, e.g. {name}.astype(np.int64)"
        )
        article = "an" if names[0] in "aeiou" else "a"
        _fail(TypeError, func, f"{name} with {article} {names} dtype", f"dtype {x.dtype}", hint)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            expected = f"{name} of shape {shape_doc}" if shape_doc else f"{name} with {ndim} dimensions"
            _fail(ValueError, func, expected, f"shape {x.shape}", fix)
    if not allow_empty and x.size == 0:
        _fail(ValueError, func, f"a non-empty {name}", f"shape {x.shape}", fix or "pass at least one example")
    if x.dtype.kind in "fc" and not np.all(np.isfinite(x)):
        _fail(
            ValueError,
            func,
            f"finite values in {name}",
            "NaN or inf",
            fix or "check for a diverged computation or missing data",
        )
    return x


def check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str], func: str) -> None:
    """Check that two arrays hold the same number of examples (axis 0)."""
    if a.shape[0] != b.shape[0]:
        _fail(
            ValueError,
            func,
            f"{names[0]} and {names[1]} with the same number of rows",
            f"{a.shape[0]} and {b.shape[0]}",
            "pass matching examples and labels",
        )


def check_labels(y: np.ndarray, num_classes: int, name: str, func: str) -> np.ndarray:
    """Check integer class labels in ``[0, num_classes)``; returns them as int64."""
    check_array(y, name, func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if y.min() < 0 or y.max() >= num_classes:
        _fail(
            ValueError,
            func,
            f"{name} in [0, {num_classes})",
            f"values from {int(y.min())} to {int(y.max())}",
            "labels must be class indices 0..C-1",
        )
    return y.astype(np.int64, copy=False)


def check_int(
    value,
    name: str,
    func: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Check that ``value`` is an integer (not a bool) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(TypeError, func, f"{name} to be an int", f"{type(value).__name__} {value!r}", None)
    value = int(value)
    if minimum is not None and value < minimum:
        _fail(ValueError, func, f"{name} >= {minimum}", repr(value), None)
    if maximum is not None and value > maximum:
        _fail(ValueError, func, f"{name} <= {maximum}", repr(value), None)
    return value


def check_float(
    value,
    name: str,
    func: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
) -> float:
    """Check that ``value`` is a real number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(TypeError, func, f"{name} to be a number", f"{type(value).__name__} {value!r}", None)
    value = float(value)
    if not np.isfinite(value):
        _fail(ValueError, func, f"a finite {name}", repr(value), None)
    if minimum is not None:
        if strict_min and value <= minimum:
            _fail(ValueError, func, f"{name} > {minimum}", repr(value), None)
        if not strict_min and value < minimum:
            _fail(ValueError, func, f"{name} >= {minimum}", repr(value), None)
    if maximum is not None and value > maximum:
        _fail(ValueError, func, f"{name} <= {maximum}", repr(value), None)
    return value


def check_choice(value, name: str, func: str, choices) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        _fail(ValueError, func, f"{name} to be one of {listed}", repr(value), None)
    return value


def check_shape(x: np.ndarray, shape: tuple, name: str, func: str, fix: str | None = None) -> None:
    """Check an exact shape; ``None`` in ``shape`` matches any size."""
    ok = x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape))
    if not ok:
        doc = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        _fail(ValueError, func, f"{name} of shape {doc}", f"shape {x.shape}", fix)


def check_rng(rng, func: str) -> np.random.Generator:
    """A ``numpy.random.Generator``, or a fresh one when ``rng`` is None.

    None draws the new generator's seed from NumPy's global state, so
    ``np.random.seed(0)`` (which ``course_lib.device.setup(seed=0)`` calls)
    makes un-seeded models and masks reproducible too.
    """
    if rng is None:
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 (global seed on purpose)
    if not isinstance(rng, np.random.Generator):
        _fail(
            TypeError,
            func,
            "rng to be a numpy.random.Generator or None",
            type(rng).__name__,
            "pass rng=np.random.default_rng(0)",
        )
    return rng


def check_cache(cache, func: str, forward: str, length: int | None = None, items: dict | None = None):
    """Check a backward pass's ``cache``: a tuple of ``length`` items, or (``length=None``) an array.

    ``forward`` names the function whose second return value the cache must be.
    ``items`` (optional) maps positions in the tuple to what ``forward`` keeps
    there: an int is the rank of an array, a type the item's type. Each check
    is O(1) (nothing is scanned), and refuses the cache of another forward
    pass by name instead of letting it fail deep inside the backward maths.
    Returns the cache unchanged.
    """
    fix = f"pass the cache that {forward} returned with this output: out, cache = {forward}(...)"
    if length is None:
        if not isinstance(cache, np.ndarray):
            _fail(TypeError, func, f"cache to be the array returned by {forward}", type(cache).__name__, fix)
        return cache
    if not isinstance(cache, tuple) or len(cache) != length:
        got = f"a tuple of {len(cache)}" if isinstance(cache, tuple) else type(cache).__name__
        _fail(TypeError, func, f"cache to be the {length}-tuple returned by {forward}", got, fix)
    for k, want in (items or {}).items():
        item = cache[k]
        if isinstance(want, int):
            ok, doc = isinstance(item, np.ndarray) and item.ndim == want, f"a {want}-D array"
        else:
            ok, doc = isinstance(item, want), f"a {want.__name__}"
        if not ok:
            got = f"shape {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
            _fail(TypeError, func, f"cache[{k}] to be {doc}, as {forward} returns it", got, fix)
    return cache


def check_dout(dout, shape: tuple, func: str, name: str = "dout") -> np.ndarray:
    """A backward pass's upstream gradient: a finite float array of the forward output's shape.

    Every scratch backward function calls this one check on its upstream
    gradient (the forward pass checked its own inputs).
    """
    check_array(dout, name, func, dtype_kind="f", allow_empty=True)
    if dout.shape != tuple(shape):
        _fail(
            ValueError,
            func,
            f"{name} of the forward output's shape {tuple(shape)}",
            f"shape {dout.shape}",
            "pass the gradient of the loss with respect to this layer's output",
        )
    return dout


def check_argv(argv, func: str = "main") -> list[str] | None:
    """A command line's ``argv``: None (read ``sys.argv``) or a list or tuple of str; returns it as a list."""
    if argv is None:
        return None
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        _fail(TypeError, func, "argv as a list of str (or None for the command line)", repr(argv),
              "e.g. main(['--help'])")
    return list(argv)


def reraise_as(exc: Exception, func: str, where: str | None = None):
    """A copy of a ValueError/TypeError from an inner call, re-worded for the function the user called.

    ``linear_forward: expected ...`` raised inside layer 0 of an MLP becomes
    ``MLP.forward: layer 0 (Linear): expected ...``. Use as
    ``except (ValueError, TypeError) as exc: raise reraise_as(exc, "MLP.forward", "layer 0 (Linear)") from exc``.
    """
    message = str(exc)
    inner, sep, rest = message.partition(": ")
    if sep and " " not in inner:  # drop the inner function's name
        message = rest
    return type(exc)(f"{func}: {where}: {message}" if where else f"{func}: {message}")


class named_errors:  # noqa: N801 (used like a function: ``with named_errors("Linear.forward"):``)
    """A context that re-raises ValueError/TypeError from inner calls under ``func`` (see ``reraise_as``).

    ``with named_errors("Linear.forward"): out = linear_forward(...)`` turns
    ``linear_forward: expected x ...`` into ``Linear.forward: expected x ...``;
    ``where`` adds a position, e.g. ``"layer 0 (Linear)"``. ``errors`` widens
    the exception types re-raised (a composite also renames a part's RuntimeError).
    """

    def __init__(self, func: str, where: str | None = None, errors: tuple = (ValueError, TypeError)):
        self.func, self.where, self.errors = func, where, errors

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and isinstance(exc, self.errors):
            raise reraise_as(exc, self.func, self.where) from exc
        return False
