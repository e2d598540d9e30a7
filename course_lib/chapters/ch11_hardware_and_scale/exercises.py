"""Checks for chapter 11, hardware and scale: counting flops and bytes."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.chapters.ch11_hardware_and_scale.flops import flop_counts
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


def _ratio(value: float, expected: float) -> str:
    """How far a count is off, in words: a factor when both are positive and far apart, else the difference."""
    if value > 0 and expected > 0 and not 0.995 < value / expected < 1.005:
        return f"{value / expected:.3g} times the right count"
    return f"off by {value - expected:+.6g}"


def check_linear_flops(func) -> Feedback:
    """Exercise 11.1: ``func(n, in_features, out_features)`` = flops of a Linear layer's forward (no bias)."""
    name = "11.1 flops of a linear layer"
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
            return failed(name, "that counts multiply-adds; a multiply-add is two flops, one multiply and one "
                                "add (section 1).")
        if _same(value, 2.0 * d_in * d_out):
            return failed(name, "that is one example; every one of the N examples in the batch costs the same "
                                "(section 1).")
        if _same(value, expected + n * d_out) or _same(value, expected + 2 * n * d_out):
            return failed(name, "your count includes the bias; the exercise counts the matrix product only "
                                "(section 1, the linear layer).")
        return failed(name, f"for N={n}, in={d_in}, out={d_out} expected {expected:.0f} flops, got {value:.12g} "
                            f"({_ratio(value, expected)}); count the outputs and the flops of the dot product "
                            "behind each (section 1).")
    return passed(name, "2 * N * in_features * out_features: one multiply and one add per weight, per example.")


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def check_conv_flops(func) -> Feedback:
    """Exercise 11.2: ``func(x_shape, w_shape, stride, padding)`` = flops of conv2d's forward (no bias)."""
    name = "11.2 flops of a conv layer"
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
            return failed(name, "that counts multiply-adds; a multiply-add is two flops (section 1).")
        if _same(value, 2.0 * n * f * c * kh * kw * h * w) and (oh, ow) != (h, w):
            return failed(name, "that counts an output position per INPUT pixel; use the OUTPUT size, which "
                                "stride and padding change (section 1, the formula for H_out).")
        if _same(value, 2.0 * n * f * kh * kw * oh * ow):
            return failed(name, "C is missing: each output sums over all C input channels too (section 1).")
        if _same(value, 2.0 * f * c * kh * kw * oh * ow):
            return failed(name, "that is one image; the batch size N multiplies the work (section 1).")
        return failed(name, f"for x {x_shape}, weight {w_shape}, stride {stride}, padding {padding} expected "
                            f"{expected:.0f}, got {value:.12g} ({_ratio(value, expected)}); count the output values "
                            "and the flops of the dot product behind each (section 1, the convolution).")
    return passed(name, "2 * N * F * C * KH * KW * OH * OW: every output value is a dot product of length C*KH*KW.")


def check_matmul_intensity(func) -> Feedback:
    """Exercise 11.3: ``func(n, bytes_per_element)`` = flops per byte moved of an (n, n) @ (n, n) product."""
    name = "11.3 arithmetic intensity"
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
            return failed(name, "the result C was not counted: it is written to memory too, so 3 matrices move, "
                                "not 2 (section 2, arithmetic intensity).")
        if _same(value, flops / (3.0 * n * n)):
            return failed(name, "that divides by elements, not BYTES: each element moved is bytes_per_element "
                                "bytes (section 2, arithmetic intensity).")
        if _same(value, expected / 2):
            return failed(name, "the flops count multiply-adds; a multiply-add is two flops (section 1).")
        if _same(value, moved / flops):
            return failed(name, "upside down: intensity is flops per byte, not bytes per flop (section 2).")
        return failed(name, f"for n={n}, {nbytes} bytes per number expected {expected:.4g} flop/byte, "
                            f"got {value:.4g} ({_ratio(value, expected)}); count the flops of the product and "
                            "the bytes of the three matrices it moves (section 2, arithmetic intensity).")
    return passed(name, "2n^3 / (3 n^2 b) = 2n / (3b): intensity grows with n, so big products are compute-bound.")


