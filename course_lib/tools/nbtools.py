"""Run the course's notebooks the same way when saving and when checking.

nbval re-executes every notebook and compares each cell's output with the
stored one, so the run that *saves* outputs and the run that *checks* them
must use the same settings. They live here, once:

* ``NOTEBOOK_ENV``: thread count, stable warning paths, hash seed;
* ``python -m course_lib.tools.nbtools execute [NOTEBOOK ...]`` re-executes
  notebooks in place with those settings (the saving run), recording the
  results of their long training cells under ``data/shipped/`` (see
  ``course_lib.shipped``);
* the test suite's ``conftest.py`` applies the same settings before nbval
  starts its kernels (the checking run).

It also makes the two other editions of the course:

* ``python -m course_lib.tools.nbtools student --out student`` writes the student
  edition: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block
  becomes a ``raise NotImplementedError`` placeholder, outputs are cleared
  (the saving run also gives exercise cells nbgrader's metadata, so
  ``nbgrader generate_assignment`` accepts the chapters as they are);
* ``python -m course_lib.tools.nbtools slides --out build/slides`` exports every
  chapter as a reveal.js slideshow (cells carry ``slideshow`` metadata,
  which the saving run keeps up to date).

and the course map, ``docs/course_map.md``: every chapter's learning goals,
read from the notebook, and its run time, measured by
``python -m course_lib.tools.nbtools map --measure`` (training live, and with the
shipped results of ``make present``); without ``--measure`` the map is
rewritten from the times stored in ``docs/run_times.json``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

from course_lib.checks import _fail
from course_lib.tools.presenting import (
    add_chapter_links,
    add_slide_metadata,
    split_at_headings,
    tidy_widget_outputs,
)

ROOT = Path(__file__).resolve().parents[2]
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
    # Long training cells train (see course_lib.shipped); the saving run
    # records their results, a test loads them with COURSE_SHIPPED=1.
    "COURSE_SHIPPED": "0",
}


# The numeric configurations the same stored outputs must validate under
# (docs/reproducibility.md). Chosen with COURSE_NUMERICS; "native" is the default.
NUMERICS_VAR = "COURSE_NUMERICS"


def _numpy_dispatch_features() -> str:
    """NumPy's SIMD extensions above its baseline (the ones that can be switched off)."""
    import numpy as np

    simd = np.show_config(mode="dicts")["SIMD Extensions"]
    return " ".join(simd.get("found", []) + simd.get("not found", []))


