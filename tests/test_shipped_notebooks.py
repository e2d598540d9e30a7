"""The one switch for presenting live: with COURSE_SHIPPED=1 every chapter
loads its long training runs from data/shipped/ and shows what it shows
when it trains.

Each chapter that calls ``shipped.run`` is executed with the switch on and
its outputs are compared with the stored ones by the checking run's rules
(course_lib.tools.nbcompare: text exact, numbers within the tolerance each cell
declares; streams merged, tests/sanitize.cfg applied, cells tagged
nbval-ignore-output or nbval-skip left out). The only other difference
allowed is the one "[shipped result]" line each loaded run prints.
"""

import configparser
import re
from pathlib import Path

import nbformat
import pytest

from course_lib import shipped
from course_lib.tools.nbcompare import compare_text, tolerance_of
from course_lib.tools.nbtools import list_notebooks, run_notebook

SANITIZE = Path(__file__).with_name("sanitize.cfg")
SHIPPING = [p for p in list_notebooks() if "shipped.run(" in p.read_text()]
CALL = re.compile(r"shipped\.run\(\"(\d\d_[a-z0-9_]+)\"")


def _keys(path):
    """The keys of the shipped.run calls in a notebook's code, in order."""
    nb = nbformat.read(path, as_version=4)
    return CALL.findall("\n".join(cell.source for cell in nb.cells if cell.cell_type == "code"))


def _rules():
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _texts(nb, rules):
    """Per compared code cell: merged stdout, merged stderr, and the text of every rich output."""
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "nbval-ignore-output" in tags or "nbval-skip" in tags:
            continue
        streams, rich = {"stdout": "", "stderr": ""}, []
        for out in cell.outputs:
            if out.output_type == "stream":
                streams[out.name] += out.text
            elif out.output_type == "error":
                rich.append(f"{out.ename}: {out.evalue}")
            else:
                rich.append(out.get("data", {}).get("text/plain", ""))
        parts = [streams["stdout"], streams["stderr"], *rich]
        for regex, replacement in rules:
            parts = [regex.sub(replacement, part) for part in parts]
        cells.append((index, parts, cell.metadata))
    return cells


def test_every_long_training_cell_uses_the_switch():
    keys = [key for p in SHIPPING for key in _keys(p)]
    assert len(keys) >= 8 and len(set(keys)) == len(keys)
    for key in keys:
        assert shipped.path_of(key).is_file(), f"{key}: run `make notebooks` to record it"
        assert key[:2] in {p.name[:2] for p in SHIPPING}


@pytest.mark.parametrize("path", SHIPPING, ids=lambda p: p.name)
def test_chapter_with_shipped_results_shows_the_stored_outputs(path):
    stored = nbformat.read(path, as_version=4)
    executed, seconds = run_notebook(path, shipped="1")
    rules = _rules()
    keys = _keys(path)
    notices = []
    for (index, old, metadata), (_, new, _) in zip(_texts(stored, rules), _texts(executed, rules), strict=True):
        lines = new[0].splitlines(keepends=True)
        notices += [line for line in lines if line.startswith(shipped.NOTICE)]
        new[0] = "".join(line for line in lines if not line.startswith(shipped.NOTICE))
        where = f"{path.name} cell {index}"
        assert len(new) == len(old), f"{where}: shipped results show {len(new)} outputs, training {len(old)}"
        tolerance = tolerance_of(metadata, where)
        for before, after in zip(old, new, strict=True):
            verdict = compare_text(before, after, tolerance)
            assert verdict.ok, f"{where}: shipped results print something else than training:\n" + (
                "\n".join(verdict.problems) or f"stored:\n{before}\nnow:\n{after}")
    assert [n.split()[2].rstrip(":") for n in notices] == keys, "every shipped.run must load, none train live"
    assert all("loaded the recorded training run" in n for n in notices)
    print(f"{path.name}: {seconds:.1f} s with shipped results")


def test_shipped_results_load_in_a_plain_jupyter_kernel():
    """A JupyterLab kernel (make present) names cells by temp files and draws progress bars; the
    recorded fingerprints must still match there, or every long cell would train again."""
    path = next(p for p in SHIPPING if p.name.startswith("08_"))
    executed, _ = run_notebook(path, shipped="1", unset=("IPYKERNEL_CELL_NAME", "COURSE_HEADLESS"))
    printed = "".join(out.get("text", "") for cell in executed.cells for out in cell.get("outputs", []))
    loaded = re.findall(r"^\[shipped result\] (\S+): loaded the recorded training run", printed, re.M)
    assert loaded == _keys(path) and "changed since" not in printed
