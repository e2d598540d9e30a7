"""The student edition and the slides are generated from the course notebooks."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.nbtools import (
    NOTEBOOK_DIR,
    PLACEHOLDER,
    apply_notebook_env,
    export_slides,
    list_notebooks,
    strip_solutions,
    student_notebook,
)

NOTEBOOKS = list_notebooks()


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(f)"
    out = strip_solutions(src)
    assert out == f"def f(x):\n    {PLACEHOLDER}\n\nprint(f)"
    assert strip_solutions("a = 1\n### BEGIN SOLUTION\nb = 2\nc = 3\n### END SOLUTION") == f"a = 1\n{PLACEHOLDER}"


def test_unbalanced_markers_are_an_error():
    with pytest.raises(
        ValueError, match="matching ### BEGIN SOLUTION / ### END SOLUTION markers, got 1 BEGIN and 0 END"
    ):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def _solution_lines(nb):
    lines = []
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_edition_has_no_solutions_and_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    student = student_notebook(nb)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "SOLUTION" not in code and code.count(PLACEHOLDER) == len(
        re.findall("### BEGIN SOLUTION", "\n".join(c.source for c in nb.cells))
    )
    student_lines = {line.strip() for line in code.splitlines()}
    for line in _solution_lines(nb):
        if len(line) > 12:  # short lines such as "return x" may legitimately appear elsewhere
            assert line not in student_lines, f"solution text left in the student edition: {line!r}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert "widgets" not in student.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_edition_runs_up_to_its_first_exercise(path):
    student = student_notebook(nbformat.read(path, as_version=4))
    first = next(i for i, c in enumerate(student.cells) if PLACEHOLDER in c.source)
    student.cells = student.cells[: first + 2]  # the exercise and its check
    apply_notebook_env()
    client = NotebookClient(
        student, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        # a top-level placeholder stops the run at the exercise itself: that is the expected place
        assert "NotImplementedError" in str(exc) and "Your turn" in str(exc)
        errors = [i for i, c in enumerate(student.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
        assert errors == [first]
        return
    check_output = "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in student.cells[-1].outputs
    )
    assert "not attempted yet" in check_output


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_exports_to_slides(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert None not in kinds and kinds[0] == "slide", "run `make notebooks` to add slide metadata"
    html = export_slides(Path(path), tmp_path).read_text()
    assert "reveal" in html and html.count("<section") >= kinds.count("slide")
