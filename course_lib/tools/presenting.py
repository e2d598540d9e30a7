"""What the saving run and the exports do to a chapter so it presents well.

Applied by ``nbtools execute`` (the saving run) to every chapter, and by the
student and slides exports to the copies they write, so a chapter written
by hand needs none of it:

* ``split_at_headings``: every ``##`` / ``###`` heading starts its own
  markdown cell, wherever it sat in a cell (a slide starts at a cell);
* ``add_slide_metadata``: reveal.js slide types from those headings, and a
  continuation slide wherever a section grows past one screen;
* ``add_chapter_links``: previous / next links at the end of each chapter;
* ``tidy_widget_outputs``: a widget's stored output says "run the cell"
  instead of its raw ``interactive(children=...)`` repr;
* ``estimate_height`` / ``slide_heights``: how tall each slide is at
  1280x720 with the slides' fonts (``SLIDE_FONTS``), from its content.
"""

from __future__ import annotations

import base64
import re
import struct

from course_lib.checks import _fail

# The slides' geometry and fonts (reveal.js at 1280x720, set in the course_reveal template).
SCREEN = (1280, 720)
SLIDE_FONTS = {"text": 22, "code": 17, "h1": 40, "h2": 34, "h3": 28}
LINE = 1.45  # line height, in font sizes
TEXT_WIDTH = SCREEN[0] - 120  # the slide's content width in px
CHARS_TEXT = int(TEXT_WIDTH / (SLIDE_FONTS["text"] * 0.5))  # proportional font: about half an em per char
CHARS_CODE = int((TEXT_WIDTH - 40) / (SLIDE_FONTS["code"] * 0.6))  # monospace: 0.6 em per char
MAX_IMAGE = 600  # figures scale down to this height (and to the width): the template's max-height
MAX_CODE = 520  # a longer code box scrolls inside itself (the template's max-height)
MAX_TEXT_OUTPUT = 400  # so does a long printed output
MAX_SLIDE = 2 * SCREEN[1]  # "about two screens": taller than this and the slide structure failed

HEADING_LINE = re.compile(r"^(#{1,3}) \S")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_HINT = "[interactive widget: run this cell to get its controls]"
NAV_KEY = "course_nav"


def _code_fence_lines(lines):
    """For each line, whether it sits inside a ``` fence or a $$ display-maths block."""
    inside, fence, math = [], False, False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            inside.append(True)
            fence = not fence
            continue
        if not fence and stripped.count("$$") % 2 == 1:  # opens or closes a display (a "$$x$$" line does neither)
            inside.append(True)
            math = not math
            continue
        inside.append(fence or math)
    return inside


def split_markdown(source: str) -> list[str]:
    """Split one markdown cell's text before every ``#``/``##``/``###`` heading that is not its first line."""
    if not isinstance(source, str):
        _fail(TypeError, "split_markdown", "a cell's source as a str", type(source).__name__,
              "pass cell.source of an nbformat v4 notebook")
    lines = source.split("\n")
    pieces, current = [], []
    for line, inside in zip(lines, _code_fence_lines(lines)):
        if not inside and HEADING_LINE.match(line) and "".join(current).strip():
            pieces.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    pieces.append("\n".join(current).strip("\n"))
    return [p for p in pieces if p.strip()] or [source]


def split_tall_markdown(source: str, limit: float | None = None) -> list[str]:
    """Split a markdown text taller than ``limit`` px (default: 0.9 of a screen) at blank lines between paragraphs."""
    limit = SCREEN[1] * 0.9 if limit is None else limit
    if _markdown_height(source) <= limit:
        return [source]
    lines = source.split("\n")
    pieces, current = [], []
    for line, inside in zip(lines, _code_fence_lines(lines)):
        boundary = not inside and not line.strip() and current
        if boundary and _markdown_height("\n".join(current)) > limit * 0.5 and \
                _markdown_height(source) - _markdown_height("\n".join(current)) > limit * 0.25:
            pieces.append("\n".join(current).strip("\n"))
            current = []
            continue
        current.append(line)
    pieces.append("\n".join(current).strip("\n"))
    return [p for p in pieces if p.strip()]


