"""Checks for chapter 5, convolutional networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, student_value, where_differs
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
            return failed(name, f"for size {size}, kernel {k}, stride {s}, padding {p} you returned {result}, "
                                "not a whole number: a window that would hang over the edge is no output, so the "
                                "fraction has to go (section 4).")
        try:
            value = int(result)
        except (TypeError, ValueError):
            return failed(name, f"return an int, got {type(result).__name__}.")
        if value == expected:
            continue
        setting = f"size {size}, kernel {k}, stride {s}, padding {p}"
        if p and value == (size + p - k) // s + 1:
            return failed(name, f"{setting}: expected {expected}, got {value}; you counted the padding once, but "
                                "it adds zeros on BOTH sides (section 4).")
        if value == expected - 1:
            return failed(name, f"{setting}: expected {expected}, got {value}, one too few: you counted the strides "
                                "between windows but not the first window (section 4).")
        gap = f"{abs(value - expected)} too {'many' if value > expected else 'few'}"
        return failed(name, f"{setting}: expected {expected}, got {value}, {gap}; count that setting's windows by "
                            "hand, as section 4 does for the 7x7 input.")
    return passed(name, f"right for all {len(_SIZE_CASES)} settings, including strides that do not divide evenly.")


def check_conv_parameters(func) -> Feedback:
    """Exercise 5.3: ``func(in_channels, out_channels, kernel_size)`` -> weights + biases of a conv layer."""
    name = "5.3 parameters of a conv layer"
    for c, f, k in [(3, 5, 5), (3, 30, 5), (64, 128, 3), (1, 6, 5), (256, 256, 1)]:
        result, problem = call_student(name, func, c, f, k)
        if problem is not None:
            return problem
        expected = f * (c * k * k + 1)
        if isinstance(result, bool) or not isinstance(result, int | float | np.integer | np.floating):
            return failed(name, f"return one number (an int), got {type(result).__name__}.")
        if result == expected:
            continue
        layer = f"Conv2d({c}, {f}, kernel_size={k})"
        if result == f * c * k * k:
            return failed(name, f"{layer}: the weights are right, the biases are missing: each filter has one "
                                "(section 3).")
        if result == f * (k * k + 1) or result == f * k * k:
            return failed(name, f"{layer}: you gave each filter one channel, but a filter reaches through every "
                                "input channel (section 3: local in space, full in depth).")
        if result == c * k * k + 1:
            return failed(name, f"{layer}: that is the count of one filter; the layer has out_channels of them "
                                "(section 3).")
        gap = f"{abs(result - expected)} too {'many' if result > expected else 'few'}"
        return failed(name, f"{layer}: expected {expected}, got {result}, {gap}; count one filter's weights and "
                            "bias, then the filters, as section 3 does; the image size plays no part.")
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
    try:
        result = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        return failed(name, f"return the output as one array of numbers, got {type(result).__name__}.")
    shape = result.shape
    wanted = f"for a 6x7 image and a 2x3 kernel the output is {expected.shape[0]}x{expected.shape[1]}"
    if shape == image.shape:
        return failed(name, f"{wanted}, but yours has the image's shape {shape}, as with padding 'same': keep only "
                            "the valid positions, where the whole kernel fits inside the image (section 1).")
    if shape == (expected.shape[0] - 1, expected.shape[1] - 1):
        return failed(name, f"{wanted}, but yours is {shape[0]}x{shape[1]}, one short on each axis: the last "
                            "position where the kernel still fits counts too (section 1).")
    if shape != expected.shape:
        return failed(name, f"{wanted}, one value per position where the whole kernel fits (section 1); "
                            f"got shape {shape}.")
    if close(result, expected):
        return passed(name, "out[i, j] = sum(image[i:i+KH, j:j+KW] * kernel): no flip, as in every DL library.")
    if close(result, _reference_correlation(image, kernel[::-1, ::-1])):
        return failed(name, "you flipped the kernel: that is the textbook convolution; deep-learning "
                            "'convolution' is a cross-correlation, with no flip (section 1).")
    return failed(name, where_differs("out", result, expected) + "; reread the 2-D sum at the end of section 1.")


def _edge_images(size=9):
    """A flat image, a vertical step edge (dark left, bright right), a horizontal step edge."""
    flat = np.full((size, size), 0.5)
    vertical = np.zeros((size, size))
    vertical[:, size // 2 :] = 1.0
    return flat, vertical, vertical.T.copy()


def check_edge_filter(kernel) -> Feedback:
    """Exercise 5.2: a 3x3 kernel that answers vertical edges (dark to bright, left to right) and nothing else."""
    name = "5.2 edge filter"
    kernel, problem = student_value(name, kernel)
    if problem is not None:
        return problem
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
        return failed(name, f"a flat region gives {float(flat.flat[0]):.3g}, not 0: your weights do not add up to "
                            "zero, unlike the edge filters of section 2.")
    if on_vertical <= 1e-9:
        if np.min(vertical) < -1e-9:
            return failed(name, "the sign is flipped: your filter answers a dark-to-bright edge (left to right) "
                                "with a negative output, and the exercise wants it positive (section 2, Sobel x).")
        return failed(name, "no response to a vertical edge: your filter does not tell the left of its window "
                            "from the right (section 2, Sobel x).")
    if float(np.max(np.abs(horizontal))) > 1e-9:
        return failed(name, "it also answers horizontal edges: a change from top to bottom does not cancel out "
                            "in your kernel (section 2: Sobel x against Sobel y).")
    return passed(name, f"0 on flat regions and horizontal edges, {on_vertical:.3g} on the vertical edge.")


# ----------------------------------------------------------------------------- 5.5 conv backward


def _conv_backward_loops(dout, x, weight, stride, padding, step=None, flip=False):
    """A readable convolution backward pass; ``step`` and ``flip`` reproduce two classic mistakes.

    ``step`` is how far the window moves per output position (the stride, or
    1 when a student forgot it); ``flip`` uses the kernel turned by 180 degrees.
    """
    step = stride if step is None else step
    w = weight[:, :, ::-1, ::-1] if flip else weight
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(weight)
    kh, kw = weight.shape[2:]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            top, left = i * step, j * step
            window = xp[:, :, top : top + kh, left : left + kw]
            if window.shape[2:] != (kh, kw):
                continue
            g = dout[:, :, i, j]  # (N, F)
            dxp[:, :, top : top + kh, left : left + kw] += np.einsum("nf,fcab->ncab", g, w)
            dw += np.einsum("nf,ncab->fcab", g, window)
    h, wd = x.shape[2:]
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, dout.sum(axis=(0, 2, 3))


def _torch_conv_grads(dout, x, weight, bias, stride, padding):
    import torch

    tensors = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    out = torch.nn.functional.conv2d(*tensors, stride=stride, padding=padding)
    return tuple(g.numpy() for g in torch.autograd.grad(out, tensors, torch.tensor(dout)))




_CONV_CASES = (  # (N, C, H, W), (F, KH, KW), stride, padding: odd sizes, a non-square kernel, stride > 1
    ((2, 3, 7, 6), (4, 3, 2), 2, 1),
    ((1, 2, 5, 5), (3, 3, 3), 1, 0),
)


def check_conv_backward(func) -> Feedback:
    """Exercise 5.5: ``func(dout, x, weight, stride, padding)`` -> (dx, dweight, dbias) of a convolution.

    The answer is compared with torch.autograd through F.conv2d (float64)
    on an awkward case (odd sizes, a 3x2 kernel, stride 2, padding 1) and a
    plain one; known mistakes are named.
    """
    name = "5.5 conv2d backward"
    where = " (section 5 derives the gradients)"
    for case, (x_shape, (f, kh, kw), stride, padding) in enumerate(_CONV_CASES):
        gen = np.random.default_rng(55 + case)
        x, weight, bias = gen.normal(size=x_shape), gen.normal(size=(f, x_shape[1], kh, kw)), gen.normal(size=f)
        oh = conv_output_size(x_shape[2], kh, stride, padding)
        ow = conv_output_size(x_shape[3], kw, stride, padding)
        dout = gen.normal(size=(x_shape[0], f, oh, ow))
        result, problem = call_student(name, func, dout.copy(), x.copy(), weight.copy(), stride, padding)
        if problem is not None:
            return problem
        if not isinstance(result, tuple | list) or len(result) != 3:
            return failed(name, "return three arrays, (dx, dweight, dbias), in that order.")
        try:
            dx, dw, db = (np.asarray(r, dtype=float) if r is not None else None for r in result)
        except (TypeError, ValueError):
            return failed(name, "return three arrays of numbers, (dx, dweight, dbias).")
        ref = _torch_conv_grads(dout, x, weight, bias, stride, padding)
        setting = f"x {x_shape}, weight {weight.shape}, stride {stride}, padding {padding}"
        padded = (x_shape[0], x_shape[1], x_shape[2] + 2 * padding, x_shape[3] + 2 * padding)
        for label, got, exp in (("dx", dx, ref[0]), ("dweight", dw, ref[1]), ("dbias", db, ref[2])):
            if got is None or got.shape != exp.shape:
                shape = None if got is None else got.shape
                if label == "dx" and shape == padded:
                    return failed(name, f"{setting}: dx has the PADDED input's shape {padded}; the zeros added "
                                        f"around x are not inputs, so drop that border from dx.{where}")
                if label == "dbias" and shape == (x_shape[0], f):
                    return failed(name, f"{setting}: dbias has shape {shape}: one bias per filter is shared by "
                                        f"every image too, so sum over the batch as well.{where}")
                return failed(name, f"{setting}: {label} should have shape {exp.shape} (the shape of what it is "
                                    f"the gradient of), got {shape}.")
        if not close(db, ref[2]):
            if close(db * dout[:, 0].size, ref[2]):
                return failed(name, "dbias is an average; every output position and every image used the "
                                    f"bias once, so their gradients add up (a sum, not a mean).{where}")
            return failed(name, where_differs("dbias", db, ref[2]) + ". Each filter's bias receives every "
                                f"dout value of that filter's maps.{where}")
        slow = _conv_backward_loops(dout, x, weight, stride, padding, step=1) if stride > 1 else None
        flipped = _conv_backward_loops(dout, x, weight, stride, padding, flip=True)
        for label, got, exp, k in (("dweight", dw, ref[1], 1), ("dx", dx, ref[0], 0)):
            if close(got, exp):
                continue
            if label == "dweight" and close(got * x_shape[0], exp):
                return failed(name, "dweight is divided by the batch size: the loss already says how to weigh "
                                    f"the images, so add every image's contribution (a sum).{where}")
            if label == "dweight" and close(got, exp[:, :, ::-1, ::-1]):
                return failed(name, "dweight is turned by 180 degrees: the forward pass is a correlation "
                                    "(no flip), so each weight's gradient comes from the pixels it multiplied, "
                                    f"at the same place in the window.{where}")
            if label == "dx" and close(got, flipped[0]):
                return failed(name, "dx uses the kernel turned by 180 degrees: send each dout value back to "
                                    f"the window it came from, through the same weights the forward pass used.{where}")
            if slow is not None and close(got, slow[k]):
                return failed(name, f"{setting}: {label} ignores the stride: your windows move by one pixel from "
                                    f"one output to the next, the forward pass's by {stride}.{where}")
            return failed(name, f"{setting}: " + where_differs(label, got, exp) + f".{where}")
    return passed(name, "dx, dweight and dbias agree with torch.autograd on an odd-sized case with a 3x2 kernel, "
                        "stride 2 and padding 1.")


# ----------------------------------------------------------------------------- 5.6 max-pool backward


def _maxpool_backward_variants(dout, x, k):
    """The right answer and three classic mistakes, for windows k x k with stride k."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    win = x[:, :, : oh * k, : ow * k].reshape(n, c, oh, k, ow, k).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, oh, ow, k * k)
    first = np.argmax(win, axis=-1)
    onehot = np.eye(k * k)[first]
    ties = (win == win.max(axis=-1, keepdims=True)).astype(float)
    rows, cols = np.divmod(first, k)
    swapped = np.eye(k * k)[cols * k + rows]

    def back(mask, scale):
        grid = (mask * scale[..., None]).reshape(n, c, oh, ow, k, k).transpose(0, 1, 2, 4, 3, 5)
        dx = np.zeros_like(x)
        dx[:, :, : oh * k, : ow * k] = grid.reshape(n, c, oh * k, ow * k)
        return dx

    return {"right": back(onehot, dout), "ties": back(ties, dout), "ones": back(onehot, np.ones_like(dout)),
            "swapped": back(swapped, dout), "average": back(np.full_like(onehot, 1 / (k * k)), dout)}


