"""Every dataset the course uses, offline.

Three sources, nothing downloaded:

* data generated here with a fixed seed (``make_blobs``, ``make_xor``, ...);
* datasets that ship inside scikit-learn (``load_iris``, ``load_digits``);
* small files committed under ``data/``, each listed with its SHA-256 sum in
  ``data/SHA256SUMS`` and checked on load (``data_file``).

Every loader returns float64 features and int64 labels, and checks its
arguments.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.checks import _fail, check_array, check_choice, check_float, check_int, check_same_length

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SUMS_FILE = DATA_DIR / "SHA256SUMS"


@dataclass(frozen=True)
class Split:
    """A train/test split: X_* of shape (N, D) float64, y_* of shape (N,) int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()

    def __post_init__(self):
        for x_name, y_name in (("X_train", "y_train"), ("X_test", "y_test")):
            X, y = getattr(self, x_name), getattr(self, y_name)
            check_array(X, x_name, "Split", ndim=tuple(range(2, 6)), shape_doc="(N, D) or (N, ...)",
                        dtype_kind="fiub", allow_empty=True)
            check_array(y, y_name, "Split", ndim=1, shape_doc="(N,)", dtype_kind="iu", allow_empty=True)
            check_same_length(X, y, (x_name, y_name), "Split")
        for name in ("feature_names", "class_names"):
            names = getattr(self, name)
            if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
                _fail(TypeError, "Split", f"{name} as a tuple of str", repr(names)[:80], None)

    def __repr__(self) -> str:
        return (
            f"Split(train={self.X_train.shape[0]}, test={self.X_test.shape[0]}, "
            f"features={self.X_train.shape[1:]}, classes={len(np.unique(self.y_train))})"
        )


# ---------------------------------------------------------------------------
# Generated data
# ---------------------------------------------------------------------------


BLOBS_NORMAL = np.array([1.0, 1.0]) / np.sqrt(2.0)
BLOBS_CENTRE = np.array([2.0, 1.0])


def blobs_separator() -> tuple[np.ndarray, float]:
    """The line ``make_blobs`` separates its classes with, as (u, c): u . x = c.

    u is a unit vector pointing towards class 1.
    """
    return BLOBS_NORMAL.copy(), float(BLOBS_NORMAL @ BLOBS_CENTRE)


