"""Checks for chapter 5, convolutional networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed
from course_lib.scratch.conv import conv_output_size, correlate2d

# (size, kernel_size, stride, padding): square and odd sizes, strides that do and do not divide evenly
_SIZE_CASES = [(32, 5, 1, 0), (7, 3, 1, 1), (7, 3, 2, 0), (224, 11, 4, 2), (8, 3, 2, 1), (10, 4, 3, 0), (5, 5, 1, 0),
               (28, 2, 2, 0), (13, 3, 1, 2)]


def check_output_size(func) -> Feedback:
    """Exercise 5.4: ``func(size, kernel_size, stride, padding)`` -> the output length along one axis."""
    name = "5.4 output size"
    for size, k, s, p in _SIZE_CASES:
        result, problem = call_student(name, func, size, k, s, p)
        if problem is not None:
            return problem
        expected = conv_output_size(size, k, s, p)
        if isinstance(result, float) and not float(result).is_integer():
            return failed(name, f"for size {size}, kernel {k}, stride {s}, padding {p} you returned {result}: "
                                "a layer has a whole number of outputs; round down with // (floor division).")
        try:
            value = int(result)
        except (TypeError, ValueError):
            return failed(name, f"return an int, got {type(result).__name__}.")
        if value == expected:
            continue
        setting = f"size {size}, kernel {k}, stride {s}, padding {p}"
        if p and value == (size + p - k) // s + 1:
            return failed(name, f"{setting}: padding adds zeros on BOTH sides, so it counts twice: size + 2*padding.")
        if value == expected - 1:
            return failed(name, f"{setting}: expected {expected}, got {value}. Count the first window too: ... + 1.")
        if value == (size + 2 * p - k) / s:
            return failed(name, f"{setting}: expected {expected}, got {value}. Add 1 for the first window.")
        return failed(name, f"{setting}: expected {expected}, got {value}; "
                            "the formula is floor((size + 2*padding - kernel_size) / stride) + 1.")
    return passed(name, f"right for all {len(_SIZE_CASES)} settings, including strides that do not divide evenly.")


def check_conv_parameters(func) -> Feedback:
    """Exercise 5.3: ``func(in_channels, out_channels, kernel_size)`` -> weights + biases of a conv layer."""
    name = "5.3 parameters of a conv layer"
    for c, f, k in [(3, 5, 5), (3, 30, 5), (64, 128, 3), (1, 6, 5), (256, 256, 1)]:
        result, problem = call_student(name, func, c, f, k)
        if problem is not None:
            return problem
        expected = f * (c * k * k + 1)
        if result == expected:
            continue
        layer = f"Conv2d({c}, {f}, kernel_size={k})"
        if result == f * c * k * k:
            return failed(name, f"{layer}: the weights are right; add one bias per filter.")
        if result == f * (k * k + 1) or result == f * k * k:
            return failed(name, f"{layer}: a filter spans every input channel, so it has C*K*K weights.")
        if result == c * k * k + 1:
            return failed(name, f"{layer}: that is one filter; the layer has out_channels of them.")
        return failed(name, f"{layer}: expected {expected}, got {result}. Each of the F filters has C*K*K "
                            "weights and one bias; nothing depends on the image size.")
    return passed(name, "F * (C*K*K + 1), whatever the image size: that is weight sharing.")


def _reference_correlation(image, kernel):
    return correlate2d(image, kernel)


def check_correlate(func) -> Feedback:
    """Exercise 5.1: ``func(image, kernel)`` -> the 'valid' 2-D cross-correlation of one channel."""
    name = "5.1 2-D correlation"
    rng = np.random.default_rng(53)
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(2, 3))  # non-square on purpose
    result, problem = call_student(name, func, image.copy(), kernel.copy())
    if problem is not None:
        return problem
    expected = _reference_correlation(image, kernel)
    shape = np.shape(result)
    if shape != expected.shape:
        return failed(name, f"for a 6x7 image and a 2x3 kernel the output is {expected.shape[0]}x{expected.shape[1]} "
                            f"(H - KH + 1, W - KW + 1); got shape {shape}.")
    if close(result, expected):
        return passed(name, "out[i, j] = sum(image[i:i+KH, j:j+KW] * kernel): no flip, as in every DL library.")
    if close(result, _reference_correlation(image, kernel[::-1, ::-1])):
        return failed(name, "you flipped the kernel: that is the textbook convolution. Deep-learning "
                            "'convolution' is a cross-correlation: multiply image[i + a, j + b] by kernel[a, b].")
    return failed(name, "out[i, j] should be the sum of image[i:i+KH, j:j+KW] * kernel.")


def _edge_images(size=9):
    """A flat image, a vertical step edge (dark left, bright right), a horizontal step edge."""
    flat = np.full((size, size), 0.5)
    vertical = np.zeros((size, size))
    vertical[:, size // 2 :] = 1.0
    return flat, vertical, vertical.T.copy()


def check_edge_filter(kernel) -> Feedback:
    """Exercise 5.2: a 3x3 kernel that answers vertical edges (dark to bright, left to right) and nothing else."""
    name = "5.2 edge filter"
    try:
        kernel = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        return failed(name, "the kernel should be a 3x3 array of numbers.")
    if kernel.shape != (3, 3):
        return failed(name, f"the kernel should have shape (3, 3), got {kernel.shape}.")
    if not np.all(np.isfinite(kernel)):
        return failed(name, "the kernel holds inf or nan.")
    flat, vertical, horizontal = (correlate2d(img, kernel) for img in _edge_images())
    on_vertical = float(np.max(vertical))
    if abs(float(np.max(np.abs(flat)))) > 1e-9:
        return failed(name, "a flat region should give 0: make the weights sum to zero.")
    if on_vertical <= 1e-9:
        if np.min(vertical) < -1e-9:
            return failed(name, "the sign is flipped: dark-to-bright from left to right should give a "
                                "POSITIVE output; put the negative weights on the left.")
        return failed(name, "no response to a vertical edge: put negative weights in the left column "
                            "and positive ones in the right column.")
    if float(np.max(np.abs(horizontal))) > 1e-9:
        return failed(name, "it also answers horizontal edges: make every ROW of the kernel sum to zero, "
                            "so that a change from top to bottom cancels out.")
    return passed(name, f"0 on flat regions and horizontal edges, {on_vertical:.3g} on the vertical edge.")
