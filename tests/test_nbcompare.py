"""The output comparison of the checking run: numbers as numbers, within declared tolerances.

First the rules of course_lib.tools.nbcompare, then the nbval plugin in conftest.py
for real: a small notebook with stored outputs chosen to pass or fail is run
under strict nbval, and each cell's verdict and message is checked.
"""

import re
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from course_lib.tools.nbcompare import EXACT, Tolerance, compare_text, tolerance_of, too_wide

ROOT = Path(__file__).resolve().parent.parent


def tol(**spec):
    return tolerance_of({"tolerance": {"why": "a test of the rules", **spec}})


# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "old, new",
    [
        ("acc 0.670\n", "acc 0.671\n"),  # a rounding flip of deterministic maths
        ("loss 0.0375", "loss 0.0374"),
        ("-0.000", "0.000"),
        ("1.23e-05", "1.24e-05"),
        ("|  0.5 | 10.25 |", "| 0.5 | 10.25 |"),  # a column that widened or narrowed
        ("<Figure size 640x480 with 1 Axes>", "<Figure size 640x480 with 1 Axes>"),
    ],
)
def test_defaults_let_the_last_printed_digit_flip(old, new):
    assert compare_text(old, new).ok


@pytest.mark.parametrize(
    "old, new, kind",
    [
        ("acc 0.670", "acc 0.668", "numbers"),  # two units in the last place
        ("loss 0.0375", "loss 0.0393", "numbers"),
        ("8 of 8 modes", "7 of 8 modes", "numbers"),  # integers are exact
        ("<Figure size 640x480 with 1 Axes>", "<Figure size 640x480 with 2 Axes>", "numbers"),
        ("accuracy 0.5", "precision 0.5", "text"),
        ("acc 0.5", "acc 0.5 (best)", "text"),
        ("acc 0.5\n", "acc 0.5\nacc 0.6\n", "text"),  # an extra line
        ("acc nan", "acc 0.5", "text"),
    ],
)
def test_defaults_catch_a_real_change(old, new, kind):
    assert compare_text(old, new).kind == kind


def test_a_declared_band_lets_a_training_metric_move_within_it_and_no_further():
    accuracy = tol(abs=0.01)
    assert compare_text("test accuracy 0.867", "test accuracy 0.859", accuracy).ok
    verdict = compare_text("test accuracy 0.867", "test accuracy 0.855", accuracy)
    assert verdict.kind == "numbers"
    (problem,) = verdict.problems
    assert problem.startswith("line 1: 0.867 -> 0.855")
    assert "allowed 0.01" in problem and "abs 0.01" in problem and "stored: test accuracy 0.867" in problem


def test_relative_counts_below_and_lines():
    assert compare_text("loss 120.5", "loss 123.0", tol(rel=0.05)).ok
    assert not compare_text("loss 120.5", "loss 130.0", tol(rel=0.05)).ok
    assert compare_text("62% recognised", "60% recognised", tol(counts=2)).ok
    assert not compare_text("62% recognised", "58% recognised", tol(counts=2)).ok
    roundoff = tol(below=1e-12)
    assert compare_text("max |diff| 2.2e-16", "max |diff| 8.9e-16", roundoff).ok
    assert not compare_text("max |diff| 2.2e-16", "max |diff| 2.0e-03", roundoff).ok
    only_accuracy = tol(abs=0.02, lines="accuracy")
    text = "epochs 10\naccuracy 0.91\nloss 0.300\n"
    assert compare_text(text, "epochs 10\naccuracy 0.90\nloss 0.300\n", only_accuracy).ok
    verdict = compare_text(text, "epochs 10\naccuracy 0.91\nloss 0.310\n", only_accuracy)
    assert verdict.problems[0].startswith("line 3: 0.300 -> 0.310") and "none declared" in verdict.problems[0]


