"""Checks for chapter 8, autoencoders and variational autoencoders.

Warm-ups (8.1 compression ratio, 8.2 the reparameterisation, 8.3 the KL of
a 1-D Gaussian) and the two exercises that build the VAE's training by
hand: 8.4 its loss with the gradients of both terms, checked against
PyTorch's autograd on the twin's ``vae_loss`` and against numeric
gradients, and 8.5 the backward pass of a whole VAE step through the
random sample, checked parameter by parameter against the torch twin.
Each check recognises the usual mistakes (a mean where the loss sums, a
missing term, a missing factor 1/2, ...) and names them with the section
to reread; anything else gets where it differs and by how much. No hint
prints the solution.
"""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs


def _as_float(name: str, result):
    try:
        return float(result), None
    except (TypeError, ValueError):
        return None, failed(name, f"return one number (a float), got {type(result).__name__}.")


def check_kl_1d(func) -> Feedback:
    """Exercise 8.3: ``func(mu, sigma)`` returns KL(N(mu, sigma^2) || N(0, 1)) for one Gaussian."""
    name = "8.3 KL of a 1-D Gaussian"
    for mu, sigma in [(0.0, 1.0), (1.5, 1.0), (0.0, 0.5), (-0.7, 2.0), (0.3, 0.2)]:
        result, problem = call_student(name, func, mu, sigma)
        if problem is not None:
            return problem
        value, problem = _as_float(name, result)
        if problem is not None:
            return problem
        expected = 0.5 * (mu**2 + sigma**2 - 1.0) - np.log(sigma)
        if close(value, expected):
            continue
        if close(value, 0.5 * (mu**2 + sigma**2 - 1.0) - 2 * np.log(sigma)):
            return failed(name, "the log term is doubled: log sigma^2 = 2 log sigma, and the formula halves it "
                                "(section 4.2).")
        if close(value, 0.5 * (mu**2 + sigma - 1.0) - np.log(sigma)):
            return failed(name, "the variance is sigma squared, not sigma (section 4.2).")
        if close(value, 0.5 * (mu**2 + sigma**2 - 1.0)):
            return failed(name, "you left out the -log(sigma) term: without it a narrow Gaussian looks cheap "
                                "(section 4.2).")
        if close(value, -expected):
            return failed(name, "the sign is flipped: a KL divergence is never negative (section 4.2).")
        return failed(name, f"for mu={mu}, sigma={sigma} your value {value:.4f} differs from the right one by "
                            f"{abs(value - expected):.3g}; compare each term with section 4.2's formula.")
    return passed(name, "zero only for mu = 0, sigma = 1; "
                        "it grows as the code's distribution leaves the prior.")


def check_reparameterize(func) -> Feedback:
    """Exercise 8.2: ``func(mu, logvar, eps)`` returns ``mu + exp(logvar / 2) * eps``."""
    name = "8.2 the reparameterisation trick"
    rng = np.random.default_rng(7)
    for shape in [(4, 2), (1, 3)]:
        mu, logvar, eps = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
        result, problem = call_student(name, func, mu.copy(), logvar.copy(), eps.copy())
        if problem is not None:
            return problem
        if np.shape(result) != shape:
            return failed(name, f"z has mu's shape {shape}, got shape {np.shape(result)}.")
        if close(result, mu + np.exp(0.5 * logvar) * eps):
            continue
        if close(result, mu + np.exp(logvar) * eps):
            return failed(name, "exp(logvar) is the variance: eps is scaled by the standard deviation, not the "
                                "variance (section 4.1).")
        if close(result, mu + logvar * eps):
            return failed(name, "logvar is the log of the variance, not a standard deviation: undo the log first "
                                "(section 4.1).")
        if close(result, np.exp(0.5 * logvar) * eps):
            return failed(name, "the mean mu is missing: the scaled noise is shifted by it (section 4.1).")
        if close(result, mu + np.sqrt(np.abs(logvar)) * eps):
            return failed(name, "logvar is a logarithm: undo it with exp before taking the square root "
                                "(section 4.1).")
        try:
            where = where_differs("z", result, mu + np.exp(0.5 * logvar) * eps)
        except (TypeError, ValueError):
            return failed(name, f"z should be an array of numbers, got {type(result).__name__}.")
        return failed(name, f"{where}; no common mistake matches: reread section 4.1 and check your answer for "
                            "mu = 0, logvar = 0.")
    return passed(name, "the noise is an input, so gradients flow through mu and logvar.")