def make_blobs(n: int = 100, margin: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clouds of 2-D points that a straight line separates with a gap.

    Points are drawn around two centres on either side of the line
    ``blobs_separator()`` describes (it does not pass through the origin, so
    a bias is needed). Any point closer than ``margin`` to the line is
    redrawn, so the data is linearly separable with a margin of at least
    ``margin``: the perceptron convergence theorem applies.

    Shapes: X (N, 2) float64, y (N,) int64 in {0, 1}.
    """
    n = check_int(n, "n", "make_blobs", minimum=2)
    margin = check_float(margin, "margin", "make_blobs", minimum=0.0, maximum=2.0)
    seed = check_int(seed, "seed", "make_blobs", minimum=0)
    rng = np.random.default_rng(seed)
    X = np.empty((0, 2))
    while X.shape[0] < n:
        side = np.where(rng.integers(0, 2, size=2 * n) == 1, 1.0, -1.0)
        candidates = BLOBS_CENTRE + side[:, None] * BLOBS_NORMAL + rng.normal(scale=0.8, size=(2 * n, 2))
        keep = np.abs((candidates - BLOBS_CENTRE) @ BLOBS_NORMAL) >= margin
        X = np.vstack([X, candidates[keep]])
    X = X[:n]
    y = ((X - BLOBS_CENTRE) @ BLOBS_NORMAL > 0).astype(np.int64)
    return X, y


def make_xor(n: int = 200, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: four clusters at the corners of a square.

    Label 1 where exactly one coordinate is positive. No straight line
    separates the classes.

    Shapes: X (N, 2) float64, y (N,) int64 in {0, 1}.
    """
    n = check_int(n, "n", "make_xor", minimum=4)
    noise = check_float(noise, "noise", "make_xor", minimum=0.0, maximum=0.5)
    seed = check_int(seed, "seed", "make_xor", minimum=0)
    rng = np.random.default_rng(seed)
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    X = corners[which] * 0.5 + rng.normal(scale=noise, size=(n, 2))
    y = np.array([0, 1, 1, 0], dtype=np.int64)[which]
    order = rng.permutation(n)
    return X[order], y[order]


def xor_truth_table() -> tuple[np.ndarray, np.ndarray]:
    """The four points of XOR: inputs (4, 2) in {0, 1} and targets (4,)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


# ---------------------------------------------------------------------------
# Datasets that ship inside scikit-learn
# ---------------------------------------------------------------------------

IRIS_FEATURES = ("sepal length", "sepal width", "petal length", "petal width")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def load_iris(
    features: tuple[str, ...] = IRIS_FEATURES, classes: tuple[str, ...] = IRIS_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Fisher's iris flowers (150 measured flowers, shipped with scikit-learn).

    Pick columns by name from ``IRIS_FEATURES`` and keep only the listed
    ``classes``; labels are renumbered 0..len(classes)-1 in the given order.

    Shapes: X (N, len(features)) float64 in cm, y (N,) int64.
    """
    from sklearn.datasets import load_iris as _sk_load_iris

    features = _check_names(features, IRIS_FEATURES, "features", "load_iris")
    classes = _check_names(classes, IRIS_CLASSES, "classes", "load_iris")
    bunch = _sk_load_iris()
    columns = [IRIS_FEATURES.index(f) for f in features]
    keep = np.isin(bunch.target, [IRIS_CLASSES.index(c) for c in classes])
    X = bunch.data[keep][:, columns].astype(np.float64)
    old = bunch.target[keep]
    y = np.array([classes.index(IRIS_CLASSES[t]) for t in old], dtype=np.int64)
    return X, y


def load_digits(
    test_size: float = 0.3,
    seed: int = 0,
    scale: str = "unit",
    images: bool = False,
) -> Split:
    """scikit-learn's handwritten digits: 1797 images of 8x8 pixels, 10 classes.

    A fixed stratified split (``test_size`` of each class held out, chosen
    by ``seed``). ``scale="unit"`` maps pixel values 0..16 to 0..1;
    ``"standard"`` standardises every pixel with the *training* mean and
    standard deviation; ``"raw"`` keeps 0..16.

    Shapes: X_* (N, 64) float64, or (N, 1, 8, 8) with ``images=True``;
    y_* (N,) int64 in 0..9.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    test_size = check_float(test_size, "test_size", "load_digits", minimum=0.0, strict_min=True, maximum=0.9)
    seed = check_int(seed, "seed", "load_digits", minimum=0)
    check_choice(scale, "scale", "load_digits", ("unit", "standard", "raw"))
    if not isinstance(images, bool):
        _fail(TypeError, "load_digits", "images to be True or False", repr(images), None)
    bunch = _sk_load_digits()
    X = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_split(y, test_size, seed)
    X_train, X_test = X[train_idx], X[test_idx]
    if scale == "unit":
        X_train, X_test = X_train / 16.0, X_test / 16.0
    elif scale == "standard":
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0] = 1.0  # border pixels that are always blank
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    if images:
        X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    return Split(
        X_train,
        y[train_idx],
        X_test,
        y[test_idx],
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        class_names=tuple(str(d) for d in range(10)),
    )


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a split that holds out ``test_size`` of every class.

    Shapes: y (N,) int; returns two sorted int64 index arrays.
    """
    check_array(y, "y", "stratified_split", ndim=1, shape_doc="(N,)", dtype_kind="iu")
    test_size = check_float(test_size, "test_size", "stratified_split", minimum=0.0, strict_min=True, maximum=0.9)
    rng = np.random.default_rng(check_int(seed, "seed", "stratified_split", minimum=0))
    test = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        n_test = int(round(test_size * members.size))
        test.append(rng.permutation(members)[:n_test])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(y.size), test_idx)
    return train_idx, test_idx


# ---------------------------------------------------------------------------
# Files shipped under data/
# ---------------------------------------------------------------------------


