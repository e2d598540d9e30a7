"""The perceptron in PyTorch: the same rule, on the course's device.

The perceptron's rule is sequential (one example at a time), so the twin is
a loop too; what changes is that the weights are tensors on the chosen
device. It uses float64 where the device supports it (CPU, CUDA) and
float32 on Apple's MPS, which has no float64.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from course_lib.checks import _fail, check_array, check_float, check_int, check_labels, check_same_length
from course_lib.device import get_device, twin_dtype
from course_lib.torch_checks import check_tensor


class TorchPerceptron(torch.nn.Module):
    """A perceptron as a torch module: ``nn.Linear(in_features, 1)`` then a step.

    Shapes: forward x (N, D) tensor -> (N,) int64 in {0, 1}.
    Twin: course_lib.scratch.perceptron (perceptron_forward, train_perceptron).
    """

    def __init__(self, in_features: int, device=None):
        super().__init__()
        in_features = check_int(in_features, "in_features", "TorchPerceptron", minimum=1)
        self.device_ = torch.device(device) if device is not None else get_device()
        dtype = twin_dtype(self.device_)
        self.linear = torch.nn.Linear(in_features, 1, device=self.device_, dtype=dtype)
        with torch.no_grad():  # start from zero, like the scratch version
            self.linear.weight.zero_()
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions 0/1 for a batch; x is moved to the perceptron's device and dtype."""
        x = self._check_x(x, "TorchPerceptron.forward", ndim=2, shape_doc="(N, D)")
        z = self.linear(x).squeeze(1)
        return torch.heaviside(z, torch.ones((), dtype=z.dtype, device=z.device)).long()

    @torch.no_grad()
    def update(self, x: torch.Tensor, y: int, lr: float) -> bool:
        """Rosenblatt's rule on one example; True if it was misclassified."""
        func = "TorchPerceptron.update"
        x = self._check_x(x, func, ndim=1, shape_doc="(D,)")
        if isinstance(y, torch.Tensor) and y.ndim == 0:
            y = y.item()
        if isinstance(y, bool) or not isinstance(y, numbers.Integral) or y not in (0, 1):
            _fail(ValueError, func, "y to be the label 0 or 1 (an int)", f"{type(y).__name__} {y!r}", None)
        lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
        return self._step(x, int(y), lr)

    def _step(self, x: torch.Tensor, y: int, lr: float) -> bool:
        """``update`` without the checks, for ``fit``'s loop."""
        z = self.linear(x[None])[0, 0]
        error = y - int(z >= 0)
        if error != 0:
            self.linear.weight.add_(lr * error * x[None])
            self.linear.bias.add_(lr * error)
        return error != 0

    @torch.no_grad()
    def fit(self, X: np.ndarray, y: np.ndarray, lr: float = 1.0, max_epochs: int = 100) -> list[int]:
        """Train like ``train_perceptron``; returns mistakes per epoch."""
        X = check_array(X, "X", "TorchPerceptron.fit", ndim=2, shape_doc="(N, D)")
        y = check_labels(y, 2, "y", "TorchPerceptron.fit")
        check_same_length(X, y, ("X", "y"), "TorchPerceptron.fit")
        if X.shape[1] != self.linear.in_features:
            _fail(
                ValueError,
                "TorchPerceptron.fit",
                f"X with {self.linear.in_features} columns (in_features)",
                f"shape {X.shape}",
                "build the perceptron with in_features=X.shape[1]",
            )
        lr = check_float(lr, "lr", "TorchPerceptron.fit", minimum=0.0, strict_min=True)
        max_epochs = check_int(max_epochs, "max_epochs", "TorchPerceptron.fit", minimum=1)
        X_t = torch.as_tensor(X, dtype=self.linear.weight.dtype, device=self.device_)
        mistakes = []
        for _ in range(max_epochs):
            wrong = sum(self._step(X_t[i], int(y[i]), lr) for i in range(len(y)))
            mistakes.append(wrong)
            if wrong == 0:
                break
        return mistakes

    def _check_x(self, x, func, ndim, shape_doc):
        x = check_tensor(x, "x", func, ndim=ndim, shape_doc=shape_doc)
        if x.shape[-1] != self.linear.in_features:
            _fail(
                ValueError,
                func,
                f"x with {self.linear.in_features} features (in_features)",
                f"shape {tuple(x.shape)}",
                "build the perceptron with in_features=x.shape[-1]",
            )
        weight = self.linear.weight
        return x.to(device=weight.device, dtype=weight.dtype)  # float32 input on a float64 perceptron

    def numpy_weights(self) -> tuple[np.ndarray, float]:
        """(w, b) as NumPy float64, to compare with the scratch perceptron."""
        w = self.linear.weight.detach().cpu().double().numpy()[0]
        b = float(self.linear.bias.detach().cpu().double()[0])
        return w, b
