"""Settings shared by every test run, and the notebooks' time budget.

The notebook environment (thread count, stable warning paths) comes from
course_lib.nbtools, the same place the saving run takes it from, and is set
before nbval starts any kernel.
"""

import time
from collections import defaultdict
from pathlib import Path

from course_lib.nbtools import apply_notebook_env

apply_notebook_env()

# Each chapter must execute within this many seconds on a 2-core CPU.
NOTEBOOK_BUDGET_S = 90.0

_notebook_seconds: dict[str, float] = defaultdict(float)
_session_start = time.perf_counter()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _notebook_seconds:
        return
    terminalreporter.section(f"notebook run times (budget {NOTEBOOK_BUDGET_S:.0f} s each)")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "" if seconds <= NOTEBOOK_BUDGET_S else "  OVER BUDGET"
        terminalreporter.write_line(f"{Path(path).name:40s} {seconds:6.1f} s{flag}")
    total = sum(_notebook_seconds.values())
    terminalreporter.write_line(f"{'all notebooks (kernel time)':40s} {total:6.1f} s")


def pytest_sessionfinish(session, exitstatus):
    over = [p for p, s in _notebook_seconds.items() if s > NOTEBOOK_BUDGET_S]
    if over and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {', '.join(sorted(over))}")
