"""The multi-layer perceptron in PyTorch: twins of course_lib.scratch.modules.

``make_torch_mlp([64, 64, 10], "relu")`` builds the same
``nn.Sequential`` layout as the scratch ``MLP([64, 64, 10], "relu")``:
Linear, activation, ..., Linear, numbered "0", "1", ..., so the two
state_dicts have the same keys and shapes and weights copy across with
``course_lib.twins.compare.copy_weights``.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import _fail, check_choice, check_int
from course_lib.scratch.modules import _check_sizes
from course_lib.torch_checks import check_tensor

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


class TorchMaxout(nn.Module):
    """Maxout units: ``F.linear(x, weight, bias).view(N, K, pieces).max(-1)``.

    Parameters "weight" (out_features * pieces, in_features) and "bias",
    row ``k * pieces + p`` being piece p of unit k, initialised like
    nn.Linear(in_features, out_features * pieces).

    Shapes: x (N, D) -> out (N, K).
    Twin: course_lib.scratch.modules.Maxout (maxout_forward / maxout_backward).
    """

    def __init__(
        self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, dtype=torch.float64
    ):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "TorchMaxout", minimum=1)
        self.out_features = check_int(out_features, "out_features", "TorchMaxout", minimum=1)
        self.pieces = check_int(pieces, "pieces", "TorchMaxout", minimum=1)
        linear = nn.Linear(self.in_features, self.out_features * self.pieces, bias=bias, dtype=dtype)
        self.weight = linear.weight
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        func = "TorchMaxout.forward"
        check_tensor(x, "x", func, ndim=2, shape_doc=f"(N, {self.in_features})", finite=False)
        if x.shape[1] != self.in_features:
            _fail(ValueError, func, f"x of shape (N, {self.in_features})", f"shape {tuple(x.shape)}",
                  f"the layer was built for in_features={self.in_features}")
        z = nn.functional.linear(x, self.weight, self.bias)
        return z.view(x.shape[0], self.out_features, self.pieces).max(dim=-1).values

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


def make_torch_mlp(sizes, activation: str = "relu", pieces: int = 2, dtype=torch.float64) -> nn.Sequential:
    """An nn.Sequential MLP laid out like the scratch MLP(sizes, activation, pieces).

    ``sizes = [D, H1, ..., K]``: Linear(D, H1), activation, ..., Linear(H_last, K);
    with ``activation="maxout"`` each hidden layer is one TorchMaxout.
    Float64 by default, so it agrees with the NumPy version to rounding.

    Shapes: x (N, D) -> logits (N, K).
    Twin: course_lib.scratch.modules.MLP
    """
    func = "make_torch_mlp"
    sizes = _check_sizes(sizes, func)  # the same rule as the scratch MLP's
    check_choice(activation, "activation", func, [*ACTIVATIONS, "maxout"])
    layers: list[nn.Module] = []
    for d_in, d_out in zip(sizes[:-2], sizes[1:-1]):
        if activation == "maxout":
            layers.append(TorchMaxout(d_in, d_out, pieces, dtype=dtype))
        else:
            layers += [nn.Linear(d_in, d_out, dtype=dtype), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(sizes[-2], sizes[-1], dtype=dtype))
    return nn.Sequential(*layers)
