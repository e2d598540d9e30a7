import numpy as np

from course_lib.exercises import Feedback, call_student
from course_lib.exercises.ch01 import check_gate, check_update, check_weighted_sum


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