def _check_path(path, name: str, func: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        _fail(TypeError, func, f"{name} to be a path (str or pathlib.Path)", type(path).__name__, None)
    return Path(path)


def read_sums(sums_file: Path = SUMS_FILE) -> dict[str, str]:
    """The ``name -> sha256`` table of ``data/SHA256SUMS`` (sha256sum's format)."""
    sums_file = _check_path(sums_file, "sums_file", "read_sums")
    sums = {}
    if not sums_file.is_file():
        return sums
    for number, line in enumerate(sums_file.read_text().splitlines(), start=1):
        if line.strip():
            parts = line.split(maxsplit=1)
            digest = parts[0].lower()  # sha256sum -c accepts upper-case hex too
            if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                _fail(ValueError, "read_sums", f"lines '<64 hex digits>  <file name>' in {sums_file}",
                      f"line {number}: {line[:80]!r}", "fix or delete that line (`sha256sum FILE` prints one)")
            sums[parts[1].strip().lstrip("*")] = digest
    return sums


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    path = _check_path(path, "path", "sha256")
    if not path.is_file():
        _fail(ValueError, "sha256", f"a file at {path}", "nothing there" if not path.exists() else "a folder",
              "check the path")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sum(name: str, data_dir: Path = DATA_DIR) -> str:
    """Record the SHA-256 of ``data_dir/name`` in ``data_dir/SHA256SUMS``; other lines are kept.

    Lines are sorted by file name, so the file does not depend on the order
    things were rebuilt in. Returns the sum.
    """
    if not isinstance(name, str) or not name.strip():
        _fail(TypeError if not isinstance(name, str) else ValueError, "write_sum",
              "name as a file's path inside data_dir (a str)", repr(name), "e.g. 'shipped/09_dcgan.pt'")
    data_dir = _check_path(data_dir, "data_dir", "write_sum")
    path = data_dir / name
    if not path.is_file():
        _fail(ValueError, "write_sum", f"the file {path} to exist", "nothing there", "write the file first")
    digest = sha256(path)
    with _locked(data_dir / ".SHA256SUMS.lock"):  # two saving runs at once must not lose a line
        sums = read_sums(data_dir / "SHA256SUMS")
        sums[name] = digest
        (data_dir / "SHA256SUMS").write_text("".join(f"{sums[key]}  {key}\n" for key in sorted(sums)))
    return digest


@contextlib.contextmanager
def _locked(lock_path: Path):
    """An exclusive lock on ``lock_path`` where the OS has fcntl (Linux, macOS); no lock elsewhere."""
    try:
        import fcntl
    except ImportError:  # Windows: saving runs there go one at a time
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def data_file(name: str, data_dir: Path = DATA_DIR, rebuild_hint: str | None = None) -> Path:
    """Path of a shipped file under ``data/`` after checking its SHA-256 sum.

    A file missing from the sums list, missing on disk or with a different
    sum raises ValueError saying how to get a good copy back.
    """
    if not isinstance(name, str):
        _fail(TypeError, "data_file", "a file name (str)", type(name).__name__, None)
    data_dir = Path(data_dir)
    hint = rebuild_hint or "restore it with `git checkout -- data/` or see data/README.md"
    if not (data_dir / "SHA256SUMS").is_file():
        expected = f"the checksum list {data_dir / 'SHA256SUMS'} (to check {name!r})"
        _fail(ValueError, "data_file", expected, "nothing there", hint)
    sums = read_sums(data_dir / "SHA256SUMS")
    if name not in sums:
        _fail(ValueError, "data_file", f"a file listed in {data_dir / 'SHA256SUMS'}", repr(name), hint)
    path = data_dir / name
    if not path.is_file():
        _fail(ValueError, "data_file", f"the file {path} to exist", "nothing there", hint)
    actual = sha256(path)
    if actual != sums[name]:
        _fail(
            ValueError,
            "data_file",
            f"{name} with SHA-256 {sums[name][:12]}...",
            f"{actual[:12]}... (the file is corrupted or was changed)",
            hint,
        )
    return path


def _check_names(names, allowed, what, func) -> tuple[str, ...]:
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        _fail(TypeError, func, f"{what} as a tuple of names", repr(names), f"e.g. {what}=({allowed[0]!r},)")
    names = tuple(names)
    if not names:
        _fail(ValueError, func, f"at least one of {allowed}", "none", None)
    for name in names:
        if name not in allowed:
            _fail(ValueError, func, f"{what} from {allowed}", repr(name), None)
    if len(set(names)) != len(names):
        _fail(ValueError, func, f"distinct {what}", repr(names), None)
    return names
