"""Chapter 5: the vision helpers, the exercise checks and the convolution-settings widget."""


import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.chapters.ch05_cnn.exercises import (
    check_conv_parameters,
    check_correlate,
    check_edge_filter,
    check_output_size,
)
from course_lib.chapters.ch05_cnn.vision import (
    box_filter,
    edge_filter,
    hand_filters,
    load_photo,
    plot_filters,
    plot_maps,
    shift_every_image,
)
from course_lib.chapters.ch05_cnn.widgets import conv_settings_figure, conv_settings_widget, make_filter
from course_lib.scratch.conv import conv_output_size, correlate2d


def _not_attempted(*args):
    raise NotImplementedError


# pieces of the solutions' code (and of the formulas the old hints gave away) that no hint may contain
_CODE_FRAGMENTS = ("np.", "//", "2*padding", "2 * padding", "* stride", "kernel_size)", "+ 1", "C*K*K", "* kernel",
                   "image[", "kernel[", "i + a", "- KH", "range(")


def _assert_hint(feedback, hint, section):
    """A "not yet" that names the mistake (``hint``), points to ``section`` (None: a form complaint) and
    contains no solution code."""
    assert not feedback.passed and hint in feedback.message, (hint, feedback.message)
    assert section is None or section in feedback.message, (section, feedback.message)
    assert not any(fragment in feedback.message for fragment in _CODE_FRAGMENTS), feedback.message


# --------------------------------------------------------------------------- vision helpers


