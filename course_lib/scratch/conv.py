"""Convolution from scratch: the loops, then im2col (pooling: ``course_lib.scratch.pool``).

Everything here is a cross-correlation, as in every deep-learning library:
the kernel slides over the input without being flipped.

The file reads top to bottom like chapter 5:

1. the output-size formula ``floor((size + 2*padding - kernel) / stride) + 1``;
2. the convolution sum in 1-D and on a single-channel image (``conv1d_naive``,
   ``correlate2d``), for hand-made filters on a photograph;
3. ``im2col`` / ``col2im``: every receptive field copied into one column, so a
   whole convolution layer becomes one matrix product;
4. ``conv2d`` twice: ``conv2d_forward_naive`` / ``conv2d_backward_naive`` with
   explicit loops (to read), and ``conv2d_forward`` / ``conv2d_backward``,
   vectorised with im2col (to use): the backward pass is itself a convolution,
   of the output gradient with the flipped kernel;
5. max and average pooling, in ``course_lib.scratch.pool``.

Layouts are PyTorch's: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None.
``kernel_size``, ``stride`` and ``padding`` take an int or an (h, w) pair.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.checks import _fail, check_array, check_cache, check_dout, check_int, check_shape

# ----------------------------------------------------------------------------- checks


def _pair(value, name: str, func: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= minimum, as a tuple (h, w)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    ok = len(pair) == 2 and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair)
    if not ok:
        got = f"{type(value).__name__} {value!r}"
        _fail(TypeError, func, f"{name} to be an int or a pair of ints (h, w)", got, None)
    if min(pair) < minimum:
        fixes = {
            "stride": "stride is the step between windows; use 1 to visit every position",
            "padding": "padding is the number of zeros added on each side; use 0 for none",
            "kernel_size": "a window is at least 1x1",
        }
        _fail(ValueError, func, f"{name} >= {minimum}", repr(value), fixes.get(name))
    return int(pair[0]), int(pair[1])


def _check_images(x, name: str, func: str) -> np.ndarray:
    """x must be a finite float array of shape (N, C, H, W)."""
    check_array(x, name, func, dtype_kind="f")
    if x.ndim != 4:
        fixes = {
            3: f"pass a batch, e.g. {name}[None] (channels first: an (H, W, C) image needs "
            f"{name}.transpose(2, 0, 1)[None])",
            2: f"pass a batch of one single-channel image, e.g. {name}[None, None]",
        }
        fix = fixes.get(x.ndim, f"reshape {name} to (N, C, H, W)")
        _fail(ValueError, func, f"{name} of shape (N, C, H, W)", f"shape {x.shape}", fix)
    return x


def _check_kernel_fits(func: str, x_shape, kernel, padding) -> None:
    """Name the axis (H or W) whose kernel does not fit the padded input."""
    axes = (("H", x_shape[2], kernel[0], padding[0]), ("W", x_shape[3], kernel[1], padding[1]))
    for axis, size, k, p in axes:
        if k > size + 2 * p:
            need = -(-(k - size) // 2)  # ceil((k - size) / 2)
            _fail(
                ValueError,
                func,
                "a kernel that fits the padded input",
                f"K{axis}={k} > {axis}+2*padding={size + 2 * p} ({axis}={size}, padding={p})",
                f"use padding>={need} or a smaller kernel",
            )



# ----------------------------------------------------------------------------- output size


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis.

    ``floor((size + 2*padding - kernel_size) / stride) + 1``. When the stride
    does not divide evenly, the last rows that no window reaches are dropped,
    as in PyTorch. Example: 7 wide, 3x3 kernel, stride 2 -> 3; pad 1 -> 4.

    Shapes: scalars (one axis, H or W) -> int.
    Twin: the output shape of torch.nn.functional.conv2d
    """
    func = "conv_output_size"
    size = check_int(size, "size", func, minimum=1)
    kernel_size = check_int(kernel_size, "kernel_size", func, minimum=1)
    stride = check_int(stride, "stride", func, minimum=1)
    padding = check_int(padding, "padding", func, minimum=0)
    if kernel_size > size + 2 * padding:
        need = -(-(kernel_size - size) // 2)
        _fail(
            ValueError,
            func,
            "kernel_size <= size + 2*padding",
            f"kernel_size={kernel_size} > size+2*padding={size + 2 * padding} "
            f"(size={size}, padding={padding})",
            f"use padding>={need} or a smaller kernel",
        )
    return (size + 2 * padding - kernel_size) // stride + 1


def _out_hw(x_shape, kernel, stride, padding) -> tuple[int, int]:
    oh = (x_shape[2] + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (x_shape[3] + 2 * padding[1] - kernel[1]) // stride[1] + 1
    return oh, ow


# ----------------------------------------------------------------------------- the convolution sum


def conv1d_naive(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The convolution sum in 1-D, as a loop: ``out[i] = sum_k signal[i + k] * kernel[k]``.

    A 'valid' cross-correlation: the kernel is not flipped and only positions
    where it lies fully inside the signal are kept, so the output has
    ``len(signal) - len(kernel) + 1`` values.

    Shapes: signal (T,), kernel (K,) -> out (T - K + 1,).
    Twin: torch.nn.functional.conv1d (also np.correlate(signal, kernel, "valid"))
    """
    func = "conv1d_naive"
    check_array(signal, "signal", func, ndim=1, shape_doc="(T,)", fix="pass a 1-D array, e.g. signal.ravel()")
    check_array(kernel, "kernel", func, ndim=1, shape_doc="(K,)", fix="pass a 1-D array, e.g. kernel.ravel()")
    if len(kernel) > len(signal):
        _fail(
            ValueError,
            func,
            "a kernel no longer than the signal",
            f"K={len(kernel)} > T={len(signal)}",
            "use a shorter kernel or pad the signal, e.g. np.pad(signal, 1)",
        )
    out = np.zeros(len(signal) - len(kernel) + 1, dtype=np.result_type(signal, kernel))
    for i in range(len(out)):
        for k in range(len(kernel)):
            out[i] += signal[i + k] * kernel[k]
    return out


def correlate2d(image: np.ndarray, kernel: np.ndarray, padding=0) -> np.ndarray:
    """Slide one hand-made filter over one single-channel image.

    ``padding`` is an int, an (h, w) pair, ``"valid"`` (= 0) or ``"same"``
    (output as large as the input; needs odd kernel sizes). The image is
    converted to float64 first, so a uint8 photograph can be passed as it is.

    Shapes: image (H, W), kernel (KH, KW) -> out (OH, OW).
    Twin: torch.nn.functional.conv2d(image[None, None], kernel[None, None], padding=padding)[0, 0]
    """
    func = "correlate2d"
    check_array(image, "image", func, ndim=2, shape_doc="(H, W)", dtype_kind="fiu",
                fix="pass one channel, e.g. image.mean(axis=2) for an (H, W, 3) photograph")
    check_array(kernel, "kernel", func, ndim=2, shape_doc="(KH, KW)", dtype_kind="fiu")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            expected = "padding to be an int, an (h, w) pair, 'valid' or 'same'"
            _fail(ValueError, func, expected, repr(padding), None)
        if padding == "same" and (kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0):
            _fail(ValueError, func, "odd kernel sizes for padding='same'", f"kernel of shape {kernel.shape}",
                  "use an odd-sized kernel such as 3x3 or 5x5, or give padding as an int")
        padding = (0, 0) if padding == "valid" else (kernel.shape[0] // 2, kernel.shape[1] // 2)
    x = image.astype(np.float64, copy=False)[None, None]
    weight = kernel.astype(np.float64, copy=False)[None, None]
    out, _ = conv2d_forward(x, weight, None, stride=1, padding=padding)
    return out[0, 0]


# ----------------------------------------------------------------------------- im2col / col2im
#
# Inside conv2d the columns of the whole batch sit side by side in ONE matrix,
# cols (C*KH*KW, OH*OW*N) with the batch index last (as in CS231n), so a layer
# is one matrix product and every copy below moves runs of N contiguous values.
# The public im2col / col2im show the same numbers in torch's unfold layout
# (N, C*KH*KW, OH*OW).
#
# conv2d never builds that whole matrix (9 MB for the benchmark's layer): it
# copies the columns of a few output positions at a time (``_position_blocks``),
# multiplies them at once, and moves on. See "Small products" below for why.


def _copy_batch_last(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[..., n] = a[n]: move the batch axis of a (N, ...) array last, into ``out`` (..., N).

    Done 8 images at a time: NumPy's transposing copy is about 4x faster on
    such slabs than in one call over the whole batch (short strided runs
    stay in the cache).
    """
    batch_last = (*range(1, a.ndim), 0)  # axes (1, 2, ..., 0)
    for n0 in range(0, a.shape[0], 8):
        out[..., n0 : n0 + 8] = a[n0 : n0 + 8].transpose(batch_last)
    return out


def _to_batch_last(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) -> zero-padded, batch-last (C, H + 2*ph, W + 2*pw, N), in one copy."""
    n, c, h, w = x.shape
    ph, pw = padding
    xt = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    _copy_batch_last(x, xt[:, ph : ph + h, pw : pw + w])
    return xt


def _windows(xt, kernel, stride, out_hw) -> np.ndarray:
    """Every receptive field of a padded batch-last xt (C, H', W', N), as a VIEW (nothing copied).

    ``windows[c, i, j, r, q, n] = xt[c, r*sh + i, q*sw + j, n]``: the pixel that
    kernel offset (i, j) sees at output position (r, q) of image n. So
    ``windows.reshape(C*KH*KW, OH*OW*N)`` is im2col's matrix of columns, and
    ``windows[:, :, :, r, q0:q1]`` the columns of output row r, positions
    q0..q1-1; the reshape makes the one copy.

    Shapes: xt (C, H', W', N) -> windows (C, KH, KW, OH, OW, N).
    """
    (sh, sw), (oh, ow) = stride, out_hw
    windows = sliding_window_view(xt, kernel, axis=(1, 2))  # (C, H'-KH+1, W'-KW+1, N, KH, KW), a view
    windows = windows[:, : sh * oh : sh, : sw * ow : sw]  # keep the window positions the stride visits
    return windows.transpose(0, 4, 5, 1, 2, 3)


def _add_columns(xt, cols, kernel, stride, out_hw) -> None:
    """col2im, in place: ADD cols (C*KH*KW, OH*OW*N) onto the pixels of xt (C, H', W', N) they came from.

    The reverse of the columns of ``_windows``: one strided slice per kernel
    offset, ADDED (windows overlap when stride < kernel, so this cannot be
    written through the overlapping view).
    """
    c, n = xt.shape[0], xt.shape[3]
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    for i in range(kh):
        for j in range(kw):
            xt[:, i : i + sh * oh : sh, j : j + sw * ow : sw] += cols[:, i, j]


def im2col(x: np.ndarray, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Copy every receptive field of x into one column ("image to columns").

    Column ``l`` (output position ``l = oh * OW + ow``) holds the C*KH*KW
    input values that the kernel sees there, ordered (c, kh, kw) like a
    flattened conv weight. A convolution is then one matrix product:
    ``weight.reshape(F, -1) @ im2col(x, ...)`` has shape (N, F, OH*OW).
    Overlapping windows (stride < kernel) copy the same pixel more than once.

    Shapes: x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW).
    Twin: torch.nn.functional.unfold
    """
    func = "im2col"
    _check_images(x, "x", func)
    kernel = _pair(kernel_size, "kernel_size", func, 1)
    stride = _pair(stride, "stride", func, 1)
    padding = _pair(padding, "padding", func, 0)
    _check_kernel_fits(func, x.shape, kernel, padding)
    oh, ow = _out_hw(x.shape, kernel, stride, padding)
    windows = _windows(_to_batch_last(x, padding), kernel, stride, (oh, ow))  # (C, KH, KW, OH, OW, N)
    return windows.reshape(-1, oh * ow, x.shape[0]).transpose(2, 0, 1)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Put columns back into an image, ADDING where windows overlap.

    Not the inverse of ``im2col`` but its adjoint (its transpose): a pixel
    that appeared in three windows receives the sum of its three entries.
    That is exactly what the backward pass of a convolution needs.
    ``x_shape`` is the (N, C, H, W) shape of the image given to ``im2col``.

    Shapes: cols (N, C*KH*KW, OH*OW) -> x (N, C, H, W).
    Twin: torch.nn.functional.fold (output_size=(H, W))
    """
    func = "col2im"
    check_array(cols, "cols", func, dtype_kind="f")
    kernel = _pair(kernel_size, "kernel_size", func, 1)
    stride = _pair(stride, "stride", func, 1)
    padding = _pair(padding, "padding", func, 0)
    if not (isinstance(x_shape, (tuple, list)) and len(x_shape) == 4):
        _fail(ValueError, func, "x_shape as a tuple (N, C, H, W)", repr(x_shape), "pass x.shape")
    x_shape = tuple(check_int(s, "x_shape entries", func, minimum=1) for s in x_shape)
    _check_kernel_fits(func, x_shape, kernel, padding)
    oh, ow = _out_hw(x_shape, kernel, stride, padding)
    n, c = x_shape[:2]
    check_shape(cols, (n, c * kernel[0] * kernel[1], oh * ow), "cols", func,
                "pass what im2col returned for an input of shape x_shape with the same settings")
    batch_last = cols.transpose(1, 2, 0).reshape(c * kernel[0] * kernel[1], oh * ow * n)
    (h, w), (ph, pw) = x_shape[2:], padding
    xt = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    _add_columns(xt, batch_last, kernel, stride, (oh, ow))
    return xt[:, ph : ph + h, pw : pw + w].transpose(3, 0, 1, 2)  # drop the padding, back to (N, C, H, W)


# ----------------------------------------------------------------------------- conv2d: checks


def _check_conv_inputs(x, weight, bias, stride, padding, func):
    """Validate conv2d's arguments; return (stride, padding) as (h, w) pairs."""
    _check_images(x, "x", func)
    check_array(weight, "weight", func, dtype_kind="f")
    if weight.ndim != 4:
        fix = "one filter needs a leading F axis, e.g. weight[None]" if weight.ndim == 3 else None
        _fail(ValueError, func, "weight of shape (F, C, KH, KW)", f"shape {weight.shape}", fix)
    if x.shape[1] != weight.shape[1]:
        _fail(
            ValueError,
            func,
            "x and weight with the same number of channels C",
            f"x has C={x.shape[1]} channels but weight expects {weight.shape[1]} "
            f"(weight shape {weight.shape})",
            "x is (N, C, H, W) channels first and weight is (F, C, KH, KW); "
            "transpose channels-last data with x.transpose(0, 3, 1, 2)",
        )
    if bias is not None:
        check_array(bias, "bias", func, dtype_kind="f")
        check_shape(bias, (weight.shape[0],), "bias", func, "one bias per filter, or bias=None")
    stride = _pair(stride, "stride", func, 1)
    padding = _pair(padding, "padding", func, 0)
    _check_kernel_fits(func, x.shape, weight.shape[2:], padding)
    return stride, padding


# ----------------------------------------------------------------------------- conv2d: loops


def conv2d_forward_naive(x, weight, bias, stride=1, padding=0):
    """Convolution with explicit loops: one dot product per (image, filter, position).

    ``out[n, f, i, j] = sum(window * weight[f]) + bias[f]`` where ``window`` is
    the (C, KH, KW) block of the padded x under the kernel at output (i, j).
    Slow on purpose: it is there to be read. Use ``conv2d_forward``.

    Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None -> out (N, F, OH, OW).
    Twin: torch.nn.functional.conv2d
    """
    (sh, sw), padding = _check_conv_inputs(x, weight, bias, stride, padding, "conv2d_forward_naive")
    f_count, _, kh, kw = weight.shape
    (ph, pw) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros around H and W
    oh, ow = _out_hw(x.shape, (kh, kw), (sh, sw), padding)
    out = np.zeros((x.shape[0], f_count, oh, ow), dtype=np.result_type(x, weight))
    for n in range(x.shape[0]):
        for f in range(f_count):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * sh, j * sw
                    window = xp[n, :, top : top + kh, left : left + kw]
                    out[n, f, i, j] = np.sum(window * weight[f])
                    if bias is not None:
                        out[n, f, i, j] += bias[f]
    return out, (x, weight, bias is not None, (sh, sw), padding)


def conv2d_backward_naive(dout, cache):
    """Backward of ``conv2d_forward_naive`` with the same loops, run in reverse.

    Each output value was ``sum(window * weight[f]) + bias[f]``, so its
    gradient flows to the window (times weight[f]), to weight[f] (times the
    window) and to bias[f] (times one).

    Shapes: dout (N, F, OH, OW) -> dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,) or None.
    Twin: torch.nn.functional.conv2d (autograd)
    """
    func = "conv2d_backward_naive"
    x, weight, has_bias, (sh, sw), (ph, pw) = check_cache(cache, func, "conv2d_forward_naive", 5, {0: 4, 1: 4})
    f_count, _, kh, kw = weight.shape
    oh, ow = _out_hw(x.shape, (kh, kw), (sh, sw), (ph, pw))
    check_dout(dout, (x.shape[0], f_count, oh, ow), func)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dweight = np.zeros_like(weight)
    for n in range(x.shape[0]):
        for f in range(f_count):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * sh, j * sw
                    dxp[n, :, top : top + kh, left : left + kw] += dout[n, f, i, j] * weight[f]
                    dweight[f] += dout[n, f, i, j] * xp[n, :, top : top + kh, left : left + kw]
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dweight, dbias


# ----------------------------------------------------------------------------- conv2d: im2col
#
# Small products. Each product below is skinny: one side is F = 32 filters or
# C = 16 channels, the other thousands of positions. For such shapes OpenBLAS
# (the BLAS that NumPy ships) spends a third of its time copying ("packing")
# the big operand into its blocked layout before multiplying it. When
# M*N*K <= 10**6 it skips that copy and multiplies straight from the arrays
# (its "small-matrix" kernels), here at about 100 GFLOP/s instead of 55-70. So
# conv2d works in blocks of output positions just small enough for that:
# every product of the layer costs F*C*KH*KW multiply-adds per position, so a
# block holds about 10**6 / (F*C*KH*KW) positions (192 for the benchmark's
# layer: 3 output pixels of 64 images). A block's columns (110-220 kB) are
# copied, multiplied while still in the CPU cache, and their memory reused by
# the next block. A BLAS without that path gets the same numbers,
# only more slowly.

_SMALL_PRODUCT = 10**6  # OpenBLAS multiplies without packing when M*N*K is at most this


def _position_blocks(out_hw, n: int, work_per_position: int) -> list[tuple[int, int, int]]:
    """Blocks (r, q0, q1) of output positions: row r, columns q0..q1-1, all n images.

    As many columns per block as keep ``work_per_position * positions`` within
    ``_SMALL_PRODUCT`` (at least one column, at most a whole row).
    """
    oh, ow = out_hw
    step = max(1, min(ow, _SMALL_PRODUCT // (work_per_position * n)))
    return [(r, q0, min(q0 + step, ow)) for r in range(oh) for q0 in range(0, ow, step)]


def conv2d_forward(x, weight, bias, stride=1, padding=0):
    """Convolution as a matrix product: ``weight (F, C*KH*KW) @ cols (C*KH*KW, OH*OW*N)``.

    ``cols`` holds every receptive field of every image as a column (see
    ``im2col``), so the whole batch is a single product, computed here block
    by block (see "Small products" above). Returns ``(out, cache)``; the cache
    keeps the padded input, which the backward pass needs. ``out`` is a
    transposed view of the product (its memory is batch-last), which every
    NumPy operation handles; ``np.ascontiguousarray`` if needed.

    Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None -> out (N, F, OH, OW).
    Twin: torch.nn.functional.conv2d
    """
    stride, padding = _check_conv_inputs(x, weight, bias, stride, padding, "conv2d_forward")
    f_count, c, kh, kw = weight.shape
    n = x.shape[0]
    oh, ow = _out_hw(x.shape, (kh, kw), stride, padding)
    xt = _to_batch_last(x, padding)  # (C, H', W', N)
    w_rows = weight.reshape(f_count, -1)  # (F, C*KH*KW): one filter per row
    out = np.empty((f_count, oh * ow * n), dtype=np.result_type(x, weight))  # the product, batch last
    windows = _windows(xt, (kh, kw), stride, (oh, ow))  # (C, KH, KW, OH, OW, N), a view
    for r, q0, q1 in _position_blocks((oh, ow), n, weight.size):
        cols = windows[:, :, :, r, q0:q1].reshape(c * kh * kw, -1)  # im2col of this block
        np.matmul(w_rows, cols, out=out[:, (r * ow + q0) * n : (r * ow + q1) * n])  # written in place
    if bias is not None:
        out += bias[:, None]
    out = out.reshape(f_count, oh, ow, n).transpose(3, 0, 1, 2)  # (N, F, OH, OW), a view
    return out, (x.shape, xt, weight, bias is not None, stride, padding)


def _spread_gradient(dout, kernel, stride, padding, in_hw) -> np.ndarray:
    """dout placed where its windows started, framed in zeros: what dx is a convolution of.

    Output (r, q) of the forward pass read the window whose top-left corner is
    padded pixel (r*sh, q*sw). Here dout[n, f, r, q] goes to row KH-1 + r*sh,
    column KW-1 + q*sw of a zero array (the stride leaves sh-1 zero rows between
    two of them), cut to the rows and columns that a window over the
    unpadded input can reach.

    Shapes: dout (N, F, OH, OW) -> (F, H+KH-1, W+KW-1, N), batch last (a view).
    """
    n, f_count, oh, ow = dout.shape
    (kh, kw), (sh, sw), (ph, pw), (h, w) = kernel, stride, padding, in_hw
    full = np.zeros((f_count, h + 2 * ph + kh - 1, w + 2 * pw + kw - 1, n), dtype=dout.dtype)
    _copy_batch_last(dout, full[:, kh - 1 : kh - 1 + sh * oh : sh, kw - 1 : kw - 1 + sw * ow : sw])
    return full[:, ph : ph + h + kh - 1, pw : pw + w + kw - 1]


def conv2d_backward(dout, cache):
    """Backward of ``conv2d_forward``: dx is a convolution too, and dweight comes from the same columns.

    Each input pixel received ``weight[f, c, i, j]`` times every output its
    windows produced, so ``dx`` is the convolution (stride 1) of dout, spread
    back onto the input grid (``_spread_gradient``), with the kernel flipped
    (i, j -> KH-1-i, KW-1-j) and transposed (F <-> C): one product
    ``w_flip (C, F*KH*KW) @ dcols (F*KH*KW, H*W*N)`` per block, where dcols
    are the columns of that spread gradient. No col2im: nothing is scattered
    and added back. The same product read the other way gives the weight
    gradient: ``dx = w_flip @ dcols`` for every image, so
    ``dw_flip = dcols @ x^T`` (summed over the blocks), which is dweight
    flipped back. ``dbias`` is dout summed over N, OH and OW.
    With stride s the spread gradient is mostly zeros: about s_h*s_w times the
    work of stride 1, still exact.

    Shapes: dout (N, F, OH, OW) -> dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,) or None.
    Twin: torch.nn.functional.conv2d (autograd)
    """
    func = "conv2d_backward"
    x_shape, xt, weight, has_bias, stride, padding = check_cache(
        cache, func, "conv2d_forward", 6, {0: tuple, 1: 4, 2: 4}
    )
    f_count, c, kh, kw = weight.shape
    n, _, h, w = x_shape
    (ph, pw) = padding
    oh, ow = _out_hw(x_shape, (kh, kw), stride, padding)
    check_dout(dout, (n, f_count, oh, ow), func)
    spread = _spread_gradient(dout, (kh, kw), stride, padding, (h, w))  # (F, H+KH-1, W+KW-1, N)
    windows = _windows(spread, (kh, kw), (1, 1), (h, w))  # (F, KH, KW, H, W, N), a view
    w_flip = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, -1)  # (C, F*KH*KW)
    # x one position per row, (H*W*N, C): the layout the small-matrix kernel wants for dcols @ x^T
    x_rows = np.ascontiguousarray(xt[:, ph : ph + h, pw : pw + w].transpose(1, 2, 3, 0)).reshape(-1, c)
    dx = np.empty((c, h * w * n), dtype=np.result_type(dout, weight))  # batch last, like out
    dw_flip = np.zeros((f_count * kh * kw, c), dtype=np.result_type(dout, xt))
    for r, q0, q1 in _position_blocks((h, w), n, weight.size):
        dcols = windows[:, :, :, r, q0:q1].reshape(f_count * kh * kw, -1)  # im2col of the spread dout
        block = slice((r * w + q0) * n, (r * w + q1) * n)  # these positions in dx and x_rows
        np.matmul(w_flip, dcols, out=dx[:, block])
        dw_flip += dcols @ x_rows[block]
    dx = dx.reshape(c, h, w, n).transpose(3, 0, 1, 2)  # (N, C, H, W), a view
    dweight = dw_flip.reshape(f_count, kh, kw, c)[:, ::-1, ::-1].transpose(0, 3, 1, 2)  # flip back
    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, np.ascontiguousarray(dweight), dbias


# ----------------------------------------------------------------------------- pooling
# Max and average pooling live in course_lib.scratch.pool; their names stay importable from here.

_POOLING = ("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward")


def __getattr__(name: str):
    if name in _POOLING:
        from course_lib.scratch import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
