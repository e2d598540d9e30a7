"""Run the course's notebooks the same way when saving and when checking.

nbval re-executes every notebook and compares each cell's output with the
stored one, so the run that *saves* outputs and the run that *checks* them
must use the same settings. They live here, once:

* ``NOTEBOOK_ENV``: thread count, stable warning paths, hash seed;
* ``python -m course_lib.nbtools execute [NOTEBOOK ...]`` re-executes
  notebooks in place with those settings (the saving run);
* the test suite's ``conftest.py`` applies the same settings before nbval
  starts its kernels (the checking run).

It also makes the two other editions of the course:

* ``python -m course_lib.nbtools student --out student`` writes the student
  edition: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block
  becomes a ``raise NotImplementedError`` placeholder, outputs are cleared;
* ``python -m course_lib.nbtools slides --out build/slides`` exports every
  chapter as a reveal.js slideshow (cells carry ``slideshow`` metadata,
  which the saving run keeps up to date).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from pathlib import Path

from course_lib._checks import _fail

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"

NOTEBOOK_ENV = {
    # One thread count for saving and checking: float results change in
    # their last digits with it. setup() reads COURSE_THREADS.
    "COURSE_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # Warnings name the cell as <IPY-INPUT> instead of /tmp/ipykernel_NNN/...
    "IPYKERNEL_CELL_NAME": "<IPY-INPUT>",
    "PYTHONHASHSEED": "0",
    # Outputs must not depend on a GPU being there: notebooks print device
    # names only in cells tagged nbval-ignore-output.
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    # Training loops print plain final lines instead of live bars.
    "COURSE_HEADLESS": "1",
}


def apply_notebook_env(environ=None) -> dict:
    """Write NOTEBOOK_ENV into ``environ`` (default ``os.environ``); return it."""
    environ = os.environ if environ is None else environ
    environ.update(NOTEBOOK_ENV)
    return environ


def list_notebooks(paths=None) -> list[Path]:
    """The chapter notebooks in order, or the given paths (checked)."""
    if not paths:
        return sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    found = []
    for raw in paths:
        path = Path(raw)
        if path.suffix != ".ipynb" or not path.is_file():
            _fail(ValueError, "list_notebooks", "paths of existing .ipynb files", repr(str(raw)), None)
        found.append(path)
    return found


SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
PLACEHOLDER = 'raise NotImplementedError("Your turn: replace this line with your code, then run the check below.")'


def strip_solutions(source: str) -> str:
    """Replace every solution block in a cell's source by the placeholder."""
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        _fail(
            ValueError,
            "strip_solutions",
            "matching ### BEGIN SOLUTION / ### END SOLUTION markers",
            f"{source.count('### BEGIN SOLUTION')} BEGIN and {source.count('### END SOLUTION')} END",
            "close every solution block",
        )
    return SOLUTION.sub(lambda m: m.group(1) + PLACEHOLDER, source)


def student_notebook(nb):
    """A copy of ``nb`` with solutions replaced and every output cleared."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return nb


def add_slide_metadata(nb):
    """Mark cells for reveal.js: a new slide at each ``#``/``##`` heading, a
    sub-slide at each ``###`` heading, everything else continues the slide."""
    for cell in nb.cells:
        first = cell.source.lstrip().split("\n", 1)[0] if cell.source.strip() else ""
        if cell.cell_type == "markdown" and re.match(r"#{1,2} ", first):
            kind = "slide"
        elif cell.cell_type == "markdown" and first.startswith("### "):
            kind = "subslide"
        else:
            kind = "-"
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def export_slides(path: Path, out_dir: Path) -> Path:
    """Export one notebook as a reveal.js HTML slideshow; returns the file."""
    import nbformat
    from nbconvert import SlidesExporter

    nb = nbformat.read(path, as_version=4)
    body, _ = SlidesExporter().from_notebook_node(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (path.stem + ".slides.html")
    target.write_text(body, encoding="utf-8")
    return target


def write_student_edition(out_dir: Path, paths=None) -> list[Path]:
    """Write the student edition of the given (default: all) chapters."""
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in list_notebooks(paths):
        target = out_dir / path.name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def execute_notebook(path: Path, timeout: int = 600) -> float:
    """Re-execute one notebook in place with NOTEBOOK_ENV; return seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    apply_notebook_env()
    nb = add_slide_metadata(nbformat.read(path, as_version=4))
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps would change on every save
    client = NotebookClient(
        nb,
        timeout=timeout,
        record_timing=False,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    # No Output-widget mimic: what a widget draws is stored as the cell's own
    # outputs, as nbval sees it, and the mimic can stall a cell until its
    # timeout (jupyter/nbclient#312).
    client.widget_registry = {}
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.nbtools", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="re-execute notebooks in place (the saving run)")
    run.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    student = sub.add_parser("student", help="write the student edition (solutions removed, outputs cleared)")
    student.add_argument("--out", default="student", help="output folder (default: student/)")
    student.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    slides = sub.add_parser("slides", help="export chapters as reveal.js slides")
    slides.add_argument("--out", default="build/slides", help="output folder (default: build/slides/)")
    slides.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for path in list_notebooks(args.notebooks):
            seconds = execute_notebook(path)
            print(f"{path.name}: executed in {seconds:.1f} s", flush=True)
    elif args.command == "student":
        for target in write_student_edition(Path(args.out), args.notebooks):
            print(f"wrote {target}")
    else:
        for path in list_notebooks(args.notebooks):
            print(f"wrote {export_slides(path, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
