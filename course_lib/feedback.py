"""Exercise checks: each says "correct" or gives a hint, never a bare traceback.

A notebook exercise is a cell whose solution sits between the markers

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

(nbgrader's markers), followed by a cell that calls a ``check_*`` function
from the chapter's module here, e.g. ``course_lib.chapters.ch01_perceptron.exercises``. The
student edition replaces each solution with ``raise NotImplementedError``,
which the checks recognise and answer with "not attempted yet".

Every check returns a :class:`Feedback`, which displays as one line.
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


def _check_text(value, name: str, func: str) -> str:
    if not isinstance(value, str):
        _fail(TypeError, func, f"{name} as a str", type(value).__name__,
              "e.g. failed('relu', 'negative inputs must give 0.')" if func == "failed" else None)
    return value


def passed(exercise: str, message: str = "well done.") -> Feedback:
    """A correct answer's Feedback."""
    return Feedback(_check_text(exercise, "exercise", "passed"), True, _check_text(message, "message", "passed"))


def failed(exercise: str, hint: str) -> Feedback:
    """A "not yet" Feedback with a hint for the student."""
    return Feedback(_check_text(exercise, "exercise", "failed"), False, _check_text(hint, "hint", "failed"))


def call_student(exercise: str, func, *args):
    """Call the student's function; return (result, None) or (None, Feedback).

    Exceptions become hints instead of tracebacks; ``NotImplementedError``
    (the student edition's placeholder) becomes "not attempted yet".
    """
    _check_text(exercise, "exercise", "call_student")
    if not callable(func):
        return None, failed(exercise, f"pass your function itself, not {type(func).__name__}.")
    try:
        return func(*args), None
    except NotImplementedError:
        return None, failed(exercise, "not attempted yet: replace the `raise NotImplementedError` line.")
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
