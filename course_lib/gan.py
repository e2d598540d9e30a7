"""Generative adversarial networks (chapter 9): the loss pieces, a 2-D toy problem, a tiny DCGAN.

From scratch in NumPy (no torch in these functions):

* ``ring_centres`` / ``sample_ring``: a mixture of Gaussians whose centres
  sit evenly on a circle (eight on a ring), drawn with a fixed seed;
* ``mode_counts`` / ``mode_coverage``: how many of the mixture's modes a set
  of samples reaches, and what fraction of the samples lands near a mode;
* ``discriminator_loss`` and ``generator_loss``: the GAN losses on the
  discriminator's logits, each with its gradient with respect to them.

In PyTorch:

* ``discriminator_loss_torch`` / ``generator_loss_torch``: the twins of the losses;
* ``mlp_generator`` / ``mlp_discriminator`` and ``train_gan_2d``: a GAN on the
  ring, with snapshots of its samples during training;
* ``DCGenerator`` / ``DCDiscriminator`` and ``train_dcgan``: a small DCGAN for
  8x8 digits; ``DigitCNN``, ``train_classifier`` and ``confident_fraction``
  judge its samples with a classifier.

Training runs on the CPU on purpose (``device="cpu"`` by default): the
networks are tiny, so the CPU is as fast as a GPU here, and GAN training
amplifies the last-digit differences between devices, so only one device
gives the same printed counts every time.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib._checks import _fail, check_array, check_choice, check_float, check_int, reraise_as
from course_lib._torch_checks import check_tensor
from course_lib.progress import progress

GENERATOR_LOSSES = ("non_saturating", "minimax")


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    The networks here are tiny: splitting each small operation across threads
    costs more than it saves (on a busy 2-core machine, many times more), and
    one thread also makes a run's numbers independent of the machine's thread
    setting.

    Shapes: none (a context manager).
    Twin: torch.set_num_threads
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch's global generator (for weight initialisation) without changing it outside the block."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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
    Twin: none (data).
    """
    modes = check_int(modes, "modes", "ring_centres", minimum=1)
    radius = check_float(radius, "radius", "ring_centres", minimum=0.0, strict_min=True)
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` points from an equal mixture of ``modes`` Gaussians (std ``std``) on a ring.

    The same seed gives the same points.


    Shapes: -> (N, 2) float64.
    Twin: none (data).
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
    Twin: none (a metric).
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
    Twin: none (a metric).
    """
    min_count = check_int(min_count, "min_count", "mode_coverage", minimum=1)
    try:
        counts = mode_counts(samples, centres, radius)
    except (ValueError, TypeError) as exc:  # report as the function the user called
        raise reraise_as(exc, "mode_coverage") from exc
    return int(np.sum(counts >= min_count)), float(counts.sum() / len(samples))


# ----------------------------------------------------------------------------- losses from scratch (NumPy)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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
    loss = float(np.mean(_softplus(-real_logits)) + np.mean(_softplus(fake_logits)))
    dreal = (_sigmoid(real_logits) - 1.0) / real_logits.size
    dfake = _sigmoid(fake_logits) / fake_logits.size
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
        return float(np.mean(_softplus(-fake_logits))), (_sigmoid(fake_logits) - 1.0) / fake_logits.size
    return -float(np.mean(_softplus(fake_logits))), -_sigmoid(fake_logits) / fake_logits.size


# ----------------------------------------------------------------------------- the torch twins


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
    Twin of: discriminator_loss.
    """
    func = "discriminator_loss_torch"
    _check_tensor_logits(real_logits, "real_logits", func)
    _check_tensor_logits(fake_logits, "fake_logits", func)
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss_torch(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """Non-saturating BCE(fake, 1), or the minimax ``-BCE(fake, 0) = mean log(1 - D(G(z)))``.

    Shapes: fake_logits (N,) -> scalar.
    Twin of: generator_loss.
    """
    func = "generator_loss_torch"
    check_choice(kind, "kind", func, GENERATOR_LOSSES)
    _check_tensor_logits(fake_logits, "fake_logits", func)
    if kind == "non_saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


# ----------------------------------------------------------------------------- the 2-D GAN


def mlp_generator(latent_dim: int = 2, hidden: int = 64, depth: int = 2,
                  out_features: int = 2) -> nn.Sequential:
    """z -> [Linear, ReLU] x depth -> Linear: maps latent noise to a point in the plane.

    Shapes: z (N, latent_dim) -> (N, out_features).
    Twin: none (a torch model).
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
    Twin: none (a torch model).
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
    Twin: none (a record).
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
        if not isinstance(self.snapshot_steps, list) or not isinstance(self.snapshots, list):
            _fail(TypeError, "GANRun", "snapshot_steps and snapshots as lists",
                  f"{type(self.snapshot_steps).__name__} and {type(self.snapshots).__name__}", None)

    def to_results(self) -> dict:
        """The run as plain data (the networks as state_dicts), e.g. for ``course_lib.shipped.run``.

        ``seconds`` is left out: a recorded run must not depend on the clock.

        Shapes: -> dict of arrays, lists and state_dicts.
        Twin: none.
        """
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "training": (self.generator.training, self.discriminator.training),
                "d_loss": self.d_loss, "g_loss": self.g_loss, "snapshot_steps": list(self.snapshot_steps),
                "snapshots": self.snapshots}

    @classmethod
    def from_results(cls, results: dict, generator: nn.Module, discriminator: nn.Module) -> GANRun:
        """The run back from ``to_results()``: loads the weights into fresh ``generator`` and ``discriminator``.

        Shapes: -> GANRun.
        Twin: none.
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
    Twin: none (a training loop).
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
    with _seeded(seed):
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


# ----------------------------------------------------------------------------- a DCGAN for 8x8 digits


class DCGenerator(nn.Module):
    """DCGAN generator for 8x8 images: z -> Linear -> 2x2 maps -> two stride-2 transposed convs -> tanh.

    Batch norm and ReLU inside, tanh at the output (pixels in [-1, 1]), as in
    Radford et al. (2015), scaled down to 8x8 pixels.

    Shapes: z (N, latent_dim) -> (N, 1, 8, 8).
    Twin: none (a torch model).
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        self.latent_dim = check_int(latent_dim, "latent_dim", "DCGenerator", minimum=1)
        self.width = check_int(width, "width", "DCGenerator", minimum=1)
        w = self.width
        n_project = 2 * w * 2 * 2  # 2w maps of 2x2
        self.project = nn.Sequential(nn.Linear(latent_dim, n_project), nn.BatchNorm1d(n_project), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, kernel_size=4, stride=2, padding=1),  # 2x2 -> 4x4
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, kernel_size=4, stride=2, padding=1),  # 4x4 -> 8x8
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        d = self.latent_dim
        check_tensor(z, "z", "DCGenerator.forward", ndim=2, shape_doc=f"(N, {d})", finite=False)
        if z.shape[1] != d:
            _fail(ValueError, "DCGenerator.forward", f"z of shape (N, {d})", f"shape {tuple(z.shape)}",
                  f"the generator was built with latent_dim={d}")
        return self.up(self.project(z).reshape(len(z), 2 * self.width, 2, 2))


class DCDiscriminator(nn.Module):
    """DCGAN discriminator for 8x8 images: two stride-2 convolutions with LeakyReLU(0.2), then one logit.

    Shapes: x (N, 1, 8, 8) -> (N, 1).
    Twin: none (a torch model).
    """

    def __init__(self, width: int = 32):
        super().__init__()
        w = check_int(width, "width", "DCDiscriminator", minimum=1)
        self.net = nn.Sequential(
            nn.Conv2d(1, w, kernel_size=4, stride=2, padding=1),  # 8x8 -> 4x4
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, kernel_size=4, stride=2, padding=1),  # 4x4 -> 2x2
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * w * 2 * 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_check_image_batch(x, "DCDiscriminator.forward"))


def _check_image_batch(x, func: str) -> torch.Tensor:
    """A model's input: a floating (N, 1, 8, 8) tensor (values not scanned)."""
    check_tensor(x, "x", func, ndim=4, shape_doc="(N, 1, 8, 8)", finite=False)
    if tuple(x.shape[1:]) != (1, 8, 8):
        _fail(ValueError, func, "x of shape (N, 1, 8, 8)", f"shape {tuple(x.shape)}", "pass 8x8 one-channel images")
    return x


def _check_images(images, func: str) -> np.ndarray:
    check_array(images, "images", func, ndim=4, shape_doc="(N, 1, 8, 8)",
                fix="load them with load_digits(images=True)")
    if images.shape[1:] != (1, 8, 8):
        _fail(ValueError, func, "images of shape (N, 1, 8, 8)", f"shape {images.shape}",
              "load them with load_digits(images=True)")
    return images


@_single_threaded
def train_dcgan(
    images: np.ndarray,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 2e-3,
    latent_dim: int = 16,
    width: int = 32,
    seed: int = 0,
    device: str = "cpu",
    desc: str = "DCGAN",
) -> GANRun:
    """Train a DCGAN on 8x8 images with pixels in [0, 1] (mapped to [-1, 1] inside), Adam (0.5, 0.999).

    One discriminator step and one generator step (non-saturating loss) per step.

    Shapes: images (N, 1, 8, 8) in [0, 1] -> GANRun (d_loss, g_loss (steps,)).
    Twin: none (a training loop).
    """
    func = "train_dcgan"
    _check_images(images, func)
    if images.min() < 0 or images.max() > 1:
        _fail(ValueError, func, "pixels in [0, 1]", f"values from {images.min():g} to {images.max():g}",
              "load them with load_digits(scale='unit', images=True)")
    steps = check_int(steps, "steps", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=2)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    seed = check_int(seed, "seed", func, minimum=0)
    device = torch.device(device)
    with _seeded(seed):
        G = DCGenerator(latent_dim, width).to(device)
        D = DCDiscriminator(width).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    real_all = torch.as_tensor(images * 2.0 - 1.0, dtype=torch.float32, device=device)
    run = GANRun(G, D, np.zeros(steps), np.zeros(steps))
    start = time.perf_counter()
    for step in progress(range(steps), desc=desc):
        idx = torch.randint(0, len(real_all), (batch_size,), generator=gen).to(device)
        z = torch.randn(batch_size, latent_dim, generator=gen).to(device)
        fake = G(z)
        d_loss = discriminator_loss_torch(D(real_all[idx]).reshape(-1), D(fake.detach()).reshape(-1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss_torch(D(fake).reshape(-1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        run.d_loss[step], run.g_loss[step] = d_loss.item(), g_loss.item()
    run.seconds = time.perf_counter() - start
    G.eval()
    D.eval()
    return run


def generate_images(generator: DCGenerator, n: int, seed: int = 0) -> np.ndarray:
    """``n`` images from a trained generator (eval mode), pixels mapped back to [0, 1].

    Shapes: -> (N, 1, 8, 8) float64.
    Twin: none.
    """
    n = check_int(n, "n", "generate_images", minimum=1)
    seed = check_int(seed, "seed", "generate_images", minimum=0)
    if not isinstance(generator, DCGenerator):
        _fail(TypeError, "generate_images", "a DCGenerator", type(generator).__name__, None)
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    generator.eval()
    with torch.no_grad():
        return ((generator(z).cpu().double().numpy() + 1.0) / 2.0).clip(0.0, 1.0)


# ------------------------------------------------------------------------- judging samples with a classifier


class DigitCNN(nn.Module):
    """A small CNN digit classifier (chapter 5's idea): two conv + ReLU + 2x2 max-pool blocks, then Linear.

    Shapes: x (N, 1, 8, 8) in [0, 1] -> logits (N, 10).
    Twin: none (a torch model).
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        c = check_int(channels, "channels", "DigitCNN", minimum=1)
        self.net = nn.Sequential(
            nn.Conv2d(1, c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(c, 2 * c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(), nn.Linear(2 * c * 2 * 2, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_check_image_batch(x, "DigitCNN.forward"))


@_single_threaded
def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 15, batch_size: int = 64,
                     lr: float = 3e-3, seed: int = 0, device: str = "cpu") -> DigitCNN:
    """Train a DigitCNN with Adam and cross-entropy; returns it in eval mode.

    Shapes: images (N, 1, 8, 8) in [0, 1], labels (N,) int in 0..9 -> DigitCNN.
    Twin: none (a training loop).
    """
    func = "train_classifier"
    _check_images(images, func)
    check_array(labels, "labels", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if len(labels) != len(images):
        _fail(ValueError, func, "one label per image", f"{len(images)} images and {len(labels)} labels", None)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    device = torch.device(device)
    with _seeded(seed):
        model = DigitCNN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = torch.as_tensor(images, dtype=torch.float32, device=device)
    y = torch.as_tensor(labels, dtype=torch.int64, device=device)
    gen = torch.Generator().manual_seed(seed)
    for _ in progress(range(epochs), desc="classifier"):
        for idx in torch.randperm(len(X), generator=gen).split(batch_size):
            loss = F.cross_entropy(model(X[idx.to(device)]), y[idx.to(device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@_single_threaded
def classify(model: nn.Module, images: np.ndarray):
    """The classifier's (predicted class, max softmax probability) for each image.

    Shapes: images (N, 1, 8, 8) -> (pred (N,) int64, confidence (N,) float64).
    Twin: none.
    """
    _check_images(images, "classify")
    device = next(model.parameters()).device
    with torch.no_grad():
        probs = F.softmax(model(torch.as_tensor(images, dtype=torch.float32, device=device)), dim=1)
    conf, pred = probs.max(dim=1)
    return pred.cpu().numpy().astype(np.int64), conf.cpu().double().numpy()


def confident_fraction(model: nn.Module, images: np.ndarray, threshold: float = 0.9) -> float:
    """Fraction of images the classifier assigns to some class with max softmax >= ``threshold``.

    Shapes: images (N, 1, 8, 8) -> float in [0, 1].
    Twin: none (a metric).
    """
    threshold = check_float(threshold, "threshold", "confident_fraction", minimum=0.0, maximum=1.0)
    try:
        confidence = classify(model, images)[1]
    except (TypeError, ValueError) as exc:
        raise reraise_as(exc, "confident_fraction") from exc
    return float(np.mean(confidence >= threshold))
