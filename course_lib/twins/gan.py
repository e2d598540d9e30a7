"""The PyTorch twins of ``course_lib.scratch.gan``: the GAN losses on logits (chapter 9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checks import _fail, check_choice
from course_lib.scratch.gan import GENERATOR_LOSSES
from course_lib.torch_checks import check_tensor


def _check_tensor_logits(x, name: str, func: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        _fail(TypeError, func, f"{name} to be a torch.Tensor", type(x).__name__,
              f"convert it first, e.g. torch.as_tensor({name})")
    if not x.is_floating_point() or x.ndim != 1:
        _fail(ValueError, func, f"{name} of shape (N,) with a floating dtype",
              f"shape {tuple(x.shape)}, {x.dtype}",
              f"flatten the discriminator's output, e.g. {name}.reshape(-1)")
    return check_tensor(x, name, func)  # non-empty and finite, like the NumPy twins


def discriminator_loss_torch(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(real, 1) + BCE(fake, 0) on logits.

    Shapes: real_logits (N,), fake_logits (M,) -> scalar.
    Twin: course_lib.scratch.gan.discriminator_loss.
    """
    func = "discriminator_loss_torch"
    _check_tensor_logits(real_logits, "real_logits", func)
    _check_tensor_logits(fake_logits, "fake_logits", func)
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss_torch(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """Non-saturating BCE(fake, 1), or the minimax ``-BCE(fake, 0) = mean log(1 - D(G(z)))``.

    Shapes: fake_logits (N,) -> scalar.
    Twin: course_lib.scratch.gan.generator_loss.
    """
    func = "generator_loss_torch"
    check_choice(kind, "kind", func, GENERATOR_LOSSES)
    _check_tensor_logits(fake_logits, "fake_logits", func)
    if kind == "non_saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