def numeric_config(name: str) -> dict:
    """Environment variables of one numeric configuration.

    * ``native``: the machine as it comes.
    * ``oldcpu``: "another CPU": every numeric library held to an x86-64-v2
      CPU (SSE4.2, no AVX): torch's own kernels without vectors, oneDNN at
      SSE4.1, MKL on its processor-independent code path, OpenBLAS on its
      Nehalem kernels, NumPy without its AVX loops. Printed digits change
      (``tests/test_portability.py`` shows where); Intel and AMD CPUs with
      AVX-512 differ from each other in the same way.
    * ``threads2``: two threads per notebook instead of one.
    """
    if name == "native":
        return {}
    if name == "oldcpu":
        return {
            "ATEN_CPU_CAPABILITY": "default",
            "ONEDNN_MAX_CPU_ISA": "SSE41",
            "MKL_CBWR": "COMPATIBLE",
            "OPENBLAS_CORETYPE": "Nehalem",
            "NPY_DISABLE_CPU_FEATURES": _numpy_dispatch_features(),
        }
    if name == "threads2":
        return {var: "2" for var in ("COURSE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    _fail(ValueError, "numeric_config", f"{NUMERICS_VAR} as native, oldcpu or threads2", repr(name),
          f"unset {NUMERICS_VAR} for the machine as it comes")


def notebook_env(numerics: str | None = None) -> dict:
    """NOTEBOOK_ENV plus the variables of the numeric configuration
    (default: ``$COURSE_NUMERICS``, else ``native``)."""
    numerics = os.environ.get(NUMERICS_VAR, "native") if numerics is None else numerics
    return {**NOTEBOOK_ENV, **numeric_config(numerics), NUMERICS_VAR: numerics}


def apply_notebook_env(environ=None) -> dict:
    """Write ``notebook_env()`` into ``environ`` (default ``os.environ``); return it."""
    environ = os.environ if environ is None else environ
    environ.update(notebook_env(environ.get(NUMERICS_VAR, "native")))
    return environ


FRONT_DOOR = NOTEBOOK_DIR / "00_start_here.ipynb"


def list_notebooks(paths=None) -> list[Path]:
    """The chapter notebooks (01 to 11) in order, or the given paths (checked).

    The front door, ``00_start_here.ipynb``, is no chapter: see ``front_door()``.
    """
    if not paths:
        return sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb") if p.name != FRONT_DOOR.name)
    found = []
    for raw in paths:
        path = Path(raw)
        if path.suffix != ".ipynb" or not path.is_file():
            _fail(ValueError, "list_notebooks", "paths of existing .ipynb files", repr(str(raw)), None)
        found.append(path)
    return found


SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
TURN = "Your turn"
PLACEHOLDER = f'raise NotImplementedError("{TURN}: replace this line with your code, then run the check below.")'


def _top_level_placeholder(block: str) -> str:
    """What a solution at the top level of a cell becomes: each name it defines set to None, functions kept as stubs.

    A bare ``raise`` there would stop Run All at the first exercise; None
    lets the chapter go on and its check say "not attempted yet".
    """
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return f"# {TURN}: write your code here, then run the check below."
    names, stubs = [], []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            stub = ast.FunctionDef(name=node.name, args=node.args, body=[ast.parse(PLACEHOLDER).body[0]],
                                   decorator_list=[], returns=node.returns, type_params=[])
            stubs.append(ast.unparse(ast.fix_missing_locations(stub)))
            continue
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and leaf.id not in names:
                    names.append(leaf.id)
    if not names and not stubs:
        return f"# {TURN}: write your code here, then run the check below."
    lines = []
    if names:
        lines.append(f"# {TURN}: replace None by your answer for {', '.join(names)}, then run the check below.")
        lines += [f"{name} = None" for name in names]
    return "\n".join(lines + stubs)


def strip_solutions(source: str) -> str:
    """Replace every solution block in a cell's source by a placeholder that lets Run All go on.

    Inside a function the placeholder raises ``NotImplementedError`` (the
    check answers "not attempted yet"); at the top level of a cell it sets
    each name the solution defines to None (see ``_top_level_placeholder``).
    """
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        _fail(
            ValueError,
            "strip_solutions",
            "matching ### BEGIN SOLUTION / ### END SOLUTION markers",
            f"{source.count('### BEGIN SOLUTION')} BEGIN and {source.count('### END SOLUTION')} END",
            "close every solution block",
        )

    def replace(match):
        indent = match.group(1)
        if indent:
            return indent + PLACEHOLDER
        block = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$", "", match.group(0), flags=re.M)
        return _top_level_placeholder(block)

    return SOLUTION.sub(replace, source)


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


NBGRADER_SCHEMA = 3
CHECK_CALL = re.compile(r"\bcheck_(\w+)\(")


def add_nbgrader_metadata(nb):
    """Mark the exercises the way nbgrader's ``generate_assignment`` wants them.

    nbgrader only clears ``### BEGIN SOLUTION`` blocks in cells its metadata
    calls solution cells, and refuses a notebook with a block anywhere else.
    So each exercise cell becomes an "autograded answer" cell and the check
    cell after it a read-only cell, both named after the check they call
    (``weighted_sum`` and ``weighted_sum_check``). The checks give feedback,
    they are not graded tests: an instructor who grades adds test cells.
    """
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    seen = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "### BEGIN SOLUTION" not in cell.source:
            continue
        following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        names = CHECK_CALL.findall(following.source) if following and following.cell_type == "code" else []
        if not names:
            got = "nothing" if following is None else f"a {following.cell_type} cell without a check_* call"
            _fail(ValueError, "add_nbgrader_metadata", f"a check cell right after exercise cell {i}", got,
                  "follow every exercise with the cell that calls its check_* function")
        if names[-1] in seen:
            _fail(ValueError, "add_nbgrader_metadata", "one exercise per check function",
                  f"two exercises checked by check_{names[-1]}", "give each exercise its own check")
        seen.add(names[-1])
        common = {"grade": False, "schema_version": NBGRADER_SCHEMA, "task": False}
        cell.metadata["nbgrader"] = {**common, "grade_id": names[-1], "locked": False, "solution": True}
        following.metadata["nbgrader"] = {
            **common, "grade_id": names[-1] + "_check", "locked": True, "solution": False
        }
    return nb


SLIDES_DIR = Path(__file__).resolve().parent / "slides"


def check_slide_assets(assets: Path = SLIDES_DIR / "vendor") -> Path:
    """Check the vendored slide assets against their ``SHA256SUMS``; return the folder."""
    from course_lib.data import read_sums, sha256

    sums = read_sums(assets / "SHA256SUMS")
    if not sums:
        _fail(ValueError, "export_slides", f"the slide assets listed in {assets / 'SHA256SUMS'}", "no such list",
              "restore course_lib/slides/vendor with `git checkout course_lib/slides/vendor`")
    for name, digest in sums.items():
        got = sha256(assets / name) if (assets / name).is_file() else None
        if got != digest:
            _fail(ValueError, "export_slides", f"{assets / name} with SHA-256 {digest[:12]}...",
                  "a missing file" if got is None else f"SHA-256 {got[:12]}...",
                  "restore it with `git checkout course_lib/slides/vendor` (SOURCES.md says where it comes from)")
    return assets


EDITIONS = ("instructor", "student")


def chapter_neighbours(path: Path) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(title, file name) of the chapters before and after ``path`` (None at either end)."""
    chapters = list_notebooks()
    names = [p.name for p in chapters]
    if Path(path).name not in names:
        return None, None
    i = names.index(Path(path).name)

    def entry(j):
        import nbformat

        cells = nbformat.read(chapters[j], as_version=4).cells
        first = next((c.source for c in cells if c.cell_type == "markdown"), "")
        heading = re.match(r"# (Chapter \d+ · .+)", first)
        return (heading.group(1).strip() if heading else chapters[j].stem), chapters[j].name

    return (entry(i - 1) if i > 0 else None), (entry(i + 1) if i + 1 < len(chapters) else None)


def prepare_chapter(nb, path: Path):
    """What the saving run does to a chapter before running it (in place; returns ``nb``):
    a cell per heading, previous / next links, nbgrader and slide metadata."""
    split_at_headings(nb)
    if Path(path).name in {p.name for p in list_notebooks()}:
        add_chapter_links(nb, *chapter_neighbours(path))
    return add_slide_metadata(add_nbgrader_metadata(nb))


def slides_notebook(nb, edition: str = "instructor"):
    """A copy of a prepared chapter as the static slides show it.

    Widget outputs are dropped (their static figure, stored before them,
    stays; a slide has no kernel to draw them); links to chapters point at
    their slides. ``instructor``: each solution cell is tagged ``solution``,
    which the template marks. ``student``: solutions become placeholders and
    the exercise's and its check's outputs go.
    """
    from course_lib.tools.presenting import WIDGET_MIME

    if edition not in EDITIONS:
        _fail(ValueError, "slides_notebook", f"edition as one of {EDITIONS}", repr(edition),
              "use 'instructor' (solutions marked) or 'student' (solutions hidden)")
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\((\d\d_\w+)\.ipynb\)", r"(\1.slides.html)", cell.source)
            cell.source = cell.source.replace("(00_start_here.slides.html)", "(index.html)")
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
        if "### BEGIN SOLUTION" not in cell.source:
            continue
        if edition == "instructor":
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), "solution"]
        else:
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            if i + 1 < len(nb.cells) and nb.cells[i + 1].cell_type == "code":
                nb.cells[i + 1].outputs = []
    return nb


def export_slides(path: Path, out_dir: Path, edition: str = "instructor") -> Path:
    """Export one notebook as a reveal.js HTML slideshow that works offline;
    returns the file. The scripts, style sheets and fonts it loads (reveal.js,
    RequireJS, MathJax; see ``course_lib/slides/vendor/SOURCES.md``) are
    copied to ``out_dir/assets``, so the folder can be opened anywhere.

    Slides are 1280x720 with text at 22 px and code at 17 px (wrapping in
    its box); a slide starts at every ``#``/``##``/``###`` heading, and a
    section taller than a screen continues on the next slide (see
    ``course_lib.tools.presenting``). ``edition`` is ``instructor``
    (solutions marked) or ``student`` (solutions hidden).
    """
    import shutil

    import nbformat
    from nbconvert import SlidesExporter

    assets = check_slide_assets()
    nb = slides_notebook(prepare_chapter(nbformat.read(path, as_version=4), path), edition)
    exporter = SlidesExporter(
        extra_template_basedirs=[str(SLIDES_DIR / "templates")],
        template_name="course_reveal",
        reveal_url_prefix="assets/reveal.js",
        reveal_theme="white",
        reveal_width="1280",
        reveal_height="720",
        require_js_url="assets/requirejs/require.js",
        mathjax_url="assets/mathjax/tex-svg.js",
    )
    body, _ = exporter.from_notebook_node(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(assets, out_dir / "assets", dirs_exist_ok=True)
    target = out_dir / (path.stem + ".slides.html")
    target.write_text(body, encoding="utf-8")
    return target


def write_slides_index(out_dir: Path, exported: list[Path], edition: str = "instructor") -> Path:
    """Write ``out_dir/index.html``: every chapter's slides, with its learning goals, linked."""
    import html

    rows = []
    for target in exported:
        source = NOTEBOOK_DIR / (target.name.replace(".slides.html", ".ipynb"))
        info = chapter_info(source) if source.is_file() else {"number": "", "title": target.stem, "goals": []}
        goals = "".join(f"<li>{html.escape(g)}</li>" for g in info["goals"])
        rows.append(f'<li><a href="{html.escape(target.name)}">Chapter {info["number"]} · '
                    f'{html.escape(info["title"])}</a><ul class="goals">{goals}</ul></li>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Course slides ({edition} edition)</title>"
            "<style>body{font:20px/1.5 sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            ".goals{font-size:16px;color:#444}a{font-weight:bold}</style></head><body>"
            f"<h1>Deep learning from scratch, then for real: slides</h1>"
            f"<p>The {edition} edition: "
            + ("solutions are hidden." if edition == "student" else "solutions are marked in red.")
            + " Arrow keys move between slides; Esc shows the overview; a tall slide scrolls.</p>"
            "<ol>" + "\n".join(rows) + "</ol></body></html>\n")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


STUDENT_RECORD = ".generated.json"


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_student_edition(out_dir: Path, paths=None, front: bool = True) -> list[Path]:
    """Write the student edition of the given (default: all) chapters, and the front door, to ``out_dir``.

    A file the student changed is never overwritten: ``out_dir/.generated.json``
    keeps the SHA-256 of what was written, and only a missing file or one that
    still has exactly those bytes is (re)written. Returns the files written.
    """
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_file = out_dir / STUDENT_RECORD
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    sources = list_notebooks(paths) + ([FRONT_DOOR] if front and FRONT_DOOR.is_file() and not paths else [])
    written = []
    for path in sources:
        target = out_dir / path.name
        if target.is_file() and record.get(target.name) != _sha(target):
            print(f"kept {target}: it has your work in it (delete it to get a fresh copy)")
            continue
        nb = nbformat.read(path, as_version=4)
        if path != FRONT_DOOR:
            prepare_chapter(nb, path)
        nbformat.write(student_notebook(nb), target)
        record[target.name] = _sha(target)
        written.append(target)
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return written


def run_notebook(path: Path, shipped: str = "0", timeout: int = 600, unset=(), env=None, nb=None):
    """Execute a copy of one notebook with NOTEBOOK_ENV; return (executed notebook, seconds).

    ``shipped`` is the kernel's ``COURSE_SHIPPED`` (see course_lib.shipped):
    ``"0"`` trains, ``"1"`` loads the shipped results, ``"record"`` trains and
    records them. ``unset`` names variables to remove from the kernel's
    environment, e.g. to run it as a plain JupyterLab would; ``env`` adds
    variables (e.g. ``COURSE_SEED``). ``nb`` runs that notebook object (e.g.
    a student edition) instead of the file, in the file's folder.
    """
    import nbformat
    from nbclient import NotebookClient

    if shipped not in ("0", "1", "record"):
        _fail(ValueError, "run_notebook", "shipped as '0', '1' or 'record'", repr(shipped), None)
    if nb is None:
        nb = prepare_chapter(nbformat.read(path, as_version=4), path)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps would change on every save
    client = NotebookClient(
        nb,
        timeout=timeout,
        record_timing=False,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    # No Output-widget mimic: what a widget draws is stored as the cell's own
    # outputs, as nbval sees it, and the mimic can stall a cell until its
    # timeout (jupyter/nbclient#312).
    client.widget_registry = {}
    env = {**os.environ, **notebook_env(), "COURSE_SHIPPED": shipped, **(env or {})}
    for name in unset:
        env.pop(name, None)
    start = time.perf_counter()
    client.execute(env=env)
    return nb, time.perf_counter() - start


def execute_notebook(path: Path, timeout: int = 600) -> float:
    """The saving run of one notebook: execute it in place, recording its
    shipped results (``COURSE_SHIPPED=record``); return seconds taken."""
    import nbformat

    nb, seconds = run_notebook(path, shipped="record", timeout=timeout)
    untagged = tidy_widget_outputs(nb)
    if untagged:
        print(f"{Path(path).name}: widget cells {untagged} lack the nbval-ignore-output tag; "
              "their raw widget repr stays (tag them so nbval ignores what a front end draws)", flush=True)
    add_slide_metadata(nb)  # again: the new outputs have their own heights
    nbformat.write(nb, path)
    return seconds


FEEDBACK_LINE = re.compile(r"^\[(?P<exercise>[^\]]+)\] (?P<mark>correct|not yet): (?P<message>.*)$", re.M)


def feedback_lines(nb) -> list[tuple[str, str, str]]:
    """Every exercise check's line in a notebook's outputs: (exercise, "correct" or "not yet", message)."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
            found += [(m["exercise"], m["mark"], m["message"]) for m in FEEDBACK_LINE.finditer(text)]
    return found


def run_student_edition(path: Path, timeout: int = 600):
    """Run one chapter's student edition (every exercise unsolved) top to bottom; return (notebook, seconds).

    Raises nbclient's CellExecutionError when a cell fails: the edition must
    reach the end with every check saying "not attempted yet".
    """
    import nbformat

    return run_notebook(path, timeout=timeout, nb=student_notebook(nbformat.read(path, as_version=4)))


def run_with_seeds(paths=None, seeds=(1, 2, 3), timeout: int = 600) -> list[dict]:
    """Run every chapter once per base seed (``COURSE_SEED``), outputs not compared: do its claims hold?

    Returns one row per (chapter, seed): ``{"notebook", "seed", "ok", "seconds", "error"}``.
    """
    from nbclient.exceptions import CellExecutionError

    rows = []
    for path in list_notebooks(paths):
        for seed in seeds:
            start = time.perf_counter()
            try:
                run_notebook(path, timeout=timeout, env={"COURSE_SEED": str(seed)})
                ok, error = True, ""
            except CellExecutionError as exc:
                ok, error = False, str(exc).strip().splitlines()[-1][:300]
            rows.append({"notebook": path.name, "seed": seed, "ok": ok,
                         "seconds": round(time.perf_counter() - start, 1), "error": error})
            print(f"{path.name} COURSE_SEED={seed}: {'ok' if ok else 'FAILED ' + error} "
                  f"({rows[-1]['seconds']} s)", flush=True)
    return rows


def tolerance_report(paths=None) -> str:
    """How every chapter's code cells are compared by the checking run, and
    every tolerance a cell declares (see course_lib.tools.nbcompare)."""
    import nbformat

    from course_lib.tools.nbcompare import comparison_report, format_report

    notebooks = [{"name": p.name, "cells": nbformat.read(p, as_version=4).cells} for p in list_notebooks(paths)]
    return format_report(comparison_report(notebooks))


# ----------------------------------------------------------------------------- the course map

MAP_FILE = ROOT / "docs" / "course_map.md"
TIMES_FILE = ROOT / "docs" / "run_times.json"
GOALS = "**Learning goals.**"


def chapter_info(path: Path) -> dict:
    """A chapter's title and learning goals, read from the markdown before its first code cell.

    It starts ``# Chapter N · Title`` and holds a paragraph starting
    ``**Learning goals.**`` followed by a numbered list (items may wrap onto
    indented lines).
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    intro_cells = []  # the markdown before the first code cell (the saving run may split it into several cells)
    for cell in nb.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            intro_cells.append(cell.source)
    intro = "\n\n".join(intro_cells)
    heading = re.match(r"# Chapter (\d+) · (.+)", intro)
    if not heading or GOALS not in intro:
        _fail(ValueError, "chapter_info", f"a first cell '# Chapter N · Title' with a '{GOALS}' list",
              f"{path.name} without one", "see CONTRIBUTING.md, 'Anatomy of a chapter'")
    goals = []
    for line in intro.split(GOALS, 1)[1].splitlines()[1:]:
        item = re.match(r"\d+\. (.*)", line)
        if item:
            goals.append(item.group(1).strip())
        elif goals and line.startswith(" ") and line.strip():
            goals[-1] += " " + line.strip()
        elif goals and not line.strip():
            break
    if not goals:
        _fail(ValueError, "chapter_info", f"a numbered list after '{GOALS}'", f"none in {path.name}", None)
    return {"number": int(heading.group(1)), "title": heading.group(2).strip(), "goals": goals}


def measure_run_times(paths=None) -> dict:
    """Run every chapter top to bottom, training live and then with shipped results; seconds of each."""
    times = {}
    for path in list_notebooks(paths):
        live = run_notebook(path, shipped="0")[1]
        fast = run_notebook(path, shipped="1")[1] if "shipped.run(" in path.read_text() else None
        times[path.name] = {"live": round(live, 1), "shipped": None if fast is None else round(fast, 1)}
        print(f"{path.name}: {live:.1f} s live" + ("" if fast is None else f", {fast:.1f} s with shipped results"),
              flush=True)
    return {"measured": datetime.date.today().isoformat(),
            "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}",
            "threads": int(NOTEBOOK_ENV["COURSE_THREADS"]), "notebooks": times}


def _seconds(value) -> str:
    return "no long training" if value is None else f"{value:.0f} s"


def render_course_map(times: dict, paths=None) -> str:
    """The text of docs/course_map.md, from the notebooks and the measured ``times``."""
    chapters = [(path, chapter_info(path)) for path in list_notebooks(paths)]
    missing = [path.name for path, _ in chapters if path.name not in times["notebooks"]]
    if missing:
        _fail(ValueError, "render_course_map", "a run time for every chapter", f"none for {missing}",
              "run `python -m course_lib.tools.nbtools map --measure`")
    lines = [
        "# Course map",
        "",
        "<!-- Generated by `python -m course_lib.tools.nbtools map`; edit the notebooks, not this file. -->",
        "",
        "The chapters in order, what each one teaches, and how long it takes to run top to bottom.",
        f"Times were measured on {times['measured']} on the course's reference machine "
        f"({times['machine']}, {times['threads']} thread per notebook, no GPU) with "
        "`python -m course_lib.tools.nbtools map --measure`: once training live, and once with",
        "`COURSE_SHIPPED=1`, the switch `make present` sets, which loads each long training run from",
        "`data/shipped/` instead of repeating it (see [Presenting live](../README.md#presenting-live)).",
        "Each chapter's learning goals follow the table.",
        "",
        "| # | chapter | run time, training live | with shipped results |",
        "|---|---|---|---|",
    ]
    for path, info in chapters:
        t = times["notebooks"][path.name]
        lines.append(f"| {info['number']} | [{info['title']}](../notebooks/{path.name}) "
                     f"| {_seconds(t['live'])} | {_seconds(t['shipped'])} |")
    total_live = sum(times["notebooks"][p.name]["live"] for p, _ in chapters)
    total_fast = sum(times["notebooks"][p.name]["shipped"] or times["notebooks"][p.name]["live"] for p, _ in chapters)
    lines += [f"| | **whole course** | **{total_live:.0f} s** | **{total_fast:.0f} s** |", ""]
    for path, info in chapters:
        lines += ["", f"## {info['number']} · {info['title']}", "", f"`notebooks/{path.name}`. "
                  "By the end of this chapter you can", ""]
        lines += [f"{i}. {goal}" for i, goal in enumerate(info["goals"], start=1)]
    return "\n".join(lines) + "\n"


def write_course_map(measure: bool = False) -> Path:
    """Write docs/course_map.md (and, with ``measure``, docs/run_times.json first)."""
    if measure:
        TIMES_FILE.write_text(json.dumps(measure_run_times(), indent=2) + "\n")
    if not TIMES_FILE.is_file():
        _fail(ValueError, "write_course_map", f"{TIMES_FILE} to exist", "nothing there",
              "run `python -m course_lib.tools.nbtools map --measure`")
    MAP_FILE.write_text(render_course_map(json.loads(TIMES_FILE.read_text())))
    return MAP_FILE


# ----------------------------------------------------------------------------- the front door

HOSTED_INSTALL = """\
# On a hosted notebook service (Binder, Colab, a JupyterHub) run this cell first: it installs the
# course's helper package, course_lib, when it is missing. On your own machine `make lab` did that.
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("course_lib") is None:
    here = Path.cwd().resolve()
    root = next((p for p in [here, *here.parents] if (p / "course_lib").is_dir()), None)
    if root is None:
        raise RuntimeError("course_lib is missing and this folder is not inside a copy of the course: "
                           "clone the course's repository, open notebooks/00_start_here.ipynb "
                           "from it, and run this cell again")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--editable", str(root)], check=True)
    sys.path.insert(0, str(root))  # usable now, without restarting the kernel
    print(f"Installed course_lib from {root}: open a chapter below.")
else:
    print("course_lib is installed: nothing to do. Open a chapter below.")"""


def front_door_notebook(times: dict | None = None):
    """The landing notebook, ``notebooks/00_start_here.ipynb``: what the course is, the map with every
    chapter's goals and measured times, how the checks work, links to every chapter, the hosted path."""
    import nbformat

    times = json.loads(TIMES_FILE.read_text()) if times is None else times
    chapters = [(path, chapter_info(path)) for path in list_notebooks()]
    md = nbformat.v4.new_markdown_cell
    table = ["| # | chapter (click to open) | run time | with shipped results |", "|---|---|---|---|"]
    goals = []
    for path, info in chapters:
        t = times["notebooks"].get(path.name, {"live": None, "shipped": None})
        live = "not measured" if t["live"] is None else f"{t['live']:.0f} s"
        table.append(f"| {info['number']} | [{info['title']}]({path.name}) | {live} | {_seconds(t['shipped'])} |")
        goals += ["", f"### {info['number']} · [{info['title']}]({path.name})", "", "By the end you can:", ""]
        goals += [f"{i}. {goal}" for i, goal in enumerate(info["goals"], start=1)]
    cells = [
        md("# Start here · Deep learning from scratch, then for real\n\n"
           "This course takes you from a single perceptron to transformers, GANs and transfer learning. "
           "Every idea is built twice: once from scratch in NumPy, so you see every multiplication, and "
           "once in PyTorch, the way it is done for real. A cell proves the two agree, a widget lets you "
           "play with the idea, and exercises check your answers as you go.\n\n"
           "Everything runs offline on a laptop's CPU; each chapter runs top to bottom in well under "
           "a minute and a half."),
        md("## Before you start\n\n"
           "* **On your own machine** you opened this with `make lab`: it is *your* copy, in the "
           "`student/` folder. Change anything; `git pull` never touches it. Solutions are not in it.\n"
           "* **On a hosted service** (Binder, Colab, a JupyterHub) run the next cell once: it installs "
           "the course's helper package if it is missing."),
        nbformat.v4.new_code_cell(HOSTED_INSTALL),
        md("## The map\n\n"
           f"Run times were measured on {times['measured']} on a {times['machine']} machine, one thread, "
           "no GPU. \"Shipped results\" is the instructor's switch that loads long training runs instead "
           "of repeating them.\n\n" + "\n".join(table)),
        md("## What each chapter teaches\n" + "\n".join(goals)),
        md("## How to use the checks\n\n"
           "Each exercise is a code cell with a line `Your turn: ...` where your code goes, followed by a "
           "check cell. Run your cell, then the check:\n\n"
           "* `[name] correct: ...` means done;\n"
           "* `[name] not yet: ...` comes with a hint that says what is wrong, for example which shape "
           "arrived and which was expected;\n"
           "* `not attempted yet` means the placeholder is still there.\n\n"
           "Run cells with **Shift+Enter**, or the whole chapter with *Run > Run All Cells*. Move the "
           "sliders of the *Try it yourself* sections: the figure redraws. If something looks stuck, "
           "*Kernel > Restart Kernel and Run All Cells* starts the chapter clean."),
        md("## The chapters\n\n" + "\n".join(
            f"{info['number']}. [{info['title']}]({path.name})" for path, info in chapters)
           + "\n\nEach chapter ends with links to the one before and the one after."),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"start-here-{i}"
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    return add_slide_metadata(split_at_headings(nb))


def write_front_door(execute: bool = True) -> Path:
    """Write ``notebooks/00_start_here.ipynb`` (and run its one code cell, so nbval has its output)."""
    import nbformat

    nb = front_door_notebook()
    if execute:
        nb, _ = run_notebook(FRONT_DOOR, nb=nb)
    nbformat.write(nb, FRONT_DOOR)
    return FRONT_DOOR


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.tools.nbtools", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="re-execute notebooks in place (the saving run)")
    run.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    student = sub.add_parser("student", help="write the student edition (solutions removed, outputs cleared)")
    student.add_argument("--out", default="student", help="output folder (default: student/)")
    student.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    slides = sub.add_parser("slides", help="export chapters as reveal.js slides")
    slides.add_argument("--out", default="build/slides", help="output folder (default: build/slides/)")
    slides.add_argument("--edition", default="instructor", choices=EDITIONS,
                        help="instructor: solutions marked (default); student: solutions hidden")
    slides.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    sub.add_parser("front-door", help="write notebooks/00_start_here.ipynb (landing page, map, links)")
    course_map = sub.add_parser("map", help="write docs/course_map.md (goals and run times of every chapter)")
    course_map.add_argument("--measure", action="store_true", help="run every chapter twice to measure its times")
    seeds = sub.add_parser("seeds", help="run chapters with other base seeds (COURSE_SEED); every assert must hold")
    seeds.add_argument("--seeds", default="1,2,3", help="comma-separated base seeds (default 1,2,3)")
    seeds.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    check_student = sub.add_parser("student-check", help="run the student edition of chapters top to bottom")
    check_student.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    report = sub.add_parser("tolerances", help="how each chapter's outputs are compared, and every declared tolerance")
    report.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    args = parser.parse_args(argv)
    if args.command == "tolerances":
        print(tolerance_report(args.notebooks))
    elif args.command == "seeds":
        rows = run_with_seeds(args.notebooks, [int(s) for s in args.seeds.split(",")])
        return 0 if all(row["ok"] for row in rows) else 1
    elif args.command == "student-check":
        for path in list_notebooks(args.notebooks):
            nb, seconds = run_student_edition(path)
            lines = feedback_lines(nb)
            print(f"{path.name}: ran to the end in {seconds:.1f} s; {len(lines)} checks:")
            for exercise, mark, message in lines:
                print(f"  [{exercise}] {mark}: {message}")
    elif args.command == "map":
        print(f"wrote {write_course_map(args.measure)}")
    elif args.command == "execute":
        for path in list_notebooks(args.notebooks):
            seconds = execute_notebook(path)
            print(f"{path.name}: executed in {seconds:.1f} s", flush=True)
        if not args.notebooks:
            print(f"wrote {write_front_door()}")
    elif args.command == "front-door":
        print(f"wrote {write_front_door()}")
    elif args.command == "student":
        for target in write_student_edition(Path(args.out), args.notebooks):
            print(f"wrote {target}")
    else:
        exported = [export_slides(path, Path(args.out), args.edition) for path in list_notebooks(args.notebooks)]
        for target in exported:
            print(f"wrote {target}")
        print(f"wrote {write_slides_index(Path(args.out), exported, args.edition)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
