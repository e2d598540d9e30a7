import numpy as np
import pytest

from course_lib import checks as c


def test_check_array_accepts_and_returns_the_array():
    x = np.ones((2, 3))
    assert c.check_array(x, "x", "f", ndim=2) is x


@pytest.mark.parametrize(
    "value, kwargs, exc, message",
    [
        ([1.0, 2.0], {}, TypeError, r"f: expected x to be a numpy.ndarray, got list; convert it first"),
        (np.ones(3, dtype=np.int64), {}, TypeError, r"expected x with a floating or complex dtype, got dtype int64"),
        (np.ones(3), {"ndim": 2, "shape_doc": "(N, D)"}, ValueError, r"expected x of shape \(N, D\), got shape \(3,\)"),
        (np.ones((0, 2)), {}, ValueError, r"expected a non-empty x"),
        (np.array([1.0, np.nan]), {}, ValueError, r"expected finite values in x, got NaN or inf"),
    ],
)
def test_check_array_errors_name_expected_and_got(value, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        c.check_array(value, "x", "f", **kwargs)


def test_check_array_points_torch_users_to_numpy():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"pass x.detach\(\).cpu\(\).numpy\(\)"):
        c.check_array(torch.ones(2), "x", "f")


def test_check_labels():
    assert c.check_labels(np.array([0, 2, 1]), 3, "y", "f").dtype == np.int64
    with pytest.raises(ValueError, match=r"y in \[0, 3\), got values from 0 to 3"):
        c.check_labels(np.array([0, 3]), 3, "y", "f")
    with pytest.raises(TypeError, match="integer"):
        c.check_labels(np.array([0.0, 1.0]), 3, "y", "f")


def test_scalar_checks():
    assert c.check_int(3, "n", "f", minimum=1) == 3
    assert c.check_int(np.int64(3), "n", "f") == 3
    with pytest.raises(TypeError, match="n to be an int, got float"):
        c.check_int(3.0, "n", "f")
    with pytest.raises(ValueError, match="n <= 5, got 6"):
        c.check_int(6, "n", "f", maximum=5)
    assert c.check_float(2, "lr", "f") == 2.0
    with pytest.raises(ValueError, match="lr > 0"):
        c.check_float(0.0, "lr", "f", minimum=0.0, strict_min=True)
    with pytest.raises(ValueError, match="finite lr"):
        c.check_float(float("inf"), "lr", "f")
    with pytest.raises(TypeError, match="lr to be a number, got str"):
        c.check_float("0.1", "lr", "f")
    with pytest.raises(ValueError, match="mode to be one of 'a', 'b', got 'c'"):
        c.check_choice("c", "mode", "f", ("a", "b"))


def test_same_length_and_shape():
    with pytest.raises(ValueError, match="X and y with the same number of rows, got 3 and 2"):
        c.check_same_length(np.ones((3, 1)), np.ones(2), ("X", "y"), "f")
    c.check_shape(np.ones((2, 3)), (None, 3), "x", "f")
    with pytest.raises(ValueError, match=r"x of shape \(any, 4\), got shape \(2, 3\)"):
        c.check_shape(np.ones((2, 3)), (None, 4), "x", "f")
