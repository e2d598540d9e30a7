"""Module classes for convolutional networks: Conv2d, MaxPool2d, AvgPool2d (and Flatten).

Thin wrappers around the forward/backward pairs of ``course_lib.scratch.conv``,
with torch's names and defaults, so a scratch network and its torch twin
share one ``state_dict``:

* ``Conv2d`` keeps ``weight`` (F, C, KH, KW) and ``bias`` (F,), both drawn
  from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C*KH*KW, which is
  what torch's default (kaiming_uniform_ with a=sqrt(5)) amounts to;
* the pooling layers have no parameters.

``Flatten`` (the bridge from conv layers to Linear) lives in
``course_lib.scratch.modules`` and is re-exported here, so a CNN's layers
can all be imported from one place.

``backward(dout)`` overwrites ``self.grads`` in place (no accumulation) and
returns dx, like every layer of ``course_lib.scratch.modules``.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_int, check_rng, named_errors
from course_lib.scratch import conv, pool
from course_lib.scratch.modules import Flatten, _Layer, _uniform_init, _write_grads

__all__ = ["AvgPool2d", "Conv2d", "Flatten", "MaxPool2d"]


class Conv2d(_Layer):
    """2-D convolution layer: parameters ``weight`` (F, C, KH, KW) and ``bias`` (F,).

    ``kernel_size``, ``stride`` and ``padding`` take an int or an (h, w) pair.
    Initialised like torch: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = in_channels * KH * KW.

    Shapes: x (N, C, H, W) -> out (N, F, OH, OW) with C = in_channels, F = out_channels.
    Twin: torch.nn.Conv2d
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=None):
        super().__init__()
        func = "Conv2d"
        self.in_channels = check_int(in_channels, "in_channels", func, minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", func, minimum=1)
        self.kernel_size = conv._pair(kernel_size, "kernel_size", func, 1)
        self.stride = conv._pair(stride, "stride", func, 1)
        self.padding = conv._pair(padding, "padding", func, 0)
        if not isinstance(bias, bool):
            _fail(TypeError, func, "bias to be True or False", repr(bias), None)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        _uniform_init(self, shape, bias, fan_in, check_rng(rng, func))

    def forward(self, x: np.ndarray) -> np.ndarray:
        weight, bias = self.params["weight"], self.params.get("bias")
        with named_errors("Conv2d.forward"):
            out, self._cache = conv.conv2d_forward(x, weight, bias, self.stride, self.padding)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("Conv2d.backward"):
            dx, dweight, dbias = conv.conv2d_backward(dout, cache)
        _write_grads(self, weight=dweight, bias=dbias)
        return dx

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={'bias' in self.params}")


class _Pool2d(_Layer):
    """Shared constructor of the pooling layers: ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        func = type(self).__name__
        self.kernel_size = conv._pair(kernel_size, "kernel_size", func, 1)
        self.stride = self.kernel_size if stride is None else conv._pair(stride, "stride", func, 1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max pooling over KH x KW windows; ``stride`` defaults to ``kernel_size``. No parameters.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: torch.nn.MaxPool2d
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("MaxPool2d.forward"):
            out, self._cache = pool.maxpool2d_forward(x, self.kernel_size, self.stride)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("MaxPool2d.backward"):
            return pool.maxpool2d_backward(dout, cache)


class AvgPool2d(_Pool2d):
    """Average pooling over KH x KW windows; ``stride`` defaults to ``kernel_size``. No parameters.

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW).
    Twin: torch.nn.AvgPool2d
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("AvgPool2d.forward"):
            out, self._cache = pool.avgpool2d_forward(x, self.kernel_size, self.stride)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("AvgPool2d.backward"):
            return pool.avgpool2d_backward(dout, cache)
