import importlib
import inspect
import re

import nbformat
import numpy as np
import pytest

from course_lib.chapters.ch01_perceptron.exercises import check_gate, check_update, check_weighted_sum
from course_lib.feedback import Feedback, call_student
from course_lib.tools.nbtools import list_notebooks


def test_feedback_displays_as_one_line():
    fb = Feedback("1.1 x", True, "well done.")
    assert repr(fb) == "[1.1 x] correct: well done." and fb.passed
    assert repr(Feedback("1.1 x", False, "try again.")).startswith("[1.1 x] not yet:")


def test_placeholders_and_crashes_become_hints():
    def placeholder(*args):
        raise NotImplementedError("your turn")

    def crashes(*args):
        return 1 / 0

    _, fb = call_student("e", placeholder)
    assert "not attempted yet" in fb.message and not fb.passed
    _, fb = call_student("e", crashes)
    assert "ZeroDivisionError" in fb.message
    _, fb = call_student("e", "not a function")
    assert "pass your function itself" in fb.message


def test_unattempted_exercises_say_so():
    def placeholder(*args):
        raise NotImplementedError("Your turn")

    for check in (check_weighted_sum, check_update):
        fb = check(placeholder)
        assert not fb.passed and "not attempted yet" in fb.message


def test_weighted_sum_check():
    assert check_weighted_sum(lambda X, w, b: X @ w + b).passed
    assert "bias b is missing" in check_weighted_sum(lambda X, w, b: X @ w).message
    assert "expected 5 sums" in check_weighted_sum(lambda X, w, b: (X @ w + b).sum()).message
    assert not check_weighted_sum(lambda X, w, b: X @ w - b).passed


def test_gate_check():
    assert check_gate([1, 1], -1.5, "AND").passed
    assert check_gate(np.array([1.0, 1.0]), -0.5, "OR").passed
    assert check_gate([-1, -1], 1.5, "NAND").passed
    wrong = check_gate([1, 1], -1.5, "OR")
    assert not wrong.passed and "(0, 1)" in wrong.message
    assert "one of" in check_gate([1, 1], 0, "XOR").message
    assert "two weights" in check_gate([1, 1, 1], 0, "OR").message
    assert "two numbers" in check_gate("ab", 0, "OR").message


def test_update_check():
    def right(x, y, w, b, lr):
        y_hat = 1 if x @ w + b >= 0 else 0
        return w + lr * (y - y_hat) * x, b + lr * (y - y_hat)

    def always_moves(x, y, w, b, lr):
        return w + lr * x, b + lr

    def forgets_bias(x, y, w, b, lr):
        y_hat = 1 if x @ w + b >= 0 else 0
        return w + lr * (y - y_hat) * x, b

    assert check_update(right).passed
    assert "unchanged" in check_update(always_moves).message or not check_update(always_moves).passed
    assert not check_update(forgets_bias).passed
    assert "return the pair" in check_update(lambda *a: 3).message


def _every_check():
    checks = []
    for path in list_notebooks():
        module = importlib.import_module(f"course_lib.chapters.ch{path.stem}.exercises")
        checks += [(path, name, f) for name, f in inspect.getmembers(module, inspect.isfunction)
                   if name.startswith("check_") and f.__module__ == module.__name__]
    return checks


CHECKS = _every_check()


def _placeholder(*args, **kwargs):
    raise NotImplementedError("Your turn")


@pytest.mark.parametrize("path, name, check", CHECKS, ids=[name for _, name, _ in CHECKS])
def test_every_check_answers_a_wrong_or_missing_answer_with_a_hint(path, name, check):
    """A student's placeholder, None or a string: never a traceback, always a hint;
    where the answer is a function, the student edition's placeholder is "not attempted yet"."""
    required = [p for p in inspect.signature(check).parameters.values() if p.default is inspect.Parameter.empty]
    for wrong in (_placeholder, None, "x"):
        feedback = check(*[wrong] * len(required))
        assert isinstance(feedback, Feedback) and not feedback.passed and len(feedback.message) > 10, feedback
    exercise = _exercise_cell(path, name)
    answer_is_a_function = re.search(r"^def \w+\(", exercise.source, re.M) and "class " not in exercise.source
    if answer_is_a_function:
        assert "not attempted yet" in check(*[_placeholder] * len(required)).message


def _exercise_cell(path, name):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == name.removeprefix("check_")]
    assert len(cells) == 1, f"{name} checks no exercise of {path.name}, or several"
    return cells[0]


@pytest.mark.parametrize("path, name, check", CHECKS, ids=[name for _, name, _ in CHECKS])
def test_every_check_belongs_to_one_exercise_of_its_chapter(path, name, check):
    assert "### BEGIN SOLUTION" in _exercise_cell(path, name).source


def test_where_differs_names_the_element_and_the_gap_not_the_formula():
    from course_lib.feedback import where_differs

    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    yours = expected.copy()
    yours[1, 0] = 3.5
    assert where_differs("dx", yours, expected) == (
        "dx[1, 0] is 3.5 but should be 3 (|difference| 0.5; 1 of 4 elements differ)")
    assert where_differs("dW", np.zeros(3), expected) == "dW has shape (3,) but should have shape (2, 2)"
