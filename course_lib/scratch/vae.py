"""Autoencoders and VAEs from scratch in NumPy (chapter 8).

The variational autoencoder's loss, in pieces, each with its gradient:

* ``reparameterize(mu, logvar, eps)`` draws ``z = mu + exp(logvar / 2) * eps``
  so that the randomness sits in ``eps`` and gradients reach ``mu`` and
  ``logvar``; ``reparameterize_backward`` sends ``dz`` back to them;
* ``gaussian_kl(mu, logvar)`` is KL(N(mu, sigma^2) || N(0, 1)), summed over
  the latent dimensions and averaged over the batch, with its gradients;
* ``reconstruction_loss(out, x, kind)`` is binary cross-entropy on logits or
  squared error, summed over the pixels and averaged over the batch (the same
  scale as the KL term), built on ``course_lib.scratch.losses``;
* ``vae_loss`` adds the two.

Plus ``principal_components`` and ``principal_angles``, which measure how
close the subspace a linear autoencoder learns is to the PCA subspace.

The PyTorch twins are in ``course_lib.twins.vae``. NumPy only: no torch here.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_cache, check_choice, check_float, check_int, reraise_as
from course_lib.scratch.losses import bce_with_logits, mse_loss

RECONSTRUCTIONS = ("bce", "mse")


def _check_latent_pair(mu, logvar, func: str) -> None:
    check_array(mu, "mu", func, ndim=2, shape_doc="(N, K)", dtype_kind="f",
                fix="pass a batch of latent means, e.g. mu[None] for one example")
    check_array(logvar, "logvar", func, dtype_kind="f")
    if logvar.shape != mu.shape:
        _fail(ValueError, func, f"logvar of mu's shape {mu.shape}", f"shape {logvar.shape}",
              "the encoder outputs one log-variance per latent mean")


def _check_grad(dout, shape: tuple, name: str, func: str) -> np.ndarray:
    check_array(dout, name, func, dtype_kind="f")
    if dout.shape != shape:
        _fail(ValueError, func, f"{name} of the forward output's shape {shape}", f"shape {dout.shape}",
              "pass the gradient of the loss with respect to z")
    return dout


# --------------------------------------------------------------------------- the reparameterisation trick


def reparameterize(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray):
    """A sample of N(mu, exp(logvar)) written as ``z = mu + exp(logvar / 2) * eps``, eps ~ N(0, 1).

    The noise ``eps`` is an input, so the sample is a deterministic,
    differentiable function of ``mu`` and ``logvar``. Returns ``(z, cache)``.

    Shapes: mu (N, K), logvar (N, K), eps (N, K) -> z (N, K).
    Twin: course_lib.twins.vae.reparameterize
    """
    func = "reparameterize"
    _check_latent_pair(mu, logvar, func)
    check_array(eps, "eps", func, dtype_kind="f")
    if eps.shape != mu.shape:
        _fail(ValueError, func, f"eps of mu's shape {mu.shape}", f"shape {eps.shape}",
              "draw one standard normal number per latent value, e.g. rng.standard_normal(mu.shape)")
    std = np.exp(0.5 * logvar)
    return mu + std * eps, (std, eps)


def reparameterize_backward(dz: np.ndarray, cache):
    """Returns ``(dmu, dlogvar)``: ``dmu = dz``, ``dlogvar = dz * eps * std / 2``.

    Shapes: dz (N, K) -> dmu (N, K), dlogvar (N, K).
    Twin: course_lib.twins.vae.reparameterize (its autograd backward)
    """
    std, eps = check_cache(cache, "reparameterize_backward", "reparameterize", 2)
    _check_grad(dz, std.shape, "dz", "reparameterize_backward")
    return dz.copy(), 0.5 * dz * eps * std


# --------------------------------------------------------------------------- the loss


def gaussian_kl(mu: np.ndarray, logvar: np.ndarray):
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dimensions, averaged over the batch.

    Per dimension ``0.5 * (mu**2 + sigma**2 - 1 - log sigma**2)`` with
    ``sigma**2 = exp(logvar)``. Returns ``(kl, dmu, dlogvar)``: the loss as a
    float and its gradients ``mu / N`` and ``(exp(logvar) - 1) / (2 N)``.

    Shapes: mu (N, K), logvar (N, K) -> (float, dmu (N, K), dlogvar (N, K)).
    Twin: course_lib.twins.vae.gaussian_kl
    """
    _check_latent_pair(mu, logvar, "gaussian_kl")
    n = mu.shape[0]
    var = np.exp(logvar)
    kl = 0.5 * float(np.sum(mu * mu + var - 1.0 - logvar)) / n
    return kl, mu / n, 0.5 * (var - 1.0) / n


