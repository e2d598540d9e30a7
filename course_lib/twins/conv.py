"""Convolution in PyTorch: the twins of ``course_lib.scratch.conv`` and the classic CNNs.

Two parts:

* thin twins that run ``torch.nn.functional.conv2d`` / ``max_pool2d`` /
  ``avg_pool2d`` on NumPy inputs and return NumPy outputs and gradients, for
  the notebook's "prove they agree" cells;
* builders of the classic architectures, following the original papers'
  layer tables, without downloading any weights: ``lenet5``, ``alexnet`` and
  ``vgg('A'..'E')``. Pass ``device="meta"`` to build them without
  allocating memory (enough to count parameters and trace shapes), and
  ``count_parameters`` to reproduce the papers' parameter counts.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course_lib.checks import _fail, check_array, check_choice, check_int

# ----------------------------------------------------------------------------- the twins


def _tensor(a: np.ndarray, name: str, func: str) -> torch.Tensor:
    check_array(a, name, func, dtype_kind="f")
    return torch.tensor(a, requires_grad=True)


def _grads(out: torch.Tensor, dout, inputs, func: str):
    """Backpropagate dout through out; the inputs' gradients as NumPy (None where input is None)."""
    if dout is None:
        return None
    check_array(dout, "dout", func, dtype_kind="f")
    if tuple(dout.shape) != tuple(out.shape):
        _fail(ValueError, func, f"dout of shape {tuple(out.shape)}", f"shape {dout.shape}",
              "pass the gradient of the output, one value per output value")
    out.backward(torch.as_tensor(dout, dtype=out.dtype))
    return tuple(None if t is None else t.grad.numpy() for t in inputs)


def conv2d(x, weight, bias=None, stride=1, padding=0, dout=None):
    """``torch.nn.functional.conv2d`` on NumPy arrays.

    Returns ``(out, grads)``: ``grads`` is ``(dx, dweight, dbias)`` after
    backpropagating ``dout`` (``dbias`` None without a bias), or None when
    no ``dout`` is given. Everything comes back as NumPy arrays.

    Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None -> out (N, F, OH, OW).
    Twin: course_lib.scratch.conv.conv2d_forward / conv2d_backward
    """
    func = "conv2d"
    inputs = (_tensor(x, "x", func), _tensor(weight, "weight", func),
              None if bias is None else _tensor(bias, "bias", func))
    out = F.conv2d(*inputs, stride=stride, padding=padding)
    return out.detach().numpy(), _grads(out, dout, inputs, func)


def max_pool2d(x, kernel_size, stride=None, dout=None):
    """``torch.nn.functional.max_pool2d`` on NumPy arrays: returns ``(out, dx or None)``.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: course_lib.scratch.conv.maxpool2d_forward / maxpool2d_backward
    """
    xt = _tensor(x, "x", "max_pool2d")
    out = F.max_pool2d(xt, kernel_size, stride)
    grads = _grads(out, dout, (xt,), "max_pool2d")
    return out.detach().numpy(), None if grads is None else grads[0]


def avg_pool2d(x, kernel_size, stride=None, dout=None):
    """``torch.nn.functional.avg_pool2d`` on NumPy arrays: returns ``(out, dx or None)``.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: course_lib.scratch.conv.avgpool2d_forward / avgpool2d_backward
    """
    xt = _tensor(x, "x", "avg_pool2d")
    out = F.avg_pool2d(xt, kernel_size, stride)
    grads = _grads(out, dout, (xt,), "avg_pool2d")
    return out.detach().numpy(), None if grads is None else grads[0]


# ----------------------------------------------------------------------------- the classic networks


def _on(device):
    """Build modules directly on ``device`` ("meta": shapes only, no memory)."""
    return contextlib.nullcontext() if device is None else torch.device(device)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (scalars) in a torch model; works on the meta device.

    Shapes: model -> int.
    Twin: course_lib.scratch.modules.Module.num_parameters
    """
    if not isinstance(model, nn.Module):
        _fail(TypeError, "count_parameters", "a torch.nn.Module", type(model).__name__,
              "for a scratch Module use model.num_parameters()")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def lenet5(num_classes: int = 10, device=None) -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) for 1 x 32 x 32 images, in its usual modern reading.

    C1 conv5-6, S2 2x2 subsampling, C3 conv5-16, S4 2x2 subsampling,
    C5 conv5-120 (a 1x1 map, so a fully connected layer), F6 84, output.
    Departures from the paper, as everyone builds it today: C3 connects to
    all 6 maps (the paper wires each of its 16 maps to a subset), S2/S4 are
    plain average pooling (the paper's have a trainable coefficient and bias
    per map), tanh instead of 1.7159*tanh(2/3 a), and a Linear output layer
    instead of Euclidean RBF units. 61,706 parameters (paper: about 60,000).

    Shapes: x (N, 1, 32, 32) -> logits (N, num_classes).
    Twin: a network built from course_lib.scratch.cnn layers (Conv2d, MaxPool2d, AvgPool2d, Flatten)
    """
    num_classes = check_int(num_classes, "num_classes", "lenet5", minimum=1)
    with _on(device):
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),  # C1, S2: 6 x 14 x 14
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),  # C3, S4: 16 x 5 x 5
            nn.Conv2d(16, 120, kernel_size=5), nn.Tanh(),  # C5: 120 x 1 x 1
            nn.Flatten(),
            nn.Linear(120, 84), nn.Tanh(),  # F6
            nn.Linear(84, num_classes),
        )


