"""Every chapter's comparison, as declared: how many cells are compared exactly,
with a tolerance, and not at all; every tolerance well formed, visible in the
cell's metadata and narrower than the values it covers; no new blind spots."""

import re
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from course_lib.tools.nbcompare import KEY, cell_kind, comparison_report, format_report, tolerance_of, too_wide
from course_lib.tools.nbtools import list_notebooks, tolerance_report

NOTEBOOKS = list_notebooks()
SANITIZE = Path(__file__).with_name("sanitize.cfg")
# Code cells tagged nbval-ignore-output when portable validation began; the number must not grow.
IGNORED_AT_MOST = 35


def _sanitize(text):
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def _texts(cell):
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            yield out.text
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") and isinstance(value, str):
                yield value


def test_report_per_chapter(capsys):
    rows = comparison_report({"name": p.name, "cells": nbformat.read(p, as_version=4).cells} for p in NOTEBOOKS)
    report = format_report(rows)
    with capsys.disabled():
        print("\n" + report)
    assert [row["name"] for row in rows] == [p.name for p in NOTEBOOKS]
    assert report == tolerance_report()
    for row in rows:
        assert row["exact"] + row["tolerance"] > row["not compared"], f"{row['name']} compares too little"


def test_no_new_cells_left_uncompared():
    ignored = [
        (p.name, cell.get("id"))
        for p in NOTEBOOKS
        for cell in nbformat.read(p, as_version=4).cells
        if cell.cell_type == "code" and "nbval-ignore-output" in cell.metadata.get("tags", [])
    ]
    assert len(ignored) <= IGNORED_AT_MOST, (
        f"{len(ignored)} code cells are tagged nbval-ignore-output (at most {IGNORED_AT_MOST}); "
        "declare a tolerance in the cell's metadata instead")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_declared_tolerance_is_well_formed_and_narrower_than_its_values(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code):
        where = f"{path.name}, Cell {number}"
        if KEY in cell.metadata:
            assert cell_kind(cell) == "tolerance", f"{where}: a tolerance on a cell that is not compared"
            assert cell.get("outputs"), f"{where}: a tolerance on a cell that prints nothing"
        tol = tolerance_of(cell.metadata, where)
        wide = [problem for text in _texts(cell) for problem in too_wide(_sanitize(text), tol)]
        assert not wide, f"{where}: tolerance as wide as the values it covers: {wide}"