def split_at_headings(nb):
    """Give every heading its own markdown cell (in place; returns ``nb``). Running it again changes nothing.

    A markdown text still taller than a screen is split between paragraphs
    (``split_tall_markdown``), so its slide can continue on the next one.

    A new cell's id is its parent's id plus ``-h1``, ``-h2`` ... so the saving
    run writes the same file every time.
    """
    import nbformat

    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        pieces = [part for piece in split_markdown(cell.source) for part in split_tall_markdown(piece)]
        cell.source = pieces[0]
        cells.append(cell)
        base = cell.get("id") or "cell"
        for k, piece in enumerate(pieces[1:], start=1):
            new = nbformat.v4.new_markdown_cell(piece)
            new["id"] = f"{base[:56]}-h{k}"
            cells.append(new)
    nb.cells = cells
    return nb


def heading_level(cell) -> int:
    """1, 2 or 3 for a markdown cell that starts with such a heading, else 0."""
    if cell.cell_type != "markdown":
        return 0
    first = cell.source.lstrip().split("\n", 1)[0]
    match = HEADING_LINE.match(first)
    return len(match.group(1)) if match else 0


# ----------------------------------------------------------------------------- heights


def _png_size(data: str) -> tuple[int, int] | None:
    raw = base64.b64decode(data[:64])
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", raw[16:24])


