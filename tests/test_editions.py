"""The student edition and the slides are generated from the course notebooks."""

import copy
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.data import read_sums
from course_lib.tools.editions import (
    PLACEHOLDER,
    SLIDES_DIR,
    TURN,
    add_nbgrader_metadata,
    check_slide_assets,
    export_slides,
    strip_solutions,
    student_notebook,
)
from course_lib.tools.nbtools import NOTEBOOK_DIR, apply_notebook_env, list_notebooks

NOTEBOOKS = list_notebooks()


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(f)"
    out = strip_solutions(src)
    assert out == f"def f(x):\n    {PLACEHOLDER}\n\nprint(f)"
    # at the top level of a cell each name the solution defines becomes None, so Run All goes on
    assert strip_solutions("a = 1\n### BEGIN SOLUTION\nb = 2\nc = 3\n### END SOLUTION") == (
        "a = 1\n# Your turn: replace None by your answer for b, c, then run the check below.\nb = None\nc = None")


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
    blocks = len(re.findall("### BEGIN SOLUTION", "\n".join(c.source for c in nb.cells)))
    assert "SOLUTION" not in code and code.count(TURN) >= blocks
    student_lines = {line.strip() for line in code.splitlines()}
    # lines the chapter also shows outside every solution (e.g. the loop it teaches) are not given away
    outside = {line.strip() for c in nb.cells if c.cell_type == "code" and "### BEGIN SOLUTION" not in c.source
               for line in c.source.splitlines()}
    for line in _solution_lines(nb):
        if len(line) > 12 and line not in outside:  # short lines such as "return x" may appear elsewhere
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
def test_solution_blocks_sit_in_nbgrader_solution_cells(path):
    """nbgrader's generate_assignment refuses a solution block outside a cell
    its metadata marks as a solution cell; grade ids must be unique."""
    nb = nbformat.read(path, as_version=4)
    marked = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    ids = [m["grade_id"] for m in marked if m]
    assert len(ids) == len(set(ids)) and ids, f"{path.name}: grade ids {ids}"
    for i, (cell, meta) in enumerate(zip(nb.cells, marked)):
        has_block = "### BEGIN SOLUTION" in cell.source
        assert meta.get("solution", False) == has_block, f"{path.name} cell {i}: run `make notebooks`"
        if has_block:
            check = marked[i + 1]
            assert check.get("locked") and not check.get("solution") and not check.get("grade")
            assert check["grade_id"] == meta["grade_id"] + "_check"
            assert f"check_{meta['grade_id']}(" in nb.cells[i + 1].source
        if meta:
            assert meta["schema_version"] == 3 and meta["grade"] is False and meta["task"] is False
    assert add_nbgrader_metadata(copy.deepcopy(nb)) == nb


def _exercise_nb(*cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def test_nbgrader_metadata_names_each_exercise_after_its_check():
    nb = _exercise_nb("x = 1", "def f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION", "check_two(f)")
    nb.cells[0].metadata["nbgrader"] = {"solution": True}  # stale metadata is replaced
    add_nbgrader_metadata(nb)
    assert "nbgrader" not in nb.cells[0].metadata
    assert nb.cells[1].metadata["nbgrader"]["grade_id"] == "two" and nb.cells[1].metadata["nbgrader"]["solution"]
    assert nb.cells[2].metadata["nbgrader"] == {
        "grade": False, "grade_id": "two_check", "locked": True, "schema_version": 3, "solution": False, "task": False
    }


@pytest.mark.parametrize(
    "cells, message",
    [
        (["### BEGIN SOLUTION\nx = 1\n### END SOLUTION"], "a check cell right after exercise cell 0, got nothing"),
        (["### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "print(x)"], "got a code cell without a check_\\* call"),
        (
            ["### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "check_x(x)"] * 2,
            "one exercise per check function, got two exercises checked by check_x",
        ),
    ],
)
def test_nbgrader_metadata_needs_one_check_cell_per_exercise(cells, message):
    with pytest.raises(ValueError, match=message):
        add_nbgrader_metadata(_exercise_nb(*cells))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_exports_to_slides_that_work_offline(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert None not in kinds and kinds[0] == "slide", "run `make notebooks` to add slide metadata"
    html = export_slides(Path(path), tmp_path).read_text()
    assert "reveal" in html and html.count("<section") >= kinds.count("slide")
    loaded = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', html)
    loaded += re.findall(r'require\(\s*\[([^\]]*)\]', html)[0].replace('"', "").replace(" ", "").split(",")
    assert len(loaded) >= 6, loaded
    for url in loaded:
        assert "://" not in url and not url.startswith("//"), f"the slides load {url} from the network"
        assert (tmp_path / url.strip()).is_file(), f"the slides load {url}, which the export did not write"


def test_slide_assets_are_the_listed_files(tmp_path):
    assets = SLIDES_DIR / "vendor"
    listed = set(read_sums(assets / "SHA256SUMS"))
    present = {p.relative_to(assets).as_posix() for p in assets.rglob("*") if p.is_file()}
    assert present - {"SHA256SUMS", "SOURCES.md"} == listed
    assert check_slide_assets() == assets

    copy_of = tmp_path / "assets"
    shutil.copytree(assets, copy_of)
    (copy_of / "mathjax" / "tex-svg.js").write_text("// not MathJax")
    with pytest.raises(ValueError, match=r"mathjax/tex-svg.js with SHA-256 .*got SHA-256 .*git checkout"):
        check_slide_assets(copy_of)
    (copy_of / "mathjax" / "tex-svg.js").unlink()
    with pytest.raises(ValueError, match="got a missing file"):
        check_slide_assets(copy_of)
    (copy_of / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match="got no such list; restore"):
        check_slide_assets(copy_of)
