"""Chapter 8's workbench: the data split, the referee classifier, the training loops and the measurements.

The notebook keeps its cells short by calling these:

* ``split_digits`` cuts the digits into train / validation / test;
  ``train_referee`` trains chapter 2's MLP (from scratch, with ``fit``) as a
  referee that says which digit an image shows, with early stopping on the
  validation digits.
* ``train_autoencoder`` (torch, Adam on binary cross-entropy, optional input
  noise) trains one autoencoder and records its validation error per
  epoch; ``code_size_sweep`` and ``denoising_runs`` repeat it over seeds.
* ``train_vae`` trains the torch VAE and records its two loss terms.
* ``vae_step`` is the reference from-scratch VAE training step (forward and
  backward through the reparameterisation), the answer to exercise 8.5.
* ``gap_report`` and ``path_report`` measure what the chapter claims about
  latent spaces: how often a point of the latent region decodes to
  something a referee recognises and that lies near a real digit.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.checks import _fail, check_array, check_float, check_int
from course_lib.data import stratified_split
from course_lib.progress import progress
from course_lib.scratch.modules import MLP
from course_lib.scratch.optim import Adam
from course_lib.scratch.train import fit
from course_lib.scratch.vae import reparameterize, reparameterize_backward, vae_loss
from course_lib.twins.vae import VAE, Autoencoder
from course_lib.twins.vae import vae_loss as torch_vae_loss


def _check_images(X, name: str, func: str) -> np.ndarray:
    return check_array(X, name, func, ndim=2, shape_doc="(N, 64)", dtype_kind="f",
                       fix="pass flattened 8x8 digits, e.g. X.reshape(len(X), 64)")


def _floats(x, name: str, func: str, **kwargs) -> np.ndarray:
    """``x`` as a float64 array, checked with check_array(**kwargs); a TypeError naming ``func`` otherwise."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(TypeError, func, f"{name} as an array of numbers", type(x).__name__, None)
    return check_array(arr, name, func, **kwargs)


def _check_tensor(X, name: str, func: str) -> torch.Tensor:
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        _fail(TypeError, func, f"{name} as a 2-D float tensor (N, D)", type(X).__name__,
              "e.g. torch.tensor(X, dtype=torch.float32)")
    return X


def _check_module(model, func: str, kind=torch.nn.Module) -> None:
    if not isinstance(model, kind):
        _fail(TypeError, func, f"model to be a {kind.__name__}", type(model).__name__, None)


def _check_seeds(seeds, func: str) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        _fail(TypeError, func, "seeds as a list of ints", type(seeds).__name__, "e.g. [seed_for(s) for s in range(5)]")
    seeds = [check_int(s, "each seed", func, minimum=0) for s in seeds]
    if not seeds:
        _fail(ValueError, func, "at least one seed", "an empty list", None)
    return seeds


# --------------------------------------------------------------------------- data and referee


def split_digits(digits, val_size: float = 0.2, seed: int = 0) -> dict:
    """Hold out ``val_size`` of each class of ``digits``' training part as validation digits.

    ``digits`` is ``course_lib.data.load_digits(...)``'s split. Returns a dict
    with X_train, y_train, X_val, y_val, X_test, y_test.
    Shapes: -> arrays (N, 64) and (N,).
    """
    func = "split_digits"
    if not all(hasattr(digits, a) for a in ("X_train", "y_train", "X_test", "y_test")):
        _fail(TypeError, func, "digits as load_digits(...)'s split", type(digits).__name__,
              "e.g. split_digits(load_digits(test_size=0.3, seed=0))")
    val_size = check_float(val_size, "val_size", func, minimum=0.0, strict_min=True, maximum=0.9)
    seed = check_int(seed, "seed", func, minimum=0)
    train, val = stratified_split(digits.y_train, val_size, seed)
    return {"X_train": digits.X_train[train], "y_train": digits.y_train[train],
            "X_val": digits.X_train[val], "y_val": digits.y_train[val],
            "X_test": digits.X_test, "y_test": digits.y_test}


