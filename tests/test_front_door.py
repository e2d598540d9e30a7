"""The front door (notebooks/00_start_here.ipynb), the links between chapters, and the student's own copy."""

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from course_lib.tools.course_map import HOSTED_INSTALL, TIMES_FILE, chapter_info, front_door_notebook
from course_lib.tools.editions import STUDENT_RECORD, prepare_chapter, write_student_edition
from course_lib.tools.nbtools import FRONT_DOOR, NOTEBOOK_DIR, list_notebooks, run_notebook
from course_lib.tools.presenting import NAV_KEY

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = list_notebooks()
LINK = re.compile(r"\]\(([^)]+\.ipynb)\)")


def test_the_front_door_is_no_chapter():
    assert FRONT_DOOR.is_file(), "run `python -m course_lib.tools.nbtools front-door`"
    assert FRONT_DOOR not in NOTEBOOKS and len(NOTEBOOKS) >= 11


def test_the_front_door_links_every_chapter_and_shows_the_map():
    nb = nbformat.read(FRONT_DOOR, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    linked = set(LINK.findall(text))
    assert {p.name for p in NOTEBOOKS} <= linked
    assert all((NOTEBOOK_DIR / name).is_file() for name in linked)
    times = json.loads(TIMES_FILE.read_text())["notebooks"]
    for path in NOTEBOOKS:
        info = chapter_info(path)
        assert info["goals"][0] in text, f"{path.name}: its first learning goal is not on the map"
        if path.name in times and times[path.name]["live"] is not None:
            assert f"| {times[path.name]['live']:.0f} s |" in text
    assert "How to use the checks" in text and "not yet" in text


def test_the_stored_front_door_is_up_to_date():
    stored = nbformat.read(FRONT_DOOR, as_version=4)
    fresh = front_door_notebook()
    assert [c.source for c in stored.cells] == [c.source for c in fresh.cells], \
        "run `python -m course_lib.tools.nbtools front-door` (the chapters' goals or times changed)"
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert code and code[0].outputs, "the install cell's output is stored for nbval"


def test_the_hosted_install_cell_does_nothing_where_the_course_is_installed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(HOSTED_INSTALL)])
    ran, _ = run_notebook(FRONT_DOOR, nb=nb)
    assert ran.cells[0].outputs[0]["text"] == "course_lib is installed: nothing to do. Open a chapter below.\n"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_chapter_ends_with_links_to_its_neighbours(path):
    nb = prepare_chapter(nbformat.read(path, as_version=4), path)
    last = nb.cells[-1]
    assert last.metadata.get(NAV_KEY) and last.cell_type == "markdown"
    links = LINK.findall(last.source)
    i = NOTEBOOKS.index(path)
    expected = ([NOTEBOOKS[i - 1].name] if i > 0 else []) + ["00_start_here.ipynb"]
    expected += [NOTEBOOKS[i + 1].name] if i + 1 < len(NOTEBOOKS) else []
    assert links == expected
    again = prepare_chapter(nb, path)
    assert sum(1 for c in again.cells if c.metadata.get(NAV_KEY)) == 1, "the links are refreshed, not repeated"


def test_the_student_edition_never_overwrites_the_students_work(tmp_path):
    first = write_student_edition(tmp_path, [NOTEBOOKS[0]])
    assert [p.name for p in first] == [NOTEBOOKS[0].name] and (tmp_path / STUDENT_RECORD).is_file()
    again = write_student_edition(tmp_path, [NOTEBOOKS[0]])
    assert again == first, "an untouched copy is refreshed"
    work = nbformat.read(first[0], as_version=4)
    work.cells.append(nbformat.v4.new_code_cell("my_answer = 42"))
    nbformat.write(work, first[0])
    assert write_student_edition(tmp_path, [NOTEBOOKS[0]]) == []
    assert "my_answer = 42" in first[0].read_text()


def _git_status():
    # what a student's run could touch: the course's notebooks and the student's folder (ignored by git)
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "notebooks", "student"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_students_run_their_own_copy_and_git_stays_clean():
    """The README's student command (`make lab`) writes student/ and opens it; running a chapter there
    and saving it (as JupyterLab's autosave does) changes nothing git tracks."""
    dry = subprocess.run(["make", "-n", "lab", "ALLOW_ROOT=1"], cwd=ROOT, capture_output=True, text=True)
    assert "nbtools student --out student" in dry.stdout and "--ServerApp.root_dir=student" in dry.stdout
    assert "make lab " in (ROOT / "README.md").read_text()
    ignored = subprocess.run(["git", "check-ignore", "-q", "student/01_perceptron.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "student/ must be ignored by git (.gitignore)"
    before = _git_status()
    student = ROOT / "student"
    existed = (student / NOTEBOOKS[0].name).is_file()
    write_student_edition(student)  # what `make lab` runs first
    target = student / NOTEBOOKS[0].name
    nb, _ = run_notebook(target, nb=nbformat.read(target, as_version=4))
    try:
        if not existed:
            nbformat.write(nb, target)
        assert _git_status() == before
    finally:
        if not existed:
            target.unlink()  # the next `make lab` writes a fresh copy
    checks = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])]
    assert any("not attempted yet" in text for text in checks)
