"""Counting a network's flops and its training memory: the reference answers chapter 11's cells use.

``flop_counts`` walks a model with forward hooks, the way exercise 11.4 asks
the student to; ``torch_flops`` asks PyTorch's own counter,
``torch.utils.flop_counter.FlopCounterMode``, which counts the matrix
products and convolutions it actually dispatches; ``adam_bytes`` is the
memory of one Adam training step's state (exercise 11.5).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.checks import _fail


def _check_model_input(model, x, func: str) -> None:
    if not isinstance(model, nn.Module):
        _fail(TypeError, func, "model as a torch.nn.Module", type(model).__name__, "e.g. nn.Sequential(...)")
    if not isinstance(x, torch.Tensor):
        _fail(TypeError, func, "x as a torch.Tensor batch", type(x).__name__, "e.g. torch.zeros(64, 1, 8, 8)")


def flop_counts(model: nn.Module, x: torch.Tensor) -> dict:
    """Forward flops of ``model(x)`` for every ``nn.Linear`` and ``nn.Conv2d``, from the shapes each one sees.

    A hook on each layer reads its real output: a Linear costs
    2 x (output numbers) x in_features, a convolution 2 x (output numbers)
    x C/groups x KH x KW. Biases are left out, as everyone does.

    Shapes: x (N, ...) -> {layer name: int}.
    Twin: ``torch_flops`` (PyTorch's FlopCounterMode; the totals agree).
    """
    _check_model_input(model, x, "flop_counts")
    counts, handles = {}, []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, nn.Linear):
                counts[name] = 2 * output.numel() * module.in_features
            else:
                kh, kw = module.kernel_size
                counts[name] = 2 * output.numel() * (module.in_channels // module.groups) * kh * kw
        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return counts


def torch_flops(model: nn.Module, x: torch.Tensor, backward: bool = False) -> int:
    """PyTorch's own count of the flops of ``model(x)`` (and of its backward pass, with ``backward=True``).

    Shapes: x (N, ...) -> int.
    Twin: ``flop_counts`` (the hook-based walk).
    """
    _check_model_input(model, x, "torch_flops")
    if not isinstance(backward, bool):
        _fail(TypeError, "torch_flops", "backward as True or False", type(backward).__name__, None)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        if backward:
            out.sum().backward()
    return counter.get_total_flops()


def adam_bytes(model: nn.Module) -> int:
    """Bytes of one Adam training step's state: every weight, plus a gradient and two moments per trainable one.

    Activations kept for the backward pass come on top (they grow with the batch).

    Shapes: model -> int.
    Twin: the summed ``nbytes`` of the parameters, their ``.grad`` and ``torch.optim.Adam``'s state after a step.
    """
    if not isinstance(model, nn.Module):
        _fail(TypeError, "adam_bytes", "model as a torch.nn.Module", type(model).__name__, None)
    return sum(p.numel() * p.element_size() * (4 if p.requires_grad else 1) for p in model.parameters())
