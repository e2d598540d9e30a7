"""Exercise checks: each says "correct" or gives a hint, never a bare traceback.

A notebook exercise is a cell whose solution sits between the markers

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

(nbgrader's markers), followed by a cell that calls a ``check_*`` function
from the chapter's ``exercises`` module, e.g.
``course_lib.chapters.ch01_perceptron.exercises``. The student edition
replaces a solution inside a function with ``raise NotImplementedError`` and
a solution at the top level of a cell with ``name = None`` for each name it
defines; the checks recognise both and answer "not attempted yet", so Run All
goes on to the end of the chapter.

Every check returns a :class:`Feedback`, which displays as one line, and is
remembered: ``progress_report`` lists which of a chapter's exercises pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.checks import _fail, check_float


@dataclass(frozen=True)
class Feedback:
    """The outcome of one check: ``passed`` and a message for the student."""

    exercise: str
    passed: bool
    message: str

    def __repr__(self) -> str:
        mark = "correct" if self.passed else "not yet"
        return f"[{self.exercise}] {mark}: {self.message}"


NOT_ATTEMPTED = "not attempted yet: write your answer in the exercise cell above, run it, then run this check."
_LATEST: dict[str, bool] = {}  # exercise -> passed, for progress_report


def _check_text(value, name: str, func: str) -> str:
    if not isinstance(value, str):
        _fail(TypeError, func, f"{name} as a str", type(value).__name__,
              "e.g. failed('relu', 'negative inputs must give 0.')" if func == "failed" else None)
    return value


def passed(exercise: str, message: str = "well done.") -> Feedback:
    """A correct answer's Feedback."""
    result = Feedback(_check_text(exercise, "exercise", "passed"), True, _check_text(message, "message", "passed"))
    _LATEST[exercise] = True
    return result


def failed(exercise: str, hint: str) -> Feedback:
    """A "not yet" Feedback with a hint for the student."""
    result = Feedback(_check_text(exercise, "exercise", "failed"), False, _check_text(hint, "hint", "failed"))
    _LATEST[exercise] = False
    return result


def not_attempted(exercise: str) -> Feedback:
    """The Feedback of an exercise the student has not written yet."""
    return failed(_check_text(exercise, "exercise", "not_attempted"), NOT_ATTEMPTED)


def student_value(exercise: str, value):
    """An answer that is a value, not a function: return (value, None), or (None, "not attempted yet") for None.

    The student edition sets such answers to None (see the module docstring).
    """
    _check_text(exercise, "exercise", "student_value")
    if value is None:
        return None, not_attempted(exercise)
    return value, None


def call_student(exercise: str, func, *args):
    """Call the student's function; return (result, None) or (None, Feedback).

    Exceptions become hints instead of tracebacks; ``NotImplementedError``
    (the student edition's placeholder) becomes "not attempted yet".
    """
    _check_text(exercise, "exercise", "call_student")
    if func is None:
        return None, not_attempted(exercise)
    if not callable(func):
        return None, failed(exercise, f"pass your function itself, not {type(func).__name__}.")
    try:
        return func(*args), None
    except NotImplementedError:
        return None, not_attempted(exercise)
    except Exception as exc:  # the point is to turn any mistake into a hint
        return None, failed(exercise, f"your code raised {type(exc).__name__}: {exc}")


def close(actual, expected, atol: float = 1e-8) -> bool:
    """True when ``actual`` (the student's answer: anything) has ``expected``'s shape and values (within atol)."""
    atol = check_float(atol, "atol", "close", minimum=0.0)
    try:
        expected = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        _fail(TypeError, "close", "expected (the reference answer) as numbers or an array of them",
              type(expected).__name__, None)
    try:
        actual = np.asarray(actual, dtype=float)
    except (TypeError, ValueError):
        return False
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, atol=atol, rtol=0))


def where_differs(name: str, yours, expected) -> str:
    """Where an answer no known mistake explains differs most from the reference, in words.

    E.g. ``"dx[0, 2] is 0.5 but should be 0.25 (|difference| 0.25; 3 of 12 elements differ)"``:
    the element, both values and how many elements differ, never the formula.
    A single number gives ``"loss is 0.5 but should be 0.25 (|difference| 0.25)"``.

    Shapes: yours and expected of one shape (or both single numbers) -> str.
    """
    _check_text(name, "name", "where_differs")
    expected = np.asarray(expected, dtype=float)
    yours = np.asarray(yours, dtype=float)
    if yours.shape != expected.shape:
        return f"{name} has shape {yours.shape} but should have shape {expected.shape}"
    if yours.ndim == 0:
        return f"{name} is {float(yours):.6g} but should be {float(expected):.6g} (|difference| " \
               f"{abs(float(yours) - float(expected)):.3g})"
    gap = np.abs(yours - expected)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape)) if gap.size else ()
    count = int(np.sum(~np.isclose(yours, expected, rtol=1e-6, atol=1e-8)))
    return (f"{name}{list(where)} is {yours[where]:.6g} but should be {expected[where]:.6g} "
            f"(|difference| {gap[where]:.3g}; {count} of {gap.size} elements differ)")


def progress_report(exercises, chapter: str = "this chapter") -> str:
    """One line per exercise of a chapter: correct, not yet, or not checked yet (its check cell has not run).

    ``exercises`` lists the exercise names in the order the chapter asks
    them (each chapter's ``EXERCISES``). Prints the report and returns it.
    """
    if isinstance(exercises, str) or not isinstance(exercises, list | tuple) or not all(
            isinstance(e, str) for e in exercises):
        _fail(TypeError, "progress_report", "exercises as a list of exercise names (str)", repr(exercises)[:60],
              "pass the chapter's EXERCISES")
    _check_text(chapter, "chapter", "progress_report")
    marks = {True: "correct", False: "not yet", None: "not checked yet"}
    done = sum(_LATEST.get(e) is True for e in exercises)
    lines = [f"Exercises of {chapter}: {done} of {len(exercises)} correct"]
    lines += [f"  [{e}] {marks[_LATEST.get(e)]}" for e in exercises]
    text = "\n".join(lines)
    print(text)
    return text