def _wrapped(text: str, width: int) -> int:
    return sum(max(1, -(-len(line) // width)) for line in text.split("\n"))


def _markdown_height(source: str) -> float:
    text, code = SLIDE_FONTS["text"] * LINE, SLIDE_FONTS["code"] * LINE
    height, paragraph = 0.0, False
    lines = source.split("\n")
    for line, inside in zip(lines, _code_fence_lines(lines)):
        stripped = line.strip()
        heading = HEADING_LINE.match(stripped)
        if heading:
            height += SLIDE_FONTS[f"h{len(heading.group(1))}"] * 1.3 + 24
        elif inside:
            height += code if not stripped.startswith(("```", "$$")) else 8
        elif not stripped:
            height += 12 if paragraph else 0
            paragraph = False
        elif stripped.startswith("|"):
            height += text + 6  # a table row
        elif stripped.startswith("<img") or stripped.startswith("!["):
            height += 300
        else:
            height += text * _wrapped(stripped, CHARS_TEXT)
            paragraph = True
    return height + 16


def _output_height(out) -> float:
    code = SLIDE_FONTS["code"] * 1.3
    if out.get("output_type") == "stream":
        return min(code * _wrapped(out.get("text", "").rstrip("\n"), CHARS_CODE), MAX_TEXT_OUTPUT) + 10
    if out.get("output_type") == "error":
        return code * min(20, len(out.get("traceback", []))) + 10
    data = out.get("data", {})
    if "image/png" in data:
        size = _png_size(data["image/png"])
        meta = out.get("metadata", {}).get("image/png", {})
        width, height = meta.get("width"), meta.get("height")
        if (not width or not height) and size:
            width, height = size
        if width and height:
            return min(height * min(1.0, TEXT_WIDTH / width), MAX_IMAGE) + 10
        return 400
    if "text/html" in data:
        return 30 * max(1, data["text/html"].count("<tr")) + 10
    if "text/latex" in data or "text/markdown" in data:
        return SLIDE_FONTS["text"] * LINE * 2
    if WIDGET_MIME in data:
        return 0  # the static export leaves widgets out; live, the widget replaces its figure
    if "text/plain" in data:
        return min(code * _wrapped(data["text/plain"], CHARS_CODE), MAX_TEXT_OUTPUT) + 10
    return 0


def estimate_height(cell) -> float:
    """Estimated height in px of one cell on a 1280x720 slide, with the slides' fonts (``SLIDE_FONTS``).

    Text wraps at the slide's width; images keep their stored size, scaled
    down to the width and to ``MAX_IMAGE``; code wraps (the slides wrap long
    lines), and a code box taller than ``MAX_CODE`` (a printed output taller
    than ``MAX_TEXT_OUTPUT``) scrolls inside itself.
    """
    if not hasattr(cell, "get") or "cell_type" not in cell:
        _fail(TypeError, "estimate_height", "an nbformat cell", type(cell).__name__, "pass one of nb.cells")
    if not cell.source.strip() and not cell.get("outputs"):
        return 0.0
    if cell.cell_type == "markdown":
        return _markdown_height(cell.source)
    if cell.cell_type != "code":
        return SLIDE_FONTS["text"] * LINE * _wrapped(cell.source, CHARS_TEXT)
    height = min(SLIDE_FONTS["code"] * 1.3 * _wrapped(cell.source, CHARS_CODE), MAX_CODE) + 30
    return height + sum(_output_height(out) for out in cell.get("outputs", []))


def add_slide_metadata(nb, screen: int = SCREEN[1]):
    """Mark cells for reveal.js (in place; returns ``nb``).

    A ``#``/``##`` heading starts a slide, a ``###`` heading a sub-slide;
    any other cell continues the slide, unless the slide is already a
    screen tall and this cell would push it past one: then it starts a
    continuation sub-slide. Headings inside a cell count only once
    ``split_at_headings`` gave them their own cell.
    """
    if screen <= 0:
        _fail(ValueError, "add_slide_metadata", "a screen height in px > 0", repr(screen), "use the default, 720")
    running = 0.0
    for cell in nb.cells:
        level, height = heading_level(cell), estimate_height(cell)
        if level in (1, 2):
            kind, running = "slide", height
        elif level == 3:
            kind, running = "subslide", height
        elif running > 0 and running + height > screen and height > 0:
            kind, running = "subslide", height
        else:
            kind, running = "-", running + height
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def slides(nb) -> list[list]:
    """The notebook's cells grouped by slide (a ``slide`` or ``subslide`` starts a new group)."""
    groups = []
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") or not groups:
            groups.append([])
        if kind not in ("skip", "notes"):
            groups[-1].append(cell)
    return groups


def slide_heights(nb) -> list[tuple[str, float]]:
    """(title, estimated px) of every slide: its first line and its height at 1280x720."""
    rows = []
    for group in slides(nb):
        title = next((c.source.strip().split("\n", 1)[0] for c in group if c.source.strip()), "(empty)")
        rows.append((title[:70], round(sum(estimate_height(c) for c in group))))
    return rows


# ----------------------------------------------------------------------------- widgets and links


def tidy_widget_outputs(nb):
    """Replace the raw ``interactive(children=...)`` text a widget leaves in its stored output by a hint.

    Only in cells tagged ``nbval-ignore-output`` (the course tags every widget
    cell so): nbval compares other cells' text, and would see the change.
    Returns the indices of widget cells left untouched because they lack the tag.
    """
    untagged = []
    for i, cell in enumerate(nb.cells):
        widget_outputs = [o for o in cell.get("outputs", []) if WIDGET_MIME in o.get("data", {})]
        if not widget_outputs:
            continue
        if "nbval-ignore-output" not in cell.metadata.get("tags", []):
            untagged.append(i)
            continue
        for out in widget_outputs:
            out["data"]["text/plain"] = WIDGET_HINT
    return untagged


def nav_markdown(previous: tuple[str, str] | None, following: tuple[str, str] | None) -> str:
    """The links at the end of a chapter; each neighbour is (title, notebook file name) or None."""
    parts = []
    if previous:
        parts.append(f"← previous: [{previous[0]}]({previous[1]})")
    parts.append("[course map: start here](00_start_here.ipynb)")
    if following:
        parts.append(f"next: [{following[0]}]({following[1]}) →")
    return "---\n\n" + " · ".join(parts)


def add_chapter_links(nb, previous, following):
    """Append (or refresh) the previous / next links as the chapter's last cell (in place; returns ``nb``)."""
    import nbformat

    nb.cells = [c for c in nb.cells if not c.metadata.get(NAV_KEY)]
    cell = nbformat.v4.new_markdown_cell(nav_markdown(previous, following))
    cell["id"] = "course-nav-links"
    cell.metadata[NAV_KEY] = True
    nb.cells.append(cell)
    return nb
