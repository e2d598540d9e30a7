"""Checks for chapter 11, hardware and scale: counting flops and bytes."""

from __future__ import annotations

import numbers

import numpy as np

from course_lib.feedback import Feedback, call_student, failed, passed


def _number(result):
    """The student's answer as a float, or None when it is not one number."""
    if isinstance(result, bool):
        return None
    if isinstance(result, numbers.Real):
        return float(result)
    if isinstance(result, np.ndarray) and result.size == 1 and result.dtype.kind in "iuf":
        return float(result.reshape(()))
    return None


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def check_linear_flops(func) -> Feedback:
    """Exercise 10.1: ``func(n, in_features, out_features)`` = flops of a Linear layer's forward (no bias)."""
    name = "10.1 flops of a linear layer"
    for n, d_in, d_out in [(32, 64, 10), (1, 3, 5), (7, 128, 256)]:
        result, problem = call_student(name, func, n, d_in, d_out)
        if problem is not None:
            return problem
        value = _number(result)
        if value is None:
            return failed(name, f"return one number, got {type(result).__name__}.")
        expected = 2.0 * n * d_in * d_out
        if _same(value, expected):
            continue
        if _same(value, expected / 2):
            return failed(name, "that counts multiply-adds; a multiply-add is two flops (one *, one +).")
        if _same(value, 2.0 * d_in * d_out):
            return failed(name, "that is one example; every one of the N examples in the batch costs the same.")
        if _same(value, expected + n * d_out) or _same(value, expected + 2 * n * d_out):
            return failed(name, "count the matrix product only: the bias adds just N*out_features, ignore it.")
        return failed(name, f"for N={n}, in={d_in}, out={d_out} expected {expected:.0f} flops, got {value:g}; "
                            "each of the N*out outputs is a dot product of length in_features.")
    return passed(name, "2 * N * in_features * out_features: one multiply and one add per weight, per example.")


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def check_conv_flops(func) -> Feedback:
    """Exercise 10.2: ``func(x_shape, w_shape, stride, padding)`` = flops of conv2d's forward (no bias)."""
    name = "10.2 flops of a conv layer"
    cases = [
        ((8, 3, 32, 32), (16, 3, 5, 5), 1, 0),  # the slides' 32x32x3 image, 5x5 filters
        ((2, 4, 9, 7), (6, 4, 3, 3), 2, 1),
        ((1, 1, 5, 5), (1, 1, 3, 3), 1, 1),
    ]
    for x_shape, w_shape, stride, padding in cases:
        result, problem = call_student(name, func, x_shape, w_shape, stride, padding)
        if problem is not None:
            return problem
        value = _number(result)
        if value is None:
            return failed(name, f"return one number, got {type(result).__name__}.")
        n, c, h, w = x_shape
        f, _, kh, kw = w_shape
        oh, ow = _conv_out(h, kh, stride, padding), _conv_out(w, kw, stride, padding)
        expected = 2.0 * n * f * c * kh * kw * oh * ow
        if _same(value, expected):
            continue
        if _same(value, expected / 2):
            return failed(name, "that counts multiply-adds; a multiply-add is two flops.")
        if _same(value, 2.0 * n * f * c * kh * kw * h * w) and (oh, ow) != (h, w):
            return failed(name, "use the OUTPUT size, OH = (H + 2*padding - KH) // stride + 1 (and OW alike), "
                                "not the input's H and W.")
        if _same(value, 2.0 * n * f * kh * kw * oh * ow):
            return failed(name, "each output sums over all C input channels too: include C.")
        if _same(value, 2.0 * f * c * kh * kw * oh * ow):
            return failed(name, "that is one image; multiply by the batch size N.")
        return failed(name, f"for x {x_shape}, weight {w_shape}, stride {stride}, padding {padding} expected "
                            f"{expected:.0f}, got {value:g}; count 2*C*KH*KW flops per output value, "
                            "and there are N*F*OH*OW outputs.")
    return passed(name, "2 * N * F * C * KH * KW * OH * OW: every output value is a dot product of length C*KH*KW.")


def check_matmul_intensity(func) -> Feedback:
    """Exercise 10.3: ``func(n, bytes_per_element)`` = flops per byte moved of an (n, n) @ (n, n) product."""
    name = "10.3 arithmetic intensity"
    for n, nbytes in [(1024, 4), (64, 8), (3, 2)]:
        result, problem = call_student(name, func, n, nbytes)
        if problem is not None:
            return problem
        value = _number(result)
        if value is None:
            return failed(name, f"return one number, got {type(result).__name__}.")
        flops, moved = 2.0 * n**3, 3.0 * n * n * nbytes
        expected = flops / moved
        if _same(value, expected):
            continue
        if _same(value, flops / (2.0 * n * n * nbytes)):
            return failed(name, "the result C has to be written to memory too: 3 matrices move, not 2.")
        if _same(value, flops / (3.0 * n * n)):
            return failed(name, "divide by BYTES, not elements: multiply the element count by bytes_per_element.")
        if _same(value, expected / 2):
            return failed(name, "an n x n matrix product costs 2 * n**3 flops (n**3 multiply-adds).")
        if _same(value, moved / flops):
            return failed(name, "upside down: intensity is flops divided by bytes.")
        return failed(name, f"for n={n}, {nbytes} bytes per number expected {expected:.4g} flop/byte, "
                            f"got {value:.4g}; flops = 2*n**3, bytes = 3 * n*n * bytes_per_element.")
    return passed(name, "2n^3 / (3 n^2 b) = 2n / (3b): intensity grows with n, so big products are compute-bound.")
