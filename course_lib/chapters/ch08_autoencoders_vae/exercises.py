"""Checks for chapter 8, autoencoders and variational autoencoders."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed


def _as_float(name: str, result):
    try:
        return float(result), None
    except (TypeError, ValueError):
        return None, failed(name, f"return one number (a float), got {type(result).__name__}.")


def check_kl_1d(func) -> Feedback:
    """Exercise 7.3: ``func(mu, sigma)`` returns KL(N(mu, sigma^2) || N(0, 1)) for one Gaussian."""
    name = "7.3 KL of a 1-D Gaussian"
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
            return failed(name, "log sigma^2 = 2 log sigma, and the formula halves it: "
                                "the term is -log(sigma).")
        if close(value, 0.5 * (mu**2 + sigma - 1.0) - np.log(sigma)):
            return failed(name, "the variance is sigma**2, not sigma: "
                                "0.5 * (mu**2 + sigma**2 - 1) - log(sigma).")
        if close(value, 0.5 * (mu**2 + sigma**2 - 1.0)):
            return failed(name, "you left out the -log(sigma) term: "
                                "without it a narrow Gaussian looks cheap.")
        if close(value, -expected):
            return failed(name, "the sign is flipped: a KL divergence is never negative.")
        return failed(name, f"for mu={mu}, sigma={sigma} expected {expected:.4f}, got {value:.4f}; "
                            "KL = 0.5 * (mu**2 + sigma**2 - 1) - log(sigma).")
    return passed(name, "zero only for mu = 0, sigma = 1; "
                        "it grows as the code's distribution leaves the prior.")


def check_reparameterize(func) -> Feedback:
    """Exercise 7.2: ``func(mu, logvar, eps)`` returns ``mu + exp(logvar / 2) * eps``."""
    name = "7.2 the reparameterisation trick"
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
            return failed(name, "exp(logvar) is the variance; scale eps by the standard deviation, "
                                "exp(logvar / 2).")
        if close(result, mu + logvar * eps):
            return failed(name, "logvar is the log of the variance: "
                                "the standard deviation is exp(logvar / 2).")
        if close(result, np.exp(0.5 * logvar) * eps):
            return failed(name, "shift the scaled noise by the mean: z = mu + std * eps.")
        if close(result, mu + np.sqrt(np.abs(logvar)) * eps):
            return failed(name, "logvar is a logarithm: undo it with exp before taking the square root.")
        return failed(name, "z = mu + exp(logvar / 2) * eps.")
    return passed(name, "the noise is an input, so gradients flow through mu and logvar.")


def check_compression_ratio(func) -> Feedback:
    """Exercise 7.1: ``func(input_shape, code_size)`` returns how many input numbers per code number."""
    name = "7.1 compression ratio"
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
            return failed(name, "the ratio is the other way round: input size / code size, larger than 1.")
        if close(value, shape[0] / code):
            return failed(name, f"count every number of the input: {shape} holds {size} of them "
                                "(multiply the dimensions, e.g. with np.prod).")
        if close(value, size // code) and size % code:
            return failed(name, "use true division (/), not floor division (//).")
        return failed(name, f"for an input of shape {shape} and a code of {code} expected {size / code:.4g}.")
    return passed(name, "an 8x8 digit squeezed into 8 numbers: each code number stands for 8 pixels.")
