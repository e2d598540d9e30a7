"""Autoencoders and VAEs in PyTorch: twins of course_lib.scratch.vae, and the chapter 8 models.

The loss pieces (``reparameterize``, ``gaussian_kl``,
``reconstruction_loss``, ``vae_loss``) compute what their NumPy twins do,
with autograd supplying the gradients. The models:

* ``Autoencoder(sizes)``: an encoder MLP ``sizes`` and a mirrored decoder;
* ``VAE(sizes)``: an encoder MLP ``[D, ..., 2 K]`` whose output is split
  into ``mu`` and ``logvar``, and a decoder MLP ``[K, ..., D]`` giving logits.

Their ``encoder`` and ``decoder`` are ``nn.Sequential`` laid out like
``course_lib.scratch.modules.MLP``, so weights copy across with
``course_lib.twins.compare.copy_weights``.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import _fail, check_choice, check_float, named_errors
from course_lib.torch_checks import check_tensor
from course_lib.twins.mlp import ACTIVATIONS, make_torch_mlp

RECONSTRUCTIONS = ("bce", "mse")


def _check_tensor(x, name: str, func: str, ndim: int | None = 2, shape_doc: str = "(N, K)") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        hint = f"convert it first, e.g. torch.as_tensor({name})"
        _fail(TypeError, func, f"{name} to be a torch.Tensor", type(x).__name__, hint)
    if not x.is_floating_point():
        _fail(TypeError, func, f"{name} with a floating dtype", f"dtype {x.dtype}",
              f"cast it, e.g. {name}.float()")
    if ndim is not None and x.ndim != ndim:
        _fail(ValueError, func, f"{name} of shape {shape_doc}", f"shape {tuple(x.shape)}",
              "pass a batch, e.g. x[None]" if x.ndim == ndim - 1 else None)
    return check_tensor(x, name, func)  # non-empty and finite, like the NumPy twins


def _check_input(x, name: str, mlp: nn.Sequential, func: str) -> torch.Tensor:
    """A model's input: a floating (N, D) tensor with D the first layer's in_features (values not scanned)."""
    width = mlp[0].in_features
    check_tensor(x, name, func, ndim=2, shape_doc=f"(N, {width})", finite=False)
    if x.shape[1] != width:
        _fail(ValueError, func, f"{name} of shape (N, {width})", f"shape {tuple(x.shape)}",
              f"the model was built for {width} features")
    return x


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str], func: str) -> None:
    if a.shape != b.shape:
        _fail(ValueError, func, f"{names[1]} of {names[0]}'s shape {tuple(a.shape)}",
              f"shape {tuple(b.shape)}", None)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps``; eps drawn from N(0, 1) (with ``generator``) when not given.

    Shapes: mu (N, K), logvar (N, K), eps (N, K) -> z (N, K).
    Twin: course_lib.scratch.vae.reparameterize / reparameterize_backward
    """
    func = "reparameterize"
    _check_tensor(mu, "mu", func)
    _check_tensor(logvar, "logvar", func)
    _check_same_shape(mu, logvar, ("mu", "logvar"), func)
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device="cpu").to(mu.device)
    else:
        _check_tensor(eps, "eps", func)
        _check_same_shape(mu, eps, ("mu", "eps"), func)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over latent dimensions, mean over the batch.

    Shapes: mu (N, K), logvar (N, K) -> scalar tensor.
    Twin: course_lib.scratch.vae.gaussian_kl
    """
    func = "gaussian_kl"
    _check_tensor(mu, "mu", func)
    _check_tensor(logvar, "logvar", func)
    _check_same_shape(mu, logvar, ("mu", "logvar"), func)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


def reconstruction_loss(out: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """BCE on logits (``kind="bce"``) or squared error (``"mse"``), summed over features, mean over the batch.

    Shapes: out (N, D), x (N, D) -> scalar tensor.
    Twin: course_lib.scratch.vae.reconstruction_loss
    """
    func = "reconstruction_loss"
    check_choice(kind, "kind", func, RECONSTRUCTIONS)
    _check_tensor(out, "out", func, shape_doc="(N, D)")
    _check_tensor(x, "x", func, shape_doc="(N, D)")
    _check_same_shape(out, x, ("out", "x"), func)
    if kind == "bce":
        per_element = nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none")
    else:
        per_element = (out - x).pow(2)
    return per_element.sum(dim=1).mean()


def vae_loss(out: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kind: str = "bce",
             beta: float = 1.0):
    """Returns ``(loss, reconstruction, kl)``: loss = reconstruction + beta * kl, all scalar tensors.

    Shapes: out (N, D), x (N, D), mu (N, K), logvar (N, K) -> three scalar tensors.
    Twin: course_lib.scratch.vae.vae_loss
    """
    beta = check_float(beta, "beta", "vae_loss", minimum=0.0)
    with named_errors("vae_loss"):
        recon = reconstruction_loss(out, x, kind)
        kl = gaussian_kl(mu, logvar)
    return recon + beta * kl, recon, kl


def _check_sizes(sizes, func: str, minimum: int = 2) -> list:
    if not isinstance(sizes, (list, tuple)) or len(sizes) < minimum:
        _fail(ValueError, func, f"sizes as a list [input, hidden..., code] of length >= {minimum}",
              repr(sizes), "e.g. [64, 32, 8]")
    return list(sizes)


class Autoencoder(nn.Module):
    """Encoder MLP ``sizes`` (e.g. [64, 32, 8]) and the mirrored decoder ([8, 32, 64]) giving logits.

    ``encode(x)`` is the code, ``forward(x)`` the decoder's logits;
    ``torch.sigmoid`` of them is the reconstruction, pixels in (0, 1).
    ``activation="linear"`` makes both maps linear (no hidden layers allowed).

    Shapes: x (N, D) -> logits (N, D); code (N, K) with K = sizes[-1].
    Twin: course_lib.scratch.modules.MLP(sizes) + MLP(sizes[::-1]) (encoder, decoder)
    """

    def __init__(self, sizes, activation: str = "relu", dtype=torch.float32):
        super().__init__()
        func = "Autoencoder"
        sizes = _check_sizes(sizes, func)
        check_choice(activation, "activation", func, [*ACTIVATIONS, "linear"])
        if activation == "linear" and len(sizes) != 2:
            _fail(ValueError, func, "sizes [D, K] for a linear autoencoder", repr(sizes),
                  "hidden layers with no activation add nothing; drop them")
        act = "relu" if activation == "linear" else activation
        self.encoder = make_torch_mlp(sizes, act, dtype=dtype)
        self.decoder = make_torch_mlp(sizes[::-1], act, dtype=dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code, (N, K)."""
        return self.encoder(_check_input(x, "x", self.encoder, "Autoencoder.encode"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's logits, (N, D); sigmoid them for the reconstruction."""
        return self.decoder(self.encoder(_check_input(x, "x", self.encoder, "Autoencoder.forward")))


class VAE(nn.Module):
    """A variational autoencoder: ``sizes = [D, hidden..., K]``, K the latent size.

    The encoder MLP ``[D, hidden..., 2 K]`` outputs ``mu`` (first K columns)
    and ``logvar`` (last K); the decoder MLP ``[K, ...hidden reversed, D]``
    outputs logits. ``forward(x, eps)`` returns ``(logits, mu, logvar)``,
    drawing eps with ``generator`` when it is not given.

    Shapes: x (N, D) -> logits (N, D), mu (N, K), logvar (N, K).
    Twin: course_lib.scratch.modules.MLP encoder and decoder + course_lib.scratch.vae's loss pieces
    """

    def __init__(self, sizes, activation: str = "relu", dtype=torch.float32):
        super().__init__()
        func = "VAE"
        sizes = _check_sizes(sizes, func, minimum=3)
        self.latent = sizes[-1]
        self.encoder = make_torch_mlp([*sizes[:-1], 2 * sizes[-1]], activation, dtype=dtype)
        self.decoder = make_torch_mlp(sizes[::-1], activation, dtype=dtype)

    def encode(self, x: torch.Tensor):
        """(mu, logvar), each (N, K)."""
        return self._encode(x, "VAE.encode")

    def _encode(self, x, func):
        h = self.encoder(_check_input(x, "x", self.encoder, func))
        return h[:, : self.latent], h[:, self.latent :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the pixels; sigmoid them for an image."""
        return self.decoder(_check_input(z, "z", self.decoder, "VAE.decode"))

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None,
                generator: torch.Generator | None = None):
        mu, logvar = self._encode(x, "VAE.forward")
        with named_errors("VAE.forward"):
            z = reparameterize(mu, logvar, eps, generator)
        return self.decoder(z), mu, logvar
