"""Many 2-D GANs at once: one setting trained for several seeds side by side, and a verdict per run (chapter 9).

A GAN on the ring is tiny: a step costs far more in PyTorch's per-operation
overhead than in arithmetic. ``train_gan_2d_seeds`` therefore trains the
runs of all seeds *together*: every weight matrix gets a leading seed axis
and every product becomes one batched product (``torch.baddbmm``). Adam
works element by element and each run's loss only touches its own slice,
so each slice is trained exactly as ``train_gan_2d`` trains that seed alone
(same initial weights, same batches), up to the rounding order of the
batched products; five seeds cost little more than one.

``run_verdicts`` then names what each run did, from the two numbers of
``mode_coverage`` (see ``VERDICTS``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.chapters.ch09_gan.gan import _single_threaded, mlp_discriminator, mlp_generator, mode_coverage
from course_lib.checks import _fail, check_array, check_float, check_int, named_errors
from course_lib.device import torch_seeded
from course_lib.progress import progress

VERDICTS = {
    "converged": "at least 7 of 8 modes covered and at least half of the samples near a mode",
    "mode collapse": "at least half of the samples near a mode, but 4 modes or fewer covered",
    "not converged": "fewer than 30% of the samples near any mode: most samples lie between or off the modes",
    "partly": "anything else: on the way, neither a clear success nor one of the two failures",
}


class _Stacked(nn.Module):
    """Several MLPs of one architecture as one module: weights (E, in, out), biases (E, 1, out).

    ``nets`` are ``nn.Sequential`` of Linear layers and stateless activations
    (``mlp_generator`` / ``mlp_discriminator``); their initial weights are copied.
    """

    def __init__(self, nets):
        super().__init__()
        template = nets[0]
        self.weights, self.biases, self.acts = nn.ParameterList(), nn.ParameterList(), []
        for i, layer in enumerate(template):
            if isinstance(layer, nn.Linear):
                self.weights.append(nn.Parameter(torch.stack([net[i].weight.detach().T.clone() for net in nets])))
                self.biases.append(nn.Parameter(torch.stack([net[i].bias.detach()[None].clone() for net in nets])))
                self.acts.append(None)
            else:
                self.acts[-1] = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (E, N, in) -> (E, N, out)
        for w, b, act in zip(self.weights, self.biases, self.acts):
            x = torch.baddbmm(b, x, w)
            if act is not None:
                x = act(x)
        return x


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy on logits, averaged over each run's batch: (E, N, 1) -> (E,)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean((1, 2))


def _check_seeds(seeds, func: str) -> list[int]:
    if isinstance(seeds, str) or not isinstance(seeds, list | tuple | range) or not seeds:
        _fail(TypeError, func, "seeds as a non-empty list of seeds (int)", type(seeds).__name__,
              "e.g. seeds=[seed_for(k) for k in range(5)]")
    seeds = [check_int(s, "seeds[i]", func, minimum=0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        _fail(ValueError, func, "different seeds", str(seeds), "each seed once")
    return seeds


@_single_threaded
def train_gan_2d_seeds(data: np.ndarray, seeds, steps: int = 1000, batch_size: int = 128, lr_g: float = 1e-3,
                       lr_d: float = 1e-3, d_steps: int = 1, latent_dim: int = 2, hidden: int = 64,
                       snapshot_every: int = 100, n_snapshot: int = 1000, desc: str = "GANs") -> dict:
    """Train one 2-D GAN per seed, all at once; what ``train_gan_2d(data, seed=s, ...)`` does for each ``s``.

    Each step: ``d_steps`` discriminator updates on fresh real and fake
    batches, then one generator update (non-saturating loss), Adam with betas
    (0.5, 0.999). Weights and batches of run ``i`` come from ``seeds[i]``
    exactly as in ``train_gan_2d``. A GAN amplifies last-bit differences:
    on another CPU (or with other vector instructions) the same seed ends in
    visibly different samples, in float32 and in float64 alike, so compare
    settings by their means over seeds, not run by run.

    Returns plain data (for ``course_lib.shipped.run``): ``seeds``,
    ``snapshot_steps`` (T,), ``snapshots`` (E, T, n_snapshot, 2) float64,
    ``d_loss`` and ``g_loss`` (E, steps).

    Shapes: data (N, 2) -> dict as above, E = len(seeds).
    Twin: train_gan_2d, one seed at a time.
    """
    func = "train_gan_2d_seeds"
    check_array(data, "data", func, ndim=2, shape_doc="(N, 2)")
    seeds = _check_seeds(seeds, func)
    steps = check_int(steps, "steps", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    d_steps = check_int(d_steps, "d_steps", func, minimum=1)
    lr_g = check_float(lr_g, "lr_g", func, minimum=0.0, strict_min=True)
    lr_d = check_float(lr_d, "lr_d", func, minimum=0.0, strict_min=True)
    latent_dim = check_int(latent_dim, "latent_dim", func, minimum=1)
    snapshot_every = check_int(snapshot_every, "snapshot_every", func, minimum=1)
    n_snapshot = check_int(n_snapshot, "n_snapshot", func, minimum=1)
    gens, discs = [], []
    for seed in seeds:
        with torch_seeded(seed):  # the same initial weights as train_gan_2d(seed=seed)
            gens.append(mlp_generator(latent_dim, hidden, out_features=data.shape[1]))
            discs.append(mlp_discriminator(data.shape[1], hidden))
    G, D = _Stacked(gens), _Stacked(discs)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    gens_rng = [torch.Generator().manual_seed(seed) for seed in seeds]
    real_all = torch.as_tensor(data, dtype=torch.float32)
    z_fixed = torch.stack([torch.randn(n_snapshot, latent_dim, generator=g) for g in gens_rng])
    E = len(seeds)
    d_loss, g_loss, snapshots, snapshot_steps = np.zeros((E, steps)), np.zeros((E, steps)), [], []


    def snapshot(step):
        with torch.no_grad():
            snapshots.append(G(z_fixed).numpy().astype(np.float64))
        snapshot_steps.append(step)

    snapshot(0)
    for step in progress(range(1, steps + 1), desc=desc):
        for _ in range(d_steps):
            idx = torch.stack([torch.randint(0, len(real_all), (batch_size,), generator=g) for g in gens_rng])
            z = torch.stack([torch.randn(batch_size, latent_dim, generator=g) for g in gens_rng])
            with torch.no_grad():
                fake = G(z)
            losses_d = _bce(D(real_all[idx]), 1.0) + _bce(D(fake), 0.0)  # discriminator_loss_torch per run
            opt_d.zero_grad()
            losses_d.sum().backward()
            opt_d.step()
        z = torch.stack([torch.randn(batch_size, latent_dim, generator=g) for g in gens_rng])
        losses_g = _bce(D(G(z)), 1.0)  # generator_loss_torch (non-saturating) per run
        opt_g.zero_grad()
        losses_g.sum().backward()
        opt_g.step()
        d_loss[:, step - 1], g_loss[:, step - 1] = losses_d.detach().numpy(), losses_g.detach().numpy()
        if step % snapshot_every == 0:
            snapshot(step)
    return {"seeds": seeds, "snapshot_steps": snapshot_steps, "snapshots": np.stack(snapshots, axis=1),
            "d_loss": d_loss, "g_loss": g_loss}


def run_verdict(covered: int, near: float, modes: int = 8) -> str:
    """Name what one run did from ``mode_coverage``'s two numbers (one of ``VERDICTS``' keys).

    Shapes: none (two numbers -> a word).
    """
    func = "run_verdict"
    modes = check_int(modes, "modes", func, minimum=1)
    covered = check_int(covered, "covered", func, minimum=0, maximum=modes)
    near = check_float(near, "near", func, minimum=0.0, maximum=1.0)
    if near >= 0.5 and covered >= modes - 1:
        return "converged"
    if near >= 0.5 and covered <= modes // 2:
        return "mode collapse"
    if near < 0.3:
        return "not converged"
    return "partly"


def summarise_runs(runs: dict, centres: np.ndarray, radius: float, min_count: int = 10) -> dict:
    """Coverage of every run of ``train_gan_2d_seeds``' result, at every snapshot, and a verdict per run.

    Returns ``covered`` and ``near`` (E, T) (``mode_coverage`` at each
    snapshot), ``verdicts`` (E,) from the last snapshot, and the mean and
    standard deviation over runs of the final ``covered`` and ``near``.

    Shapes: runs["snapshots"] (E, T, M, 2), centres (K, 2) -> dict.
    """
    func = "summarise_runs"
    if not isinstance(runs, dict) or "snapshots" not in runs:
        _fail(TypeError, func, "the dict train_gan_2d_seeds returns", type(runs).__name__, None)
    snapshots = check_array(runs["snapshots"], "runs['snapshots']", func, ndim=4, shape_doc="(E, T, M, 2)")
    with named_errors(func):
        cov = np.array([[mode_coverage(s, centres, radius, min_count) for s in run] for run in snapshots])
    covered, near = cov[..., 0].astype(np.int64), cov[..., 1]
    k = len(centres)
    ddof = 1 if len(covered) > 1 else 0
    return {"covered": covered, "near": near,
            "verdicts": [run_verdict(int(c), float(n), k) for c, n in zip(covered[:, -1], near[:, -1])],
            "covered_mean": covered[:, -1].mean(), "covered_std": covered[:, -1].std(ddof=ddof),
            "near_mean": near[:, -1].mean(), "near_std": near[:, -1].std(ddof=ddof)}
