"""Thin Module classes around the forward/backward pairs.

A Module keeps its parameters and their gradients in two dicts with the same
keys and the same names as the PyTorch twin's ``state_dict`` (``weight``,
``bias``, ...), so weights copy across with no renaming or transposing.
``forward`` caches what ``backward`` needs; ``backward(dout)`` fills
``self.grads`` and returns the gradient with respect to the input.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from course_lib.checks import (
    _fail,
    check_array,
    check_choice,
    check_float,
    check_int,
    check_rng,
    named_errors,
    reraise_as,
)
from course_lib.scratch.layers import (
    elu_backward,
    elu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    linear_backward,
    linear_forward,
    maxout_backward,
    maxout_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)


class Module:
    """Base class: parameters, gradients, train/eval mode.

    Shapes: params[name] and grads[name] the same shape (torch's layouts); forward(x) -> out, backward(dout) -> dx.
    Twin: torch.nn.Module
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        _fail(TypeError, f"{name}.forward", "a subclass of Module that defines forward(x)",
              f"{name}, which does not", "subclass Module and define forward (and backward)")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        _fail(TypeError, f"{name}.backward", "a subclass of Module that defines backward(dout)",
              f"{name}, which does not", "subclass Module and define backward (and forward)")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def children(self) -> list[tuple[str, Module]]:
        """Sub-modules as (name, module) pairs; empty for a leaf layer."""
        return []

    def named_parameters(self, prefix: str = ""):
        """Yield (dotted name, parameter, gradient) like torch's named_parameters."""
        return self._named_parameters(_check_prefix(prefix, f"{type(self).__name__}.named_parameters"))

    def _named_parameters(self, prefix):
        for key, value in self.params.items():
            yield prefix + key, value, self.grads.get(key)
        for name, child in self.children():
            yield from child._named_parameters(prefix + name + ".")

    def named_buffers(self, prefix: str = ""):
        """Yield (dotted name, array) for every buffer (state that is not a
        parameter, such as batch norm's running statistics), like torch."""
        return self._named_buffers(_check_prefix(prefix, f"{type(self).__name__}.named_buffers"))

    def _named_buffers(self, prefix):
        for key, value in self.buffers.items():
            yield prefix + key, value
        for name, child in self.children():
            yield from child._named_buffers(prefix + name + ".")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed and ordered as torch's state_dict."""
        state = {prefix_key: value.copy() for prefix_key, value in self._own_state("")}
        return state

    def _own_state(self, prefix):
        for key, value in self.params.items():
            yield prefix + key, value
        for key, value in self.buffers.items():
            yield prefix + key, value
        for name, child in self.children():
            yield from child._own_state(prefix + name + ".")

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays (or CPU tensors) into the parameters and buffers, checking
        keys and shapes. Keys ending in ``num_batches_tracked`` may be missing."""
        func = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            _fail(TypeError, func, "state to be a dict of arrays (a state_dict)", type(state).__name__,
                  "pass model.state_dict() of a model of the same architecture")
        own = dict(self._own_state(""))
        optional = {key for key in own if key.endswith("num_batches_tracked")}
        missing = sorted(set(own) - set(state) - optional)
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            _fail(
                ValueError,
                func,
                f"keys {sorted(own)}",
                f"missing {missing}, unexpected {unexpected}",
                "load a state dict saved from the same architecture",
            )
        for name, target in own.items():
            if name not in state:
                continue
            value = state[name]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            if value.shape != target.shape:
                _fail(
                    ValueError,
                    func,
                    f"{name} of shape {target.shape}",
                    f"shape {value.shape}",
                    "the two models' layer sizes differ",
                )
            target[...] = value

    def zero_grad(self) -> None:
        for _, _, grad in self.named_parameters():
            if grad is not None:
                grad[...] = 0.0

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, (bool, np.bool_)):
            _fail(TypeError, f"{type(self).__name__}.train", "mode to be True or False",
                  f"{type(mode).__name__} {mode!r}", "call train() or eval()")
        mode = bool(mode)
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def num_parameters(self) -> int:
        return int(sum(value.size for _, value, _ in self.named_parameters()))


def _check_prefix(prefix, func: str) -> str:
    if not isinstance(prefix, str):
        _fail(TypeError, func, "prefix to be a str", type(prefix).__name__, "leave it out, or pass e.g. 'encoder.'")
    return prefix


# =========================================================================== layers
# The classes below wrap the forward/backward pairs of course_lib.scratch.layers.
# Each leaf layer allocates its gradient arrays once and backward overwrites them
# in place, so references to them (an optimiser's, say) stay valid.

def _uniform_init(module: Module, shape: tuple, bias: bool, fan_in: int, rng) -> None:
    """torch.nn.Linear's default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    module.params["weight"] = rng.uniform(-bound, bound, size=shape)
    if bias:
        module.params["bias"] = rng.uniform(-bound, bound, size=shape[0])
    module.grads = {name: np.zeros_like(value) for name, value in module.params.items()}


def _write_grads(module: Module, **grads) -> None:
    """Overwrite (never accumulate) the module's gradient arrays in place."""
    for name, value in grads.items():
        if value is not None:
            np.copyto(module.grads[name], value)


class _Layer(Module):
    """A Module that keeps the cache of its last forward call for backward."""

    def __init__(self):
        super().__init__()
        self._cache = None

    def _last_cache(self):
        if self._cache is None:
            _fail(
                RuntimeError,
                f"{type(self).__name__}.backward",
                "a forward(x) call first",
                "no cached forward pass",
                "run forward before backward",
            )
        return self._cache

    def _backward_cache(self, dout):
        """The cache of the last forward, once ``dout`` is an array (the inner backward checks the rest)."""
        if not isinstance(dout, np.ndarray):
            _fail(TypeError, f"{type(self).__name__}.backward", "dout to be a numpy.ndarray", type(dout).__name__,
                  "pass the gradient of the loss with respect to this layer's output")
        return self._last_cache()

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Linear(_Layer):
    """A fully connected layer, ``out = x @ weight.T + bias``.

    Parameters "weight" (out_features, in_features) and "bias" (out_features,),
    initialised like torch: U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Shapes: x (N, D) -> out (N, K) with D = in_features, K = out_features.
    Twin: torch.nn.Linear
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Linear", minimum=1)
        self.out_features = check_int(out_features, "out_features", "Linear", minimum=1)
        if not isinstance(bias, bool):
            _fail(TypeError, "Linear", "bias to be True or False", repr(bias), None)
        _uniform_init(
            self, (self.out_features, self.in_features), bias, self.in_features, check_rng(rng, "Linear")
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] != self.in_features:
            _fail(ValueError, "Linear.forward", f"x of shape (N, {self.in_features}) (in_features={self.in_features})",
                  f"shape {x.shape}", "the data's features must match the layer's in_features")
        with named_errors("Linear.forward"):
            out, self._cache = linear_forward(x, self.params["weight"], self.params.get("bias"))
        return out

    # Set to False on a network's first layer to skip the gradient of the data
    # (backward then returns None), like an input tensor without requires_grad.
    needs_input_grad = True

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        cache = self._backward_cache(dout)
        with named_errors("Linear.backward"):
            dx, dW, db = linear_backward(dout, cache, need_dx=self.needs_input_grad)
        _write_grads(self, weight=dW, bias=db)
        return dx

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={'bias' in self.params}"
        )


class Maxout(_Layer):
    """Maxout units: each of the out_features outputs is the max of ``pieces`` affine maps.

    Parameters "weight" (out_features * pieces, in_features) and "bias"; row
    ``k * pieces + p`` is piece p of unit k (see ``maxout_forward``).

    Shapes: x (N, D) -> out (N, K) with D = in_features, K = out_features.
    Twin: course_lib.twins.mlp.TorchMaxout
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, rng=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Maxout", minimum=1)
        self.out_features = check_int(out_features, "out_features", "Maxout", minimum=1)
        self.pieces = check_int(pieces, "pieces", "Maxout", minimum=1)
        if not isinstance(bias, bool):
            _fail(TypeError, "Maxout", "bias to be True or False", repr(bias), None)
        shape = (self.out_features * self.pieces, self.in_features)
        _uniform_init(self, shape, bias, self.in_features, check_rng(rng, "Maxout"))

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("Maxout.forward"):
            out, self._cache = maxout_forward(x, self.params["weight"], self.params.get("bias"), self.pieces)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("Maxout.backward"):
            dx, dW, db = maxout_backward(dout, cache)
        _write_grads(self, weight=dW, bias=db)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class Sigmoid(_Layer):
    """Elementwise logistic sigmoid.

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.Sigmoid
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("Sigmoid.forward"):
            out, self._cache = sigmoid_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("Sigmoid.backward"):
            return sigmoid_backward(dout, cache)[0]


class Tanh(_Layer):
    """Elementwise hyperbolic tangent.

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.Tanh
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("Tanh.forward"):
            out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("Tanh.backward"):
            return tanh_backward(dout, cache)[0]


class ReLU(_Layer):
    """Elementwise max(x, 0).

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.ReLU
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("ReLU.forward"):
            out, self._cache = relu_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("ReLU.backward"):
            return relu_backward(dout, cache)[0]


class LeakyReLU(_Layer):
    """Elementwise x if x > 0 else negative_slope * x.

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.LeakyReLU
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("LeakyReLU.forward"):
            out, self._cache = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("LeakyReLU.backward"):
            return leaky_relu_backward(dout, cache)[0]

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(_Layer):
    """Elementwise x if x > 0 else alpha * (exp(x) - 1).

    Shapes: x (any) -> out (same shape).
    Twin: torch.nn.ELU
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_float(alpha, "alpha", "ELU")

    def forward(self, x: np.ndarray) -> np.ndarray:
        with named_errors("ELU.forward"):
            out, self._cache = elu_forward(x, self.alpha)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._backward_cache(dout)
        with named_errors("ELU.backward"):
            return elu_backward(dout, cache)[0]

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Flatten(_Layer):
    """Flattens every axis after the batch axis: (N, d1, d2, ...) -> (N, d1 * d2 * ...).

    Shapes: x (N, ...) -> out (N, D).
    Twin: torch.nn.Flatten
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x", "Flatten.forward", dtype_kind="f")
        if x.ndim < 2:
            _fail(
                ValueError,
                "Flatten.forward",
                "x of shape (N, ...) with at least 2 axes",
                f"shape {x.shape}",
                "pass a batch, e.g. x[None]",
            )
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        shape = self._backward_cache(dout)
        flat = (shape[0], int(np.prod(shape[1:])))
        if not isinstance(dout, np.ndarray) or dout.shape != flat:
            got = f"shape {dout.shape}" if isinstance(dout, np.ndarray) else type(dout).__name__
            _fail(ValueError, "Flatten.backward", f"dout of the forward output's shape {flat}", got, None)
        return dout.reshape(shape)


# =========================================================================== containers


class Sequential(Module):
    """Modules applied in order; backward runs through them in reverse.

    Children are named "0", "1", ... so state_dict keys ("0.weight", ...)
    match torch.nn.Sequential's.

    Shapes: x as the first module takes it -> out as the last module gives it.
    Twin: torch.nn.Sequential
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                hint = (
                    "use the torch twin, or course_lib.scratch modules here"
                    if type(module).__module__.startswith("torch")
                    else None
                )
                _fail(
                    TypeError,
                    type(self).__name__,
                    f"module {i} to be a course_lib Module",
                    type(module).__name__,
                    hint,
                )
        self.layers = list(modules)

    def children(self) -> list[tuple[str, Module]]:
        return [(str(i), module) for i, module in enumerate(self.layers)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for i, module in enumerate(self.layers):
            try:
                x = module.forward(x)
            except (ValueError, TypeError) as exc:  # name the call the user made, and the layer
                raise reraise_as(exc, f"{type(self).__name__}.forward", f"layer {i} ({type(module).__name__})") from exc
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for i in reversed(range(len(self.layers))):
            try:
                dout = self.layers[i].backward(dout)
            except (ValueError, TypeError) as exc:
                where = f"layer {i} ({type(self.layers[i]).__name__})"
                raise reraise_as(exc, f"{type(self).__name__}.backward", where) from exc
        return dout

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({name}): {module!r}".replace("\n", "\n  ") for name, module in self.children()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)" if lines else f"{type(self).__name__}()"


_ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU}


class MLP(Sequential):
    """A multi-layer perceptron: Linear, activation, Linear, ..., Linear (no final activation).

    ``sizes = [D, H1, ..., K]``. With ``activation="maxout"`` each hidden
    layer is one Maxout(in, out, pieces) instead of Linear + activation. The
    layers are numbered like the twin's nn.Sequential, so weights copy over.

    Shapes: x (N, D) -> logits (N, K).
    Twin: course_lib.twins.mlp.make_torch_mlp(sizes, activation)
    """

    def __init__(self, sizes, activation: str = "relu", pieces: int = 2, rng=None):
        sizes = _check_sizes(sizes, "MLP")
        check_choice(activation, "activation", "MLP", [*_ACTIVATIONS, "maxout"])
        rng = check_rng(rng, "MLP")
        layers: list[Module] = []
        for d_in, d_out in zip(sizes[:-2], sizes[1:-1]):
            if activation == "maxout":
                layers.append(Maxout(d_in, d_out, pieces, rng=rng))
            else:
                layers += [Linear(d_in, d_out, rng=rng), _ACTIVATIONS[activation]()]
        layers.append(Linear(sizes[-2], sizes[-1], rng=rng))
        super().__init__(*layers)


def _check_sizes(sizes, func: str) -> list[int]:
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        _fail(
            ValueError,
            func,
            "sizes as a list [in_features, hidden..., out_features] of length >= 2",
            repr(sizes),
            "e.g. [64, 64, 10]",
        )
    return [check_int(s, f"sizes[{i}]", func, minimum=1) for i, s in enumerate(sizes)]