def test_load_photo_is_grayscale_in_unit_range_and_downsamples_by_block_means():
    full = load_photo("china.jpg")
    assert full.shape == (427, 640) and full.dtype == np.float64
    assert 0.0 <= full.min() and full.max() <= 1.0
    small = load_photo("china.jpg", downsample=4)
    assert small.shape == (106, 160)
    assert np.isclose(small[3, 5], full[12:16, 20:24].mean())
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg")[7, 9].astype(float) / 255  # luminance weights of ITU-R BT.601
    assert np.isclose(full[7, 9], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def test_load_photo_rejects_bad_input():
    with pytest.raises(ValueError, match="name to be one of"):
        load_photo("cat.jpg")
    with pytest.raises(ValueError, match="downsample"):
        load_photo(downsample=0)
    with pytest.raises(TypeError, match="downsample to be an int"):
        load_photo(downsample=2.0)


def test_hand_filters_sum_as_documented_and_match_torch():
    filters = hand_filters()
    sums = {name: k.sum() for name, k in filters.items()}
    for name in ["identity", "box blur", "Gaussian blur", "sharpen"]:
        assert np.isclose(sums[name], 1.0)
    for name in ["Sobel x", "Sobel y", "Laplacian"]:
        assert np.isclose(sums[name], 0.0)
    filters["identity"][1, 1] = 99.0  # a fresh copy every call
    assert hand_filters()["identity"][1, 1] == 1.0
    image = np.random.default_rng(0).random((6, 9))
    ours = correlate2d(image, hand_filters()["Sobel x"], padding=1)
    theirs = F.conv2d(torch.tensor(image)[None, None], torch.tensor(hand_filters()["Sobel x"])[None, None], padding=1)
    assert np.abs(ours - theirs[0, 0].numpy()).max() < 1e-12


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_edge_filter_answers_its_edges_only(size):
    vertical = edge_filter(size, "vertical")
    assert vertical.shape == (size, size) and np.isclose(vertical.sum(), 0.0)
    step = np.zeros((10, 10))
    step[:, 5:] = 1.0
    assert correlate2d(step, vertical).max() > 0.99  # dark-to-bright gives +1 at full overlap
    assert np.abs(correlate2d(step, edge_filter(size, "horizontal"))).max() < 1e-12
    assert np.allclose(correlate2d(np.ones((6, 6)), box_filter(size)), 1.0)


def test_edge_filter_rejects_bad_input():
    with pytest.raises(ValueError, match="direction"):
        edge_filter(3, "diagonal")
    with pytest.raises(ValueError, match="size"):
        edge_filter(1)


def test_shift_every_image_moves_exactly_shift_pixels():
    x = np.zeros((40, 1, 8, 8))
    x[:, 0, 4, 4] = 1.0
    shifted, dy, dx = shift_every_image(x, 2, seed=3)
    assert shifted.shape == x.shape
    assert set(np.abs(dy)) | set(np.abs(dx)) <= {0, 2} and np.all(np.maximum(np.abs(dy), np.abs(dx)) == 2)
    for n in range(40):
        assert shifted[n, 0, 4 + dy[n], 4 + dx[n]] == 1.0 and shifted[n].sum() == 1.0
    again, dy2, dx2 = shift_every_image(x, 2, seed=3)
    assert np.array_equal(again, shifted) and np.array_equal(dy, dy2)
    assert len({(a, b) for a, b in zip(dy, dx)}) == 8  # all eight directions appear


def test_shift_every_image_rejects_bad_input():
    with pytest.raises(ValueError, match="shift < the image size"):
        shift_every_image(np.zeros((2, 1, 8, 8)), 8)
    with pytest.raises(ValueError, match=r"x of shape \(N, C, H, W\)"):
        shift_every_image(np.zeros((8, 8)), 1)


def test_plot_helpers_draw_one_panel_per_filter_or_map():
    fig = plot_filters(np.random.default_rng(0).normal(size=(10, 2, 3, 3)), ncols=4, title="filters")
    assert sum(ax.has_data() for ax in fig.axes) == 10 and len(fig.axes) == 12
    fig = plot_maps(np.random.default_rng(0).random((1, 5, 4, 4)), ncols=8)
    assert sum(ax.has_data() for ax in fig.axes) == 5
    with pytest.raises(ValueError, match="the maps of one image"):
        plot_maps(np.zeros((2, 5, 4, 4)))
    with pytest.raises(ValueError, match="weight of shape"):
        plot_filters(np.zeros((3, 3)))


# --------------------------------------------------------------------------- exercise checks


def test_output_size_check():
    assert check_output_size(lambda n, k, s, p: (n + 2 * p - k) // s + 1).passed
    cases = [
        (lambda n, k, s, p: (n + p - k) // s + 1, "counted the padding once", "section 4"),
        (lambda n, k, s, p: (n + 2 * p - k) // s, "not the first window", "section 4"),
        (lambda n, k, s, p: (n + 2 * p - k) / s + 1, "not a whole number", "section 4"),
        (lambda n, k, s, p: n - k + 1, "expected 7, got 5, 2 too few", "section 4"),
        (lambda n, k, s, p: "28", "expected 7, got 28", "section 4"),
        (lambda n, k, s, p: [28], "return an int", None),
        (_not_attempted, "not attempted yet", None),
        (lambda n, k, s, p: 1 / 0, "ZeroDivisionError", None),
    ]
    for func, hint, section in cases:
        _assert_hint(check_output_size(func), hint, section)


def test_output_size_check_agrees_with_the_library_on_its_cases():
    from course_lib.chapters.ch05_cnn.exercises import _SIZE_CASES

    torch_sizes = [F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p).shape[-1]
                   for n, k, s, p in _SIZE_CASES]
    assert torch_sizes == [conv_output_size(*case) for case in _SIZE_CASES]


def test_conv_parameters_check():
    right = check_conv_parameters(lambda c, f, k: f * (c * k * k + 1))
    assert right.passed
    torch_count = sum(p.numel() for p in torch.nn.Conv2d(3, 30, 5).parameters())
    assert torch_count == 30 * (3 * 25 + 1)
    cases = [
        (lambda c, f, k: f * c * k * k, "the biases are missing", "section 3"),
        (lambda c, f, k: f * (k * k + 1), "every input channel", "section 3"),
        (lambda c, f, k: f * k * k, "every input channel", "section 3"),
        (lambda c, f, k: c * k * k + 1, "count of one filter", "section 3"),
        (lambda c, f, k: 7, "expected 380, got 7, 373 too few", "section 3"),
        (lambda c, f, k: np.array([1, 2]), "return one number", None),
        (_not_attempted, "not attempted yet", None),
    ]
    for func, hint, section in cases:
        _assert_hint(check_conv_parameters(func), hint, section)


def _loops(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw] * kernel)
    return out


def test_correlate_check():
    assert check_correlate(_loops).passed
    cases = [
        (lambda im, k: _loops(im, k[::-1, ::-1]), "flipped the kernel", "section 1"),
        (lambda im, k: correlate2d(im, k, padding="same") if k.shape[0] % 2 else np.zeros(im.shape),
         "as with padding 'same'", "section 1"),
        (lambda im, k: _loops(im, k)[:-1, :-1], "one short on each axis", "section 1"),
        (lambda im, k: _loops(im, k)[:, :3], "the output is 5x5", "section 1"),
        (lambda im, k: _loops(im, k) + 1.0, "but should be", "section 1"),
        (lambda im, k: "out", "array of numbers", None),
        (_not_attempted, "not attempted yet", None),
        (lambda im, k: im @ k, "ValueError", None),
    ]
    for func, hint, section in cases:
        _assert_hint(check_correlate(func), hint, section)


def test_correlate_check_names_the_element_of_an_unknown_mistake():
    def one_wrong(image, kernel):
        out = _loops(image, kernel)
        out[3, 1] += 0.5
        return out

    feedback = check_correlate(one_wrong)
    assert "out[3, 1]" in feedback.message and "|difference| 0.5; 1 of 25" in feedback.message


def test_edge_filter_check():
    assert check_edge_filter(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])).passed  # Sobel x
    assert check_edge_filter(edge_filter(3)).passed
    cases = [
        (np.array([[1, 0, -1]] * 3), "sign is flipped", "section 2"),
        (np.ones((3, 3)), "a flat region gives 4.5, not 0", "section 2"),
        (np.zeros((3, 3)), "no response", "section 2"),
        (np.array([[-2, -2, 0], [-2, 0, 2], [0, 2, 2]]), "also answers horizontal edges", "section 2"),  # a diagonal
        (np.array([[-1, 1], [-1, 1]]), "shape (3, 3)", None),
        (np.array([[np.nan, 0, 1]] * 3), "nan", None),
        ("edge", "3x3 array", None),
    ]
    for kernel, hint, section in cases:
        _assert_hint(check_edge_filter(kernel), hint, section)


