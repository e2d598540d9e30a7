"""The GAN losses from scratch, on the discriminator's logits, each with its gradient (chapter 9).

Twins: ``course_lib.twins.gan``.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import check_array, check_choice
from course_lib.scratch.layers import sigmoid, softplus

GENERATOR_LOSSES = ("non_saturating", "minimax")


def _check_logits(logits, name: str, func: str) -> np.ndarray:
    return check_array(logits, name, func, ndim=1, shape_doc="(N,)", dtype_kind="f",
                       fix=f"flatten the discriminator's output, e.g. {name}.reshape(-1)")


def discriminator_loss(real_logits: np.ndarray, fake_logits: np.ndarray):
    """The discriminator's loss: BCE with target 1 on real samples plus BCE with target 0 on fakes.

    ``loss = mean(-log D(x)) + mean(-log(1 - D(G(z))))`` with ``D = sigmoid(logit)``,
    i.e. ``mean(softplus(-real_logits)) + mean(softplus(fake_logits))``, which is
    minus the minimax value V(D, G). Gradients: ``(sigmoid(r) - 1) / N_real`` and
    ``sigmoid(f) / N_fake``.

    Shapes: real_logits (N,), fake_logits (M,) -> (float, dreal_logits (N,), dfake_logits (M,)).
    Twin: discriminator_loss_torch (two calls of F.binary_cross_entropy_with_logits).
    """
    func = "discriminator_loss"
    _check_logits(real_logits, "real_logits", func)
    _check_logits(fake_logits, "fake_logits", func)
    loss = float(np.mean(softplus(-real_logits)) + np.mean(softplus(fake_logits)))
    dreal = (sigmoid(real_logits) - 1.0) / real_logits.size
    dfake = sigmoid(fake_logits) / fake_logits.size
    return loss, dreal, dfake


def generator_loss(fake_logits: np.ndarray, kind: str = "non_saturating"):
    """The generator's loss on the discriminator's logits for its fakes, and its gradient.

    ``kind="non_saturating"``: ``mean(-log D(G(z))) = mean(softplus(-f))``, gradient
    ``(sigmoid(f) - 1) / N``: close to -1/N when D rejects the fakes.
    ``kind="minimax"``: ``mean(log(1 - D(G(z)))) = -mean(softplus(f))``, the term
    of V(D, G) the generator minimises, gradient ``-sigmoid(f) / N``: close to 0
    when D rejects the fakes, so the generator stops learning (it saturates).

    Shapes: fake_logits (N,) -> (float, dfake_logits (N,)).
    Twin: generator_loss_torch.
    """
    func = "generator_loss"
    check_choice(kind, "kind", func, GENERATOR_LOSSES)
    _check_logits(fake_logits, "fake_logits", func)
    if kind == "non_saturating":
        return float(np.mean(softplus(-fake_logits))), (sigmoid(fake_logits) - 1.0) / fake_logits.size
    return -float(np.mean(softplus(fake_logits))), -sigmoid(fake_logits) / fake_logits.size
