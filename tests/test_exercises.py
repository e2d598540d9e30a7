import ast
import difflib
import importlib
import inspect
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_lib.chapters.ch01_perceptron.exercises import check_gate, check_update, check_weighted_sum
from course_lib.feedback import Feedback, call_student
from course_lib.tools.nbtools import list_notebooks

ROOT = Path(__file__).resolve().parent.parent


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
    assert where_differs("loss", 0.5, 0.25) == "loss is 0.5 but should be 0.25 (|difference| 0.25)"


# --------------------------------------------------------------------------- hints never hand out the solution

_OPERATION = re.compile(r"[\w)\]](\*\*|[*/@+=-])[\w(\[.]")


def _hint_texts(module_path):
    """Every string a check of the module can show as a hint: the text of ``failed(...)`` calls, and strings
    kept in tables or variables (f-string fields become a gap), but not docstrings, ``passed(...)`` messages
    (shown once the answer is right) or arguments of other calls (e.g. an einsum's subscripts)."""
    tree = ast.parse(module_path.read_text())
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                                            ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) != "failed":
            skip.update(id(arg) for arg in node.args + [k.value for k in node.keywords])
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "passed":
            skip.update(id(inner) for inner in ast.walk(node))
        if isinstance(node, ast.Compare):
            skip.update(id(inner) for inner in ast.walk(node))
    texts = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            texts.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "\0"
                                               for v in node.values)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append((node.lineno, node.value))
    return texts


def _solution_lines(path):
    from course_lib.tools.editions import SOLUTION

    nb = nbformat.read(path, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for block in SOLUTION.finditer(cell.source):
                lines += [line.split("#")[0] for line in block.group(0).splitlines()]
    return [re.sub(r"\s+", "", line) for line in lines if line.strip()]


def _handed_out(hint, solution_lines):
    """The longest piece of solution code (an operation on names, at least 10 characters without spaces)
    found in ``hint``, or None."""
    compact = re.sub(r"\s+", "", hint)
    found = None
    for line in solution_lines:
        match = difflib.SequenceMatcher(None, compact, line, autojunk=False).find_longest_match()
        piece = compact[match.a:match.a + match.size]
        if (match.size >= 10 and _OPERATION.search(piece) and len(re.findall(r"[A-Za-z_]\w*", piece)) >= 2
                and (found is None or len(piece) > len(found))):
            found = piece
    return found


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_no_hint_hands_out_solution_code(path):
    """A hint names the mistake and the section to reread; it never contains a piece of the solution's code
    (e.g. 'use dout * out * (1 - out)' for a sigmoid backward)."""
    module = ROOT / "course_lib" / "chapters" / f"ch{path.stem}" / "exercises.py"
    solution = _solution_lines(path)
    leaks = [f"{module.name}:{line}: {piece!r} in {text[:90]!r}" for line, text in _hint_texts(module)
             if (piece := _handed_out(text, solution))]
    assert not leaks, "hints that contain solution code:\n" + "\n".join(leaks)


def test_the_solution_code_finder_finds_a_formula_and_spares_words():
    solution = _solution_lines_from("def f(dout, out):\n    return dout * out * (1 - out)\n")
    assert _handed_out("out is already sigmoid(x): use dout * out * (1 - out) directly.", solution)
    assert _handed_out("that is the local derivative s (1 - s) alone; multiply by dout.", solution) is None
    assert _handed_out("the gradient flows back from step t+1 (section 4).", solution) is None


def _solution_lines_from(code):
    return [re.sub(r"\s+", "", line) for line in code.splitlines() if line.strip()]


# --------------------------------------------------------------------------- hints point to a section that exists

_SECTION_POINTER = re.compile(r"\bsections? (\d+(?:\.\d+)?)((?:(?:, | and | or )\d+(?:\.\d+)?)*)")


def _section_numbers(path):
    nb = nbformat.read(path, as_version=4)
    return {m.group(1).rstrip(".") for cell in nb.cells if cell.cell_type == "markdown"
            for m in re.finditer(r"^#+ *(\d+(?:\.\d+)*\.?) ", cell.source, re.M)}


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_hints_point_to_sections_that_exist(path):
    """Every 'section N' a hint names is a numbered heading of its chapter, and every check that can name
    a mistake (two or more hints) points to at least one section."""
    module = importlib.import_module(f"course_lib.chapters.ch{path.stem}.exercises")
    source = inspect.getsource(module)
    sections = _section_numbers(path)
    named = []
    for match in _SECTION_POINTER.finditer(source):
        named += [match.group(1)] + re.findall(r"\d+(?:\.\d+)?", match.group(2))
    missing = sorted(set(named) - sections)
    assert named and not missing, f"{path.stem} has no numbered heading for the sections {missing} its hints name"
    pointer_names = {name for name, value in vars(module).items()
                     if isinstance(value, str | dict | tuple) and "section" in repr(value)}
    silent = []
    for name, check in inspect.getmembers(module, inspect.isfunction):
        if not name.startswith("check_") or check.__module__ != module.__name__:
            continue
        body = inspect.getsource(check)
        if body.count("failed(") >= 2 and "section" not in body and not any(p in body for p in pointer_names):
            silent.append(name)
    assert not silent, f"checks whose hints name no section to reread: {silent}"
