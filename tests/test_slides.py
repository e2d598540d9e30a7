"""Slides start at every heading, fit about two screens at 1280x720, and the static export is tidy."""

import re

import nbformat
import pytest

from course_lib.tools.editions import export_slides, prepare_chapter, slides_notebook, write_slides_index
from course_lib.tools.nbtools import list_notebooks
from course_lib.tools.presenting import (
    MAX_SLIDE,
    WIDGET_HINT,
    WIDGET_MIME,
    add_slide_metadata,
    estimate_height,
    slide_heights,
    slides,
    split_at_headings,
    split_markdown,
    tidy_widget_outputs,
)

NOTEBOOKS = list_notebooks()
HEADING = re.compile(r"^#{2,3} \S", re.M)


def _prepared(path):
    return prepare_chapter(nbformat.read(path, as_version=4), path)


def test_split_markdown_splits_before_each_heading_but_not_in_code_or_maths():
    text = "## A\n\ntext\n### B\nmore\n\n```python\n## not a heading\n```\n$$\n## nor this\n$$\n## C"
    assert split_markdown(text) == [
        "## A\n\ntext", "### B\nmore\n\n```python\n## not a heading\n```\n$$\n## nor this\n$$", "## C"]
    assert split_markdown("no heading\nat all") == ["no heading\nat all"]
    with pytest.raises(TypeError, match="split_markdown: expected a cell's source as a str, got list"):
        split_markdown(["## A"])


def test_split_at_headings_is_stable_and_keeps_ids_deterministic():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("intro\n## Two\nx\n### Three\ny")])
    nb.cells[0]["id"] = "abc"
    split_at_headings(nb)
    assert [c.source for c in nb.cells] == ["intro", "## Two\nx", "### Three\ny"]
    assert [c["id"] for c in nb.cells] == ["abc", "abc-h1", "abc-h2"]
    again = split_at_headings(nbformat.from_dict(nb))
    assert [c.source for c in again.cells] == [c.source for c in nb.cells]
    nbformat.validate(nb)


def test_a_section_taller_than_a_screen_continues_on_a_new_slide():
    long_code = "\n".join(f"x{i} = {i}" for i in range(25))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Long")]
                                  + [nbformat.v4.new_code_cell(long_code) for _ in range(4)])
    kinds = [c.metadata["slideshow"]["slide_type"] for c in add_slide_metadata(nb).cells]
    assert kinds[0] == "slide" and "subslide" in kinds[1:]
    assert all(h <= 720 + 10 for _, h in slide_heights(nb))
    with pytest.raises(ValueError, match="add_slide_metadata: expected a screen height in px > 0, got 0"):
        add_slide_metadata(nb, screen=0)
    with pytest.raises(TypeError, match="estimate_height: expected an nbformat cell, got str"):
        estimate_height("## A")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_heading_starts_a_slide_and_no_slide_is_taller_than_two_screens(path):
    nb = _prepared(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        headings = HEADING.findall(cell.source)
        kind = cell.metadata["slideshow"]["slide_type"]
        if headings:
            assert len(headings) == 1 and HEADING.match(cell.source), f"cell {i}: a heading mid-cell: {headings}"
            assert kind in ("slide", "subslide"), f"cell {i} ({cell.source[:40]!r}) is a heading but {kind!r}"
    heights = slide_heights(nb)
    too_tall = [(title, h) for title, h in heights if h > MAX_SLIDE]
    assert not too_tall, f"{path.name}: slides taller than two 1280x720 screens: {too_tall}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_static_slides_hide_or_mark_solutions_and_show_no_widget_repr(path):
    nb = _prepared(path)
    teacher, student = slides_notebook(nb, "instructor"), slides_notebook(nb, "student")
    for edition in (teacher, student):
        outputs = [o for c in edition.cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if WIDGET_MIME in o.get("data", {})], "a widget left an empty Out[...]"
    solutions = [c for c in teacher.cells if "### BEGIN SOLUTION" in c.source]
    assert solutions and all("solution" in c.metadata.get("tags", []) for c in solutions)
    assert not [c for c in student.cells if "BEGIN SOLUTION" in c.source]
    links = [c.source for c in teacher.cells if "next:" in c.source or "previous:" in c.source]
    assert links and ".ipynb" not in links[-1], "links in the slides must point at slides, not notebooks"
    with pytest.raises(ValueError, match="slides_notebook: expected edition as one of"):
        slides_notebook(nb, "teacher")


def test_exported_slides_wrap_code_and_the_index_lists_every_chapter(tmp_path):
    exported = [export_slides(path, tmp_path, "student") for path in NOTEBOOKS[:2]]
    html = exported[0].read_text()
    assert "white-space: pre-wrap" in html and "max-height: 520px" in html and "width: 1280" in html
    assert "interactive(children=" not in html and "BEGIN SOLUTION" not in html
    index = write_slides_index(tmp_path, exported, "student").read_text()
    for target in exported:
        assert f'href="{target.name}"' in index
    assert "solutions are hidden" in index


def test_widget_outputs_store_a_hint_not_their_raw_repr():
    cell = nbformat.v4.new_code_cell("interact(f)", outputs=[nbformat.v4.new_output(
        "execute_result", data={WIDGET_MIME: {"model_id": "x"}, "text/plain": "interactive(children=(FloatSlider("},
        execution_count=1)])
    untagged = nbformat.from_dict(cell)
    untagged["id"] = "untagged"
    cell.metadata["tags"] = ["nbval-ignore-output"]
    nb = nbformat.v4.new_notebook(cells=[cell, untagged])
    assert tidy_widget_outputs(nb) == [1]
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == WIDGET_HINT
    assert nb.cells[1].outputs[0]["data"]["text/plain"].startswith("interactive(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_widget_cell_is_tagged_so_its_repr_can_be_tidied(path):
    assert tidy_widget_outputs(_prepared(path)) == [], "tag widget cells nbval-ignore-output"


def test_slides_group_cells_by_slide_type():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## A"), nbformat.v4.new_code_cell("1"),
                                         nbformat.v4.new_markdown_cell("### B")])
    add_slide_metadata(nb)
    assert [len(group) for group in slides(nb)] == [2, 1]
