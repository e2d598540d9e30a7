"""Residual connections: a block that learns a correction to the identity.

    PlainBlock:     out = relu(fc2(relu(fc1(x))))
    ResidualBlock:  out = relu(x + fc2(relu(fc1(x))))

This is the original (post-activation) ResNet block of He et al. 2015 with
fully connected layers in place of convolutions. The skip connection adds
``x`` unchanged, so in backward the gradient reaching the block's output,
after the final ReLU, flows straight to ``x`` as well as through the two
layers: ``dx = ds + d(branch)/dx``. Stacking many PlainBlocks makes the
gradient shrink layer by layer; stacking ResidualBlocks does not, which is
what the chapter's deep-plain against deep-residual experiment shows.

Children are named ``fc1``, ``fc2`` (plus parameter-free ``relu1``,
``relu2``), so ``state_dict`` keys are ``fc1.weight, fc1.bias, fc2.weight,
fc2.bias``, as in the torch twins in ``course_lib.twins.regularization``.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_int, named_errors
from course_lib.scratch.modules import Linear, Module, ReLU


class PlainBlock(Module):
    """Two Linear+ReLU layers of the same width, no skip connection.

    Shapes: x (N, D) -> out (N, D), D = features; fc1, fc2 weights (D, D).
    Twin: course_lib.twins.regularization.TorchPlainBlock
    """

    def __init__(self, features: int, rng: np.random.Generator | None = None):
        super().__init__()
        self.features = check_int(features, "features", type(self).__name__, minimum=1)
        self.fc1 = Linear(self.features, self.features, rng=rng)
        self.relu1 = ReLU()
        self.fc2 = Linear(self.features, self.features, rng=rng)
        self.relu2 = ReLU()

    def __repr__(self):
        return f"{type(self).__name__}(features={self.features})"

    def children(self):
        return [("fc1", self.fc1), ("relu1", self.relu1), ("fc2", self.fc2), ("relu2", self.relu2)]

    def _branch_forward(self, x):
        func = f"{type(self).__name__}.forward"
        check_array(x, "x", func, ndim=2, shape_doc=f"(N, {self.features})")
        if x.shape[1] != self.features:
            _fail(
                ValueError,
                func,
                f"x of shape (N, {self.features})",
                f"shape {x.shape}",
                f"the block was built for {self.features} features",
            )
        return self._child("fc2", "forward", self._child("relu1", "forward", self._child("fc1", "forward", x)))

    def _branch_backward(self, dz):
        dz = self._child("fc2", "backward", dz)
        return self._child("fc1", "backward", self._child("relu1", "backward", dz))

    def _child(self, name, method, arg):
        """``self.<name>.<method>(arg)``; an error names this block's method and the child."""
        child = getattr(self, name)
        where = f"{name} ({type(child).__name__})"
        with named_errors(f"{type(self).__name__}.{method}", where, (ValueError, TypeError, RuntimeError)):
            return getattr(child, method)(arg)

    def forward(self, x):
        return self._child("relu2", "forward", self._branch_forward(x))

    def backward(self, dout):
        if not isinstance(dout, np.ndarray):
            _fail(TypeError, f"{type(self).__name__}.backward", "dout to be a numpy.ndarray", type(dout).__name__,
                  "pass the gradient of the loss with respect to the block's output")
        return self._branch_backward(self._child("relu2", "backward", dout))


class ResidualBlock(PlainBlock):
    """Post-activation residual block: out = relu(x + fc2(relu(fc1(x)))).

    Shapes: x (N, D) -> out (N, D), D = features; fc1, fc2 weights (D, D).
    Twin: course_lib.twins.regularization.TorchResidualBlock
    """

    def forward(self, x):
        return self._child("relu2", "forward", x + self._branch_forward(x))

    def backward(self, dout):
        if not isinstance(dout, np.ndarray):
            _fail(TypeError, "ResidualBlock.backward", "dout to be a numpy.ndarray", type(dout).__name__,
                  "pass the gradient of the loss with respect to the block's output")
        ds = self._child("relu2", "backward", dout)  # gradient at the sum s = x + branch(x)
        return ds + self._branch_backward(ds)
