"""The widget timer: it finds every interactive widget a notebook built, moves each control to new values,
times the callback each change runs, and puts the control back."""

import nbformat
import pytest

from course_lib.tools.widget_times import measure_widgets

WIDGET_CELL = '''
import time
import ipywidgets as widgets

calls = []

def draw(n, mode, slow, rate):
    calls.append((n, mode, slow, rate))
    time.sleep(0.2 if slow else 0.0)

demo = widgets.interactive(
    draw,
    n=widgets.IntSlider(value=9, min=0, max=10, step=1, description="n"),
    mode=widgets.Dropdown(options=["a", "b", "c"], value="a", description="mode"),
    slow=widgets.Checkbox(value=False, description="slow"),
    rate=widgets.FloatLogSlider(value=1e-3, min=-4, max=-1, step=1, description="rate"),
)
'''


def test_every_control_is_moved_timed_and_put_back(tmp_path):
    path = tmp_path / "demo.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGET_CELL)])
    nbformat.write(nb, path)
    rows, _ = measure_widgets(path, repeats=3)
    by_control = {row["control"]: row for row in rows}
    assert set(by_control) == {"n", "mode", "slow", "rate"} and {row["widget"] for row in rows} == {"draw"}
    # n = 9 of 0..10: one step up, then two and three down past the top; a Checkbox has one other state
    assert by_control["n"]["changes"] == 3 and by_control["mode"]["changes"] == 2
    assert by_control["slow"]["changes"] == 1 and by_control["rate"]["changes"] == 3
    assert by_control["slow"]["slowest"] == pytest.approx(0.2, abs=0.15)  # the callback's own time is measured
    assert by_control["n"]["median"] < 0.1
    assert all(row["restored"] for row in rows), rows


def test_a_notebook_without_widgets_gives_no_rows(tmp_path):
    path = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    assert measure_widgets(path, repeats=1)[0] == []


def test_bad_arguments_are_explained(tmp_path):
    path = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(ValueError, match="measure_widgets: expected repeats"):
        measure_widgets(path, repeats=0)
    with pytest.raises(ValueError, match="measure_widgets: expected path of an existing .ipynb notebook"):
        measure_widgets(tmp_path / "missing.ipynb")
    with pytest.raises(TypeError, match="measure_widgets: expected path"):
        measure_widgets(3)
