"""Shared fixtures of the unit tests."""

import matplotlib

matplotlib.use("Agg")  # no window, whatever MPLBACKEND says

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test starts with no open figure and leaves none behind."""
    yield
    plt.close("all")