def check_maxpool_backward(func) -> Feedback:
    """Exercise 5.6: ``func(dout, x, kernel_size)`` -> dx of max pooling (stride = kernel_size).

    Checked against torch.autograd through F.max_pool2d on inputs with
    ties and a size the windows do not divide; known mistakes are named.
    """
    import torch

    name = "5.6 max-pool backward"
    where = " (section 7: the backward pass of pooling)"
    gen = np.random.default_rng(56)
    x = np.round(gen.normal(size=(2, 3, 7, 6)), 1)  # 7 rows: the last row is in no 2x2 window
    x[0, 0, :2, :2] = 2.5  # a window whose four values tie
    x[1, 2, 2, 2] = x[1, 2, 3, 3] = 3.0  # a tie between two corners of one window
    x[0, 1, 4, 5], x[0, 1, 5, 4] = 4.0, 1.0  # a maximum whose row and column, swapped, point elsewhere
    k = 2
    dout = gen.normal(size=(2, 3, 3, 3))
    result, problem = call_student(name, func, dout.copy(), x.copy(), k)
    if problem is not None:
        return problem
    x_t = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.max_pool2d(x_t, k)
    expected = torch.autograd.grad(out, x_t, torch.tensor(dout))[0].numpy()
    try:
        dx = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        return failed(name, f"return dx as one array of shape {x.shape}, got {type(result).__name__}.")
    if dx.shape != x.shape:
        return failed(name, f"dx must have the input's shape {x.shape} (rows and columns in no window get 0), "
                            f"got {dx.shape}.")
    if close(dx, expected):
        return passed(name, "each window's gradient goes to its (first) maximum, as torch.autograd does; ties "
                            "and the row outside every window are handled.")
    variants = _maxpool_backward_variants(dout, x, k)
    if not close(variants["right"], expected):  # the check's own reference must agree with torch
        return failed(name, where_differs("dx", dx, expected) + f".{where}")
    if close(dx, variants["average"]):
        return failed(name, f"the gradient is shared equally by the window: that is AVERAGE pooling's backward. "
                            f"Max pooling passed on one value per window.{where}")
    if close(dx, variants["ties"]):
        return failed(name, "in a window where several values tie for the maximum, each of them got the "
                            "gradient; the forward pass passed on ONE value (the first maximum, as torch), so "
                            f"only that one gets it.{where}")
    if close(dx, variants["ones"]):
        return failed(name, "the maximum gets 1 instead of its window's dout value: the chain rule multiplies "
                            f"by the upstream gradient.{where}")
    if close(dx, variants["swapped"]):
        return failed(name, "the gradient lands at the maximum's position with row and column swapped: the "
                            "window was flattened row by row, so undo it in that order (exercise 5.6, "
                            "section 7).")
    return failed(name, where_differs("dx", dx, expected) + f".{where}")


EXERCISES = ("5.1 2-D correlation", "5.2 edge filter", "5.3 parameters of a conv layer", "5.4 output size",
             "5.5 conv2d backward", "5.6 max-pool backward")
