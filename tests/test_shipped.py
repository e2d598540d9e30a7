"""Tests of course_lib.shipped: run a training cell live, record its result, or load the recorded result.

Every test uses pytest's tmp_path as data_dir, so the real data/ folder is never read or written.
"""

import collections
import hashlib
import io
import pickletools
import random
import re
import sys
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import shipped
from course_lib.data import data_file, write_sum

KEY = "09_dcgan"


# ----------------------------------------------------------------------------- helpers


def set_mode(monkeypatch, value):
    """COURSE_SHIPPED=value, or unset for None."""
    if value is None:
        monkeypatch.delenv("COURSE_SHIPPED", raising=False)
    else:
        monkeypatch.setenv("COURSE_SHIPPED", value)


def record(monkeypatch, compute, data_dir, key=KEY):
    """Run ``compute`` in record mode and return what run returned."""
    set_mode(monkeypatch, "record")
    return shipped.run(key, compute, data_dir=data_dir)


def counted(compute):
    """``compute`` wrapped so that ``wrapper.calls`` counts its calls.

    ``__wrapped__`` makes inspect.getsource, so the source fingerprint, see ``compute``'s own source.
    """

    def wrapper():
        wrapper.calls += 1
        return compute()

    wrapper.calls = 0
    wrapper.__wrapped__ = compute
    return wrapper


def assert_same(got, want, where="result"):
    """Same types, dtypes, shapes and bits, all the way down."""
    assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert got.device.type == "cpu" and not got.requires_grad and got.grad_fn is None, where
        assert got.detach().reshape(-1).view(torch.uint8).numpy().tobytes() == \
            want.detach().reshape(-1).view(torch.uint8).numpy().tobytes(), where
    elif isinstance(want, (np.ndarray, np.generic)):
        assert got.dtype == want.dtype and np.shape(got) == np.shape(want), where
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), where
    elif isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for key in want:
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and want != want:  # NaN
        assert got != got, where
    else:
        assert got == want, where


def rich_result():
    """A deterministic nested result with every kind of value run must carry."""
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    leaf = torch.randn(3, generator=gen, requires_grad=True)
    return {
        "arrays": {
            "float64": np.array([1.5, -0.0, np.nan, np.inf, 1e-300]),
            "float32": rng.standard_normal((2, 3)).astype(np.float32),
            "int64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
            "uint8": np.arange(250, 256, dtype=np.uint8),
            "uint32": np.array([0, 2**31, 2**32 - 1], dtype=np.uint32),
            "bool": np.array([[True, False], [False, True]]),
            "complex128": np.array([1 + 2j, -3.5j]),
            "zero_d": np.array(2.5),
            "zero_d_int": np.array(7, dtype=np.int64),
            "empty": np.zeros((0, 4)),
            "fortran": np.asfortranarray(rng.standard_normal((3, 2))),
            "reversed": np.arange(6.0)[::-2],
        },
        "scalars": [np.float64(0.1), np.float32(0.25), np.int64(-3), np.uint8(255), np.uint32(4_000_000_000),
                    np.bool_(True), np.bool_(False), np.complex128(1 - 1j)],
        "tensors": (leaf, leaf * 2, torch.arange(5, dtype=torch.int64),
                    torch.zeros(2, 2, dtype=torch.float64),
                    nn.Parameter(torch.ones(2)), torch.tensor(True)),
        ("similar", "all"): [0.5, 0.25],
        ("similar", 3): (1, 2),
        7: "seven",
        "python": [None, True, False, 0, -12345678901234567890, 3.25, float("inf"), "text", "", 1 + 2j],
        "empty": [[], (), {}],
        "nested": [({"a": [np.array([1, 2])]},)],
    }