# ----------------------------------------------------------------------------- 11.4 a flop counter with hooks


def _flop_models():
    """(model, input) pairs: the chapter's digit CNN, a strided conv with a non-square kernel, a Linear on sequences."""
    with torch.random.fork_rng():
        torch.manual_seed(114)
        cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        strided = nn.Sequential(nn.Conv2d(3, 6, (3, 5), stride=2, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1))
        tokens = nn.Sequential(nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 7))
    return [(cnn, torch.zeros(5, 1, 8, 8)), (strided, torch.zeros(2, 3, 11, 9)), (tokens, torch.zeros(3, 4, 12))]



def _shapes(model, x) -> dict:
    """{layer name: (input shape, output shape)} for every Linear and Conv2d of ``model`` on ``x``."""
    seen, handles = {}, []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            handles.append(m.register_forward_hook(
                lambda mod, inputs, out, name=name: seen.__setitem__(name, (tuple(inputs[0].shape), tuple(out.shape)))))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _flop_mistake(model, x, got: dict, right: dict) -> str | None:
    """Name the typical mistake behind the first wrong per-layer count, or None when none fits."""
    shapes, modules = _shapes(model, x), dict(model.named_modules())
    for name, want in right.items():
        value = got.get(name)
        if not isinstance(value, numbers.Real) or value == want:
            continue
        layer, (shape_in, shape_out) = modules[name], shapes[name]
        if value * 2 == want:
            return f"layer {name}: that counts multiply-adds; each is two flops (section 1)."
        if value * shape_in[0] == want:
            return f"layer {name}: that is one example; every example of the batch costs the same (section 1)."
        if isinstance(layer, nn.Linear):
            if value == want + int(np.prod(shape_out)):
                return f"layer {name}: leave the bias out (section 1 counts the matrix product only)."
            if len(shape_in) > 2 and value == 2 * shape_in[0] * layer.in_features * layer.out_features:
                return (f"layer {name} gets a {len(shape_in)}-D input: every row of every leading dimension "
                        "is an example, so count all output rows, not just shape[0] (section 1).")
        else:
            per_position = want // (shape_out[-1] * shape_out[-2])
            if value == per_position * shape_in[-1] * shape_in[-2]:
                return (f"layer {name}: use the OUTPUT height and width (stride and padding change them), "
                        "not the input's (section 1, the conv formula).")
            if value * layer.in_channels == want:
                return f"layer {name}: every output sums over all C input channels: include C (section 1)."
    return None


def check_count_flops(func) -> Feedback:
    """Exercise 11.4: ``func(model, x)`` = {layer name: forward flops} for every Linear and Conv2d, via hooks."""
    name = "11.4 a flop counter"
    for model, x in _flop_models():
        got, problem = call_student(name, func, model, x)
        if problem is not None:
            return problem
        left = [n for n, m in model.named_modules() if len(m._forward_hooks) > 0]
        for _, m in model.named_modules():
            m._forward_hooks.clear()
        if left:
            return failed(name, f"hooks are still attached to {', '.join(left)} after your function returned: "
                                "keep every handle and call handle.remove(); a try/finally is safest (section 1, "
                                "exercise 11.4).")
        if not isinstance(got, dict):
            return failed(name, f"return a dict {{layer name: flops}}, got {type(got).__name__}.")
        right = flop_counts(model, x)  # the reference of the chapter (flops.py)
        with FlopCounterMode(display=False) as counter:
            model(x)
        if sum(right.values()) != counter.get_total_flops():  # the reference must agree with PyTorch's counter
            raise RuntimeError(f"{name}: the reference count {sum(right.values())} disagrees with FlopCounterMode's "
                               f"{counter.get_total_flops()} for this model; please report it")
        missing, extra = sorted(set(right) - set(got)), sorted(set(got) - set(right))
        if missing:
            return failed(name, f"no count for layer(s) {', '.join(missing)}: hook every nn.Linear and "
                                "nn.Conv2d, named as model.named_modules() names them.")
        if extra:
            return failed(name, f"layer(s) {', '.join(map(str, extra))} are not Linear or Conv2d layers (or are "
                                "not named as model.named_modules() names them); count only those two kinds.")
        mistake = _flop_mistake(model, x, got, right)
        if mistake is not None:
            return failed(name, mistake)
        for layer, want in right.items():
            value = got[layer]
            if not isinstance(value, numbers.Real) or value != want:
                off = f" (off by {value - want:+,})" if isinstance(value, numbers.Real) else ""
                return failed(name, f"layer {layer} ({type(model[int(layer.split('.')[0])]).__name__}) on input "
                                    f"{tuple(x.shape)}: FlopCounterMode counts {want:,}, you count {value!r}{off}; "
                                    "check the shapes your hook reads (section 1).")
    return passed(name, "your hooks agree with FlopCounterMode, layer by layer, on three networks.")


