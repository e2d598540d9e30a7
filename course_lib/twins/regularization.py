"""PyTorch twins of the chapter-4 pieces: dropout, batch norm, residual blocks.

Each ``*_twin`` builder takes the scratch Module, builds the torch module of
the same structure (float64 by default) and copies the scratch weights and
buffers into it through ``state_dict``, so both start identical. Batch norm
keys are ``weight, bias, running_mean, running_var, num_batches_tracked``
in both worlds; the residual blocks' are ``fc1.weight, fc1.bias, fc2.weight,
fc2.bias``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from course_lib.checks import _fail, check_int
from course_lib.scratch.regularization import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
)
from course_lib.scratch.residual import PlainBlock, ResidualBlock
from course_lib.torch_checks import check_tensor


def to_torch_state_dict(state: dict, dtype=torch.float64) -> dict:
    """Turn a scratch state dict (NumPy arrays) into tensors torch can load.

    Float arrays become ``dtype`` tensors, integer ones (num_batches_tracked) int64.

    Shapes: every value keeps its shape.
    Twin: course_lib.scratch.modules.Module.state_dict (the dict it converts).
    """
    if not isinstance(state, Mapping):
        _fail(TypeError, "to_torch_state_dict", "state to be a dict of arrays (a scratch state_dict)",
              type(state).__name__, "pass module.state_dict()")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        _fail(TypeError, "to_torch_state_dict", "dtype to be a floating torch.dtype", repr(dtype),
              "e.g. dtype=torch.float64")
    out = {}
    for key, value in state.items():
        value = np.asarray(value)
        if value.dtype.kind not in "fiub":
            _fail(TypeError, "to_torch_state_dict", f"{key} to be a numeric array", f"dtype {value.dtype}",
                  "pass module.state_dict()")
        if value.dtype.kind == "f":
            out[key] = torch.tensor(value, dtype=dtype)
        else:
            out[key] = torch.tensor(value, dtype=torch.int64)
    return out


def dropout_twin(layer: Dropout) -> nn.Dropout:
    """torch.nn.Dropout with the scratch layer's p and train/eval mode.

    Shapes: x any shape -> out same shape.
    Twin: course_lib.scratch.regularization.Dropout
    """
    _check_type(layer, Dropout, "dropout_twin")
    return nn.Dropout(layer.p).train(layer.training)


def batchnorm_twin(layer: BatchNorm1d | BatchNorm2d, dtype=torch.float64) -> nn.Module:
    """torch.nn.BatchNorm1d/2d holding the scratch layer's weights, buffers and mode.

    Shapes: as the scratch layer: (N, D) / (N, C, L) or (N, C, H, W).
    Twin: course_lib.scratch.regularization.BatchNorm1d / BatchNorm2d
    """
    _check_type(layer, (BatchNorm1d, BatchNorm2d), "batchnorm_twin")
    cls = nn.BatchNorm1d if isinstance(layer, BatchNorm1d) else nn.BatchNorm2d
    twin = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum, dtype=dtype)
    twin.load_state_dict(to_torch_state_dict(layer.state_dict(), dtype))
    return twin.train(layer.training)


class TorchPlainBlock(nn.Module):
    """out = relu(fc2(relu(fc1(x)))), the twin of the scratch PlainBlock.

    Shapes: x (N, D) -> out (N, D).
    Twin: course_lib.scratch.residual.PlainBlock
    """

    def __init__(self, features: int, dtype=torch.float64):
        super().__init__()
        features = check_int(features, "features", type(self).__name__, minimum=1)
        self.fc1 = nn.Linear(features, features, dtype=dtype)
        self.fc2 = nn.Linear(features, features, dtype=dtype)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """fc2(relu(fc1(x))): the block without its final ReLU (and skip connection)."""
        return self._branch(self._check_x(x, "branch"))

    def _branch(self, x):
        return self.fc2(torch.relu(self.fc1(x)))

    def _check_x(self, x, method):
        func = f"{type(self).__name__}.{method}"
        width = self.fc1.in_features
        check_tensor(x, "x", func, ndim=2, shape_doc=f"(N, {width})", finite=False)
        if x.shape[1] != width:
            _fail(ValueError, func, f"x of shape (N, {width})", f"shape {tuple(x.shape)}",
                  f"the block was built for {width} features")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self._branch(self._check_x(x, "forward")))


class TorchResidualBlock(TorchPlainBlock):
    """out = relu(x + fc2(relu(fc1(x)))), the twin of the scratch ResidualBlock.

    Shapes: x (N, D) -> out (N, D).
    Twin: course_lib.scratch.residual.ResidualBlock
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_x(x, "forward")
        return torch.relu(x + self._branch(x))


def block_twin(block: PlainBlock, dtype=torch.float64) -> TorchPlainBlock:
    """TorchResidualBlock or TorchPlainBlock with the scratch block's weights.

    Shapes: x (N, D) -> out (N, D).
    Twin: course_lib.scratch.residual.ResidualBlock / PlainBlock
    """
    _check_type(block, PlainBlock, "block_twin")
    cls = TorchResidualBlock if isinstance(block, ResidualBlock) else TorchPlainBlock
    twin = cls(block.features, dtype=dtype)
    twin.load_state_dict(to_torch_state_dict(block.state_dict(), dtype))
    return twin.train(block.training)


def _check_type(obj, cls, func):
    if not isinstance(obj, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        _fail(TypeError, func, f"a scratch {names}", type(obj).__name__, None)
