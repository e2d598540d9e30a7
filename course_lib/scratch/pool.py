"""Max and average pooling from scratch, forward and backward (chapter 5).

Layouts are PyTorch's: x (N, C, H, W); ``kernel_size`` and ``stride`` take an
int or an (h, w) pair, and ``stride`` defaults to the kernel size, as in
``torch.nn.functional.max_pool2d``.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_cache, check_dout
from course_lib.scratch.conv import _check_images, _out_hw, _pair

# A pooling window of KH x KW is visited one kernel offset (i, j) at a time: the
# strided slice x[:, :, i::sh, j::sw] (cut to OH x OW) holds, for every window at
# once, the element at offset (i, j). KH*KW vectorised passes, no loop over pixels.


def _check_pool(x, kernel_size, stride, func):
    """Validate a pooling call; return kernel, stride and the output size as (h, w) pairs."""
    _check_images(x, "x", func)
    kernel = _pair(kernel_size, "kernel_size", func, 1)
    stride = kernel if stride is None else _pair(stride, "stride", func, 1)
    for axis, size, k in (("H", x.shape[2], kernel[0]), ("W", x.shape[3], kernel[1])):
        if k > size:
            _fail(ValueError, func, "a pooling window that fits the input", f"K{axis}={k} > {axis}={size}",
                  "use a smaller kernel_size")
    return kernel, stride, _out_hw(x.shape, kernel, stride, (0, 0))


def _window_offsets(kernel, stride, out_hw):
    """Yield (k, index): k = i*KW + j is the row-major position in the window, index slices x."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, (slice(None), slice(None), slice(i, i + sh * oh, sh), slice(j, j + sw * ow, sw))


def maxpool2d_forward(x, kernel_size, stride=None):
    """Max pooling: the largest value of each window, channel by channel.

    ``stride`` defaults to ``kernel_size`` (windows side by side). The cache
    remembers which element won in every window, as its row-major position
    in the window; with a tie the FIRST maximum wins (as torch on the CPU).

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: torch.nn.functional.max_pool2d
    """
    kernel, stride, out_hw = _check_pool(x, kernel_size, stride, "maxpool2d_forward")
    offsets = _window_offsets(kernel, stride, out_hw)
    _, first = next(offsets)
    out = x[first].copy()
    argmax = np.zeros(out.shape, dtype=np.intp)
    for k, index in offsets:
        larger = x[index] > out  # strictly larger: an equal value later in the window does not win
        np.copyto(out, x[index], where=larger)
        np.copyto(argmax, k, where=larger)
    return out, (x.shape, argmax, kernel, stride)


def maxpool2d_backward(dout, cache):
    """Backward of max pooling: each window's gradient goes to its (first) maximum only.

    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W).
    Twin: torch.nn.functional.max_pool2d (autograd)
    """
    func = "maxpool2d_backward"
    x_shape, argmax, kernel, stride = check_cache(cache, func, "maxpool2d_forward", 4, {0: tuple, 1: 4})
    check_dout(dout, argmax.shape, func)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for k, index in _window_offsets(kernel, stride, argmax.shape[2:]):
        dx[index] += np.where(argmax == k, dout, 0.0)
    return dx


def avgpool2d_forward(x, kernel_size, stride=None):
    """Average pooling: the mean of each window, channel by channel.

    ``stride`` defaults to ``kernel_size``.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: torch.nn.functional.avg_pool2d
    """
    kernel, stride, out_hw = _check_pool(x, kernel_size, stride, "avgpool2d_forward")
    out = np.zeros((*x.shape[:2], *out_hw), dtype=x.dtype)
    for _, index in _window_offsets(kernel, stride, out_hw):
        out += x[index]
    out /= kernel[0] * kernel[1]
    return out, (x.shape, out.shape, kernel, stride)


def avgpool2d_backward(dout, cache):
    """Backward of average pooling: each window shares its gradient equally, 1/(KH*KW) each.

    Shapes: dout (N, C, OH, OW) -> dx (N, C, H, W).
    Twin: torch.nn.functional.avg_pool2d (autograd)
    """
    func = "avgpool2d_backward"
    x_shape, out_shape, kernel, stride = check_cache(cache, func, "avgpool2d_forward", 4, {0: tuple, 1: tuple})
    check_dout(dout, out_shape, func)
    share = dout / (kernel[0] * kernel[1])
    dx = np.zeros(x_shape, dtype=share.dtype)
    for _, index in _window_offsets(kernel, stride, out_shape[2:]):
        dx[index] += share
    return dx
