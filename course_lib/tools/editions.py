"""The course's other editions, made from the chapters: the student edition, nbgrader metadata, static slides.

* ``python -m course_lib.tools.nbtools student --out student`` writes the
  student edition: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
  block becomes a placeholder that lets Run All go on, outputs are cleared
  (the saving run also gives exercise cells nbgrader's metadata, so
  ``nbgrader generate_assignment`` accepts the chapters as they are);
* ``python -m course_lib.tools.nbtools slides`` exports every chapter as a
  reveal.js slideshow, for instructors (solutions marked) and students
  (solutions hidden), with an index page;
* ``prepare_chapter`` is what the saving run does to a chapter before it runs it.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

from course_lib.checks import _fail
from course_lib.tools.course_map import chapter_info
from course_lib.tools.nbtools import FRONT_DOOR, NOTEBOOK_DIR, list_notebooks
from course_lib.tools.presenting import (
    add_chapter_links,
    add_slide_metadata,
    split_at_headings,
)

SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
TURN = "Your turn"
PLACEHOLDER = f'raise NotImplementedError("{TURN}: replace this line with your code, then run the check below.")'


def _top_level_placeholder(block: str) -> str:
    """What a solution at the top level of a cell becomes: each name it defines set to None, functions kept as stubs.

    A bare ``raise`` there would stop Run All at the first exercise; None
    lets the chapter go on and its check say "not attempted yet".
    """
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return f"# {TURN}: write your code here, then run the check below."
    names, stubs = [], []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            stub = ast.FunctionDef(name=node.name, args=node.args, body=[ast.parse(PLACEHOLDER).body[0]],
                                   decorator_list=[], returns=node.returns, type_params=[])
            stubs.append(ast.unparse(ast.fix_missing_locations(stub)))
            continue
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and leaf.id not in names:
                    names.append(leaf.id)
    if not names and not stubs:
        return f"# {TURN}: write your code here, then run the check below."
    lines = []
    if names:
        lines.append(f"# {TURN}: replace None by your answer for {', '.join(names)}, then run the check below.")
        lines += [f"{name} = None" for name in names]
    return "\n".join(lines + stubs)


def strip_solutions(source: str) -> str:
    """Replace every solution block in a cell's source by a placeholder that lets Run All go on.

    Inside a function the placeholder raises ``NotImplementedError`` (the
    check answers "not attempted yet"); at the top level of a cell it sets
    each name the solution defines to None (see ``_top_level_placeholder``).
    """
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        _fail(
            ValueError,
            "strip_solutions",
            "matching ### BEGIN SOLUTION / ### END SOLUTION markers",
            f"{source.count('### BEGIN SOLUTION')} BEGIN and {source.count('### END SOLUTION')} END",
            "close every solution block",
        )

    def replace(match):
        indent = match.group(1)
        if indent:
            return indent + PLACEHOLDER
        block = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$", "", match.group(0), flags=re.M)
        return _top_level_placeholder(block)

    return SOLUTION.sub(replace, source)


def student_notebook(nb):
    """A copy of ``nb`` with solutions replaced and every output cleared."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return nb


NBGRADER_SCHEMA = 3
CHECK_CALL = re.compile(r"\bcheck_(\w+)\(")


def add_nbgrader_metadata(nb):
    """Mark the exercises the way nbgrader's ``generate_assignment`` wants them.

    nbgrader only clears ``### BEGIN SOLUTION`` blocks in cells its metadata
    calls solution cells, and refuses a notebook with a block anywhere else.
    So each exercise cell becomes an "autograded answer" cell and the check
    cell after it a read-only cell, both named after the check they call
    (``weighted_sum`` and ``weighted_sum_check``). The checks give feedback,
    they are not graded tests: an instructor who grades adds test cells.
    """
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    seen = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "### BEGIN SOLUTION" not in cell.source:
            continue
        following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        names = CHECK_CALL.findall(following.source) if following and following.cell_type == "code" else []
        if not names:
            got = "nothing" if following is None else f"a {following.cell_type} cell without a check_* call"
            _fail(ValueError, "add_nbgrader_metadata", f"a check cell right after exercise cell {i}", got,
                  "follow every exercise with the cell that calls its check_* function")
        if names[-1] in seen:
            _fail(ValueError, "add_nbgrader_metadata", "one exercise per check function",
                  f"two exercises checked by check_{names[-1]}", "give each exercise its own check")
        seen.add(names[-1])
        common = {"grade": False, "schema_version": NBGRADER_SCHEMA, "task": False}
        cell.metadata["nbgrader"] = {**common, "grade_id": names[-1], "locked": False, "solution": True}
        following.metadata["nbgrader"] = {
            **common, "grade_id": names[-1] + "_check", "locked": True, "solution": False
        }
    return nb


