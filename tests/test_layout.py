"""The package's layering, checked from the source of every module (see docs/ARCHITECTURE.md).

* ``scratch/`` imports NumPy, the standard library, other ``scratch`` modules
  and ``course_lib.checks``: never torch, never anything else of the course.
* ``twins/`` may add torch, ``scratch/``, ``torch_checks`` and ``device``.
* The runtime modules at the top (device, data, plots, ...) never import a
  chapter or a tool.
* ``chapters/chNN_topic/`` may import everything above and earlier chapters,
  never a later chapter.
* Nothing a notebook can import imports ``tools/``; only ``tools/`` and the
  ``__main__`` entry points do.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1] / "course_lib"
RUNTIME = {"device", "data", "plots", "progress", "shipped", "checks", "torch_checks", "timing", "stats", "feedback",
           "bench"}


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names, anywhere in the file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "course_lib":  # from course_lib import shipped
                found |= {f"course_lib.{alias.name}" for alias in node.names}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _chapter_number(name: str) -> int | None:
    match = re.match(r"course_lib\.chapters\.ch(\d\d)_", name)
    return int(match.group(1)) if match else None


def layer_errors(name: str, imports: set[str]) -> list[str]:
    """What ``name`` (a course_lib module) imports that its layer does not allow."""
    errors = []
    parts = name.split(".")
    is_main = parts[-1] == "__main__"
    for imp in sorted(imports):
        top = imp.split(".")[0]
        if top != "course_lib":
            if parts[1:2] == ["scratch"] and top not in sys.stdlib_module_names and top != "numpy":
                errors.append(f"{name} imports {imp}: scratch/ uses NumPy and the standard library only")
            continue
        target = imp.split(".")
        if target[1:2] == ["tools"] and parts[1:2] != ["tools"] and not is_main:
            errors.append(f"{name} imports {imp}: only tools/ and __main__ entry points may import tools/")
        if parts[1:2] == ["scratch"] and target[1:2] not in (["scratch"], ["checks"]):
            errors.append(f"{name} imports {imp}: scratch/ may import only scratch/ and course_lib.checks")
        if parts[1:2] == ["twins"] and target[1:2] not in (["scratch"], ["twins"], ["checks"], ["torch_checks"],
                                                           ["device"]):
            errors.append(f"{name} imports {imp}: twins/ may import scratch/, checks, torch_checks and device")
        if (len(parts) > 1 and parts[1] in RUNTIME) and target[1:2] == ["chapters"]:
            errors.append(f"{name} imports {imp}: the runtime modules never import a chapter")
        here, there = _chapter_number(name), _chapter_number(imp)
        if here is not None and there is not None and there > here:
            errors.append(f"{name} imports {imp}: a chapter may import earlier chapters only")
    return errors


def _all_modules():
    for path in sorted(ROOT.rglob("*.py")):
        if "slides" in path.parts:
            continue
        yield module_name(path), path


@pytest.mark.parametrize("name,path", list(_all_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_module_respects_its_layer(name, path):
    assert layer_errors(name, imported_modules(path.read_text())) == []


def test_a_scratch_module_that_imports_torch_fails_the_layering(tmp_path):
    source = (ROOT / "scratch" / "layers.py").read_text()
    assert layer_errors("course_lib.scratch.layers", imported_modules(source)) == []
    broken = source.replace("import numpy as np", "import numpy as np\nimport torch", 1)
    assert layer_errors("course_lib.scratch.layers", imported_modules(broken)) == [
        "course_lib.scratch.layers imports torch: scratch/ uses NumPy and the standard library only"]
    inside = source + "\n\ndef f():\n    from course_lib.twins.mlp import make_torch_mlp\n"
    assert layer_errors("course_lib.scratch.layers", imported_modules(inside)) == [
        "course_lib.scratch.layers imports course_lib.twins.mlp: scratch/ may import only scratch/ and "
        "course_lib.checks"]


def test_other_layer_violations_are_reported():
    assert layer_errors("course_lib.chapters.ch05_cnn.widgets", {"course_lib.chapters.ch09_gan.gan"}) == [
        "course_lib.chapters.ch05_cnn.widgets imports course_lib.chapters.ch09_gan.gan: "
        "a chapter may import earlier chapters only"]
    assert layer_errors("course_lib.device", {"course_lib.tools.nbtools"}) == [
        "course_lib.device imports course_lib.tools.nbtools: only tools/ and __main__ entry points may import tools/"]
    assert layer_errors("course_lib.plots", {"course_lib.chapters.ch01_perceptron.widgets"}) == [
        "course_lib.plots imports course_lib.chapters.ch01_perceptron.widgets: the runtime modules never import a "
        "chapter"]
    assert layer_errors("course_lib.bench.__main__", {"course_lib.tools.bench"}) == []


def test_notebooks_import_no_tool():
    notebooks = sorted((ROOT.parent / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
                tools = [m for m in imported_modules(code) if m.startswith("course_lib.tools")]
                assert not tools, f"{path.name} imports {tools}"


def test_every_chapter_has_one_folder_named_after_its_notebook():
    notebooks = {p.stem for p in (ROOT.parent / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.stem.startswith("00_")}
    folders = {p.name[2:] for p in (ROOT / "chapters").glob("ch[0-9][0-9]_*") if p.is_dir()}
    assert folders == notebooks
    for stem in notebooks:
        folder = ROOT / "chapters" / f"ch{stem}"
        assert (folder / "exercises.py").exists() and (folder / "widgets.py").exists(), folder