def test_a_tolerance_wider_than_the_value_it_covers_is_reported():
    assert too_wide("accuracy 0.867", tol(abs=1.0)) == ["line 1: 0.867 with a tolerance of 1 (abs 1.0)"]
    assert too_wide("loss 0.004\naccuracy 0.90", tol(abs=0.01)) == ["line 1: 0.004 with a tolerance of 0.01 (abs 0.01)"]
    assert too_wide("3 of 8 modes", tol(counts=4)) == ["line 1: 3 with a tolerance of 4 (counts 4)"]
    assert too_wide("1 of 8 modes", tol(counts=1)) == []  # 0 to 2: wide, but not wider than the value
    assert too_wide("max |diff| 2.2e-16, accuracy 0.90", tol(abs=0.01, below=1e-9)) == []
    assert too_wide("epoch 1 accuracy 0.90", tol(abs=0.01)) == []  # integers are not covered by abs
    assert too_wide("anything 0.001", EXACT) == []


def test_a_cell_with_several_kinds_of_number_gives_each_its_own_tolerance():
    spec = tolerance_of({"tolerance": [
        {"lines": "accuracy", "abs": 0.02, "why": "test accuracy after training"},
        {"lines": "modes", "counts": 1, "why": "modes a trained GAN covers"},
    ]}, "ch.ipynb, Cell 1")
    assert isinstance(spec, tuple) and len(spec) == 2
    old = "accuracy 0.867\n7 of 8 modes\nloss 0.250\n"
    assert compare_text(old, "accuracy 0.850\n8 of 8 modes\nloss 0.251\n", spec).ok
    assert not compare_text(old, "accuracy 0.867\n5 of 8 modes\nloss 0.250\n", spec).ok
    assert not compare_text(old, "accuracy 0.867\n7 of 8 modes\nloss 0.260\n", spec).ok  # no rule: defaults
    assert too_wide("accuracy 0.010", spec) == ["line 1: 0.010 with a tolerance of 0.02 (abs 0.02, on lines matching "
                                                "'accuracy')"]
    with pytest.raises(ValueError, match="ch.ipynb, Cell 1, tolerance 2: a 'why'"):
        tolerance_of({"tolerance": [{"abs": 0.1, "why": "a test of the rules"}, {"abs": 0.1}]}, "ch.ipynb, Cell 1")


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"abs": 0.01}, "a 'why'"),
        ({"abs": 0.01, "why": "short"}, "a 'why'"),
        ({"abs": -0.1, "why": "a test of the rules"}, "'abs' as a finite number >= 0"),
        ({"abs": float("nan"), "why": "a test of the rules"}, "'abs' as a finite number >= 0"),
        ({"rel": 1.0, "why": "a test of the rules"}, "'rel' below 1"),
        ({"counts": 1.5, "why": "a test of the rules"}, "'counts' as a whole number"),
        ({"lines": "(", "why": "a test of the rules"}, "'lines' as a regular expression"),
        ({"why": "a test of the rules"}, "at least one of abs, rel, counts, below"),
        ({"absolute": 0.1, "why": "a test of the rules"}, "tolerance fields among"),
    ],
)
def test_a_malformed_tolerance_is_an_error_that_says_what_to_write(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        tolerance_of({"tolerance": spec}, "ch.ipynb, Cell 3")
    assert "ch.ipynb, Cell 3" in str(info.value)


def test_no_metadata_means_the_defaults():
    assert tolerance_of({}) is EXACT and tolerance_of({"tags": ["x"]}) is EXACT
    assert tolerance_of({"tolerance": {"abs": 0.01, "why": "accuracy after training"}}) == Tolerance(
        abs=0.01, why="accuracy after training")


# ----------------------------------------------------------------------------- the plugin, under nbval


def _cell(source, stored_outputs, tolerance=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.execution_count = 1
    cell.outputs = [nbformat.from_dict(o) for o in stored_outputs]
    if tolerance:
        cell.metadata["tolerance"] = {"why": "a test of the checker", **tolerance}
    return cell


def _stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def _result(text, mime_extra=None):
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text, **(mime_extra or {})}}


FIGURE = {"output_type": "display_data", "metadata": {},
          "data": {"text/plain": "<Figure size 100x100 with 1 Axes>", "image/png": "iVBORw0KGgo="}}

