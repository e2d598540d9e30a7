"""Chapter 5 demo: kernel size, stride and padding of a convolution, on a photograph.

The sliders set the three numbers of the output-size formula,
``floor((size + 2*padding - kernel_size) / stride) + 1``; the figure shows
the zero-padded input with the first two receptive fields drawn on it, the
filtered output, and the formula worked out for this image.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from course_lib.chapters.ch05_cnn.vision import box_filter, edge_filter
from course_lib.checks import _fail, check_array, check_choice, check_int, named_errors
from course_lib.scratch.conv import conv2d_forward, conv_output_size

FILTERS = ("vertical edges", "horizontal edges", "box blur")


def make_filter(name: str, kernel_size: int) -> np.ndarray:
    """The widget's filter ``name`` at ``kernel_size`` x ``kernel_size`` (edges need at least 2).

    Shapes: -> kernel (kernel_size, kernel_size).
    """
    func = "make_filter"
    check_choice(name, "name", func, FILTERS)
    kernel_size = check_int(kernel_size, "kernel_size", func, minimum=1)
    if name == "box blur":
        return box_filter(kernel_size)
    if kernel_size < 2:
        _fail(ValueError, func, "kernel_size >= 2 for an edge filter", str(kernel_size),
              "an edge needs a left and a right side; use 3")
    return edge_filter(kernel_size, name.split()[0])


def conv_settings_figure(image, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                         filter_name: str = "vertical edges"):
    """Draw the padded input with its first receptive fields, and the output; returns (figure, output).

    Shapes: image (H, W) -> output (OH, OW).
    Twin: torch.nn.functional.conv2d(image[None, None], kernel[None, None], stride=stride, padding=padding)
    """
    func = "conv_settings_figure"
    check_array(image, "image", func, ndim=2, shape_doc="(H, W)", dtype_kind="f",
                fix="pass one grayscale image, e.g. load_photo(downsample=8)")
    kernel = make_filter(filter_name, kernel_size)
    stride = check_int(stride, "stride", func, minimum=1)
    padding = check_int(padding, "padding", func, minimum=0)
    h, w = image.shape
    oh = conv_output_size(h, kernel_size, stride, padding)  # raises a clear error if the kernel does not fit
    ow = conv_output_size(w, kernel_size, stride, padding)
    out, _ = conv2d_forward(image[None, None], kernel[None, None], None, stride=stride, padding=padding)
    out = out[0, 0]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
    padded = np.pad(image, padding)
    axes[0].imshow(padded, cmap="gray", vmin=0, vmax=1)
    for k, colour in enumerate(["tab:red", "tab:orange"]):
        left = k * stride
        if left + kernel_size <= padded.shape[1]:
            axes[0].add_patch(Rectangle((left - 0.5, -0.5), kernel_size, kernel_size, fill=False, lw=1.5,
                                        edgecolor=colour))
    if padding:
        axes[0].add_patch(Rectangle((padding - 0.5, padding - 0.5), w, h, fill=False, lw=0.8, ls="--",
                                    edgecolor="tab:cyan"))
    axes[0].set_title(f"input {h}x{w}, zero-padded by {padding} -> {h + 2 * padding}x{w + 2 * padding}",
                      fontsize=9)
    lim = float(np.max(np.abs(out))) or 1.0
    if filter_name == "box blur":
        axes[1].imshow(out, cmap="gray", vmin=0, vmax=1)
    else:
        axes[1].imshow(out, cmap="bwr", vmin=-lim, vmax=lim)
    axes[1].set_title(f"{filter_name}, kernel {kernel_size}, stride {stride}: output {oh}x{ow}", fontsize=9)
    fig.suptitle(f"OH = floor(({h} + 2*{padding} - {kernel_size}) / {stride}) + 1 = {oh},   "
                 f"OW = floor(({w} + 2*{padding} - {kernel_size}) / {stride}) + 1 = {ow}", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, out


def conv_settings_widget(image, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                         filter_name: str = "vertical edges"):
    """Sliders for kernel size, stride and padding (and a filter menu) over ``conv_settings_figure``.

    Shapes: image (H, W).
    """
    with named_errors("conv_settings_widget"):
        conv_settings_figure(image, kernel_size, stride, padding, filter_name)  # validate before building
    plt.close("all")

    def draw(kernel_size, stride, padding, filter_name):
        conv_settings_figure(image, kernel_size, stride, padding, filter_name)
        plt.show()

    full = {"description_width": "initial"}

    def slider(value, low, high, label):
        return widgets.IntSlider(value=value, min=low, max=high, description=label, continuous_update=False,
                                 style=full)

    return widgets.interactive(
        draw,
        kernel_size=slider(kernel_size, 2, 11, "kernel size"),
        stride=slider(stride, 1, 6, "stride"),
        padding=slider(padding, 0, 5, "padding"),
        filter_name=widgets.Dropdown(options=FILTERS, value=filter_name, description="filter", style=full),
    )