def check_compression_ratio(func) -> Feedback:
    """Exercise 8.1: ``func(input_shape, code_size)`` returns how many input numbers per code number."""
    name = "8.1 compression ratio"
    for shape, code in [((8, 8), 8), ((28, 28), 32), ((3, 32, 32), 100), ((64,), 2)]:
        result, problem = call_student(name, func, shape, code)
        if problem is not None:
            return problem
        value, problem = _as_float(name, result)
        if problem is not None:
            return problem
        size = int(np.prod(shape))
        if close(value, size / code):
            continue
        if close(value, code / size):
            return failed(name, "the ratio is the other way round: it counts the input numbers per code number, "
                                "so a code smaller than its input gives a ratio above 1 (section 1).")
        if close(value, shape[0] / code):
            return failed(name, f"only the first dimension of the input shape {shape} is counted: count every "
                                "number of the input (section 1).")
        if close(value, size // code) and size % code:
            return failed(name, "that is a floor division: the ratio need not be a whole number (section 1).")
        return failed(name, f"for an input of shape {shape} and a code of {code} numbers your ratio {value:.6g} "
                            f"should be {size / code:.6g}; no common mistake matches: reread exercise 8.1's "
                            "example in section 1.")
    return passed(name, "an 8x8 digit squeezed into 8 numbers: each code number stands for 8 pixels.")


# --------------------------------------------------------------------------- 8.4 the VAE loss and its gradients


def _torch_vae_loss_grads(logits, x, mu, logvar):
    """The twin's loss and its autograd gradients, float64: (loss, dlogits, dmu, dlogvar)."""
    import torch

    from course_lib.twins.vae import vae_loss as torch_vae_loss

    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (logits, mu, logvar)]
    loss = torch_vae_loss(tensors[0], torch.tensor(x), tensors[1], tensors[2])[0]
    loss.backward()
    return (loss.item(), *(t.grad.numpy() for t in tensors))


def _differs(name, what, mine, right):
    """The hint for an answer no known mistake explains: where it differs (``where_differs``) and what to try."""
    return failed(name, f"{where_differs(what, mine, right)}; no common mistake matches: take a batch of one "
                        "example with one pixel and one latent dimension and compare each term with section 4.")


def _loss_only(logits, x, mu, logvar):
    """A function of no arguments: the reference loss at the current values of the arrays."""
    return lambda: np.array(_torch_vae_loss_grads(logits, x, mu, logvar)[0])


def _vae_cases(rng):
    cases = []
    for n, d, k in [(5, 7, 2), (3, 4, 3)]:
        cases.append((rng.normal(size=(n, d)), rng.uniform(size=(n, d)), rng.normal(size=(n, k)),
                      0.5 * rng.normal(size=(n, k))))
    return cases


def _unpack_loss(name, result, shapes):
    if not (isinstance(result, (tuple, list)) and len(result) == 4):
        return None, failed(name, f"return four things, (loss, dlogits, dmu, dlogvar); got {type(result).__name__}.")
    try:
        loss = float(result[0])
    except (TypeError, ValueError):
        return None, failed(name, f"the loss is one number (a float), got {type(result[0]).__name__}.")
    grads = []
    for what, value, shape in zip(("dlogits", "dmu", "dlogvar"), result[1:], shapes):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return None, failed(name, f"{what} must be an array, got {type(value).__name__}.")
        if arr.shape != shape:
            return None, failed(name, f"{what} has the shape of its input, {shape}; got {arr.shape}.")
        grads.append(arr)
    return (loss, *grads), None