def expected_rich_result():
    """What run gives back for rich_result(): tensors detached, Parameters as plain tensors."""
    want = rich_result()
    want["tensors"] = tuple(t.detach().clone() for t in want["tensors"])
    assert all(type(t) is torch.Tensor for t in want["tensors"])
    return want


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("value", [None, "0"])
def test_live_mode_calls_compute_and_returns_equal_copies(monkeypatch, tmp_path, capsys, value):
    set_mode(monkeypatch, value)
    returned = {}

    def compute():
        returned["result"] = rich_result()
        print("training")
        return returned["result"]

    compute = counted(compute)
    result = shipped.run(KEY, compute, data_dir=tmp_path)
    assert compute.calls == 1
    assert_same(result, expected_rich_result())
    # a round trip: the arrays are copies, not the objects compute returned
    assert result["arrays"]["float64"] is not returned["result"]["arrays"]["float64"]
    result["arrays"]["uint8"][0] = 0
    assert returned["result"]["arrays"]["uint8"][0] == 250
    # live mode prints what compute printed, no notice, and writes nothing
    out = capsys.readouterr().out
    assert out == "training\n"
    assert list(tmp_path.iterdir()) == []


def test_record_then_shipped_round_trip_keeps_values_and_types(monkeypatch, tmp_path):
    want = expected_rich_result()
    assert_same(record(monkeypatch, rich_result, tmp_path), want)
    set_mode(monkeypatch, "1")
    compute = counted(rich_result)
    got = shipped.run(KEY, compute, data_dir=tmp_path)
    assert compute.calls == 0
    assert_same(got, want)
    # spot checks that say plainly what assert_same checks
    assert type(got["scalars"][0]) is np.float64 and type(got["scalars"][5]) is np.bool_
    assert isinstance(got["arrays"]["zero_d"], np.ndarray) and got["arrays"]["zero_d"].ndim == 0
    assert got["arrays"]["uint32"].dtype == np.uint32 and got["arrays"]["uint32"][-1] == 2**32 - 1
    assert isinstance(got["tensors"], tuple) and isinstance(got["empty"][0], list)
    assert got[("similar", "all")] == [0.5, 0.25]
    assert got["python"][1] is True and got["python"][0] is None


def test_results_are_detached_cpu_tensors(monkeypatch, tmp_path):
    set_mode(monkeypatch, None)
    w = torch.randn(2, 2, requires_grad=True)
    result = shipped.run(KEY, lambda: {"w": w, "y": (w * 3).sum()}, data_dir=tmp_path)
    for tensor in result.values():
        assert tensor.device.type == "cpu" and not tensor.requires_grad and tensor.grad_fn is None
    assert torch.equal(result["w"], w.detach()) and torch.equal(result["y"], (w * 3).sum().detach())


def test_scratch_state_dict_round_trips_bitwise(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    state = {"0.weight": rng.standard_normal((5, 3)), "0.bias": rng.standard_normal(5),
             "2.weight": rng.standard_normal((2, 5)) * 1e-200, "2.bias": np.array([np.pi, -0.0])}
    record(monkeypatch, lambda: state, tmp_path)
    set_mode(monkeypatch, "1")
    got = shipped.run(KEY, lambda: state, data_dir=tmp_path)
    assert list(got) == list(state)
    for name, array in state.items():
        assert got[name].dtype == np.float64 and got[name].tobytes() == array.tobytes()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_state_dict_round_trips_bitwise(monkeypatch, tmp_path, dtype):
    torch.manual_seed(0)
    model = nn.Linear(4, 3).to(dtype)

    def train():
        return {"model": model.state_dict(), "losses": [0.5, 0.25]}

    recorded = record(monkeypatch, train, tmp_path)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    with torch.no_grad():  # the result is a copy: changing the model afterwards does not change it
        model.weight.add_(1.0)
    set_mode(monkeypatch, "1")
    got = shipped.run(KEY, train, data_dir=tmp_path)
    for result in (recorded, got):
        fresh = nn.Linear(4, 3).to(dtype)
        fresh.load_state_dict(result["model"])
        assert fresh.weight.dtype == dtype
        assert torch.equal(fresh.weight, weight) and torch.equal(fresh.bias, bias)


# ----------------------------------------------------------------------------- record mode


def test_record_writes_file_and_sum(monkeypatch, tmp_path, capsys):
    compute = counted(lambda: print("epoch 1") or {"x": np.arange(3.0)})
    result = record(monkeypatch, compute, tmp_path)
    assert compute.calls == 1
    assert capsys.readouterr().out == "epoch 1\n"  # record mode trains and shows it, once
    np.testing.assert_array_equal(result["x"], np.arange(3.0))
    path = tmp_path / "shipped" / f"{KEY}.pt"
    assert shipped.path_of(KEY, tmp_path) == path
    assert path.is_file()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "SHA256SUMS").read_text() == f"{digest}  shipped/{KEY}.pt\n"
    assert data_file(f"shipped/{KEY}.pt", data_dir=tmp_path) == path


