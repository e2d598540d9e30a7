"""Progress bars that behave in a notebook, a terminal, and a headless run.

``progress(iterable)`` is a tqdm bar (a widget in JupyterLab) when a person
is watching. When ``COURSE_HEADLESS=1`` (set by the saving and checking
runs, see ``course_lib.tools.nbtools``) it returns the iterable untouched, because
a bar's timings would make stored outputs differ on every run; the cell
then prints its own rounded final line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

HEADLESS_ENV = "COURSE_HEADLESS"


def is_headless() -> bool:
    return os.environ.get(HEADLESS_ENV, "") == "1"


def progress(iterable: Iterable, desc: str = "", total: int | None = None, leave: bool = False):
    """Wrap ``iterable`` in a progress bar unless running headless."""
    if not hasattr(iterable, "__iter__"):
        from course_lib.checks import _fail

        _fail(TypeError, "progress", "an iterable, e.g. range(epochs)", type(iterable).__name__, None)
    if is_headless():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave)