def check_vae_loss(func) -> Feedback:
    """Exercise 8.4: ``func(logits, x, mu, logvar) -> (loss, dlogits, dmu, dlogvar)``, the negative ELBO per example.

    The reference is PyTorch's autograd through ``course_lib.twins.vae.vae_loss``
    (float64); the check also confirms it against central differences.
    """
    from course_lib.scratch.gradcheck import numeric_gradient

    name = "8.4 the VAE loss and its gradients"
    for logits, x, mu, logvar in _vae_cases(np.random.default_rng(84)):
        n, d = x.shape
        with np.errstate(all="ignore"):
            result, problem = call_student(name, func, logits.copy(), x.copy(), mu.copy(), logvar.copy())
        if problem is not None:
            return problem
        values, problem = _unpack_loss(name, result, (logits.shape, mu.shape, logvar.shape))
        if problem is not None:
            return problem
        loss, dlogits, dmu, dlogvar = values
        r_loss, r_dlogits, r_dmu, r_dlogvar = _torch_vae_loss_grads(logits, x, mu, logvar)
        p = 1 / (1 + np.exp(-logits))
        bce = float(np.sum(np.logaddexp(0, logits) - x * logits)) / n
        kl = 0.5 * float(np.sum(mu**2 + np.exp(logvar) - 1 - logvar)) / n
        # the reference itself, against central differences
        numeric = numeric_gradient(_loss_only(logits, x, mu, logvar), logits)
        if not np.allclose(numeric, r_dlogits, atol=1e-6):  # pragma: no cover (a broken torch install)
            raise RuntimeError("check_vae_loss: the torch reference disagrees with numeric gradients")
        if not close(loss, r_loss):
            if close(loss, bce / d + kl) or close(loss, bce / d + kl / mu.shape[1]):
                return failed(name, "the reconstruction term is a mean over the pixels: the negative ELBO "
                                    "sums -log p(x | z) over all pixels of an example (section 4, the ELBO).")
            if close(loss, n * (bce + kl)):
                return failed(name, "the loss is summed over the batch: average it over the examples, so that its "
                                    "size does not depend on the batch size (section 4).")
            if close(loss, bce):
                return failed(name, "the KL term is missing: the negative ELBO is reconstruction + KL (section 4).")
            if close(loss, bce - kl):
                return failed(name, "the KL term is subtracted: the ELBO subtracts it, so its negative, the loss, "
                                    "adds it (section 4).")
            if close(loss, kl):
                return failed(name, "the reconstruction term is missing (section 4).")
            return _differs(name, "the loss", loss, r_loss)
        if not close(dlogits, r_dlogits):
            if close(dlogits, (logits - x) / n):
                return failed(name, "dlogits: the decoder outputs logits, and the probabilities are their sigmoid; "
                                    "the gradient of binary cross-entropy with logits goes through it (section 4).")
            if close(dlogits, (p - x)) or close(dlogits, (p - x) / (n * d)):
                return failed(name, "dlogits has the wrong scale: the loss sums over pixels and averages over "
                                    "examples, so its gradient carries the same 1/N and no 1/D (section 4).")
            return _differs(name, "dlogits", dlogits, r_dlogits)
        if not close(dmu, r_dmu):
            if close(dmu, mu):
                return failed(name, "dmu is missing the 1/N of the batch average (section 4.2).")
            if close(dmu, 2 * mu / n):
                return failed(name, "dmu is twice too large: it is missing the factor 1/2 of the KL term "
                                    "(section 4.2).")
            return _differs(name, "dmu", dmu, r_dmu)
        if not close(dlogvar, r_dlogvar):
            var = np.exp(logvar)
            if close(dlogvar, (var - 1) / n):
                return failed(name, "dlogvar is missing the factor 1/2 of the KL term (section 4.2).")
            if close(dlogvar, 0.5 * var / n) or close(dlogvar, -0.5 / n * np.ones_like(var)):
                return failed(name, "dlogvar: the KL term holds both sigma^2 = exp(logvar) and -logvar; "
                                    "differentiate both (section 4.2).")
            if close(dlogvar, 0.5 * (var - 1)):
                return failed(name, "dlogvar is missing the 1/N of the batch average (section 4.2).")
            return _differs(name, "dlogvar", dlogvar, r_dlogvar)
    return passed(name, "reconstruction summed over pixels plus KL, averaged over the batch, with the gradients "
                        "autograd finds (and central differences agree).")


# --------------------------------------------------------------------------- 8.5 a whole VAE step, backward


def _vae_setup(seed):
    """A small scratch VAE (K = 2), its torch twin with the same weights, a batch and its noise."""
    import torch

    from course_lib.scratch.modules import MLP
    from course_lib.twins.compare import copy_weights
    from course_lib.twins.vae import VAE

    rng = np.random.default_rng(seed)
    encoder, decoder = MLP([6, 5, 4], rng=rng), MLP([2, 5, 6], rng=rng)
    twin = VAE([6, 5, 2], dtype=torch.float64)
    copy_weights(encoder, twin.encoder)
    copy_weights(decoder, twin.decoder)
    return encoder, decoder, twin, rng.uniform(size=(4, 6)), rng.normal(size=(4, 2))


def _reference_grads(encoder, decoder, x, eps, variant=None):
    """Encoder and decoder gradients of the VAE step, right (variant None) or with a named mistake."""
    from course_lib.scratch.vae import reparameterize, vae_loss

    k = eps.shape[1]
    h = encoder.forward(x)
    mu, logvar = h[:, :k], h[:, k:]
    z, _ = reparameterize(mu, logvar, eps)
    loss, _, dlogits, dmu_kl, dlogvar_kl = vae_loss(decoder.forward(z), x, mu, logvar)
    dz = decoder.backward(dlogits)
    sigma = np.exp(0.5 * logvar)
    dlogvar_z = {"no_half": dz * eps * sigma, "no_eps": 0.5 * dz * sigma, "no_sigma": 0.5 * dz * eps}.get(
        variant, 0.5 * dz * eps * sigma)
    dmu, dlogvar = dmu_kl + dz, dlogvar_kl + dlogvar_z
    if variant == "no_kl":
        dmu, dlogvar = dz, dlogvar_z
    elif variant == "no_recon":
        dmu, dlogvar = dmu_kl, dlogvar_kl
    elif variant == "no_recon_logvar":
        dlogvar = dlogvar_kl
    joined = np.concatenate([dlogvar, dmu] if variant == "swapped" else [dmu, dlogvar], axis=1)
    encoder.backward(joined)
    return loss, {name: grad.copy() for name, _, grad in encoder.named_parameters()}


