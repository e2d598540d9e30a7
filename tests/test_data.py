import numpy as np
import pytest

from course_lib import data


def test_blobs_are_separable_with_the_requested_margin():
    X, y = data.make_blobs(n=300, margin=0.25, seed=3)
    normal, offset = data.blobs_separator()
    distance = X @ normal - offset
    assert X.shape == (300, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.all((distance > 0) == (y == 1)) and np.abs(distance).min() >= 0.25
    assert 0.3 < y.mean() < 0.7


def test_generated_data_is_reproducible_and_seed_dependent():
    a, _ = data.make_blobs(seed=1)
    b, _ = data.make_blobs(seed=1)
    c, _ = data.make_blobs(seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_xor_labels_follow_the_quadrants():
    X, y = data.make_xor(n=400, noise=0.1, seed=0)
    assert np.array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(int))
    Xt, yt = data.xor_truth_table()
    assert yt.tolist() == [0, 1, 1, 0] and Xt.shape == (4, 2)


def test_iris_selection_and_relabelling():
    X, y = data.load_iris(features=("petal width",), classes=("virginica", "setosa"))
    assert X.shape == (100, 1) and sorted(set(y.tolist())) == [0, 1]
    assert X[y == 0].mean() > X[y == 1].mean()  # virginica petals are wider than setosa's


def test_digits_split_is_fixed_and_stratified():
    split = data.load_digits(test_size=0.3, seed=0)
    again = data.load_digits(test_size=0.3, seed=0)
    assert np.array_equal(split.X_test, again.X_test)
    assert split.X_train.shape[0] + split.X_test.shape[0] == 1797 and split.X_train.shape[1] == 64
    test_fraction = np.bincount(split.y_test) / (np.bincount(split.y_train) + np.bincount(split.y_test))
    assert np.all(np.abs(test_fraction - 0.3) < 0.01)
    assert 0.0 <= split.X_train.min() and split.X_train.max() <= 1.0
    assert "train=1258" in repr(split)


def test_digits_scalings_and_image_shape():
    std = data.load_digits(scale="standard")
    assert np.allclose(std.X_train.mean(axis=0), 0, atol=1e-12)
    images = data.load_digits(images=True)
    assert images.X_train.shape[1:] == (1, 8, 8)
    raw = data.load_digits(scale="raw")
    assert raw.X_train.max() == 16


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: data.make_blobs(n=1), ValueError, "make_blobs: expected n >= 2, got 1"),
        (lambda: data.make_blobs(margin=-0.1), ValueError, "margin >= 0"),
        (lambda: data.make_xor(noise="big"), TypeError, "noise to be a number"),
        (lambda: data.make_xor(n=100.0), TypeError, "n to be an int"),
        (lambda: data.load_iris(features="petal width"), TypeError, "features as a tuple of names"),
        (lambda: data.load_iris(classes=("rose",)), ValueError, "classes from"),
        (lambda: data.load_iris(classes=("setosa", "setosa")), ValueError, "distinct classes"),
        (lambda: data.load_digits(scale="minmax"), ValueError, "scale to be one of 'unit', 'standard', 'raw'"),
        (lambda: data.load_digits(test_size=0.0), ValueError, "test_size > 0"),
        (lambda: data.load_digits(images=1), TypeError, "images to be True or False"),
        (lambda: data.stratified_split(np.array([0.5, 1.0]), 0.3, 0), TypeError, "integer"),
    ],
)
def test_bad_arguments_are_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def _shipped(tmp_path, content=b"weights"):
    (tmp_path / "model.pt").write_bytes(content)
    digest = data.sha256(tmp_path / "model.pt")
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  model.pt\n")
    return tmp_path


def test_data_file_checks_the_sum(tmp_path):
    folder = _shipped(tmp_path)
    assert data.data_file("model.pt", data_dir=folder) == folder / "model.pt"
    (folder / "model.pt").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="corrupted or was changed.*git checkout -- data/"):
        data.data_file("model.pt", data_dir=folder)


def test_data_file_missing_or_unlisted(tmp_path):
    folder = _shipped(tmp_path)
    (folder / "model.pt").unlink()
    with pytest.raises(ValueError, match="model.pt to exist, got nothing there; rebuild with make x"):
        data.data_file("model.pt", data_dir=folder, rebuild_hint="rebuild with make x")
    with pytest.raises(ValueError, match="a file listed in"):
        data.data_file("other.pt", data_dir=folder)
    with pytest.raises(TypeError, match="a file name"):
        data.data_file(3, data_dir=folder)


def test_every_shipped_file_is_listed_with_its_sum():
    listed = data.read_sums()
    on_disk = {
        str(p.relative_to(data.DATA_DIR))
        for p in data.DATA_DIR.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name not in ("README.md", "SHA256SUMS")
    }
    assert on_disk == set(listed), "list new files with data.write_sum and delete stale lines"
    for name in listed:
        assert data.data_file(name) == data.DATA_DIR / name


def test_write_sum_adds_a_sorted_line_and_keeps_the_others(tmp_path):
    (tmp_path / "SHA256SUMS").write_text(f"{'f' * 64}  zeta.bin\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pt").write_bytes(b"abc")
    digest = data.write_sum("sub/a.pt", tmp_path)
    assert (tmp_path / "SHA256SUMS").read_text() == f"{digest}  sub/a.pt\n{'f' * 64}  zeta.bin\n"
    assert data.data_file("sub/a.pt", data_dir=tmp_path) == tmp_path / "sub" / "a.pt"
    with pytest.raises(ValueError, match="the file .*missing.pt to exist, got nothing there; write the file first"):
        data.write_sum("missing.pt", tmp_path)


def test_sums_file_problems_are_named(tmp_path):
    from course_lib.data import data_file, read_sums, sha256

    (tmp_path / "a.bin").write_bytes(b"abc")
    digest = sha256(tmp_path / "a.bin")
    with pytest.raises(ValueError, match=r"expected the checksum list .*SHA256SUMS \(to check 'a.bin'\), got nothing"):
        data_file("a.bin", data_dir=tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  a.bin\nnot-a-line\n")
    with pytest.raises(ValueError, match=r"read_sums: expected lines '<64 hex digits>  <file name>' .* got line 2"):
        read_sums(tmp_path / "SHA256SUMS")
    (tmp_path / "SHA256SUMS").write_text(f"{digest.upper()}  a.bin\n")  # sha256sum -c accepts this
    assert data_file("a.bin", data_dir=tmp_path) == tmp_path / "a.bin"
