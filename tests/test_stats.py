"""course_lib.stats: comparing runs over seeds (every chapter's multi-seed claims rest on it)."""

import numpy as np
import pytest

from course_lib.stats import clearly_below, difference, mean_std, mean_std_se


def test_difference_and_clearly_below():
    a, b = [1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9, 2.0, 2.05]
    gap, se = difference(a, b)
    assert abs(gap - 1.0) < 1e-12 and se > 0 and clearly_below(a, b) and not clearly_below(b, a)
    assert difference(a, b, paired=True) == pytest.approx((1.0, 0.0))
    noisy = [1.0, 3.0, 0.5, 2.5, 1.2]
    assert not clearly_below(a, noisy)  # a higher mean inside the noise is not "clearly" higher
    assert mean_std([1.0, 3.0]) == pytest.approx((2.0, np.sqrt(2.0)))


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: mean_std([1.0]), ValueError, "at least 2 results"),
        (lambda: difference([1.0, 2.0], [1.0, 2.0, 3.0], paired=True), ValueError, "one result per shared seed"),
        (lambda: clearly_below([1.0, np.inf], [1.0, 2.0]), ValueError, "finite a"),
        (lambda: difference([1.0, 2.0], [1.0, 2.0], paired="yes"), TypeError, "paired to be True or False"),
    ],
)
def test_stats_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_difference_standard_errors_match_their_formulas():
    a, b = np.array([1, 2, 1.0]), np.array([8, 8, 7.0])
    gap, se = difference(a, b)  # independent runs: sqrt(var_a / n_a + var_b / n_b)
    assert gap == pytest.approx(19 / 3) and se == pytest.approx(np.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 3))
    gap, se = difference([0.4, 0.4, 0.6], [0.5, 0.6, 0.7], paired=True)  # the spread of per-seed differences
    assert gap == pytest.approx(0.4 / 3) and se == pytest.approx(np.std([0.1, 0.2, 0.1], ddof=1) / np.sqrt(3))


def test_mean_std_se():
    mean, std, se = mean_std_se(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (mean, std, se) == pytest.approx((2.5, np.std([1, 2, 3, 4], ddof=1), np.std([1, 2, 3, 4], ddof=1) / 2))
    with pytest.raises(ValueError, match="mean_std_se: expected values as a 1-D list of at least 2 results"):
        mean_std_se([1.0])
