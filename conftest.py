"""Settings shared by every test run, the notebooks' time budget, and the
nbval plugin that compares printed numbers as numbers.

The notebook environment (thread count, stable warning paths, the numeric
configuration chosen with COURSE_NUMERICS) comes from course_lib.tools.nbtools,
the same place the saving run takes it from, and is set before nbval starts
any kernel.

nbval stays the runner, in strict mode. Its cell comparison is extended here,
not forked: before nbval compares a cell, every output text whose numbers
agree with the stored ones within the cell's tolerance (course_lib.tools.nbcompare:
one unit in the last printed place by default, or what the cell declares in
its metadata) is replaced by the stored text, and nbval compares the rest as
it always does (missing and extra outputs, changed text, figures). A number
that moved too far fails the cell with the notebook, cell, line, old and new
number and the tolerance it exceeded.
"""

import copy
import os
from collections import defaultdict
from pathlib import Path

from nbval.plugin import IPyNbCell

from course_lib.tools.nbcompare import compare_text, tolerance_of, too_wide
from course_lib.tools.nbtools import NUMERICS_VAR, apply_notebook_env

apply_notebook_env()

# Each chapter must execute within this many seconds on a 2-core CPU (judged
# in the native configuration; the others only simulate other machines).
NOTEBOOK_BUDGET_S = 90.0

_notebook_seconds: dict[str, float] = defaultdict(float)


def _text_outputs(outputs, skip):
    """Per output key (stream name or MIME type), the outputs holding a text under it, in order."""
    found = defaultdict(list)
    for output in outputs:
        if output.get("output_type") == "stream":
            found[output["name"]].append((output, None))
        for mime, value in output.get("data", {}).items():
            if mime not in skip and isinstance(value, str):
                found[mime].append((output, mime))
    return found


def _get(output, mime):
    return output["text"] if mime is None else output["data"][mime]


def _set(output, mime, value):
    if mime is None:
        output["text"] = value
    else:
        output["data"][mime] = value


class TolerantCell(IPyNbCell):
    """nbval's notebook cell, comparing numbers within the tolerance the cell declares."""

    def compare_outputs(self, test, ref, skip_compare=None):
        skip = skip_compare or self.parent.skip_compare
        where = f"{Path(str(self.fspath)).name}, Cell {self.cell_num}"
        tol = tolerance_of(self.cell.metadata, where)
        test = [copy.deepcopy(output) for output in test]
        new, old = _text_outputs(test, skip), _text_outputs(ref, skip)
        wide, moved = [], []
        for key, stored in old.items():
            for (ref_out, ref_mime), (test_out, test_mime) in zip(stored, new.get(key, [])):
                before, after = self.sanitize(_get(ref_out, ref_mime)), self.sanitize(_get(test_out, test_mime))
                wide += too_wide(before, tol)
                verdict = compare_text(before, after, tol)
                if verdict.ok:
                    _set(test_out, test_mime, _get(ref_out, ref_mime))
                moved += [f"  [{key}] {problem}" for problem in verdict.problems]
        if wide:
            self.comparison_traceback = [
                f"{where}: its declared tolerance is wider than values it prints, so they could become "
                "anything and still pass; narrow it, or limit it with 'lines' or 'below':", *wide]
            return False
        if moved:
            self.comparison_traceback = [f"{where}: numbers moved beyond their tolerance:", *moved]
            return False
        return super().compare_outputs(test, ref, skip_compare)


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item) is IPyNbCell:
            item.__class__ = TolerantCell


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def _budget_applies() -> bool:
    return os.environ.get(NUMERICS_VAR, "native") == "native"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _notebook_seconds:
        return
    numerics = os.environ.get(NUMERICS_VAR, "native")
    budget = f"budget {NOTEBOOK_BUDGET_S:.0f} s each" if _budget_applies() else "no budget in this configuration"
    terminalreporter.section(f"notebook run times, numerics {numerics} ({budget})")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  OVER BUDGET" if _budget_applies() and seconds > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{Path(path).name:40s} {seconds:6.1f} s{flag}")
    total = sum(_notebook_seconds.values())
    terminalreporter.write_line(f"{'all notebooks (kernel time)':40s} {total:6.1f} s")


def pytest_sessionfinish(session, exitstatus):
    over = [p for p, s in _notebook_seconds.items() if s > NOTEBOOK_BUDGET_S]
    if over and _budget_applies() and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {', '.join(sorted(over))}")

