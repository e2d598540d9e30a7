"""One GAN training step, written out: the discriminator's update, then the generator's (chapter 9).

``gan_step`` is the NumPy reference of exercise 9.4 (scratch MLPs and
optimisers from ``course_lib.scratch``, the losses of ``course_lib.scratch.gan``);
``gan_step_torch`` is its PyTorch twin. ``value_of_game`` is the reference of
exercise 9.2, for cells that must run before the exercise is solved.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.checks import _fail, check_array
from course_lib.scratch.gan import discriminator_loss, generator_loss
from course_lib.scratch.modules import Module
from course_lib.scratch.optim import Optimizer
from course_lib.twins.gan import discriminator_loss_torch, generator_loss_torch


def value_of_game(p_data: np.ndarray, p_g: np.ndarray) -> float:
    """V(D*, G) for two discrete distributions over the same points, with D* = p_data / (p_data + p_g).

    ``V = sum p_data log D* + sum p_g log(1 - D*)``; it equals -log 4 exactly when p_g = p_data.

    Shapes: p_data (K,), p_g (K,) -> float.
    """
    func = "value_of_game"
    p_data = check_array(p_data, "p_data", func, ndim=1, shape_doc="(K,)", fix="pass probabilities, e.g. p / p.sum()")
    p_g = check_array(p_g, "p_g", func, ndim=1, shape_doc="(K,)", fix="pass probabilities, e.g. p / p.sum()")
    if p_data.shape != p_g.shape or np.any(p_data <= 0) or np.any(p_g <= 0):
        _fail(ValueError, func, "two positive distributions over the same points",
              f"shapes {p_data.shape} and {p_g.shape}, smallest values {p_data.min():g} and {p_g.min():g}",
              "give every point a probability above 0 in both")
    d = p_data / (p_data + p_g)
    return float(np.sum(p_data * np.log(d)) + np.sum(p_g * np.log(1 - d)))


def _check_step_args(gen, disc, opt_g, opt_d, x_real, z_d, z_g, func):
    for net, name in ((gen, "gen"), (disc, "disc")):
        if not isinstance(net, Module):
            _fail(TypeError, func, f"{name} to be a scratch Module (e.g. course_lib.scratch.modules.MLP)",
                  type(net).__name__, None)
    for opt, name in ((opt_g, "opt_g"), (opt_d, "opt_d")):
        if not isinstance(opt, Optimizer):
            _fail(TypeError, func, f"{name} to be a scratch optimiser (course_lib.scratch.optim)",
                  type(opt).__name__, f"e.g. {name} = Adam(model, lr=1e-3)")
    check_array(x_real, "x_real", func, ndim=2, shape_doc="(N, D)")
    check_array(z_d, "z_d", func, ndim=2, shape_doc="(M, L)")
    check_array(z_g, "z_g", func, ndim=2, shape_doc="(M, L)")


def gan_step(gen, disc, opt_g, opt_d, x_real: np.ndarray, z_d: np.ndarray, z_g: np.ndarray):
    """One alternating GAN step in NumPy; updates both networks in place and returns (d_loss, g_loss).

    1. Discriminator: fakes ``gen(z_d)`` (the generator is not updated by this
       part), one forward pass of D on real and fake points together,
       ``discriminator_loss``, D's backward, ``opt_d.step()``.
    2. Generator: fresh fakes ``gen(z_g)``, judged by the *updated* D; the
       non-saturating ``generator_loss``; its gradient flows back through D to
       the fake points (D's own gradients from this pass are not used), then
       through G; ``opt_g.step()``.

    ``d_loss`` is D's loss before its update, ``g_loss`` G's loss against the updated D.

    Shapes: x_real (N, D), z_d (M, L), z_g (M, L) -> (float, float).
    Twin: gan_step_torch.
    """
    _check_step_args(gen, disc, opt_g, opt_d, x_real, z_d, z_g, "gan_step")
    n = len(x_real)
    logits = disc.forward(np.concatenate([x_real, gen.forward(z_d)])).reshape(-1)
    d_loss, dreal, dfake = discriminator_loss(logits[:n], logits[n:])
    disc.backward(np.concatenate([dreal, dfake])[:, None])
    opt_d.step()
    g_loss, dlogits = generator_loss(disc.forward(gen.forward(z_g)).reshape(-1))
    gen.backward(disc.backward(dlogits[:, None]))
    opt_g.step()
    return d_loss, g_loss


def gan_step_torch(gen: nn.Module, disc: nn.Module, opt_g, opt_d, x_real: torch.Tensor, z_d: torch.Tensor,
                   z_g: torch.Tensor):
    """One alternating GAN step in PyTorch, as ``gan_step``: returns (d_loss, g_loss) as floats.

    Shapes: x_real (N, D), z_d (M, L), z_g (M, L) -> (float, float).
    Twin: gan_step.
    """
    func = "gan_step_torch"
    for net, name in ((gen, "gen"), (disc, "disc")):
        if not isinstance(net, nn.Module):
            _fail(TypeError, func, f"{name} to be a torch.nn.Module", type(net).__name__, None)
    for opt, name in ((opt_g, "opt_g"), (opt_d, "opt_d")):
        if not isinstance(opt, torch.optim.Optimizer):
            _fail(TypeError, func, f"{name} to be a torch.optim optimiser", type(opt).__name__,
                  f"e.g. torch.optim.Adam({'gen' if name == 'opt_g' else 'disc'}.parameters())")
    for t, name in ((x_real, "x_real"), (z_d, "z_d"), (z_g, "z_g")):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            _fail(TypeError, func, f"{name} as a 2-D torch.Tensor", type(t).__name__, "torch.as_tensor(array)")
    opt_d.zero_grad()
    with torch.no_grad():
        fake = gen(z_d)
    d_loss = discriminator_loss_torch(disc(x_real).reshape(-1), disc(fake).reshape(-1))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = generator_loss_torch(disc(gen(z_g)).reshape(-1))
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()
