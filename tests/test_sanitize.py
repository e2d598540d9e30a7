"""The one sanitize file nbval uses: every rule parses, and does what it says."""

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

SANITIZE = Path(__file__).resolve().parent / "sanitize.cfg"


def _sections():
    text = SANITIZE.read_text()
    return re.findall(r"^\[(.+)\]$", text, re.M), get_sanitize_patterns(text)


def test_every_section_has_a_regex_and_a_replacement_nbval_can_read():
    sections, patterns = _sections()
    # A `replace:` line whose trailing space an editor stripped is silently dropped by nbval.
    assert len(patterns) == len(sections) == 3
    for regex, replace in patterns:
        re.compile(regex)
        assert replace.strip()


def _sanitize(text):
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_memory_addresses_are_hidden():
    assert _sanitize("<torch._C.Generator at 0x7f3a2b1c4d50>") == "<torch._C.Generator at 0xADDRESS>"


def test_tqdm_timings_are_hidden_but_counts_kept():
    a = _sanitize("epochs: 100%|##########| 30/30 [00:02<00:00, 12.31it/s]")
    b = _sanitize("epochs: 100%|##########| 30/30 [00:05<00:00,  5.02it/s]")
    assert a == b and "30/30" in a


def test_kernel_cell_paths_are_hidden():
    a = _sanitize('/tmp/ipykernel_5938/1079463062.py:3: UserWarning: x')
    assert a == "<IPY-INPUT>:3: UserWarning: x"


def test_ordinary_numbers_are_left_alone():
    line = "test accuracy 0.9815, loss 0.0612 after 30 epochs, mistakes [5] [2, 0]"
    assert _sanitize(line) == line