def test_record_keeps_other_sums_and_sorts_lines(monkeypatch, tmp_path):
    other = {"zeta.npz": "b" * 64, "alpha.npz": "a" * 64, "shipped/99_last.pt": "c" * 64}
    (tmp_path / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in other.items()))
    record(monkeypatch, lambda: 1, tmp_path, key="03_first")
    record(monkeypatch, lambda: 2, tmp_path, key="03_first")  # re-recording replaces its line
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert names == sorted(names) == ["alpha.npz", "shipped/03_first.pt", "shipped/99_last.pt", "zeta.npz"]
    for name, digest in other.items():
        assert f"{digest}  {name}" in lines
    digest = hashlib.sha256((tmp_path / "shipped" / "03_first.pt").read_bytes()).hexdigest()
    assert f"{digest}  shipped/03_first.pt" in lines
    set_mode(monkeypatch, "1")
    assert shipped.run("03_first", lambda: 2, data_dir=tmp_path) == 2


def deterministic_training():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    random.seed(0)
    print("loss 0.5")
    return {"w": torch.randn(3, 2), "b": np.random.rand(2), "note": random.random()}  # noqa: NPY002


def test_recording_twice_gives_identical_bytes(monkeypatch, tmp_path):
    record(monkeypatch, deterministic_training, tmp_path)
    first = (tmp_path / "shipped" / f"{KEY}.pt").read_bytes()
    sums = (tmp_path / "SHA256SUMS").read_bytes()
    record(monkeypatch, deterministic_training, tmp_path)
    assert (tmp_path / "shipped" / f"{KEY}.pt").read_bytes() == first
    assert (tmp_path / "SHA256SUMS").read_bytes() == sums


def test_recorded_file_loads_with_weights_only_and_pickles_no_classes(monkeypatch, tmp_path):
    def train():
        print("to stdout")
        print("to stderr", file=sys.stderr)
        np.random.rand()  # noqa: NPY002
        return rich_result()

    record(monkeypatch, train, tmp_path)
    path = tmp_path / "shipped" / f"{KEY}.pt"
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded, dict)
    with zipfile.ZipFile(path) as archive:
        pickled = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        assert len(pickled) == 1
        ops = list(pickletools.genops(archive.read(pickled[0])))
    globals_ = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
    assert globals_, "expected torch's rebuild functions"
    assert not {op.name for op, _, _ in ops} & {"STACK_GLOBAL", "INST", "OBJ"}
    allowed = {"collections OrderedDict", "__builtin__ complex"}  # complex: the Python number in rich_result
    assert all(name.startswith("torch") or name in allowed for name in globals_), globals_
    assert not any("numpy" in name for name in globals_)


# ----------------------------------------------------------------------------- shipped mode