def reconstruction_loss(out: np.ndarray, x: np.ndarray, kind: str = "bce"):
    """How far the decoder's output is from the input, summed over features, averaged over the batch.

    ``kind="bce"``: ``out`` are logits and ``x`` pixel values in [0, 1]
    (binary cross-entropy, the Bernoulli decoder); ``kind="mse"``: ``out``
    is the reconstruction itself (squared error, the Gaussian decoder).
    Returns ``(loss, dout)``. It is the library's mean loss times D, so it
    is on the same per-example scale as ``gaussian_kl``.

    Shapes: out (N, D), x (N, D) -> (float, dout (N, D)).
    Twin: course_lib.twins.vae.reconstruction_loss
    """
    func = "reconstruction_loss"
    check_choice(kind, "kind", func, RECONSTRUCTIONS)
    check_array(out, "out", func, ndim=2, shape_doc="(N, D)", dtype_kind="f",
                fix="flatten each example first, e.g. out.reshape(len(out), -1)")
    loss_fn = bce_with_logits if kind == "bce" else mse_loss
    loss, dout = loss_fn(out, x)
    d = out.shape[1]
    return loss * d, dout * d


def vae_loss(out: np.ndarray, x: np.ndarray, mu: np.ndarray, logvar: np.ndarray, kind: str = "bce",
             beta: float = 1.0):
    """The VAE's loss, reconstruction + beta * KL, each term per example averaged over the batch.

    Returns ``(loss, parts, dout, dmu, dlogvar)`` with ``parts`` a dict
    ``{"reconstruction": float, "kl": float}``; the gradients are those of
    ``loss`` with respect to the decoder output and to the encoder's
    ``mu`` and ``logvar`` through the KL term only (add the reconstruction's
    share through ``reparameterize_backward``).

    Shapes: out (N, D), x (N, D), mu (N, K), logvar (N, K) -> (float, dict, (N, D), (N, K), (N, K)).
    Twin: course_lib.twins.vae.vae_loss
    """
    beta = check_float(beta, "beta", "vae_loss", minimum=0.0)
    try:
        recon, dout = reconstruction_loss(out, x, kind)
        kl, dmu, dlogvar = gaussian_kl(mu, logvar)
    except (ValueError, TypeError) as exc:  # report as the function the user called
        raise reraise_as(exc, "vae_loss") from exc
    if out.shape[0] != mu.shape[0]:
        _fail(ValueError, "vae_loss", f"mu with one row per example ({out.shape[0]})", f"{mu.shape[0]} rows",
              "pass the encoder outputs of the same batch")
    return recon + beta * kl, {"reconstruction": recon, "kl": kl}, dout, beta * dmu, beta * dlogvar


# --------------------------------------------------------------------------- PCA and subspaces


def principal_components(X: np.ndarray, k: int):
    """The top-k principal directions of the rows of X and the variance along each.

    The data are centred with their own mean; the directions are the first
    k right singular vectors, as rows (like sklearn's ``components_``).
    Returns ``(components (k, D), variances (k,), mean (D,))``.

    Shapes: X (N, D) -> (k, D), (k,), (D,).
    Twin: sklearn.decomposition.PCA(k).fit(X) (components_, explained_variance_, mean_)
    """
    func = "principal_components"
    check_array(X, "X", func, ndim=2, shape_doc="(N, D)", dtype_kind="f")
    k = check_int(k, "k", func, minimum=1, maximum=min(X.shape))
    mean = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    return vt[:k], s[:k] ** 2 / max(X.shape[0] - 1, 1), mean


def _orthonormal_basis(A: np.ndarray, name: str, func: str) -> np.ndarray:
    check_array(A, name, func, ndim=2, shape_doc="(D, k)", dtype_kind="f",
                fix=f"pass the spanning vectors as the columns of {name}, "
                    f"e.g. {name}[:, None] for one vector")
    if A.shape[1] > A.shape[0]:
        _fail(ValueError, func, f"{name} with at most D = {A.shape[0]} columns (vectors in R^D as columns)",
              f"shape {A.shape}", f"did you pass the vectors as rows? try {name}.T")
    u, s, _ = np.linalg.svd(A, full_matrices=False)
    if s[-1] <= 1e-10 * s[0]:
        _fail(ValueError, func, f"the {A.shape[1]} columns of {name} to be linearly independent",
              f"rank {int(np.sum(s > 1e-10 * s[0]))}", "drop the dependent columns")
    return u


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The principal angles, in degrees and ascending, between the column spaces of A and B.

    Orthonormal bases come from the SVD of each matrix; the cosines of the
    angles are the singular values of ``Qa.T @ Qb`` (the sines are read off
    the paired principal vectors, for accuracy at small angles). Zero angles mean a
    shared direction; the largest angle is 0 exactly when one space
    contains the other.

    Shapes: A (D, k), B (D, l) -> angles (min(k, l),).
    Twin: scipy.linalg.subspace_angles (which returns radians, largest first)
    """
    func = "principal_angles"
    qa = _orthonormal_basis(A, "A", func)
    qb = _orthonormal_basis(B, "B", func)
    if qa.shape[0] != qb.shape[0]:
        _fail(ValueError, func, f"B with A's {qa.shape[0]} rows (both spaces in the same R^D)",
              f"{qb.shape[0]} rows", "pass the spanning vectors as columns")
    u, cosines, vt = np.linalg.svd(qa.T @ qb, full_matrices=False)
    m = min(qa.shape[1], qb.shape[1])
    # the paired principal vectors; arctan2(sin, cos) stays accurate for tiny angles, where arccos does not
    a, b = qa @ u[:, :m], qb @ vt[:m].T
    sines = np.linalg.norm(b - a * cosines[:m], axis=0)
    return np.sort(np.degrees(np.arctan2(sines, cosines[:m])))
