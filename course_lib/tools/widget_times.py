"""How long each live widget of the course takes to answer a change, measured in the chapter's own kernel.

``python -m course_lib.tools.nbtools widget-times`` runs every chapter (with
its shipped training results, so the models the widgets use are the trained
ones), then, in the same kernel, changes every control of every widget the
chapter built and times the redraw the change triggers: the widget's own
callback, which retrains, resamples or re-runs what it shows. Each control is
moved up to ``repeats`` times from the chapter's setting to a new neighbouring
value (and back, untimed, after each); the median and the slowest change are
kept. The
course asks for about 2 seconds per change on a 2-core laptop CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from course_lib.checks import _fail, check_int

MARKER = "WIDGET-TIMES "

# Runs in the chapter's kernel after its last cell: find every interactive widget, move each control, time it.
_PROBE = r'''
import gc as _gc, json as _json, statistics as _st, time as _time
import ipywidgets as _w
import matplotlib.pyplot as _plt

def _neighbour(control, value, k):
    """Another value for a control: k steps up (or down past the top), the k-th next option, the other state."""
    if isinstance(control, _w.FloatLogSlider):
        up = value * control.base ** (control.step * k)
        return up if up <= control.base ** control.max else value / control.base ** (control.step * k)
    if isinstance(control, (_w.IntSlider, _w.FloatSlider)):
        step = control.step * k
        return value + step if value + step <= control.max else value - step
    if hasattr(control, "options") and len(control.options) > 1:
        labels = list(control._options_values) if hasattr(control, "_options_values") else list(control.options)
        return labels[(labels.index(value) + k) % len(labels)]
    if isinstance(control, (_w.Checkbox, _w.ToggleButton)):
        return not value
    return None

_rows = []
for _widget in [o for o in _gc.get_objects() if isinstance(o, _w.interactive)]:
    for _control in _widget.kwargs_widgets:
        _times, _original, _seen = [], _control.value, []
        for _k in range(1, REPEATS + 1):
            _new = _neighbour(_control, _original, _k)
            if _new is None or _new == _original or _new in _seen:
                break  # a value measured once may come from the widget's cache the second time
            _seen.append(_new)
            _start = _time.perf_counter()
            _control.value = _new  # the widget's callback runs now, synchronously
            if getattr(_widget, "manual", False):
                _widget.update()
            _times.append(_time.perf_counter() - _start)
            _control.value = _original  # back to the chapter's setting (not timed) before the next change
            _plt.close("all")
        if _times:
            _rows.append({"widget": _widget.f.__qualname__.split(".")[0], "control": _control.description,
                          "median": _st.median(_times), "slowest": max(_times),
                          "changes": len(_times), "restored": _control.value == _original})
print("MARKER" + _json.dumps(_rows))
'''


def measure_widgets(path: Path, repeats: int = 3) -> tuple[list[dict], float]:
    """Run one chapter with its shipped results, then time a change of every control of its widgets.

    Returns ([{"widget", "control", "median", "slowest" (seconds per change), "changes", "restored" (the
    control is back at the chapter's setting)}], seconds the whole run took).
    """
    import nbformat

    from course_lib.tools.editions import prepare_chapter
    from course_lib.tools.nbtools import run_notebook

    if not isinstance(path, str | Path) or Path(path).suffix != ".ipynb" or not Path(path).is_file():
        _fail(TypeError if not isinstance(path, str | Path) else ValueError, "measure_widgets",
              "path of an existing .ipynb notebook", repr(path)[:80], "e.g. notebooks/02_mlp.ipynb")
    path = Path(path)
    repeats = check_int(repeats, "repeats", "measure_widgets", minimum=1)
    nb = prepare_chapter(nbformat.read(path, as_version=4), path)
    probe = _PROBE.replace("REPEATS", str(repeats)).replace('"MARKER"', repr(MARKER))
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    nb, seconds = run_notebook(path, shipped="1", nb=nb)
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs if out.get("output_type") == "stream")
    found = [line for line in text.splitlines() if line.startswith(MARKER)]
    if not found:
        _fail(RuntimeError, "measure_widgets", f"a line starting {MARKER!r} from the probe cell",
              repr(text[-200:]), "run the chapter on its own and look for the error")
    return json.loads(found[-1][len(MARKER):]), seconds


def widget_times_report(paths=None, repeats: int = 3) -> list[dict]:
    """Measure every chapter's widgets (see ``measure_widgets``); print a table and return its rows."""
    from course_lib.tools.nbtools import list_notebooks

    if paths is not None and (isinstance(paths, str) or not isinstance(paths, list | tuple)):
        _fail(TypeError, "widget_times_report", "paths as a list of notebook paths, or None for every chapter",
              type(paths).__name__, "e.g. ['notebooks/09_gan.ipynb']")
    rows = []
    print(f"{'chapter':<32} {'widget':<22} {'control':<30} {'changes':>7} {'median s':>9} {'slowest s':>9}")
    for path in list_notebooks(paths):
        measured, _ = measure_widgets(path, repeats)
        for row in measured:
            row["chapter"] = path.name
            rows.append(row)
            print(f"{path.name:<32} {row['widget']:<22} {row['control'][:30]:<30} {row['changes']:>7} "
                  f"{row['median']:>9.2f} {row['slowest']:>9.2f}", flush=True)
        if not measured:
            print(f"{path.name:<32} (no interactive widget)", flush=True)
    return rows