def test_shipped_mode_skips_compute_prints_notice_and_replays_output(monkeypatch, tmp_path, capsys):
    def train():
        print("epoch 1 loss 0.9")
        print("a warning", file=sys.stderr)
        print("epoch 2 loss 0.4")
        sys.stdout.write("done, no newline")
        return {"losses": [0.9, 0.4]}

    record(monkeypatch, train, tmp_path)
    capsys.readouterr()
    set_mode(monkeypatch, "1")
    compute = counted(train)
    result = shipped.run(KEY, compute, data_dir=tmp_path)
    assert compute.calls == 0
    assert result == {"losses": [0.9, 0.4]}
    captured = capsys.readouterr()
    first, rest = captured.out.split("\n", 1)
    assert first.startswith(f"[shipped result] {KEY}")
    assert "COURSE_SHIPPED" in first
    assert rest == "epoch 1 loss 0.9\nepoch 2 loss 0.4\ndone, no newline"
    assert captured.err == "a warning\n"


def test_shipped_mode_replays_stdout_and_stderr_in_order(monkeypatch, tmp_path):
    def train():
        print("A")
        print("B", file=sys.stderr)
        print("C")
        print("D", file=sys.stderr)
        return 0

    both = io.StringIO()
    monkeypatch.setattr(sys, "stdout", both)
    monkeypatch.setattr(sys, "stderr", both)
    record(monkeypatch, train, tmp_path)
    assert both.getvalue() == "A\nB\nC\nD\n"
    both.seek(0)
    both.truncate()
    set_mode(monkeypatch, "1")
    assert shipped.run(KEY, train, data_dir=tmp_path) == 0
    assert both.getvalue().split("\n", 1)[1] == "A\nB\nC\nD\n"


def draws():
    """The next numbers of the three global generators."""
    return (torch.rand(4).tolist(), np.random.rand(3).tolist(), np.random.randn(1).tolist(),  # noqa: NPY002
            [random.random() for _ in range(3)])


def consuming_training():
    """Uses the global generators the way a training loop does (randn leaves a cached Gaussian)."""
    torch.randn(7)
    np.random.randn(3)  # noqa: NPY002
    np.random.permutation(10)  # noqa: NPY002
    random.shuffle(list(range(10)))
    return {"done": True}


def test_shipped_mode_leaves_generators_as_the_recorded_training_left_them(monkeypatch, tmp_path):
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    record(monkeypatch, consuming_training, tmp_path)
    after_training = draws()

    # same seeds as before recording: without the restore, the draws would be those of an untrained state
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    untrained = draws()
    assert untrained != after_training

    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    set_mode(monkeypatch, "1")
    compute = counted(consuming_training)
    assert shipped.run(KEY, compute, data_dir=tmp_path) == {"done": True}
    assert compute.calls == 0
    assert draws() == after_training


def train_v1():
    print("version 1")
    return {"version": 1}


def train_v2():
    print("version 2, more epochs")
    return {"version": 2}


def test_changed_compute_trains_live_and_says_so(monkeypatch, tmp_path, capsys):
    record(monkeypatch, train_v1, tmp_path)
    path = tmp_path / "shipped" / f"{KEY}.pt"
    stored, sums = path.read_bytes(), (tmp_path / "SHA256SUMS").read_bytes()
    capsys.readouterr()
    set_mode(monkeypatch, "1")
    compute = counted(train_v2)
    assert shipped.run(KEY, compute, data_dir=tmp_path) == {"version": 2}
    assert compute.calls == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"[shipped result] {KEY}") and "changed" in out[0] and "training live" in out[0]
    assert out[1:] == ["version 2, more epochs"]
    assert "version 1" not in out
    # shipped mode never writes: the old record stays, and still loads for the old code
    assert path.read_bytes() == stored and (tmp_path / "SHA256SUMS").read_bytes() == sums
    assert shipped.run(KEY, train_v1, data_dir=tmp_path) == {"version": 1}


