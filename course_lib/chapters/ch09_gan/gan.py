"""Generative adversarial networks on a 2-D toy problem (chapter 9).

In NumPy:

* ``ring_centres`` / ``sample_ring``: a mixture of Gaussians whose centres
  sit evenly on a circle (eight on a ring), drawn with a fixed seed;
* ``mode_counts`` / ``mode_coverage``: how many of the mixture's modes a set
  of samples reaches, and what fraction of the samples lands near a mode.

In PyTorch:

* ``mlp_generator`` / ``mlp_discriminator`` and ``train_gan_2d``: a GAN on the
  ring, with snapshots of its samples during training, trained with the
  losses of ``course_lib.twins.gan`` (their NumPy versions are in
  ``course_lib.scratch.gan``).

Elsewhere in this chapter's folder: many seeds of the 2-D GAN at once
(``sweep``), one training step written out in NumPy and its twin (``step``),
and the small DCGAN for 8x8 digits with the classifier that judges its
samples (``dcgan``).

Training runs on the CPU (``device="cpu"`` by default): the networks are
tiny, so the CPU is as fast as a GPU here.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from course_lib.checks import _fail, check_array, check_float, check_int, reraise_as
from course_lib.device import one_thread, torch_seeded
from course_lib.progress import progress
from course_lib.twins.gan import discriminator_loss_torch, generator_loss_torch


def _single_threaded(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_thread():
            return func(*args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------- data: eight on a ring


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The centres of ``modes`` Gaussians spaced evenly on a circle, the first at angle 0.

    Shapes: -> (K, 2), K = modes.
    """
    modes = check_int(modes, "modes", "ring_centres", minimum=1)
    radius = check_float(radius, "radius", "ring_centres", minimum=0.0, strict_min=True)
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` points from an equal mixture of ``modes`` Gaussians (std ``std``) on a ring.

    The same seed gives the same points.


    Shapes: -> (N, 2) float64.
    """
    func = "sample_ring"
    n = check_int(n, "n", func, minimum=1)
    std = check_float(std, "std", func, minimum=0.0, strict_min=True)
    seed = check_int(seed, "seed", func, minimum=0)
    centres = ring_centres(modes, radius)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(centres), size=n)
    return centres[which] + std * rng.standard_normal((n, 2))


# ----------------------------------------------------------------------------- metrics


def _check_points(samples, centres, radius, func):
    check_array(samples, "samples", func, ndim=2, shape_doc="(N, 2)")
    check_array(centres, "centres", func, ndim=2, shape_doc="(K, 2)")
    if samples.shape[1] != centres.shape[1]:
        _fail(ValueError, func, f"samples and centres with the same number of columns ({centres.shape[1]})",
              f"shapes {samples.shape} and {centres.shape}",
              "pass points as rows, e.g. samples of shape (N, 2)")
    return check_float(radius, "radius", func, minimum=0.0, strict_min=True)


def mode_counts(samples: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """How many samples lie within ``radius`` of each centre (a sample counts for its nearest centre).

    Shapes: samples (N, D), centres (K, D) -> (K,) int64.
    """
    func = "mode_counts"
    radius = _check_points(samples, centres, radius, func)
    dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)  # (N, K)
    nearest = dist.argmin(axis=1)
    near = dist[np.arange(len(samples)), nearest] <= radius
    return np.bincount(nearest[near], minlength=len(centres)).astype(np.int64)


def mode_coverage(samples: np.ndarray, centres: np.ndarray, radius: float, min_count: int = 1):
    """(modes covered, fraction of samples near a mode).

    A sample is *near* a mode when it lies within ``radius`` of its centre; a
    mode is *covered* when at least ``min_count`` samples are near it.

    Shapes: samples (N, D), centres (K, D) -> (int in 0..K, float in [0, 1]).
    """
    min_count = check_int(min_count, "min_count", "mode_coverage", minimum=1)
    try:
        counts = mode_counts(samples, centres, radius)
    except (ValueError, TypeError) as exc:  # report as the function the user called
        raise reraise_as(exc, "mode_coverage") from exc
    return int(np.sum(counts >= min_count)), float(counts.sum() / len(samples))


# ----------------------------------------------------------------------------- the 2-D GAN


def mlp_generator(latent_dim: int = 2, hidden: int = 64, depth: int = 2,
                  out_features: int = 2) -> nn.Sequential:
    """z -> [Linear, ReLU] x depth -> Linear: maps latent noise to a point in the plane.

    Shapes: z (N, latent_dim) -> (N, out_features).
    """
    func = "mlp_generator"
    sizes = [check_int(latent_dim, "latent_dim", func, minimum=1)]
    sizes += [check_int(hidden, "hidden", func, minimum=1)] * check_int(depth, "depth", func, minimum=1)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    out_features = check_int(out_features, "out_features", func, minimum=1)
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out_features))


def mlp_discriminator(in_features: int = 2, hidden: int = 64, depth: int = 2, pack: int = 1) -> nn.Sequential:
    """x -> [Linear, LeakyReLU(0.2)] x depth -> Linear -> one logit per group of ``pack`` samples.

    With ``pack > 1`` (PacGAN) the discriminator judges ``pack`` samples at once,
    given side by side as one input of ``pack * in_features`` numbers.

    Shapes: x (N, pack * in_features) -> (N, 1).
    """
    func = "mlp_discriminator"
    n_in = check_int(in_features, "in_features", func, minimum=1) * check_int(pack, "pack", func, minimum=1)
    hidden = check_int(hidden, "hidden", func, minimum=1)
    layers: list[nn.Module] = []
    for _ in range(check_int(depth, "depth", func, minimum=1)):
        layers += [nn.Linear(n_in, hidden), nn.LeakyReLU(0.2)]
        n_in = hidden
    return nn.Sequential(*layers, nn.Linear(n_in, 1))


@dataclass
class GANRun:
    """What a training run leaves: the models, per-step losses and snapshots of samples.

    ``snapshots[i]`` are the generator's samples for the fixed noise ``z_fixed``
    after ``snapshot_steps[i]`` steps (step 0: before training).

    Shapes: d_loss, g_loss (S,); snapshots (T, M, 2) for the 2-D GAN.
    """

    generator: nn.Module
    discriminator: nn.Module
    d_loss: np.ndarray
    g_loss: np.ndarray
    snapshot_steps: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self):
        for name in ("generator", "discriminator"):
            if not isinstance(getattr(self, name), nn.Module):
                _fail(TypeError, "GANRun", f"{name} to be a torch.nn.Module", type(getattr(self, name)).__name__, None)
        for name in ("d_loss", "g_loss"):
            check_array(getattr(self, name), name, "GANRun", ndim=1, shape_doc="(S,)", allow_empty=True)
        sequences = (list, tuple, np.ndarray)
        if not isinstance(self.snapshot_steps, sequences) or not isinstance(self.snapshots, sequences):
            _fail(TypeError, "GANRun", "snapshot_steps and snapshots as lists or arrays",
                  f"{type(self.snapshot_steps).__name__} and {type(self.snapshots).__name__}", None)

    def to_results(self) -> dict:
        """The run as plain data (the networks as state_dicts), e.g. for ``course_lib.shipped.run``.

        ``seconds`` is left out: a recorded run must not depend on the clock.

        Shapes: -> dict of arrays, lists and state_dicts.
        """
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "training": (self.generator.training, self.discriminator.training),
                "d_loss": self.d_loss, "g_loss": self.g_loss, "snapshot_steps": list(self.snapshot_steps),
                "snapshots": self.snapshots}

    @classmethod
    def from_results(cls, results: dict, generator: nn.Module, discriminator: nn.Module) -> GANRun:
        """The run back from ``to_results()``: loads the weights into fresh ``generator`` and ``discriminator``.

        Shapes: -> GANRun.
        """
        if not isinstance(results, dict) or "generator" not in results:
            _fail(TypeError, "GANRun.from_results", "the dict GANRun.to_results() returns",
                  type(results).__name__, None)
        for net, name in ((generator, "generator"), (discriminator, "discriminator")):
            if not isinstance(net, nn.Module):
                _fail(TypeError, "GANRun.from_results", f"{name} as an nn.Module built like the trained one",
                      type(net).__name__, None)
        generator.load_state_dict(results["generator"])
        discriminator.load_state_dict(results["discriminator"])
        generator.train(results["training"][0])
        discriminator.train(results["training"][1])
        return cls(generator, discriminator, results["d_loss"], results["g_loss"],
                   list(results["snapshot_steps"]), results["snapshots"])


def _packed(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(N, D) -> (N // pack, pack * D): neighbouring samples side by side."""
    return x.reshape(x.shape[0] // pack, pack * x.shape[1])


@_single_threaded
def train_gan_2d(
    data: np.ndarray,
    steps: int = 2000,
    batch_size: int = 256,
    lr_g: float = 1e-3,
    lr_d: float = 1e-3,
    d_steps: int = 1,
    pack: int = 1,
    latent_dim: int = 2,
    hidden: int = 64,
    seed: int = 0,
    snapshot_every: int = 100,
    n_snapshot: int = 1000,
    device: str = "cpu",
    desc: str = "GAN",
) -> GANRun:
    """Train an MLP GAN on 2-D points with Adam (betas 0.5, 0.999) and the non-saturating loss.

    Each step: ``d_steps`` discriminator updates on fresh real and fake batches,
    then one generator update. ``pack > 1`` makes it a PacGAN: the
    discriminator judges groups of ``pack`` samples (``batch_size`` must be a
    multiple of ``pack``). Everything is seeded by ``seed``; on the same device
    and thread count the run is exactly repeatable.

    Shapes: data (N, 2) -> GANRun with snapshots (T, n_snapshot, 2).
    """
    func = "train_gan_2d"
    check_array(data, "data", func, ndim=2, shape_doc="(N, 2)")
    steps = check_int(steps, "steps", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    d_steps = check_int(d_steps, "d_steps", func, minimum=1)
    pack = check_int(pack, "pack", func, minimum=1)
    if batch_size % pack:
        _fail(ValueError, func, f"batch_size a multiple of pack={pack}", str(batch_size), None)
    lr_g = check_float(lr_g, "lr_g", func, minimum=0.0, strict_min=True)
    lr_d = check_float(lr_d, "lr_d", func, minimum=0.0, strict_min=True)
    snapshot_every = check_int(snapshot_every, "snapshot_every", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    device = torch.device(device)
    with torch_seeded(seed):
        G = mlp_generator(latent_dim, hidden, out_features=data.shape[1]).to(device)
        D = mlp_discriminator(data.shape[1], hidden, pack=pack).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    real_all = torch.as_tensor(data, dtype=torch.float32, device=device)
    z_fixed = torch.randn(n_snapshot, latent_dim, generator=gen).to(device)
    run = GANRun(G, D, np.zeros(steps), np.zeros(steps))

    def snapshot(step):
        with torch.no_grad():
            run.snapshots.append(G(z_fixed).cpu().numpy().astype(np.float64))
        run.snapshot_steps.append(step)

    start = time.perf_counter()
    snapshot(0)
    for step in progress(range(1, steps + 1), desc=desc):
        for _ in range(d_steps):
            idx = torch.randint(0, len(real_all), (batch_size,), generator=gen).to(device)
            z = torch.randn(batch_size, latent_dim, generator=gen).to(device)
            with torch.no_grad():
                fake = G(z)
            real_logits = D(_packed(real_all[idx], pack)).reshape(-1)
            fake_logits = D(_packed(fake, pack)).reshape(-1)
            d_loss = discriminator_loss_torch(real_logits, fake_logits)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        z = torch.randn(batch_size, latent_dim, generator=gen).to(device)
        g_loss = generator_loss_torch(D(_packed(G(z), pack)).reshape(-1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        run.d_loss[step - 1], run.g_loss[step - 1] = d_loss.item(), g_loss.item()
        if step % snapshot_every == 0:
            snapshot(step)
    run.seconds = time.perf_counter() - start
    run.snapshots = np.stack(run.snapshots)
    return run
