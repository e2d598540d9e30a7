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
  starts its kernels (the checking run);
* ``seeds`` and ``student-check`` run chapters with other base seeds and
  their student edition; ``widget-times`` times every widget's answer to a
  change in the chapter's own kernel (``widget_times.py``).

The student edition and the slides are made in ``editions.py``, the course
map and the front door in ``course_map.py``; this module's command line
(``main``) reaches all of them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from course_lib.checks import _fail
from course_lib.tools.presenting import (
    add_slide_metadata,
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
        from course_lib.tools.editions import prepare_chapter  # editions imports this module

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

    from course_lib.tools.editions import student_notebook

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


def main(argv=None) -> int:
    from course_lib.tools.course_map import write_course_map, write_front_door
    from course_lib.tools.editions import EDITIONS, export_slides, write_slides_index, write_student_edition

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
    times = sub.add_parser("widget-times", help="time a change of every widget control, in each chapter's kernel")
    times.add_argument("--repeats", type=int, default=3, help="changes per control; the median is kept (default 3)")
    times.add_argument("notebooks", nargs="*", help="default: every chapter in notebooks/")
    args = parser.parse_args(argv)
    if args.command == "widget-times":
        from course_lib.tools.widget_times import widget_times_report

        widget_times_report(args.notebooks, args.repeats)
    elif args.command == "tolerances":
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
