"""Optimisers behind one interface: ``opt = Adam(model, lr=1e-3); opt.step(); opt.zero_grad()``.

Each update rule is written exactly as torch.optim writes it (same order
of operations, same defaults), so from the same weights and gradients N
steps here and N steps of the torch optimiser agree to rounding in float64.
Parameters are updated in place.

An optimiser takes either a Module (its parameters and gradients are read
through ``named_parameters()`` at every step) or a list of
``(param, grad)`` array pairs, whose grad arrays the caller keeps up to date
in place. A parameter whose gradient is None is skipped, as in torch.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_float
from course_lib.scratch.modules import Module


class Optimizer:
    """Base class: holds the parameters, ``lr`` and per-parameter state; subclasses define ``_update``.

    Shapes: every parameter any shape; its gradient the same shape.
    Twin: torch.optim.Optimizer
    """

    def __init__(self, module_or_params, lr: float):
        name = type(self).__name__
        self.lr = check_float(lr, "lr", name, minimum=0.0)
        self.state: dict = {}
        if isinstance(module_or_params, Module):
            self._module = module_or_params
            self._pairs = None
        else:
            self._module = None
            self._pairs = _check_pairs(module_or_params, name)
        if not list(self._parameters()):
            _fail(ValueError, name, "at least one parameter", "none", "pass the model whose weights to train")

    def _parameters(self):
        """Yield (key, param, grad); the key names the parameter's state."""
        if self._module is not None:
            yield from self._module.named_parameters()
        else:
            for i, (param, grad) in enumerate(self._pairs):
                yield i, param, grad

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        name = type(self).__name__
        for key, param, grad in self._parameters():
            if grad is None:
                continue
            if grad.shape != param.shape:
                _fail(
                    ValueError,
                    f"{name}.step",
                    f"the gradient of {key!r} in shape {param.shape}",
                    f"shape {grad.shape}",
                    "backward must write gradients shaped like their parameters",
                )
            self._update(param, grad, self.state.setdefault(key, {}))

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        for _, _, grad in self._parameters():
            if grad is not None:
                grad[...] = 0.0

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_") and k != "state"
        )
        return f"{type(self).__name__}({settings})"


def _check_pairs(params, func: str) -> list:
    try:
        pairs = list(params)
    except TypeError:
        _fail(TypeError, func, "a Module or a list of (param, grad) array pairs", type(params).__name__, None)
    for i, pair in enumerate(pairs):
        ok = (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], np.ndarray)
            and (pair[1] is None or isinstance(pair[1], np.ndarray))
        )
        if not ok:
            _fail(
                TypeError,
                func,
                f"item {i} to be a (param, grad) pair of numpy arrays",
                type(pair).__name__,
                "or pass the Module itself",
            )
        if pair[0].dtype.kind != "f":
            _fail(TypeError, func, f"param {i} with a floating dtype", f"dtype {pair[0].dtype}", None)
    return pairs


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    As torch: ``g = grad + weight_decay * p``; with momentum,
    ``buf = g`` on the first step, then ``buf = momentum * buf + (1 - dampening) * g``;
    the step direction is ``g + momentum * buf`` (Nesterov) or ``buf``;
    ``p -= lr * direction``.

    Shapes: parameters of any shape.
    Twin: torch.optim.SGD
    """

    def __init__(
        self,
        module_or_params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(module_or_params, lr)
        self.momentum = check_float(momentum, "momentum", "SGD", minimum=0.0)
        self.dampening = check_float(dampening, "dampening", "SGD")
        self.weight_decay = check_float(weight_decay, "weight_decay", "SGD", minimum=0.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            _fail(
                ValueError,
                "SGD",
                "momentum > 0 and dampening = 0 for Nesterov momentum",
                f"momentum={self.momentum}, dampening={self.dampening}",
                None,
            )

    def _update(self, param, grad, state):
        d_p = grad + self.weight_decay * param if self.weight_decay else grad
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d_p.copy()
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * d_p
            d_p = d_p + self.momentum * buf if self.nesterov else buf
        param -= self.lr * d_p


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    As torch: ``v = alpha v + (1 - alpha) g**2``; with ``centered``,
    ``m = alpha m + (1 - alpha) g`` and ``avg = sqrt(v - m**2)``, else
    ``avg = sqrt(v)``; then ``p -= lr * g / (avg + eps)`` (through a
    momentum buffer ``b = momentum b + g / (avg + eps)`` when momentum > 0).

    Shapes: parameters of any shape.
    Twin: torch.optim.RMSprop
    """

    def __init__(
        self,
        module_or_params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        super().__init__(module_or_params, lr)
        self.alpha = check_float(alpha, "alpha", "RMSprop", minimum=0.0, maximum=1.0)
        self.eps = check_float(eps, "eps", "RMSprop", minimum=0.0)
        self.weight_decay = check_float(weight_decay, "weight_decay", "RMSprop", minimum=0.0)
        self.momentum = check_float(momentum, "momentum", "RMSprop", minimum=0.0)
        self.centered = bool(centered)

    def _update(self, param, grad, state):
        if not state:
            state["square_avg"] = np.zeros_like(param)
            if self.momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if self.centered:
                state["grad_avg"] = np.zeros_like(param)
        g = grad + self.weight_decay * param if self.weight_decay else grad
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        square_avg += (1.0 - self.alpha) * g * g
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg += (1.0 - self.alpha) * (g - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += self.eps
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            param -= self.lr * buf
        else:
            param -= self.lr * (g / avg)


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, both bias-corrected.

    As torch, at step t: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.
    ``weight_decay`` is L2 in the gradient (``g = grad + wd * p``) like
    torch.optim.Adam; with ``decoupled_weight_decay=True`` it is AdamW's
    ``p *= 1 - lr * wd`` before the step instead. ``amsgrad`` uses the
    running maximum of v.

    Shapes: parameters of any shape.
    Twin: torch.optim.Adam (torch.optim.AdamW when decoupled_weight_decay=True)
    """

    def __init__(
        self,
        module_or_params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        super().__init__(module_or_params, lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            _fail(ValueError, name, "betas as a pair (beta1, beta2)", repr(betas), "e.g. betas=(0.9, 0.999)")
        self.betas = (
            check_float(betas[0], "betas[0]", name, minimum=0.0, maximum=1.0),
            check_float(betas[1], "betas[1]", name, minimum=0.0, maximum=1.0),
        )
        self.eps = check_float(eps, "eps", name, minimum=0.0)
        self.weight_decay = check_float(weight_decay, "weight_decay", name, minimum=0.0)
        self.amsgrad = bool(amsgrad)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    def _update(self, param, grad, state):
        beta1, beta2 = self.betas
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        g = grad
        if self.weight_decay:
            if self.decoupled_weight_decay:
                param *= 1.0 - self.lr * self.weight_decay
            else:
                g = grad + self.weight_decay * param
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1.0 - beta1) * (g - exp_avg)  # torch's lerp_: m = b1 m + (1 - b1) g
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * g * g
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        step_size = self.lr / (1.0 - beta1**t)
        denom = np.sqrt(second)
        denom /= np.sqrt(1.0 - beta2**t)
        denom += self.eps
        np.divide(exp_avg, denom, out=denom)
        denom *= step_size
        param -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01): ``p *= 1 - lr * wd`` before each Adam step.

    Shapes: parameters of any shape.
    Twin: torch.optim.AdamW
    """

    def __init__(
        self,
        module_or_params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(module_or_params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
