"""Checks for chapter 9, generative adversarial networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed


def _distributions(seed: int, size: int = 6):
    """Two discrete distributions over ``size`` points, both strictly positive."""
    rng = np.random.default_rng(seed)
    p_data, p_g = rng.random(size) + 0.05, rng.random(size) + 0.05
    return p_data / p_data.sum(), p_g / p_g.sum()


def _value(p_data, p_g):
    d = p_data / (p_data + p_g)
    return float(np.sum(p_data * np.log(d)) + np.sum(p_g * np.log(1 - d)))


def check_optimal_discriminator(func) -> Feedback:
    """Exercise 8.1: ``func(p_data, p_g)`` returns the best discriminator D*(x) at each point."""
    name = "8.1 optimal discriminator"
    p_data, p_g = _distributions(81)
    result, problem = call_student(name, func, p_data.copy(), p_g.copy())
    if problem is not None:
        return problem
    if np.shape(result) != p_data.shape:
        return failed(name, f"return one value per point, shape {p_data.shape}; got {np.shape(result)}.")
    expected = p_data / (p_data + p_g)
    if close(result, 1 - expected):
        return failed(name, "that is 1 - D*: D should be large where the data is dense, p_data on top.")
    if close(result, p_data / p_g) or close(result, p_data):
        return failed(name, "D* is a probability: divide p_data by the total density p_data + p_g.")
    if not close(result, expected):
        return failed(name, "maximise p_data log D + p_g log(1 - D) at each point: set its derivative to 0.")
    same, _ = call_student(name, func, p_data.copy(), p_data.copy())
    if not close(same, np.full(p_data.shape, 0.5)):
        return failed(name, "when p_g equals p_data, D* must be 1/2 everywhere.")
    return passed(name, "D*(x) = p_data / (p_data + p_g); it is 1/2 everywhere once p_g = p_data.")


def check_value_at_optimum(func) -> Feedback:
    """Exercise 8.2: ``func(p_data, p_g)`` returns V(D*, G) for two discrete distributions."""
    name = "8.2 value of the game"
    for seed in (82, 83):
        p_data, p_g = _distributions(seed)
        result, problem = call_student(name, func, p_data.copy(), p_g.copy())
        if problem is not None:
            return problem
        try:
            value = float(result)
        except (TypeError, ValueError):
            return failed(name, f"return one number, got {type(result).__name__}.")
        expected = _value(p_data, p_g)
        if np.isclose(value, -np.log(4)) and not np.isclose(expected, -np.log(4)):
            return failed(name, "-log 4 is the value only when p_g = p_data; compute V from p_data and p_g.")
        if np.isclose(value, -expected):
            return failed(name, "the sign: V sums p log D terms, and the log of a probability is negative.")
        if np.isclose(value, expected / len(p_data)):
            return failed(name, "an expectation weights by the probabilities: sum p(x) log D(x), not a mean.")
        if not np.isclose(value, expected, atol=1e-8):
            return failed(name, "V = sum p_data log D* + sum p_g log(1 - D*), D* = p_data / (p_data + p_g).")
    p_data, _ = _distributions(84)
    equal, problem = call_student(name, func, p_data.copy(), p_data.copy())
    if problem is not None:
        return problem
    if not np.isclose(float(equal), -np.log(4), atol=1e-8):
        return failed(name, "for p_g = p_data every D* is 1/2, so V should be 2 log(1/2) = -log 4.")
    return passed(name, "V(D*, G) = -log 4 + 2 JS(p_data || p_g): lowest (-log 4) just when p_g = p_data.")


def check_nonsaturating_grad(func) -> Feedback:
    """Exercise 8.3: ``func(fake_logits)`` returns d/d(logits) of mean(-log sigmoid(logits))."""
    name = "8.3 non-saturating gradient"
    logits = np.array([-6.0, -2.0, -0.5, 0.0, 1.5, 4.0, -9.0])
    result, problem = call_student(name, func, logits.copy())
    if problem is not None:
        return problem
    if np.shape(result) != logits.shape:
        return failed(name, f"return one gradient per logit, shape {logits.shape}; got {np.shape(result)}.")
    s = 1.0 / (1.0 + np.exp(-logits))
    n = logits.size
    expected = (s - 1.0) / n
    if close(result, s - 1.0):
        return failed(name, "close: the loss is a mean over the batch, so divide by N.")
    if close(result, -s / n):
        return failed(name, "that is the minimax loss's gradient, -sigmoid / N; differentiate -log sigmoid.")
    if close(result, (1.0 - s) / n):
        return failed(name, "the sign: raising a fake's logit lowers -log D, so the gradient is negative.")
    if not close(result, expected):
        return failed(name, "d/dx of -log sigmoid(x) is sigmoid(x) - 1; then divide by N for the mean.")
    return passed(name, "(sigmoid - 1) / N: about -1/N for confidently rejected fakes, so they still learn.")