def test_source_fingerprint_depends_on_the_source():
    assert shipped.source_fingerprint(train_v1) == shipped.source_fingerprint(train_v1)
    assert shipped.source_fingerprint(train_v1) != shipped.source_fingerprint(train_v2)
    assert len(shipped.source_fingerprint(print)) == 64  # a builtin has no source; still a fingerprint


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("value", ["yes", "true", "2", "shipped", "RECORD"])
def test_bad_mode_is_a_value_error_naming_the_choices(monkeypatch, tmp_path, value):
    set_mode(monkeypatch, value)
    compute = counted(lambda: 1)
    with pytest.raises(ValueError, match=r"COURSE_SHIPPED to be unset, 0, 1 or record") as info:
        shipped.run(KEY, compute, data_dir=tmp_path)
    assert repr(value) in str(info.value)
    assert compute.calls == 0
    with pytest.raises(ValueError, match="unset, 0, 1 or record"):
        shipped.mode()


@pytest.mark.parametrize(("value", "mode"), [(None, "live"), ("0", "live"), ("1", "shipped"),
                                             ("record", "record"), (" 1 ", "shipped")])
def test_mode_reads_the_environment(monkeypatch, value, mode):
    set_mode(monkeypatch, value)
    assert shipped.mode() == mode


@pytest.mark.parametrize("key", ["dcgan", "08-DCGAN", "08_DCGAN", "8_dcgan", "08_", "09_dcgan.pt",
                                 "08_../../etc", "09_dc gan", ""])
def test_bad_key_is_a_value_error(monkeypatch, tmp_path, key):
    set_mode(monkeypatch, "record")
    with pytest.raises(ValueError, match="a key like '09_dcgan'") as info:
        shipped.run(key, lambda: 1, data_dir=tmp_path)
    assert repr(key) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_key_with_trailing_newline_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="a key like"):
        shipped.path_of("09_dcgan\n", tmp_path)


@pytest.mark.parametrize("key", [8, None, b"09_dcgan", ("08", "dcgan")])
def test_key_that_is_not_a_str_is_a_type_error(monkeypatch, tmp_path, key):
    set_mode(monkeypatch, None)
    with pytest.raises(TypeError, match=rf"key as a str.*got {type(key).__name__}"):
        shipped.run(key, lambda: 1, data_dir=tmp_path)