# ----------------------------------------------------------------------------- 11.5 memory of a training step


def _memory_models():
    with torch.random.fork_rng():
        torch.manual_seed(115)
        mlp = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
        frozen = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        frozen[0].requires_grad_(False)
        double = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).double()
    return [(mlp, torch.zeros(4, 20)), (frozen, torch.zeros(4, 6)),
            (double, torch.zeros(4, 2, 6, 6, dtype=torch.float64))]


def _measured_adam_bytes(model, x) -> int:
    """Bytes held after one real Adam step: weights, gradients and Adam's two moments (its step counters left out)."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model(x).sum().backward()
    optimiser.step()
    total = 0
    for p in model.parameters():
        total += p.numel() * p.element_size()
        if p.grad is not None:
            total += p.grad.numel() * p.grad.element_size()
        for key, buffer in optimiser.state.get(p, {}).items():
            if key != "step":
                total += buffer.numel() * buffer.element_size()
    model.zero_grad(set_to_none=True)
    return total


def check_adam_bytes(func) -> Feedback:
    """Exercise 11.5: ``func(model)`` = bytes of weights, gradients and Adam's two moments for one training step."""
    name = "11.5 memory of a training step"
    for model, x in _memory_models():
        result, problem = call_student(name, func, model)
        if problem is not None:
            return problem
        value = _number(result)
        if value is None:
            return failed(name, f"return one number of bytes, got {type(result).__name__}.")
        want = _measured_adam_bytes(model, x)
        params = [(p.numel(), p.element_size(), p.requires_grad) for p in model.parameters()]
        all_numbers = sum(n for n, _, _ in params)
        trainable_bytes = sum(n * b for n, b, t in params if t)
        weights_bytes = sum(n * b for n, b, _ in params)
        if _same(value, want):
            continue
        if params[0][1] == 8 and _same(value, want / 2):
            return failed(name, "that assumes 4 bytes per number, but this model is float64: 8 bytes; "
                                "p.element_size() tells (section 1, the memory of a training step).")
        if _same(value, 4 * weights_bytes) and trainable_bytes < weights_bytes:
            return failed(name, "frozen parameters get no gradient and no Adam moments, but your count gives "
                                "them both (section 1, the memory of a training step; chapter 10, freezing).")
        if _same(value, weights_bytes + 2 * trainable_bytes):
            return failed(name, "one buffer per trainable number is missing: you left out the gradients or "
                                "one of Adam's two moments (section 1, the memory of a training step).")
        if _same(value, weights_bytes + trainable_bytes):
            return failed(name, "Adam's two running averages per trainable number (m and v) are missing "
                                "(section 1, the memory of a training step).")
        if _same(value, want / params[0][1]) or _same(value, 3 * all_numbers + all_numbers):
            return failed(name, "that is a count of numbers, not bytes: each number takes p.element_size() "
                                "bytes (section 1, the memory of a training step).")
        return failed(name, f"a real Adam step on this {len(list(model.parameters()))}-tensor model holds "
                            f"{want:,} bytes; you count {value:,.0f} (off by {value - want:+,.0f}). Count what "
                            "each trainable and each frozen number keeps (section 1, the memory of a training "
                            "step).")
    return passed(name, "weights + gradients + two moments: a trainable number costs 4x its bytes under Adam.")


EXERCISES = ("11.1 flops of a linear layer", "11.2 flops of a conv layer", "11.3 arithmetic intensity",
             "11.4 a flop counter", "11.5 memory of a training step")