_STEP_MISTAKES = {
    "no_kl": "the KL term's own gradient (dmu and dlogvar that vae_loss returns) is not added at the encoder's "
             "outputs: mu and logvar reach the loss along two paths, and both gradients add up (section 4.3).",
    "no_recon": "the reconstruction's gradient does not reach the encoder: the decoder's input gradient dz must "
                "go on through the sample to mu and logvar (section 4.1).",
    "no_recon_logvar": "the reconstruction's gradient reaches mu but not logvar: z depends on logvar through sigma "
                       "(section 4.1).",
    "no_half": "dz/dlogvar misses the factor 1/2: sigma is the square root of the variance, not the variance "
               "(section 4.1).",
    "no_eps": "dz/dlogvar misses the noise eps, which scales sigma's effect on z (section 4.1).",
    "no_sigma": "dz/dlogvar misses sigma itself: sigma is an exponential of logvar, and the derivative of an "
                "exponential keeps it (section 4.1).",
    "swapped": "the gradient for mu and the one for logvar are in each other's place: the encoder's first K "
               "outputs are mu, the last K logvar (section 4.3).",
}


def check_vae_step(func) -> Feedback:
    """Exercise 8.5: ``func(encoder, decoder, x, eps) -> loss`` runs a VAE step forward and backward.

    Afterwards every parameter of the scratch ``encoder`` and ``decoder`` must
    hold its gradient. The reference is the torch twin (same weights, same
    noise) and autograd. The exercise asks for the backward through the
    sample to be written out, so a solution that calls the library's
    ``reparameterize_backward`` or ``vae_step`` is sent back.
    """
    import inspect

    import torch

    from course_lib.twins.vae import vae_loss as torch_vae_loss

    name = "8.5 the VAE step, backward"
    if func is None:
        return failed(name, "not attempted yet: write the function above, then run this check.")
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = ""
    if "reparameterize_backward" in source or "vae_step(" in source:
        return failed(name, "write the backward through the sample yourself, without the library's "
                            "reparameterize_backward or vae_step (that is the exercise).")
    for seed in (85, 86):
        encoder, decoder, twin, x, eps = _vae_setup(seed)
        result, problem = call_student(name, func, encoder, decoder, x.copy(), eps.copy())
        if problem is not None:
            return problem
        x_t = torch.tensor(x)
        logits, mu, logvar = twin(x_t, eps=torch.tensor(eps))
        loss_t = torch_vae_loss(logits, x_t, mu, logvar)[0]
        loss_t.backward()
        try:
            loss = float(result)
        except (TypeError, ValueError):
            return failed(name, f"return the loss as one number, got {type(result).__name__}.")
        if not close(loss, loss_t.item()):
            return _differs(name, "the loss", loss, loss_t.item())
        for part, scratch_part, torch_part in (("decoder", decoder, twin.decoder), ("encoder", encoder, twin.encoder)):
            theirs = dict(torch_part.named_parameters())
            for pname, _, grad in scratch_part.named_parameters():
                right = theirs[pname].grad.numpy()
                if close(grad, right):
                    continue
                if part == "decoder":
                    return failed(name, f"the decoder's {pname} gradient is wrong: run decoder.backward with the "
                                        "dlogits that vae_loss returns (section 4.3).")
                mine = {n: g.copy() for n, _, g in encoder.named_parameters()}
                for variant, hint in _STEP_MISTAKES.items():
                    enc2, dec2, _, _, _ = _vae_setup(seed)
                    _, grads = _reference_grads(enc2, dec2, x, eps, variant)
                    if all(close(mine[n], grads[n]) for n in mine):
                        return failed(name, hint)
                return _differs(name, f"the encoder's {pname} gradient", grad, right)
    return passed(name, "the gradient reaching mu and logvar is the KL term's plus the reconstruction's through "
                        "the sample: the scratch VAE trains exactly like the torch twin.")


EXERCISES = (
    "8.1 compression ratio",
    "8.2 the reparameterisation trick",
    "8.3 KL of a 1-D Gaussian",
    "8.4 the VAE loss and its gradients",
    "8.5 the VAE step, backward",
)
