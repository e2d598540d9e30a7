"""The course map (docs/course_map.md) is generated from the notebooks and the measured run times."""

import json

import nbformat
import pytest

from course_lib.tools import course_map

NOTEBOOKS = course_map.list_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_states_its_goals(path):
    info = course_map.chapter_info(path)
    assert info["number"] == int(path.name[:2]) and info["title"]
    assert len(info["goals"]) >= 5
    assert all(goal[0].islower() and goal.endswith((";", ".")) for goal in info["goals"])  # one sentence, split


def test_wrapped_goals_are_joined_and_a_missing_list_is_explained(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "# Chapter 3 · Something\n\nIntro.\n\n**Learning goals.** By the end you can\n\n"
        "1. do one thing;\n2. do a second thing that\n   wraps onto a second line.\n\nMore text.\n3. not a goal")]
    path = tmp_path / "03_something.ipynb"
    nbformat.write(nb, path)
    goals = ["do one thing;", "do a second thing that wraps onto a second line."]
    assert course_map.chapter_info(path) == {"number": 3, "title": "Something", "goals": goals}
    nb.cells[0].source = "# Chapter 3 · Something\n\nNo goals here."
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="Learning goals.*got 03_something.ipynb without one; see CONTRIBUTING.md"):
        course_map.chapter_info(path)


def test_the_map_needs_a_time_for_every_chapter():
    times = json.loads(course_map.TIMES_FILE.read_text())
    del times["notebooks"][NOTEBOOKS[0].name]
    with pytest.raises(ValueError, match=f"none for \\['{NOTEBOOKS[0].name}'\\].*map --measure"):
        course_map.render_course_map(times)


def test_course_map_is_up_to_date():
    times = json.loads(course_map.TIMES_FILE.read_text())
    assert course_map.MAP_FILE.read_text() == course_map.render_course_map(times), (
        "docs/course_map.md is stale: run `python -m course_lib.tools.nbtools map`")


def test_measured_times_fit_the_budget_and_shipped_results_save_time():
    times = json.loads(course_map.TIMES_FILE.read_text())["notebooks"]
    assert set(times) == {p.name for p in NOTEBOOKS}
    for path in NOTEBOOKS:
        t = times[path.name]
        assert 0 < t["live"] < 90, path.name
        uses_switch = "shipped.run(" in path.read_text()
        assert (t["shipped"] is not None) == uses_switch, path.name
        if uses_switch:
            assert t["shipped"] < t["live"], path.name
    assert sum(t["live"] for t in times.values()) < 600