def alexnet(num_classes: int = 1000, grouped: bool = True, device=None) -> nn.Sequential:
    """AlexNet (Krizhevsky, Sutskever and Hinton 2012) for 3 x 224 x 224 images.

    Five conv layers (96, 256, 384, 384, 256 maps), three fully connected
    (4096, 4096, num_classes), ReLU, local response normalisation after
    conv1 and conv2, overlapping 3x3 max pooling with stride 2, dropout 0.5.
    The paper split the network over two GPUs: conv2, conv4 and conv5 only
    see the maps on their own GPU, which ``groups=2`` reproduces
    (``grouped=False`` gives the one-GPU variant). conv1 uses padding 2 so a
    224 x 224 input gives the paper's 55 x 55 maps. About 61.0 million
    parameters with groups (the paper: "60 million"), 62.4 million without.

    Shapes: x (N, 3, 224, 224) -> logits (N, num_classes).
    """
    num_classes = check_int(num_classes, "num_classes", "alexnet", minimum=1)
    groups = 2 if grouped else 1

    def lrn():  # the paper's k=2, n=5, alpha=1e-4, beta=0.75; torch divides alpha by n
        return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)

    with _on(device):
        return nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=2), nn.ReLU(), lrn(),  # 96 x 55 x 55
            nn.MaxPool2d(3, stride=2),  # 27 x 27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups), nn.ReLU(), lrn(),
            nn.MaxPool2d(3, stride=2),  # 13 x 13
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups), nn.ReLU(),
            nn.MaxPool2d(3, stride=2),  # 256 x 6 x 6
            nn.Flatten(),
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )


# The VGG table (Simonyan and Zisserman 2015, Table 1), column by column, in the
# paper's own words: "conv3-64" is a 3x3 convolution with 64 maps, "conv1-256"
# a 1x1 convolution. Every conv has stride 1 and keeps the size (padding 1 for
# 3x3, 0 for 1x1); every maxpool is 2x2 with stride 2. A-LRN is A with local
# response normalisation after its first layer; LRN has no parameters and the
# paper found it did not help, so it is left out here and A-LRN builds like A.
_BLOCK_A = ["conv3-64", "maxpool", "conv3-128", "maxpool", "conv3-256", "conv3-256", "maxpool"]
_BLOCK_B = ["conv3-64", "conv3-64", "maxpool", "conv3-128", "conv3-128", "maxpool"]
VGG_CONFIGS = {
    "A": _BLOCK_A + ["conv3-512", "conv3-512", "maxpool"] * 2,
    "A-LRN": _BLOCK_A + ["conv3-512", "conv3-512", "maxpool"] * 2,
    "B": _BLOCK_B + ["conv3-256", "conv3-256", "maxpool"] + ["conv3-512", "conv3-512", "maxpool"] * 2,
    "C": _BLOCK_B
    + ["conv3-256", "conv3-256", "conv1-256", "maxpool"]
    + ["conv3-512", "conv3-512", "conv1-512", "maxpool"] * 2,
    "D": _BLOCK_B + ["conv3-256"] * 3 + ["maxpool"] + (["conv3-512"] * 3 + ["maxpool"]) * 2,
    "E": _BLOCK_B + ["conv3-256"] * 4 + ["maxpool"] + (["conv3-512"] * 4 + ["maxpool"]) * 2,
}


def vgg(config: str = "D", num_classes: int = 1000, device=None) -> nn.Sequential:
    """VGG network ``config`` in 'A', 'A-LRN', 'B', 'C', 'D', 'E' (D is VGG-16, E is VGG-19).

    The conv stack of ``VGG_CONFIGS[config]`` on a 3 x 224 x 224 image ends
    in 512 x 7 x 7, followed by FC-4096, FC-4096, FC-num_classes with ReLU
    and dropout 0.5 (soft-max belongs to the loss). Parameters, millions:
    A 132.9, B 133.0, C 133.6, D 138.4, E 143.7 (the paper's Table 2:
    133, 133, 134, 138, 144).

    Shapes: x (N, 3, 224, 224) -> logits (N, num_classes).
    """
    config = check_choice(config, "config", "vgg", VGG_CONFIGS)
    num_classes = check_int(num_classes, "num_classes", "vgg", minimum=1)
    layers, channels = [], 3
    with _on(device):
        for layer in VGG_CONFIGS[config]:
            if layer == "maxpool":
                layers.append(nn.MaxPool2d(2, stride=2))
                continue
            size, maps = (int(part) for part in layer.removeprefix("conv").split("-"))
            layers += [nn.Conv2d(channels, maps, kernel_size=size, padding=size // 2), nn.ReLU()]
            channels = maps
        layers += [
            nn.Flatten(),
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        ]
        return nn.Sequential(*layers)


def meta_output_shape(model: nn.Module, input_shape) -> tuple[int, ...]:
    """Shape of ``model``'s output for an input of ``input_shape``, traced on the meta device.

    No memory and no arithmetic: build the model with ``device="meta"``.

    Shapes: input_shape (N, C, H, W) -> output shape tuple.
    Twin: course_lib.scratch.conv.conv_output_size, applied layer by layer
    """
    if not isinstance(model, nn.Module):
        _fail(TypeError, "meta_output_shape", "a torch.nn.Module", type(model).__name__, None)
    if not isinstance(input_shape, (tuple, list, torch.Size)):
        _fail(TypeError, "meta_output_shape", "input_shape to be a tuple such as (N, C, H, W)",
              type(input_shape).__name__, "e.g. (1, 1, 32, 32)")
    shape = tuple(check_int(s, "input_shape entries", "meta_output_shape", minimum=1) for s in input_shape)
    x = torch.empty(shape, device="meta")
    # A model on the CPU or a GPU is traced with meta copies of its tensors: no copy of the weights.
    state = {name: torch.empty_like(t, device="meta") for name, t in (*model.named_parameters(),
                                                                     *model.named_buffers())}
    with torch.no_grad():
        return tuple(torch.func.functional_call(model, state, (x,)).shape)

