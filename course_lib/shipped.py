"""Shipped results: skip a long training cell live by loading what it computed.

Presenting a chapter live, an instructor does not want the room to watch a
progress bar for fifteen seconds. Every long training cell of the course is
written as

    def train_dcgan():
        ...                      # builds, trains, returns what later cells use
        return {"generator": G.state_dict(), "losses": losses}

    dcgan = shipped.run("09_dcgan", train_dcgan)

and one switch, the environment variable ``COURSE_SHIPPED``, decides what
``run`` does:

* unset or ``0`` (the default): it trains, as if ``run`` were not there;
* ``1``: it loads ``data/shipped/09_dcgan.pt``, recorded by the course's
  saving run, instead of training. ``make present`` starts JupyterLab this
  way. The cell prints one line saying so, then what the training printed
  when it was recorded, and leaves the global random generators (Python,
  NumPy, torch) exactly as the training left them, so every later cell
  shows what it shows after a real run;
* ``record``: it trains and writes that file and its SHA-256 sum to
  ``data/SHA256SUMS`` (``make notebooks`` does this).

The result always makes a round trip through ``torch.save``/``torch.load``
(``weights_only=True``), also when it is computed, so a cell gets the same
kind of object either way: NumPy arrays and scalars, CPU tensors, dicts,
lists, tuples, numbers, strings. The function must compute everything its
cell's later lines use and show nothing itself (no figures).

If the function's source code changed since the result was recorded, the
shipped result belongs to other code, so ``run`` trains live and says so.
The test suite runs every chapter with ``COURSE_SHIPPED=1`` and checks that
it prints what the stored notebook shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from course_lib.checks import _fail
from course_lib.data import DATA_DIR, data_file, write_sum
from course_lib.device import base_seed

ENV = "COURSE_SHIPPED"
MODES = {"": "live", "0": "live", "1": "shipped", "record": "record"}
FOLDER = "shipped"
FORMAT = 1
KEY = re.compile(r"^[0-9]{2}_[a-z0-9_]+$")
NOTICE = "[shipped result]"

_ARRAY, _SCALAR = "__course_lib_ndarray__", "__course_lib_numpy_scalar__"
_TORCH_KINDS = "biufc"  # NumPy dtype kinds that torch tensors can hold


def mode() -> str:
    """``"live"``, ``"shipped"`` or ``"record"``, from the ``COURSE_SHIPPED`` environment variable."""
    value = os.environ.get(ENV, "").strip()
    if value not in MODES:
        _fail(ValueError, "course_lib.shipped", f"{ENV} to be unset, 0, 1 or record", repr(value),
              f"unset it to train live, or set {ENV}=1 to load the shipped results")
    return MODES[value]


def path_of(key: str, data_dir: Path = DATA_DIR) -> Path:
    """Where the result for ``key`` lives: ``data/shipped/<key>.pt``."""
    _check_key(key, "path_of")
    if not isinstance(data_dir, str | os.PathLike):
        _fail(TypeError, "path_of", "data_dir to be a path (str or pathlib.Path)", type(data_dir).__name__, None)
    return Path(data_dir) / FOLDER / f"{key}.pt"


def run(key: str, compute, data_dir: Path = DATA_DIR):
    """Train with ``compute()``, or load its recorded result, as ``COURSE_SHIPPED`` says.

    ``key`` names the result, ``"<chapter>_<what>"``, e.g. ``"09_dcgan"``.
    Returns what ``compute()`` returns, after a round trip through
    ``torch.save``/``torch.load``; see the module's docstring.

    Shapes: as returned by compute.
    """
    _check_key(key)
    if not callable(compute):
        _fail(TypeError, "run", "compute to be a function of no arguments", type(compute).__name__,
              "wrap the training code in a def and pass the function itself, without calling it")
    if not isinstance(data_dir, str | os.PathLike):
        _fail(TypeError, "run", "data_dir to be a path (str or pathlib.Path)", type(data_dir).__name__, None)
    # another base seed (COURSE_SEED): the recorded results belong to the seeds as written
    chosen = "live" if base_seed() else mode()
    fingerprint = source_fingerprint(compute)
    if chosen == "shipped":
        record = _load(key, Path(data_dir))
        if record["source"] == fingerprint:
            print(f"{NOTICE} {key}: loaded the recorded training run instead of training "
                  f"(unset {ENV} to train live)")
            _replay(record["streams"])
            _set_rng_state(record["rng"])
            return _decode(record["result"])
        print(f"{NOTICE} {key}: this cell's code changed since its result was recorded; training live")
    result, streams = _capture(compute)
    # Nothing time-dependent goes in: recording the same run again writes the same bytes.
    record = {"format": FORMAT, "key": key, "source": fingerprint, "result": _encode(result, "result"),
              "streams": streams, "rng": _get_rng_state()}
    blob = io.BytesIO()
    torch.save(record, blob)
    if chosen == "record":
        _write(key, blob.getvalue(), Path(data_dir))
    blob.seek(0)
    return _decode(torch.load(blob, map_location="cpu", weights_only=True)["result"])


def source_fingerprint(compute) -> str:
    """SHA-256 of ``compute``'s source code (of its bytecode where the source cannot be found).

    In a notebook the source is found for a function defined in the cell
    that calls ``run``; define it there.
    """
    if not callable(compute):
        _fail(TypeError, "source_fingerprint", "compute to be a function", type(compute).__name__,
              "pass the training function itself, without calling it")
    try:
        text = inspect.getsource(compute)
    except Exception:  # no source: a builtin, or a cell IPython no longer has in its line cache
        code = getattr(compute, "__code__", None)
        text = repr(code.co_code) if code is not None else type(compute).__qualname__
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- files


def _check_key(key, func: str = "run") -> None:
    if not isinstance(key, str):
        _fail(TypeError, func, "key as a str, e.g. '09_dcgan'", type(key).__name__, None)
    if not KEY.fullmatch(key):
        _fail(ValueError, func, "a key like '09_dcgan' (chapter number, _, lower-case name)",
              repr(key), None)


def _hint(key: str) -> str:
    return (f"record it with `make notebooks` (or run the cell with {ENV}=record), "
            f"or unset {ENV} to train live")


def _load(key: str, data_dir: Path) -> dict:
    path = data_file(f"{FOLDER}/{key}.pt", data_dir=data_dir, rebuild_hint=_hint(key))
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the sum matched, but the file is not a readable record
        _fail(ValueError, "run", f"{path.name} to be a recorded result", type(exc).__name__, _hint(key))
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("key") != key:
        _fail(ValueError, "run", f"a format-{FORMAT} record of {key!r}", f"{path.name} in another format",
              _hint(key))
    return record


def _write(key: str, blob: bytes, data_dir: Path) -> None:
    path = path_of(key, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    write_sum(f"{FOLDER}/{key}.pt", data_dir)


# ----------------------------------------------------------------------------- what a run printed


class _Tee(io.TextIOBase):
    """Writes through to ``stream`` and remembers what was written, in order, with the stream's name."""

    def __init__(self, stream, name: str, log: list):
        self.stream, self.name, self.log = stream, name, log

    def write(self, text: str) -> int:
        if self.log and self.log[-1][0] == self.name:
            self.log[-1][1] += text
        else:
            self.log.append([self.name, text])
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _capture(compute):
    log: list = []
    with contextlib.redirect_stdout(_Tee(sys.stdout, "stdout", log)), \
            contextlib.redirect_stderr(_Tee(sys.stderr, "stderr", log)):
        result = compute()
    return result, [tuple(part) for part in log]