# (name, source, stored outputs, declared tolerance, passes)
CASES = [
    ("flip", 'print("acc 0.670")', [_stdout("acc 0.671\n")], None, True),
    ("band", 'print("test accuracy 0.857")', [_stdout("test accuracy 0.867\n")], {"abs": 0.02}, True),
    ("roundoff", 'print("max |diff| 2.2e-16")', [_stdout("max |diff| 6.7e-16\n")], {"below": 1e-12}, True),
    ("moved", 'print("test accuracy 0.810")', [_stdout("test accuracy 0.867\n")], {"abs": 0.02}, False),
    ("count", 'print("modes covered: 7 of 8")', [_stdout("modes covered: 8 of 8\n")], None, False),
    ("text", 'print("precision 0.5")', [_stdout("accuracy 0.5\n")], None, False),
    ("missing", 'print("a")', [_stdout("a\n"), _result("2")], None, False),
    ("extra", 'print("a")\n2', [_stdout("a\n")], None, False),
    ("figure", 'print("no plot")', [_stdout("no plot\n"), FIGURE], None, False),
    ("wide", 'print("test accuracy 0.867")', [_stdout("test accuracy 0.867\n")], {"abs": 1.0}, False),
]


def _nbval(nb, name):
    """Run ``nb`` as ``name`` under strict nbval with the project's plugin (inside the repository,
    so that conftest.py applies); pytest's exit code and report."""
    folder = ROOT / "build" / f"nbcompare-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    path = folder / name
    try:
        nbformat.write(nb, path)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA", "--nbval",
             "--nbval-current-env", "--nbval-sanitize-with", "tests/sanitize.cfg", str(path.relative_to(ROOT))],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def nbval_run():
    """Run the cases as one notebook under strict nbval; the report per cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [_cell(src, outs, tolerance) for _, src, outs, tolerance, _ in CASES]
    return _nbval(nb, "cases.ipynb")[1]


@pytest.mark.parametrize("number", range(len(CASES)), ids=[case[0] for case in CASES])
def test_the_plugin_passes_and_fails_the_right_cells(nbval_run, number):
    name, _, _, _, passes = CASES[number]
    verdict = "PASSED" if passes else "FAILED"
    assert re.search(rf"^{verdict} \S*cases\.ipynb::Cell {number}\b", nbval_run, re.M), nbval_run[-4000:]


def test_a_failure_names_notebook_cell_line_numbers_and_tolerance(nbval_run):
    moved = CASES.index(next(c for c in CASES if c[0] == "moved"))
    assert f"cases.ipynb, Cell {moved}: numbers moved beyond their tolerance" in nbval_run
    assert "[stdout] line 1: 0.867 -> 0.810 (|difference| 0.057; allowed 0.02; declared tolerance: abs 0.02)" \
        in nbval_run
    wide = CASES.index(next(c for c in CASES if c[0] == "wide"))
    assert f"cases.ipynb, Cell {wide}: its declared tolerance is wider than values it prints" in nbval_run
    assert "line 1: 0.867 with a tolerance of 1 (abs 1.0)" in nbval_run


def test_a_changed_hyperparameter_fails_a_real_chapter_with_the_full_message():
    """Chapter 8's referee classifier with early stopping's patience cut from 8 epochs to 1: it stops at
    epoch 13, its accuracy still passes the cell's own assert, but moves beyond the cell's declared tolerance."""
    name = "08_autoencoders_vae.ipynb"
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    referee = nb.cells[code[2]]
    assert {"abs": 0.01}.items() <= referee.metadata["tolerance"][1].items() and "epochs=100)" in referee.source
    referee.source = referee.source.replace("epochs=100)", "epochs=100, patience=1)")
    nb.cells = nb.cells[:code[2] + 1]
    returncode, out = _nbval(nb, name)
    assert returncode == 1 and re.search(rf"^FAILED \S*{name}::Cell 2\b", out, re.M), out[-3000:]
    assert re.search(rf"^PASSED \S*{name}::Cell 1\b", out, re.M)
    assert f"{name}, Cell 2: numbers moved beyond their tolerance:" in out
    found = re.search(r"\[stdout\] line 2: 0\.976 -> (0\.\d{3}) \(\|difference\| [\d.]+; allowed 0\.01; "
                      r"declared tolerance: abs 0\.01\)", out)
    assert found and float(found.group(1)) < 0.966, out[-3000:]
    assert "stored: validation accuracy 0.976" in out