def train_referee(X_train, y_train, X_val, y_val, seed: int = 0, epochs: int = 60, patience: int = 8):
    """Chapter 2's MLP 64 -> 64 -> 10 in NumPy, Adam, early stopping on the validation loss.

    Returns ``(model, history)`` (``course_lib.scratch.train.History``); the
    model holds the weights of its best validation epoch.
    Shapes: X_* (N, 64), y_* (N,) -> (MLP, History).
    """
    func = "train_referee"
    for X, name in ((X_train, "X_train"), (X_val, "X_val")):
        _check_images(X, name, func)
    for y, name in ((y_train, "y_train"), (y_val, "y_val")):
        check_array(y, name, func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    rng = np.random.default_rng(check_int(seed, "seed", func, minimum=0))
    model = MLP([64, 64, 10], rng=rng)
    history = fit(model, Adam(model, lr=3e-3), X_train, y_train, check_int(epochs, "epochs", func, minimum=1),
                  batch_size=64, rng=rng, val=(X_val, y_val), patience=check_int(patience, "patience", func, minimum=1))
    return model, history


def classify_with(model, images) -> tuple[np.ndarray, np.ndarray]:
    """(predicted digit, its probability) for each image, by a scratch classifier ``model``.

    Shapes: images (N, 64) -> (N,) ints, (N,) floats.
    """
    if not callable(getattr(model, "forward", None)):
        _fail(TypeError, "classify_with", "model to be a scratch classifier with forward()", type(model).__name__,
              "pass the referee from train_referee")
    images = _check_images(_floats(images, "images", "classify_with"), "images", "classify_with")
    logits = model.forward(images)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    return probs.argmax(axis=1), probs.max(axis=1)


# --------------------------------------------------------------------------- autoencoders


def show_rows(rows, row_labels, size: float = 0.8):
    """Each entry of ``rows`` is a batch of images (n, 64), drawn as one row of 8x8 pictures with 1-pixel gaps.

    Shapes: rows: a list of (n, 64) arrays -> a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not isinstance(rows, (list, tuple)) or not rows:
        _fail(TypeError, "show_rows", "rows as a non-empty list of image batches (n, 64)", type(rows).__name__, None)
    if not isinstance(row_labels, (list, tuple)) or len(row_labels) != len(rows):
        _fail(ValueError, "show_rows", f"one label per row ({len(rows)})", repr(row_labels)[:60], None)
    n = len(rows[0])
    canvas = np.full((9 * len(rows) + 1, 9 * n + 1), np.nan)  # NaN gaps are drawn blank
    for r, images in enumerate(rows):
        for c in range(n):
            canvas[1 + 9 * r:9 * (r + 1), 1 + 9 * c:9 * (c + 1)] = np.asarray(images[c]).reshape(8, 8)
    fig, ax = plt.subplots(figsize=(size * n, size * len(rows)))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks(5 + 9 * np.arange(len(rows)), row_labels)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def reconstruct(model, X_in) -> np.ndarray:
    """The model's reconstruction of ``X_in`` (a tensor) as a NumPy array, pixels in (0, 1).

    Shapes: X_in (N, 64) -> (N, 64).
    """
    _check_module(model, "reconstruct")
    _check_tensor(X_in, "X_in", "reconstruct")
    with torch.no_grad():
        return torch.sigmoid(model(X_in)).numpy().astype(np.float64)


def pixel_mse(reconstruction, X) -> float:
    """Mean squared error per pixel between two arrays of the same shape (or one image against many).

    Shapes: (N, D) or (D,), and (N, D) -> float.
    """
    a = _floats(reconstruction, "reconstruction", "pixel_mse")
    b = _floats(X, "X", "pixel_mse")
    if a.shape[-1] != b.shape[-1]:
        _fail(ValueError, "pixel_mse", "arrays with the same number of pixels", f"{a.shape} and {b.shape}", None)
    return float(np.mean((a - b) ** 2))


def train_autoencoder(model, X, epochs: int, noise: float = 0.0, lr: float = 1e-2, batch_size: int = 128,
                      seed: int = 0, X_val=None) -> list:
    """Adam on binary cross-entropy between ``model(input)`` and ``X`` (input = X + noise * N(0, 1)).

    Trains ``model`` in place; returns the validation MSE per pixel after
    every epoch (on clean ``X_val``, an empty list without it).
    Shapes: X (N, D) tensor -> list of floats.
    """
    func = "train_autoencoder"
    _check_module(model, func)
    _check_tensor(X, "X", func)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    noise = check_float(noise, "noise", func, minimum=0.0)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    if X_val is not None:
        _check_tensor(X_val, "X_val", func)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", func, minimum=0))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            xb = X[order[start:start + batch_size]]
            x_in = xb + noise * torch.randn(xb.shape, generator=generator) if noise > 0 else xb
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x_in), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if X_val is not None:
            curve.append(pixel_mse(reconstruct(model, X_val), X_val.numpy()))
    return curve


def code_size_sweep(sizes, seeds, X, X_val, epochs: int = 40, keep_all: int = 2) -> dict:
    """One autoencoder ``[64, 64, K]`` per code size K and seed; validation MSE of each.

    Returns {"val_mse": (seeds, sizes) array, "curves": {K: first seed's
    validation curve}, "states": {K: first seed's state_dict}, "all_states":
    [state_dict per seed] for code size ``keep_all``}.
    Shapes: -> a dict of plain data (for course_lib.shipped).
    """
    func = "code_size_sweep"
    sizes = [check_int(k, "each code size", func, minimum=1) for k in _check_seeds(sizes, func)]
    seeds = _check_seeds(seeds, func)
    _check_tensor(X, "X", func)
    _check_tensor(X_val, "X_val", func)
    keep_all = check_int(keep_all, "keep_all", func, minimum=1)
    val_mse, curves, states, all_states = np.zeros((len(seeds), len(sizes))), {}, {}, []
    for i, seed in enumerate(progress(seeds, desc="code sizes")):
        for j, k in enumerate(sizes):
            torch.manual_seed(seed)
            model = Autoencoder([X.shape[1], 64, k])
            curve = train_autoencoder(model, X, epochs, seed=seed, X_val=X_val)
            val_mse[i, j] = curve[-1]
            if i == 0:
                curves[k], states[k] = curve, model.state_dict()
            if k == keep_all:
                all_states.append(model.state_dict())
    return {"val_mse": val_mse, "curves": curves, "states": states, "all_states": all_states}


def train_linear_autoencoder(X_centred, components, steps: int = 1500, lr: float = 0.01, seed: int = 0,
                             every: int = 25) -> dict:
    """Section 2's experiment: Linear(64, K) then Linear(K, 64) in NumPy, Adam on squared error, full batch.

    Every ``every`` steps the largest principal angle between the decoder's
    columns and ``components`` (K principal directions, rows) is recorded.
    Returns {"model", "checked_steps", "largest_angles", "losses"}.
    Shapes: X_centred (N, D), components (K, D) -> dict.
    """
    from course_lib.scratch.losses import mse_loss
    from course_lib.scratch.modules import Linear, Sequential
    from course_lib.scratch.vae import principal_angles

    func = "train_linear_autoencoder"
    X_centred = check_array(X_centred, "X_centred", func, ndim=2, shape_doc="(N, D)", dtype_kind="f")
    components = check_array(components, "components", func, ndim=2, shape_doc="(K, D)", dtype_kind="f")
    steps = check_int(steps, "steps", func, minimum=1)
    every = check_int(every, "every", func, minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", func, minimum=0))
    d, k = X_centred.shape[1], components.shape[0]
    model = Sequential(Linear(d, k, rng=rng), Linear(k, d, rng=rng))
    opt = Adam(model, lr=check_float(lr, "lr", func, minimum=0.0, strict_min=True))
    out = {"model": model, "checked_steps": [], "largest_angles": [], "losses": []}
    for step in progress(range(1, steps + 1), desc="linear autoencoder"):
        loss, dout = mse_loss(model.forward(X_centred), X_centred)
        model.backward(dout)
        opt.step()
        out["losses"].append(loss)
        if step % every == 0:
            out["checked_steps"].append(step)
            out["largest_angles"].append(principal_angles(model[1].params["weight"], components.T).max())
    return out


def denoising_runs(seeds, X, sigma: float, epochs: int = 40) -> dict:
    """A plain and a denoising overcomplete autoencoder [64, 128] per seed, from the same initial weights.

    Returns {"plain": [state_dict per seed], "denoising": [...]}.
    Shapes: -> a dict of plain data.
    """
    func = "denoising_runs"
    seeds = _check_seeds(seeds, func)
    _check_tensor(X, "X", func)
    sigma = check_float(sigma, "sigma", func, minimum=0.0, strict_min=True)
    runs = {"plain": [], "denoising": []}
    for seed in progress(seeds, desc="denoising"):
        for kind, noise in (("plain", 0.0), ("denoising", sigma)):
            torch.manual_seed(seed)
            model = Autoencoder([X.shape[1], 128])
            train_autoencoder(model, X, epochs, noise=noise, seed=seed)
            runs[kind].append(model.state_dict())
    return runs


# --------------------------------------------------------------------------- the VAE


def train_vae(X, seed: int = 0, epochs: int = 100, batch_size: int = 128, lr: float = 3e-3, hidden: int = 256,
              latent: int = 2) -> dict:
    """Adam on the VAE loss (BCE summed over pixels + KL), noise from a seeded generator.

    Returns {"state": state_dict, "history": {"reconstruction": [...], "kl": [...]}} with each term
    averaged over the training digits of every epoch.
    Shapes: X (N, D) tensor -> a dict of plain data.
    """
    func = "train_vae"
    _check_tensor(X, "X", func)
    seed = check_int(seed, "seed", func, minimum=0)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    torch.manual_seed(seed)
    vae = VAE([X.shape[1], check_int(hidden, "hidden", func, minimum=1), check_int(latent, "latent", func, minimum=1)])
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=check_float(lr, "lr", func, minimum=0.0, strict_min=True))
    history = {"reconstruction": [], "kl": []}
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        sums = {"reconstruction": 0.0, "kl": 0.0}
        for start in range(0, len(X), batch_size):
            xb = X[order[start:start + batch_size]]
            logits, mu, logvar = vae(xb, generator=generator)
            loss, recon, kl = torch_vae_loss(logits, xb, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sums["reconstruction"] += recon.item() * len(xb)
            sums["kl"] += kl.item() * len(xb)
        for key in history:
            history[key].append(sums[key] / len(X))
    return {"state": vae.state_dict(), "history": history}


def vae_step(encoder, decoder, x, eps) -> dict:
    """Forward and backward through a from-scratch VAE; fills every layer's grads, returns the pieces.

    ``encoder`` outputs 2K columns (mu, then logvar); ``decoder`` maps K codes
    to pixel logits. The gradient reaching mu and logvar is the KL term's
    plus the reconstruction's, which arrives through the sample z.
    Shapes: x (N, D), eps (N, K) -> {"loss", "reconstruction", "kl", "mu", "logvar", "z", "logits", "dx"}.
    Twin: course_lib.twins.vae.VAE(...)(x, eps=eps) and twins.vae.vae_loss, then .backward()
    """
    func = "vae_step"
    for module, name in ((encoder, "encoder"), (decoder, "decoder")):
        if not (callable(getattr(module, "forward", None)) and callable(getattr(module, "backward", None))):
            _fail(TypeError, func, f"{name} to be a scratch Module (forward and backward)", type(module).__name__,
                  "e.g. MLP([64, 16, 4]) from course_lib.scratch.modules")
    x = check_array(x, "x", func, ndim=2, shape_doc="(N, D)", dtype_kind="f")
    eps = check_array(eps, "eps", func, ndim=2, shape_doc="(N, K)", dtype_kind="f")
    k = eps.shape[1]
    h = encoder.forward(x)
    if h.shape != (len(x), 2 * k):
        _fail(ValueError, func, f"an encoder with 2K = {2 * k} outputs (mu and logvar)", f"{h.shape[1]}", None)
    mu, logvar = h[:, :k], h[:, k:]
    z, z_cache = reparameterize(mu, logvar, eps)
    logits = decoder.forward(z)
    loss, parts, dlogits, dmu, dlogvar = vae_loss(logits, x, mu, logvar)  # dmu, dlogvar: the KL term's
    dmu_recon, dlogvar_recon = reparameterize_backward(decoder.backward(dlogits), z_cache)
    dx = encoder.backward(np.concatenate([dmu + dmu_recon, dlogvar + dlogvar_recon], axis=1))
    return {"loss": loss, **parts, "mu": mu, "logvar": logvar, "z": z, "logits": logits, "dx": dx}


# --------------------------------------------------------------------------- measuring latent spaces


def latent_probe(decoder, codes, z, classify, reference) -> dict:
    """Decode the probe points ``z`` with the torch ``decoder`` and report them with ``gap_report``.

    ``classify(images) -> (digits, confidences)`` is the referee.
    Shapes: codes (N, K), z (M, K), reference (R, D) -> dict of floats (see gap_report).
    """
    func = "latent_probe"
    _check_module(decoder, func)
    if not callable(classify):
        _fail(TypeError, func, "classify to be a function images -> (digits, confidences)", type(classify).__name__,
              None)
    z = _floats(z, "z", func, ndim=2, shape_doc="(M, K)")
    with torch.no_grad():
        decoded = torch.sigmoid(decoder(torch.tensor(z, dtype=torch.float32))).numpy().astype(np.float64)
    return gap_report(codes, z, decoded, classify(decoded)[1], reference)


def nearest_distance(images, reference) -> np.ndarray:
    """Root-mean-square pixel distance from each image to its nearest image in ``reference``.

    Shapes: images (M, D), reference (N, D) -> (M,).
    """
    func = "nearest_distance"
    a = _floats(images, "images", func, ndim=2, shape_doc="(M, D)")
    b = _floats(reference, "reference", func, ndim=2, shape_doc="(N, D)")
    if a.shape[1] != b.shape[1]:
        _fail(ValueError, func, "images and reference with the same number of pixels", f"{a.shape} and {b.shape}",
              None)
    sq = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(sq.min(axis=1), 0.0) / a.shape[1])


def gap_report(codes, z, decoded, confidence, reference) -> dict:
    """How well the points ``z`` of a latent region are covered, and what they decode to.

    ``codes`` are the training digits' codes; ``z`` the probe points;
    ``decoded`` their images; ``confidence`` the referee's confidence on them.
    ``gap``: distance from each probe to its nearest training code, in units
    of the median distance between a training code and its nearest
    neighbour (values far above 1 are points in a hole between codes).
    Returns {"in_gap": share with gap > 3, "confidence": mean, "sure": share
    with confidence > 0.9, "distance": mean RMS distance to the nearest
    ``reference`` image}.
    Shapes: codes (N, K), z (M, K), decoded (M, D), confidence (M,), reference (R, D) -> dict of floats.
    """
    func = "gap_report"
    codes = _floats(codes, "codes", func, ndim=2, shape_doc="(N, K)")
    z = _floats(z, "z", func, ndim=2, shape_doc="(M, K)")
    confidence = _floats(confidence, "confidence", func, ndim=1, shape_doc="(M,)")
    d2 = ((codes[:, None, :] - codes[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    spacing = float(np.median(np.sqrt(d2.min(axis=1))))
    gap = np.sqrt(((z[:, None, :] - codes[None, :, :]) ** 2).sum(-1).min(axis=1)) / spacing
    return {"in_gap": float(np.mean(gap > 3)), "confidence": float(confidence.mean()),
            "sure": float(np.mean(confidence > 0.9)),
            "distance": float(nearest_distance(decoded, reference).mean())}


def path_report(path_images, confidence, reference) -> dict:
    """What lies along one interpolation path: the referee's least confidence and the farthest image from a digit.

    Shapes: path_images (S, D), confidence (S,), reference (R, D) -> {"min_confidence", "max_distance"}.
    """
    func = "path_report"
    confidence = _floats(confidence, "confidence", func, ndim=1, shape_doc="(S,)")
    distance = nearest_distance(path_images, reference)
    return {"min_confidence": float(confidence.min()), "max_distance": float(distance.max())}