SLIDES_DIR = Path(__file__).resolve().parent / "slides"


def check_slide_assets(assets: Path = SLIDES_DIR / "vendor") -> Path:
    """Check the vendored slide assets against their ``SHA256SUMS``; return the folder."""
    from course_lib.data import read_sums, sha256

    sums = read_sums(assets / "SHA256SUMS")
    if not sums:
        _fail(ValueError, "export_slides", f"the slide assets listed in {assets / 'SHA256SUMS'}", "no such list",
              "restore course_lib/slides/vendor with `git checkout course_lib/slides/vendor`")
    for name, digest in sums.items():
        got = sha256(assets / name) if (assets / name).is_file() else None
        if got != digest:
            _fail(ValueError, "export_slides", f"{assets / name} with SHA-256 {digest[:12]}...",
                  "a missing file" if got is None else f"SHA-256 {got[:12]}...",
                  "restore it with `git checkout course_lib/slides/vendor` (SOURCES.md says where it comes from)")
    return assets


EDITIONS = ("instructor", "student")


def chapter_neighbours(path: Path) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(title, file name) of the chapters before and after ``path`` (None at either end)."""
    chapters = list_notebooks()
    names = [p.name for p in chapters]
    if Path(path).name not in names:
        return None, None
    i = names.index(Path(path).name)

    def entry(j):
        import nbformat

        cells = nbformat.read(chapters[j], as_version=4).cells
        first = next((c.source for c in cells if c.cell_type == "markdown"), "")
        heading = re.match(r"# (Chapter \d+ · .+)", first)
        return (heading.group(1).strip() if heading else chapters[j].stem), chapters[j].name

    return (entry(i - 1) if i > 0 else None), (entry(i + 1) if i + 1 < len(chapters) else None)


def prepare_chapter(nb, path: Path):
    """What the saving run does to a chapter before running it (in place; returns ``nb``):
    a cell per heading, previous / next links, nbgrader and slide metadata."""
    split_at_headings(nb)
    if Path(path).name in {p.name for p in list_notebooks()}:
        add_chapter_links(nb, *chapter_neighbours(path))
    return add_slide_metadata(add_nbgrader_metadata(nb))


def slides_notebook(nb, edition: str = "instructor"):
    """A copy of a prepared chapter as the static slides show it.

    Widget outputs are dropped (their static figure, stored before them,
    stays; a slide has no kernel to draw them); links to chapters point at
    their slides. ``instructor``: each solution cell is tagged ``solution``,
    which the template marks. ``student``: solutions become placeholders and
    the exercise's and its check's outputs go.
    """
    from course_lib.tools.presenting import WIDGET_MIME

    if edition not in EDITIONS:
        _fail(ValueError, "slides_notebook", f"edition as one of {EDITIONS}", repr(edition),
              "use 'instructor' (solutions marked) or 'student' (solutions hidden)")
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\((\d\d_\w+)\.ipynb\)", r"(\1.slides.html)", cell.source)
            cell.source = cell.source.replace("(00_start_here.slides.html)", "(index.html)")
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
        if "### BEGIN SOLUTION" not in cell.source:
            continue
        if edition == "instructor":
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), "solution"]
        else:
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            if i + 1 < len(nb.cells) and nb.cells[i + 1].cell_type == "code":
                nb.cells[i + 1].outputs = []
    return nb


def export_slides(path: Path, out_dir: Path, edition: str = "instructor") -> Path:
    """Export one notebook as a reveal.js HTML slideshow that works offline;
    returns the file. The scripts, style sheets and fonts it loads (reveal.js,
    RequireJS, MathJax; see ``course_lib/slides/vendor/SOURCES.md``) are
    copied to ``out_dir/assets``, so the folder can be opened anywhere.

    Slides are 1280x720 with text at 22 px and code at 17 px (wrapping in
    its box); a slide starts at every ``#``/``##``/``###`` heading, and a
    section taller than a screen continues on the next slide (see
    ``course_lib.tools.presenting``). ``edition`` is ``instructor``
    (solutions marked) or ``student`` (solutions hidden).
    """
    import shutil

    import nbformat
    from nbconvert import SlidesExporter

    assets = check_slide_assets()
    nb = slides_notebook(prepare_chapter(nbformat.read(path, as_version=4), path), edition)
    exporter = SlidesExporter(
        extra_template_basedirs=[str(SLIDES_DIR / "templates")],
        template_name="course_reveal",
        reveal_url_prefix="assets/reveal.js",
        reveal_theme="white",
        reveal_width="1280",
        reveal_height="720",
        require_js_url="assets/requirejs/require.js",
        mathjax_url="assets/mathjax/tex-svg.js",
    )
    body, _ = exporter.from_notebook_node(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(assets, out_dir / "assets", dirs_exist_ok=True)
    target = out_dir / (path.stem + ".slides.html")
    target.write_text(body, encoding="utf-8")
    return target


def write_slides_index(out_dir: Path, exported: list[Path], edition: str = "instructor") -> Path:
    """Write ``out_dir/index.html``: every chapter's slides, with its learning goals, linked."""
    import html

    rows = []
    for target in exported:
        source = NOTEBOOK_DIR / (target.name.replace(".slides.html", ".ipynb"))
        info = chapter_info(source) if source.is_file() else {"number": "", "title": target.stem, "goals": []}
        goals = "".join(f"<li>{html.escape(g)}</li>" for g in info["goals"])
        rows.append(f'<li><a href="{html.escape(target.name)}">Chapter {info["number"]} · '
                    f'{html.escape(info["title"])}</a><ul class="goals">{goals}</ul></li>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Course slides ({edition} edition)</title>"
            "<style>body{font:20px/1.5 sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            ".goals{font-size:16px;color:#444}a{font-weight:bold}</style></head><body>"
            f"<h1>Deep learning from scratch, then for real: slides</h1>"
            f"<p>The {edition} edition: "
            + ("solutions are hidden." if edition == "student" else "solutions are marked in red.")
            + " Arrow keys move between slides; Esc shows the overview; a tall slide scrolls.</p>"
            "<ol>" + "\n".join(rows) + "</ol></body></html>\n")
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


STUDENT_RECORD = ".generated.json"


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_student_edition(out_dir: Path, paths=None, front: bool = True) -> list[Path]:
    """Write the student edition of the given (default: all) chapters, and the front door, to ``out_dir``.

    A file the student changed is never overwritten: ``out_dir/.generated.json``
    keeps the SHA-256 of what was written, and only a missing file or one that
    still has exactly those bytes is (re)written. Returns the files written.
    """
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_file = out_dir / STUDENT_RECORD
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    sources = list_notebooks(paths) + ([FRONT_DOOR] if front and FRONT_DOOR.is_file() and not paths else [])
    written = []
    for path in sources:
        target = out_dir / path.name
        if target.is_file() and record.get(target.name) != _sha(target):
            print(f"kept {target}: it has your work in it (delete it to get a fresh copy)")
            continue
        nb = nbformat.read(path, as_version=4)
        if path != FRONT_DOOR:
            prepare_chapter(nb, path)
        nbformat.write(student_notebook(nb), target)
        record[target.name] = _sha(target)
        written.append(target)
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return written
