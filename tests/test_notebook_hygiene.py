"""Every chapter notebook is saved the way strict nbval needs it, and follows
the chapter anatomy in CONTRIBUTING.md."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = [path for path in NOTEBOOKS if not path.name.startswith("00_")]  # 00_start_here is the front door
SKIP_TAGS = {"nbval-skip", "skip-execution"}
DOWNLOAD = re.compile(r"urlopen|urlretrieve|requests\.get|\bwget\b|\bcurl\b|http[s]?://\S+\.(zip|gz|npz|pt|pth)\b")


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _source(cell):
    return "".join(cell["source"])


def _code_cells(path):
    return [c for c in _cells(path) if c["cell_type"] == "code" and _source(c).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_without_errors(path):
    cells = [c for c in _code_cells(path) if not SKIP_TAGS & set(c["metadata"].get("tags", []))]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, "unexecuted cells: run `make notebooks`"
    assert counts == list(range(1, len(counts) + 1)), "restart the kernel and run all (make notebooks)"
    for cell in cells:
        tags = set(cell["metadata"].get("tags", []))
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors or "raises-exception" in tags, f"stored error in cell: {_source(cell)[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_offline_and_imports_explicitly(path):
    for cell in _code_cells(path):
        src = _source(cell)
        assert not DOWNLOAD.search(src), f"a cell downloads something: {src[:80]!r}"
        assert not re.search(r"^\s*from\s+\S+\s+import\s+\*", src, re.M), "import names explicitly"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_starts_with_setup_and_has_the_chapter_anatomy(path):
    cells = _cells(path)
    first_code = _code_cells(path)[0]
    assert re.search(r"^setup\(seed=\d+\)$", _source(first_code), re.M), "the first code cell calls setup(seed=...)"
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert "Learning goals" in markdown and "## Summary" in markdown
    code = "\n".join(_source(c) for c in _code_cells(path))
    assert code.count("### BEGIN SOLUTION") >= 3 and code.count("### BEGIN SOLUTION") == code.count("### END SOLUTION")
    assert "check_" in code, "exercises need check functions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_hold_nothing_machine_specific(path):
    for cell in _code_cells(path):
        if "nbval-ignore-output" in cell["metadata"].get("tags", []):
            continue
        for out in cell["outputs"]:
            text = out.get("text", "") if out["output_type"] == "stream" else out.get("data", {}).get("text/plain", "")
            text = "".join(text)
            assert "/tmp/ipykernel_" not in text and "/home/" not in text and "/work/" not in text, text[:200]
            assert not re.search(r"\b\d+(\.\d+)? ?(ms|µs)\b", text), f"timings belong in an ignored cell: {text[:200]}"
            assert not re.search(r"\d\.\d{7,}", text), f"print rounded values: {text[:200]}"