# --------------------------------------------------------------------------- widget


def test_conv_settings_figure_output_matches_the_formula_and_torch():
    image = np.random.default_rng(1).random((23, 31))
    for k, s, p, name in [(5, 2, 1, "vertical edges"), (3, 1, 1, "box blur"), (4, 3, 0, "horizontal edges")]:
        fig, out = conv_settings_figure(image, k, s, p, name)
        assert out.shape == (conv_output_size(23, k, s, p), conv_output_size(31, k, s, p))
        kernel = torch.tensor(make_filter(name, k))[None, None]
        expected = F.conv2d(torch.tensor(image)[None, None], kernel, stride=s, padding=p)[0, 0].numpy()
        assert np.abs(out - expected).max() < 1e-12
        assert f"= {out.shape[0]}" in fig._suptitle.get_text()


def test_conv_settings_figure_rejects_bad_settings():
    image = np.random.default_rng(1).random((10, 12))
    with pytest.raises(ValueError, match="kernel_size <= size"):
        conv_settings_figure(image, kernel_size=11, stride=1, padding=0)
    with pytest.raises(ValueError, match="stride"):
        conv_settings_figure(image, stride=0)
    with pytest.raises(ValueError, match="name to be one of"):
        conv_settings_figure(image, filter_name="emboss")
    with pytest.raises(ValueError, match=r"image of shape \(H, W\)"):
        conv_settings_figure(image[None])
    with pytest.raises(ValueError, match="edge filter"):
        make_filter("vertical edges", 1)


def test_widget_builds_and_redraws():
    image = load_photo(downsample=16)
    widget = conv_settings_widget(image, kernel_size=3, stride=1, padding=1)
    assert isinstance(widget, ipywidgets.interactive)
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    assert {"kernel size", "stride", "padding", "filter"} <= set(controls)
    assert all(c.style.description_width == "initial" for c in controls.values())  # labels in full
    controls["stride"].value = 3
    controls["filter"].value = "box blur"
    widget.update()
    assert plt.get_fignums()  # redrawn


def test_widget_rejects_a_bad_start():
    with pytest.raises(ValueError, match="kernel_size <= size"):
        conv_settings_widget(np.zeros((4, 4)), kernel_size=7)
