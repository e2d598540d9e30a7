"""Compare a notebook cell's new output with its stored one, numbers as numbers.

A chapter's stored outputs must validate on any CPU, thread count and GPU.
Training moves its printed metrics in the third or fourth digit from one
machine to the next, so an exact text comparison fails everywhere but on the
machine that recorded them. The rules here (used by the nbval plugin in
``conftest.py`` and by ``tests/test_shipped_notebooks.py``):

* text that is not a number is compared exactly (runs of spaces and tabs
  count as one, so a column that widens by a digit still matches);
* an integer (``12``, ``-3``) is compared exactly: counts, shapes, epochs;
* a decimal (``0.670``, ``1.2e-05``) may move by one unit in its last printed
  place, so a rounding flip of deterministic maths passes;
* a cell whose numbers come from training declares how far they may move, in
  its metadata, where the notebook shows it::

      "tolerance": {"abs": 0.01, "why": "test accuracy after training"}

  ``abs`` and ``rel`` widen the band of decimals, ``counts`` lets integers
  move (a count or a rounded percentage that training produces), ``below``
  treats every stored value under it as "small" (a new value under it
  passes: round-off reports such as ``max |diff| 3.1e-16``), ``lines`` (a
  regular expression) limits the tolerance to the lines it matches, and
  ``why`` says what the numbers are. A cell that prints several kinds of
  number gives a list of such tolerances, each with its ``lines``; a line
  takes the first that matches it. The claim itself is the cell's
  ``assert``; the tolerance only says how much the printed digits may vary.

A tolerance wider than a value it covers would let that value become
anything, so ``too_wide`` reports it and the checking run fails such a cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from course_lib.checks import _fail

__all__ = ["Tolerance", "tolerance_of", "compare_text", "too_wide", "describe", "NUMBER", "KEY"]

KEY = "tolerance"
# A number as printed: optional sign, digits with an optional fraction, optional exponent.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_SPACES = re.compile(r"[ \t]+")
_FIELDS = {"abs", "rel", "counts", "below", "lines", "why"}


@dataclass(frozen=True)
class Tolerance:
    """How far a cell's printed numbers may move (all zero: the defaults only)."""

    abs: float = 0.0
    rel: float = 0.0
    counts: int = 0
    below: float = 0.0
    lines: str | None = None
    why: str = ""

    def __post_init__(self):
        for name in ("abs", "rel", "below"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                _fail(TypeError if not isinstance(value, int | float) else ValueError, "Tolerance",
                      f"{name} as a finite number >= 0", repr(value), None)
        if isinstance(self.counts, bool) or not isinstance(self.counts, int) or self.counts < 0:
            _fail(TypeError if not isinstance(self.counts, int) else ValueError, "Tolerance",
                  "counts as a whole number >= 0", repr(self.counts), None)
        if self.lines is not None and not isinstance(self.lines, str):
            _fail(TypeError, "Tolerance", "lines as a regular expression (a str) or None", repr(self.lines), None)
        if not isinstance(self.why, str):
            _fail(TypeError, "Tolerance", "why as a str", repr(self.why), "say what the numbers are")

    def applies_to(self, line: str) -> bool:
        _check_str(line, "line", "Tolerance.applies_to")
        return self.lines is None or re.search(self.lines, line) is not None

    def describe(self) -> str:
        parts = [f"{name} {getattr(self, name)}" for name in ("abs", "rel", "counts", "below") if getattr(self, name)]
        if self.lines is not None:
            parts.append(f"on lines matching {self.lines!r}")
        return ", ".join(parts) if parts else "none declared"


EXACT = Tolerance()


def _check_str(value, name: str, func: str) -> str:
    if not isinstance(value, str):
        _fail(TypeError, func, f"{name} to be a str", type(value).__name__, "pass the output's text")
    return value


def _check_tol(tol, func: str):
    """A ``Tolerance`` or a non-empty tuple of them, as ``tolerance_of`` returns."""
    rules = tol if isinstance(tol, tuple) and tol else (tol,)
    if not all(isinstance(rule, Tolerance) for rule in rules):
        _fail(TypeError, func, "tol to be a Tolerance or a tuple of them", repr(tol)[:80],
              "pass what tolerance_of(cell.metadata) returns")
    return tol


def _check_cell(cell, func: str):
    if not isinstance(cell, Mapping) or not isinstance(cell.get("metadata", {}), Mapping):
        _fail(TypeError, func, "cell to be a notebook cell (a mapping with 'metadata')", type(cell).__name__,
              "pass one of nbformat.read(path, as_version=4).cells")
    return cell


def tolerance_of(metadata, where: str = "cell"):
    """The tolerance a cell declares in ``metadata["tolerance"]``: ``EXACT`` when
    none, a ``Tolerance`` for one mapping, a tuple of them for a list."""
    if metadata is not None and not isinstance(metadata, Mapping):
        _fail(TypeError, "tolerance_of", "metadata to be a cell's metadata (a mapping)", type(metadata).__name__,
              "pass cell.metadata")
    _check_str(where, "where", "tolerance_of")
    spec = (metadata or {}).get(KEY)
    if spec is None:
        return EXACT
    if isinstance(spec, list) and spec:
        return tuple(_parse(item, f"{where}, tolerance {i + 1}") for i, item in enumerate(spec))
    return _parse(spec, where)


def _parse(spec, where: str) -> Tolerance:
    if not isinstance(spec, dict) or not spec:
        _fail(TypeError, "tolerance_of", f"{where}: metadata 'tolerance' as a non-empty mapping",
              repr(spec), 'e.g. {"abs": 0.01, "why": "accuracy after training"}')
    unknown = set(spec) - _FIELDS
    if unknown:
        _fail(ValueError, "tolerance_of", f"{where}: tolerance fields among {sorted(_FIELDS)}",
              f"{sorted(unknown)}", "rename or remove them")
    why = spec.get("why")
    if not isinstance(why, str) or len(why.strip()) < 8:
        _fail(ValueError, "tolerance_of", f"{where}: a 'why' saying what the numbers are", repr(why),
              'e.g. "why": "test accuracy after 20 epochs of training"')
    values = {}
    for name in ("abs", "rel", "below"):
        value = spec.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            _fail(ValueError, "tolerance_of", f"{where}: '{name}' as a finite number >= 0", repr(value), None)
        values[name] = float(value)
    counts = spec.get("counts", 0)
    if isinstance(counts, bool) or not isinstance(counts, int) or counts < 0:
        _fail(ValueError, "tolerance_of", f"{where}: 'counts' as a whole number >= 0", repr(counts), None)
    lines = spec.get("lines")
    if lines is not None:
        try:
            re.compile(lines)
        except (re.error, TypeError) as error:
            _fail(ValueError, "tolerance_of", f"{where}: 'lines' as a regular expression", repr(lines), str(error))
    if values["rel"] >= 1:
        _fail(ValueError, "tolerance_of", f"{where}: 'rel' below 1", repr(values["rel"]),
              "a relative tolerance of 1 lets any value pass")
    if not (values["abs"] or values["rel"] or counts or values["below"]):
        _fail(ValueError, "tolerance_of", f"{where}: at least one of abs, rel, counts, below", "none",
              "remove the metadata to compare with the defaults")
    return Tolerance(values["abs"], values["rel"], counts, values["below"], lines, why.strip())


def _split(text: str):
    """(skeleton with numbers cut out, [(line number, line, token), ...])."""
    numbers, pieces, last = [], [], 0
    lines = text.split("\n")
    for match in NUMBER.finditer(text):
        pieces.append(text[last:match.start()])
        line_no = text.count("\n", 0, match.start()) + 1
        numbers.append((line_no, lines[line_no - 1], match.group()))
        last = match.end()
    pieces.append(text[last:])
    return [_SPACES.sub(" ", piece) for piece in pieces], numbers


def _is_int(token: str) -> bool:
    return not any(c in token for c in ".eE")


def _last_place(token: str) -> float:
    """One unit in the last printed place: 0.001 for '0.670', 1e-7 for '1.23e-05'."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def _pick(tol, line: str) -> Tolerance:
    """The tolerance that governs one line: the first of the cell's that applies to it."""
    rules = tol if isinstance(tol, tuple) else (tol,)
    return next((rule for rule in rules if rule is not EXACT and rule.applies_to(line)), EXACT)


def describe(tol) -> str:
    """A cell's tolerance (one or several) in words."""
    _check_tol(tol, "describe")
    rules = tol if isinstance(tol, tuple) else (tol,)
    return "; ".join(rule.describe() for rule in rules)


def _allowed(old: str, new: str, ours: Tolerance) -> float:
    """The largest difference allowed between two printed numbers."""
    if _is_int(old) and _is_int(new):
        return float(ours.counts)
    default = max(_last_place(old), _last_place(new)) * (1 + 1e-9)
    return max(default, ours.abs, ours.rel * abs(float(old)))


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``compare_text``: ``same``, ``numbers`` (moved too far) or ``text``."""

    kind: str
    problems: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in ("same", "numbers", "text"):
            _fail(ValueError, "Verdict", "kind to be one of 'same', 'numbers', 'text'", repr(self.kind), None)
        if not isinstance(self.problems, tuple) or not all(isinstance(p, str) for p in self.problems):
            _fail(TypeError, "Verdict", "problems as a tuple of str", repr(self.problems)[:80], None)

    @property
    def ok(self) -> bool:
        return self.kind == "same"


def compare_text(old: str, new: str, tol=EXACT) -> Verdict:
    """Compare a stored output text with a new one; numbers within ``tol``
    (a ``Tolerance`` or a tuple of them, as ``tolerance_of`` returns).

    Returns a ``Verdict``: ``same`` when the texts agree (numbers within
    their tolerance), ``text`` when anything but the numbers differs,
    ``numbers`` with one line per number that moved too far, naming the line,
    the old and new number, and the tolerance it exceeded.
    """
    _check_str(old, "old", "compare_text")
    _check_str(new, "new", "compare_text")
    _check_tol(tol, "compare_text")
    if old == new:
        return Verdict("same")
    old_skeleton, old_numbers = _split(old)
    new_skeleton, new_numbers = _split(new)
    if old_skeleton != new_skeleton:
        return Verdict("text")
    problems = []
    for (line_no, line, a), (_, new_line, b) in zip(old_numbers, new_numbers, strict=True):
        if a == b:
            continue
        x, y = float(a), float(b)
        ours = _pick(tol, line)
        if ours.below and abs(x) < ours.below and abs(y) < ours.below:
            continue
        limit = _allowed(a, b, ours)
        if abs(x - y) > limit:
            declared = ours.describe() if ours is not EXACT else "none declared"
            kind = "integers are exact" if _is_int(a) and _is_int(b) and not ours.counts else \
                f"allowed {limit:.3g}"
            problems.append(f"line {line_no}: {a} -> {b} (|difference| {abs(x - y):.3g}; {kind}; "
                            f"declared tolerance: {declared})\n    stored: {line.strip()}\n    now:    "
                            f"{new_line.strip()}")
    return Verdict("numbers", tuple(problems)) if problems else Verdict("same")


def too_wide(text: str, tol) -> list[str]:
    """The printed values a tolerance is wider than (so they could become anything)."""
    _check_str(text, "text", "too_wide")
    _check_tol(tol, "too_wide")
    found = []
    for line_no, line, token in _split(text)[1]:
        ours = _pick(tol, line)
        value = abs(float(token))
        if ours is EXACT or value == 0 or (ours.below and value < ours.below):
            continue
        band = ours.counts if _is_int(token) else max(ours.abs, ours.rel * value)
        if band > value:
            found.append(f"line {line_no}: {token} with a tolerance of {band:.3g} ({ours.describe()})")
    return found


def cell_kind(cell) -> str:
    """How the checking run compares a code cell: ``exact`` (the defaults),
    ``tolerance`` (declared in its metadata) or ``not compared`` (tagged
    nbval-ignore-output or nbval-skip)."""
    _check_cell(cell, "cell_kind")
    tags = cell.get("metadata", {}).get("tags", [])
    if "nbval-ignore-output" in tags or "nbval-skip" in tags:
        return "not compared"
    return "tolerance" if KEY in cell.get("metadata", {}) else "exact"


def comparison_report(notebooks) -> list[dict]:
    """Per notebook (``{"name", "cells"}`` with nbformat cells): how many code
    cells are compared exactly, with a tolerance, and not at all, and every
    declared tolerance with its reason."""
    if isinstance(notebooks, str | Mapping) or not isinstance(notebooks, Iterable):
        _fail(TypeError, "comparison_report", 'notebooks as an iterable of {"name", "cells"} mappings',
              type(notebooks).__name__, 'e.g. [{"name": p.name, "cells": nbformat.read(p, as_version=4).cells}]')
    rows = []
    for nb in notebooks:
        if not isinstance(nb, Mapping) or not isinstance(nb.get("name"), str) or not isinstance(nb.get("cells"), list):
            _fail(TypeError, "comparison_report", 'each notebook as a mapping {"name": str, "cells": list}',
                  repr(nb)[:80], None)
        counts = {"exact": 0, "tolerance": 0, "not compared": 0}
        declared = []
        code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
        for number, cell in enumerate(code):
            kind = cell_kind(cell)
            counts[kind] += 1
            if kind == "tolerance":
                tol = tolerance_of(cell["metadata"], f"{nb['name']}, Cell {number}")
                declared.append((number, tol))
        rows.append({"name": nb["name"], **counts, "declared": declared})
    return rows


def format_report(rows) -> str:
    """The report as a table, then every declared tolerance."""
    keys = {"name", "exact", "tolerance", "not compared", "declared"}
    if not isinstance(rows, list | tuple) or not all(isinstance(r, Mapping) and keys <= set(r) for r in rows):
        _fail(TypeError, "format_report", "rows as the list comparison_report returns", repr(rows)[:80],
              "pass comparison_report(notebooks)")
    lines = [f"{'notebook':34s} {'exact':>6s} {'tolerance':>9s} {'not compared':>12s}"]
    for row in rows:
        lines.append(f"{row['name']:34s} {row['exact']:6d} {row['tolerance']:9d} {row['not compared']:12d}")
    total = {key: sum(row[key] for row in rows) for key in ("exact", "tolerance", "not compared")}
    lines.append(f"{'all chapters':34s} {total['exact']:6d} {total['tolerance']:9d} {total['not compared']:12d}")
    for row in rows:
        for number, tol in row["declared"]:
            rules = tol if isinstance(tol, tuple) else (tol,)
            why = " / ".join(dict.fromkeys(rule.why for rule in rules))
            lines.append(f"  {row['name']}, Cell {number}: {describe(tol)} - {why}")
    return "\n".join(lines)
