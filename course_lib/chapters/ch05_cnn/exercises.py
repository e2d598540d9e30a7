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
        dx, dw, db = (np.asarray(r, dtype=float) if r is not None else None for r in result)
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
                                        "every image too, so sum over the batch as well.")
                return failed(name, f"{setting}: {label} should have shape {exp.shape} (the shape of what it is "
                                    f"the gradient of), got {shape}.")
        if not close(db, ref[2]):
            if close(db * dout[:, 0].size, ref[2]):
                return failed(name, "dbias is an average; every output position and every image used the "
                                    f"bias once, so their gradients add up (a sum, not a mean).{where}")
            return failed(name, where_differs("dbias", db, ref[2]) + ". Each filter's bias receives every "
                                "dout value of that filter's maps.")
        slow = _conv_backward_loops(dout, x, weight, stride, padding, step=1) if stride > 1 else None
        flipped = _conv_backward_loops(dout, x, weight, stride, padding, flip=True)
        for label, got, exp, k in (("dweight", dw, ref[1], 1), ("dx", dx, ref[0], 0)):
            if close(got, exp):
                continue
            if label == "dweight" and close(got * x_shape[0], exp):
                return failed(name, "dweight is divided by the batch size: the loss already says how to weigh "
                                    "the images, so add every image's contribution (a sum).")
            if label == "dweight" and close(got, exp[:, :, ::-1, ::-1]):
                return failed(name, "dweight is turned by 180 degrees: the forward pass is a correlation "
                                    "(no flip), so the window pixel at offset (a, b) pairs with weight[..., a, b].")
            if label == "dx" and close(got, flipped[0]):
                return failed(name, "dx uses the kernel turned by 180 degrees: send each dout value back to "
                                    f"the window it came from, through the same weights the forward pass used.{where}")
            if slow is not None and close(got, slow[k]):
                return failed(name, f"{setting}: {label} puts the window of output (i, j) at (i, j); with "
                                    f"stride {stride} it starts at (i * stride, j * stride).")
            return failed(name, f"{setting}: " + where_differs(label, got, exp) + ".")
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
        return failed(name, where_differs("dx", dx, expected) + ".")
    if close(dx, variants["average"]):
        return failed(name, f"the gradient is shared equally by the window: that is AVERAGE pooling's backward. "
                            f"Max pooling passed on one value per window.{where}")
    if close(dx, variants["ties"]):
        return failed(name, "in a window where several values tie for the maximum, each of them got the "
                            "gradient; the forward pass passed on ONE value (the first maximum, as torch), so "
                            f"only that one gets it.{where}")
    if close(dx, variants["ones"]):
        return failed(name, "the maximum gets 1 instead of its window's dout value: the chain rule multiplies "
                            "by the upstream gradient.")
    if close(dx, variants["swapped"]):
        return failed(name, "the gradient lands at the maximum's position with row and column swapped: a "
                            "window flattened row by row stores element (r, c) at r * kernel_size + c.")
    return failed(name, where_differs("dx", dx, expected) + ".")


EXERCISES = ("5.1 2-D correlation", "5.2 edge filter", "5.3 parameters of a conv layer", "5.4 output size",
             "5.5 conv2d backward", "5.6 max-pool backward")
