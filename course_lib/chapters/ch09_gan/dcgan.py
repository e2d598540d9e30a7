"""A small DCGAN for 8x8 digits, and a classifier that judges its samples (chapter 9).

* ``DCGenerator`` / ``DCDiscriminator`` and ``train_dcgan``: a DCGAN scaled
  down to 8x8 pixels, trained with the losses of ``course_lib.chapters.ch09_gan.gan``;
* ``generate_images``: samples from a trained generator;
* ``DigitJudge``, ``train_classifier``, ``classify`` and ``confident_fraction``:
  a classifier of real digits that says which samples it recognises.

Training runs on the CPU (``device="cpu"`` by default): the networks are
tiny, so the CPU is as fast as a GPU here.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.chapters.ch09_gan.gan import GANRun, _single_threaded
from course_lib.checks import _fail, check_array, check_float, check_int, reraise_as
from course_lib.device import torch_seeded
from course_lib.progress import progress
from course_lib.torch_checks import check_tensor
from course_lib.twins.gan import discriminator_loss_torch, generator_loss_torch

# ----------------------------------------------------------------------------- a DCGAN for 8x8 digits


class DCGenerator(nn.Module):
    """DCGAN generator for 8x8 images: z -> Linear -> 2x2 maps -> two stride-2 transposed convs -> tanh.

    Batch norm and ReLU inside, tanh at the output (pixels in [-1, 1]), as in
    Radford et al. (2015), scaled down to 8x8 pixels.

    Shapes: z (N, latent_dim) -> (N, 1, 8, 8).
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
    with torch_seeded(seed):
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


class DigitJudge(nn.Module):
    """A small CNN digit classifier (chapter 5's idea): two conv + ReLU + 2x2 max-pool blocks, then Linear.

    Shapes: x (N, 1, 8, 8) in [0, 1] -> logits (N, 10).
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        c = check_int(channels, "channels", "DigitJudge", minimum=1)
        self.net = nn.Sequential(
            nn.Conv2d(1, c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(c, 2 * c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(), nn.Linear(2 * c * 2 * 2, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_check_image_batch(x, "DigitJudge.forward"))


@_single_threaded
def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 15, batch_size: int = 64,
                     lr: float = 3e-3, seed: int = 0, device: str = "cpu") -> DigitJudge:
    """Train a DigitJudge with Adam and cross-entropy; returns it in eval mode.

    Shapes: images (N, 1, 8, 8) in [0, 1], labels (N,) int in 0..9 -> DigitJudge.
    """
    func = "train_classifier"
    _check_images(images, func)
    check_array(labels, "labels", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if len(labels) != len(images):
        _fail(ValueError, func, "one label per image", f"{len(images)} images and {len(labels)} labels", None)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    device = torch.device(device)
    with torch_seeded(seed):
        model = DigitJudge().to(device)
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
    """
    threshold = check_float(threshold, "threshold", "confident_fraction", minimum=0.0, maximum=1.0)
    try:
        confidence = classify(model, images)[1]
    except (TypeError, ValueError) as exc:
        raise reraise_as(exc, "confident_fraction") from exc
    return float(np.mean(confidence >= threshold))
