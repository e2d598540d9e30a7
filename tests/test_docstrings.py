"""Docstrings that inform: every public piece of course_lib.scratch and course_lib.twins says its shapes and its twin.

The rule:

* every public module-level function and class has a ``Shapes:`` line;
* it has a ``Twin:`` line (never ``Twin of:``) unless it is listed in
  ``NO_TWIN`` below: pieces with no counterpart say nothing rather than
  "Twin: none";
* in twins/, the ``Twin:`` line names the scratch piece (``course_lib.scratch...``);
* no ``Twin:`` or ``Shapes:`` line is a placeholder ("none", "n/a", "-").
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_lib"
FOLDERS = ("scratch", "twins")

# Public pieces with no twin on the other side, and why (keep each reason short).
NO_TWIN = {
    "scratch/lstm.py:lstm_weights_to_slides": "a change of layout; torch has only its own",
    "scratch/lstm.py:lstm_weights_from_slides": "a change of layout; torch has only its own",
    "scratch/train.py:History": "a record of fit",
    "scratch/train.py:fit": "torch has no fit; the loop is written out there",
    "scratch/transformer.py:sinusoidal_positional_encoding": "torch has no fixed positional encoding",
    "twins/compare.py:CompareRow": "a report row",
    "twins/compare.py:format_diff": "a formatting helper",
    "twins/compare.py:compare": "the comparison itself",
    "twins/conv.py:alexnet": "chapter 5's tour of classic architectures, torch only",
    "twins/conv.py:vgg": "chapter 5's tour of classic architectures, torch only",
}

PLACEHOLDER = re.compile(r"^\s*(Twin|Shapes):\s*(none|n/a|-+)\b", re.IGNORECASE | re.MULTILINE)


def public_pieces(source: str):
    """(name, docstring) of every public module-level function and class in a module's source."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node.name, ast.get_docstring(node) or ""


def problems(folder: str, source: str, module: str) -> list[str]:
    """What a module's public docstrings break of the rule, one line per problem."""
    found = []
    for name, doc in public_pieces(source):
        key = f"{folder}/{module}:{name}"
        if "Shapes:" not in doc:
            found.append(f"{key}: no Shapes: line")
        if "Twin of:" in doc:
            found.append(f"{key}: says 'Twin of:'; write 'Twin:'")
        if PLACEHOLDER.search(doc):
            found.append(f"{key}: a placeholder line ({PLACEHOLDER.search(doc).group(0).strip()}); drop it")
        twin_lines = re.findall(r"^\s*Twin:(.*)$", doc, re.MULTILINE)
        if not twin_lines and key not in NO_TWIN:
            found.append(f"{key}: no Twin: line (or list it in NO_TWIN with a reason)")
        if twin_lines and key in NO_TWIN:
            found.append(f"{key}: has a Twin: line but is listed in NO_TWIN")
        if folder == "twins" and twin_lines and not any("course_lib.scratch" in line for line in twin_lines):
            found.append(f"{key}: its Twin: line should name the scratch piece (course_lib.scratch...)")
    return found


def modules():
    return [(folder, path) for folder in FOLDERS for path in sorted((PACKAGE / folder).glob("*.py"))]


@pytest.mark.parametrize("folder, path", modules(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_public_docstrings_say_shapes_and_twin(folder, path):
    assert problems(folder, path.read_text(), path.name) == []


def test_no_twin_entries_exist():
    names = {f"{folder}/{path.name}:{name}" for folder, path in modules()
             for name, _ in public_pieces(path.read_text())}
    assert set(NO_TWIN) <= names, sorted(set(NO_TWIN) - names)


def test_the_rule_catches_each_kind_of_breach():
    source = '''
def no_shapes(x):
    """Twin: course_lib.scratch.layers.relu_forward"""

def twin_none(x):
    """Shapes: x (N,) -> (N,).
    Twin: none (a helper)
    """

def twin_of(x):
    """Shapes: x (N,) -> (N,).
    Twin of: course_lib.scratch.layers.relu_forward
    """

def names_torch(x):
    """Shapes: x (N,) -> (N,).
    Twin: torch.relu
    """

def _private(x):
    pass
'''
    found = problems("twins", source, "fake.py")
    assert found == [
        "twins/fake.py:no_shapes: no Shapes: line",
        "twins/fake.py:twin_none: a placeholder line (Twin: none); drop it",
        "twins/fake.py:twin_none: its Twin: line should name the scratch piece (course_lib.scratch...)",
        "twins/fake.py:twin_of: says 'Twin of:'; write 'Twin:'",
        "twins/fake.py:twin_of: no Twin: line (or list it in NO_TWIN with a reason)",
        "twins/fake.py:names_torch: its Twin: line should name the scratch piece (course_lib.scratch...)",
    ]
    in_scratch = problems("scratch", source, "fake.py")  # scratch Twin: lines may name torch
    assert "scratch/fake.py:names_torch" not in " ".join(in_scratch) and len(in_scratch) == 4
