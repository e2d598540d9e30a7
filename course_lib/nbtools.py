"""Run the course's notebooks the same way when saving and when checking.

nbval re-executes every notebook and compares each cell's output with the
stored one, so the run that *saves* outputs and the run that *checks* them
must use the same settings. They live here, once:

* ``NOTEBOOK_ENV``: thread count, stable warning paths, hash seed;
* ``python -m course_lib.nbtools execute [NOTEBOOK ...]`` re-executes
  notebooks in place with those settings (the saving run);
* the test suite's ``conftest.py`` applies the same settings before nbval
  starts its kernels (the checking run).
"""

from __future__ import annotations

import argparse
import os
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


def execute_notebook(path: Path, timeout: int = 600) -> float:
    """Re-execute one notebook in place with NOTEBOOK_ENV; return seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    apply_notebook_env()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
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
    args = parser.parse_args(argv)
    if args.command == "execute":
        for path in list_notebooks(args.notebooks):
            seconds = execute_notebook(path)
            print(f"{path.name}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