def _replay(streams) -> None:
    for name, text in streams:
        stream = sys.stdout if name == "stdout" else sys.stderr
        stream.write(text)
        stream.flush()


# ----------------------------------------------------------------------------- random generators


# NumPy's legacy global generator is the one course_lib.device.seed_everything seeds.
def _get_rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {"torch": torch.get_rng_state(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos,
                                                      has_gauss, cached), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    random.setstate(state["python"])


# ----------------------------------------------------------------------------- values


def _encode(value, where: str):
    """``value`` with NumPy arrays and scalars wrapped as tensors, tensors detached on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in _TORCH_KINDS:
            _fail(TypeError, "run", "NumPy arrays of numbers or booleans",
                  f"dtype {array.dtype} at {where}", "return numbers, or convert text to a list of str")
        stored = array.astype(np.int64) if array.dtype == np.uint32 else array
        stored = stored.astype(stored.dtype.newbyteorder("="))  # torch holds native byte order only
        tensor = torch.from_numpy(np.array(stored, order="C"))  # a copy; keeps 0-d as 0-d
        return {_SCALAR if isinstance(value, np.generic) else _ARRAY: tensor, "dtype": array.dtype.str}
    if value is None or type(value) in (bool, int, float, complex, str):
        return value
    if isinstance(value, dict):
        for key in value:
            if not _plain_key(key):
                _fail(TypeError, "run", "dict keys that are str, int, float, bool, None or tuples of them",
                      f"a {type(key).__name__} key at {where}", "convert it, e.g. int(key) or str(key)")
        return {key: _encode(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value) is tuple:
        return tuple(_encode(item, f"{where}[{i}]") for i, item in enumerate(value))
    _fail(TypeError, "run", "compute to return arrays, tensors, numbers, str, or dicts/lists/tuples of them",
          f"{type(value).__name__} at {where}", "return e.g. model.state_dict() instead of the model")


def _plain_key(key) -> bool:
    if type(key) is tuple:
        return all(_plain_key(part) for part in key)
    return key is None or type(key) in (bool, int, float, str)


def _decode(value):
    if isinstance(value, dict):
        for marker in (_ARRAY, _SCALAR):
            if marker in value and set(value) == {marker, "dtype"}:
                array = value[marker].numpy().astype(np.dtype(value["dtype"]), copy=True)
                return array[()] if marker == _SCALAR else array
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_decode(item) for item in value)
    return value