@pytest.mark.parametrize("compute", [{"w": 1}, None, 3.0, "train"])
def test_compute_not_callable_is_a_type_error(monkeypatch, tmp_path, compute):
    set_mode(monkeypatch, None)
    expected = rf"compute to be a function.*got {type(compute).__name__}.*without calling"
    with pytest.raises(TypeError, match=expected):
        shipped.run(KEY, compute, data_dir=tmp_path)


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(("result", "where", "what"), [
    ({"model": nn.Linear(2, 2)}, r"result\['model'\]", "Linear"),
    ({"losses": [0.5, {"seen": {1, 2}}]}, r"result\['losses'\]\[1\]\['seen'\]", "set"),
    ((1, Point(1, 2)), r"result\[1\]", "Point"),
    (nn.Sequential(nn.ReLU()), r"result\b", "Sequential"),
])
def test_unsupported_values_are_type_errors_naming_where(monkeypatch, tmp_path, result, where, what):
    set_mode(monkeypatch, "record")
    with pytest.raises(TypeError, match=rf"got {what} at {where}.*state_dict"):
        shipped.run(KEY, lambda: result, data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing recorded


@pytest.mark.parametrize("array", [np.array(["cat", "dog"]), np.array([b"x"]),
                                   np.array([{}, 1], dtype=object),
                                   np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_arrays_that_are_not_numbers_are_type_errors_naming_where(monkeypatch, tmp_path, array):
    set_mode(monkeypatch, None)
    with pytest.raises(TypeError, match=re.escape(f"dtype {array.dtype} at result['labels'][0]")):
        shipped.run(KEY, lambda: {"labels": [array]}, data_dir=tmp_path)


@pytest.mark.parametrize("listed", [False, True])
def test_missing_file_in_shipped_mode_says_how_to_record_it(monkeypatch, tmp_path, listed):
    if listed:  # recorded once, then the file was deleted
        record(monkeypatch, lambda: 1, tmp_path)
        (tmp_path / "shipped" / f"{KEY}.pt").unlink()
    set_mode(monkeypatch, "1")
    compute = counted(lambda: 1)
    with pytest.raises(ValueError, match=r"make notebooks") as info:
        shipped.run(KEY, compute, data_dir=tmp_path)
    assert "unset COURSE_SHIPPED" in str(info.value)
    assert f"{KEY}.pt" in str(info.value)
    assert compute.calls == 0


def test_corrupted_file_is_a_value_error_about_its_sha256(monkeypatch, tmp_path):
    record(monkeypatch, lambda: {"w": np.ones(100)}, tmp_path)
    path = tmp_path / "shipped" / f"{KEY}.pt"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    set_mode(monkeypatch, "1")
    compute = counted(lambda: {"w": np.ones(100)})
    with pytest.raises(ValueError, match=r"SHA-256.*corrupted.*make notebooks"):
        shipped.run(KEY, compute, data_dir=tmp_path)
    assert compute.calls == 0


def test_file_with_right_sum_but_not_a_record_is_a_value_error(monkeypatch, tmp_path):
    path = tmp_path / "shipped" / f"{KEY}.pt"
    path.parent.mkdir()
    path.write_bytes(b"this is not a torch file")
    write_sum(f"shipped/{KEY}.pt", tmp_path)
    set_mode(monkeypatch, "1")
    with pytest.raises(ValueError, match=rf"{KEY}.pt to be a recorded result.*make notebooks"):
        shipped.run(KEY, lambda: 1, data_dir=tmp_path)


@pytest.mark.parametrize("content", [{"weights": torch.ones(2)}, [1, 2], {"format": 99, "key": KEY}])
def test_torch_file_that_is_not_a_record_is_a_value_error(monkeypatch, tmp_path, content):
    path = tmp_path / "shipped" / f"{KEY}.pt"
    path.parent.mkdir()
    torch.save(content, path)
    write_sum(f"shipped/{KEY}.pt", tmp_path)
    set_mode(monkeypatch, "1")
    with pytest.raises(ValueError, match=rf"format-1 record of '{KEY}'"):
        shipped.run(KEY, lambda: 1, data_dir=tmp_path)


def test_record_of_another_key_is_a_value_error(monkeypatch, tmp_path):
    record(monkeypatch, lambda: 1, tmp_path, key="05_other")
    (tmp_path / "shipped" / "05_other.pt").rename(tmp_path / "shipped" / f"{KEY}.pt")
    write_sum(f"shipped/{KEY}.pt", tmp_path)
    set_mode(monkeypatch, "1")
    with pytest.raises(ValueError, match=rf"record of '{KEY}'"):
        shipped.run(KEY, lambda: 1, data_dir=tmp_path)


@pytest.mark.parametrize("key", [np.int64(1), 1.5j, ("a", np.float32(2.0)), frozenset({1})])
def test_dict_keys_that_do_not_load_with_weights_only_are_a_type_error(monkeypatch, tmp_path, key):
    set_mode(monkeypatch, None)
    with pytest.raises(TypeError, match=rf"dict keys that are str, int.*got a {type(key).__name__} key at result"):
        shipped.run(KEY, lambda: {key: 1.0}, data_dir=tmp_path)


def test_int_subclasses_are_a_type_error_and_big_endian_arrays_round_trip(monkeypatch, tmp_path):
    import enum

    class Colour(enum.IntEnum):
        RED = 1

    set_mode(monkeypatch, None)
    with pytest.raises(TypeError, match=r"got Colour at result\['c'\]"):
        shipped.run(KEY, lambda: {"c": Colour.RED}, data_dir=tmp_path)
    big = np.arange(5, dtype=">f8") / 3
    back = shipped.run(KEY, lambda: big, data_dir=tmp_path)
    assert back.dtype == big.dtype and np.array_equal(back, big)
