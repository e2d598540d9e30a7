"""Checks for chapter 4, training deep networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs


def _differs(name: str, got, want) -> str:
    """Where ``got`` differs most from ``want`` (:func:`where_differs`), or a note when it is not numbers."""
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"{name} is not an array of numbers"
    return where_differs(name, got, want)


def check_xavier_std(func) -> Feedback:
    """Exercise 4.1: ``func(fan_in, fan_out)`` returns Xavier's std, sqrt(2 / (fan_in + fan_out))."""
    name = "4.1 Xavier's std"
    for fan_in, fan_out in [(256, 256), (64, 10), (3, 7)]:
        result, problem = call_student(name, func, fan_in, fan_out)
        if problem is not None:
            return problem
        try:
            value = float(result)
        except (TypeError, ValueError):
            return failed(name, f"return one number (a float), got {type(result).__name__}.")
        total = fan_in + fan_out
        if close(value, np.sqrt(2.0 / total)):
            continue
        if close(value, 2.0 / total):
            return failed(name, "that is the variance; the standard deviation is its square root (section 1).")
        if close(value, np.sqrt(6.0 / total)):
            return failed(name, "that is the bound of Xavier's *uniform* version, not the std of the normal one "
                                "(section 1 gives its variance).")
        if close(value, np.sqrt(2.0 / fan_in)):
            return failed(name, "that is He's std, made for ReLU from fan_in alone; Xavier's balances fan_in and "
                                "fan_out (section 1).")
        if close(value, np.sqrt(1.0 / fan_in)):
            return failed(name, "a std from fan_in alone keeps only the forward pass in check; Xavier's also uses "
                                "fan_out, for the backward pass (section 1).")
        return failed(name, f"for fan_in={fan_in}, fan_out={fan_out} expected a std of {np.sqrt(2.0 / total):.4f}, "
                            f"got {value:.4f}; Xavier's variance balances both fans (section 1).")
    return passed(name, "Var = 2 / (fan_in + fan_out) balances the forward signal and the backward gradient.")


def _adam_reference(param, grad, m, v, t, lr, beta1, beta2, eps, bias_correction=True):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if bias_correction else (m, v)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def check_adam_step(func) -> Feedback:
    """Exercise 4.2: ``func(param, grad, m, v, t, lr, beta1, beta2, eps)`` returns ``(param, m, v)``."""
    name = "4.2 one Adam step"
    rng = np.random.default_rng(42)
    hp = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    cases = [
        (rng.normal(size=5), rng.normal(size=5), np.zeros(5), np.zeros(5), 1),
        (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.random((2, 3)), 4),
    ]
    for param, grad, m, v, t in cases:
        args = (param.copy(), grad.copy(), m.copy(), v.copy(), t, *hp.values())
        result, problem = call_student(name, func, *args)
        if problem is not None:
            return problem
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            return failed(name, "return the three arrays (param, m, v), the new values of each.")
        new_p, new_m, new_v = result
        ref_p, ref_m, ref_v = _adam_reference(param, grad, m, v, t, **hp)
        if not close(new_m, ref_m, atol=1e-12):
            if close(new_m, hp["beta1"] * m + grad, atol=1e-12):
                return failed(name, "m is a moving *average*, not momentum's running sum: the old m and the new "
                                    "gradient get weights that add up to 1 (section 2).")
            if close(new_m, m, atol=1e-12):
                return failed(name, "m came back unchanged: return the updated first moment, not the one you were "
                                    "given (section 2).")
            return failed(name, f"step t={t}: " + _differs("m", new_m, ref_m) + "; m is a running average of "
                                "the gradients (section 2).")
        if not close(new_v, ref_v, atol=1e-12):
            if close(new_v, hp["beta2"] * v + (1 - hp["beta2"]) * grad, atol=1e-12):
                return failed(name, "v averages the *squared* gradient, elementwise, not the gradient itself "
                                    "(section 2).")
            return failed(name, f"step t={t}: " + _differs("v", new_v, ref_v) + "; v is a running average of "
                                "the squared gradients (section 2).")
        if close(new_p, ref_p, atol=1e-10):
            continue
        no_bc, _, _ = _adam_reference(param, grad, m, v, t, **hp, bias_correction=False)
        if close(new_p, no_bc, atol=1e-10):
            return failed(name, "the step skips the bias correction: m and v start at zero and are too small in "
                                "the first steps, so correct their bias before you step (section 2).")
        if close(new_p, 2 * param - ref_p, atol=1e-10):
            return failed(name, "your step goes uphill, with the gradient; a descent step goes against the "
                                "gradient (section 2).")
        return failed(name, f"m and v are right, the parameter is not (step t={t}): "
                            + _differs("param", new_p, ref_p) + "; check where eps and the square root go "
                            "(section 2).")
    return passed(name, "each weight's step is lr * m_hat / (sqrt(v_hat) + eps): about lr in size while "
                        "its gradient keeps its sign, whatever the gradient's scale.")


def check_dropout_forward(func) -> Feedback:
    """Exercise 4.3: ``func(x, p, mask)`` is inverted dropout with a given keep-mask."""
    name = "4.3 inverted dropout"
    rng = np.random.default_rng(7)
    for p in (0.5, 0.2, 0.0):
        x = rng.normal(size=(4, 6))
        mask = rng.random(x.shape) >= p
        result, problem = call_student(name, func, x.copy(), p, mask.copy())
        if problem is not None:
            return problem
        if np.shape(result) != x.shape:
            return failed(name, f"the output has x's shape {x.shape}, got shape {np.shape(result)}.")
        if close(result, x * mask / (1 - p)):
            continue
        if close(result, x * mask):
            return failed(name, f"with p={p} you zeroed the dropped units but did not rescale the kept ones: "
                                "inverted dropout scales them so that every unit keeps its expected value "
                                "(section 3).")
        if close(result, x * mask * (1 - p)):
            return failed(name, "you shrank the kept units by the keep probability, the old dropout's rule for "
                                "test time; inverted dropout scales them up during training instead (section 3).")
        if close(result, x * ~mask / (1 - p)):
            return failed(name, "you zeroed the kept units: mask is True where a unit is *kept* (section 3).")
        want = np.where(mask, x / (1 - p), 0.0)  # no -0 for a dropped negative unit
        return failed(name, f"with p={p} " + _differs("out", result, want) + "; dropped units are 0, kept ones keep "
                            "their expected value (section 3).")
    return passed(name, "zero the dropped units, scale the kept ones by 1 / (1 - p).")


# ----------------------------------------------------------------------------- exercise 4.4

_SECTION4 = "section 4"


def _bn_case():
    """A batch with features of different scales and a gamma that is not all ones."""
    rng = np.random.default_rng(44)
    n, d = 7, 4
    x = rng.normal(size=(n, d)) * np.array([0.5, 1.0, 2.0, 4.0]) + np.array([1.0, -2.0, 0.0, 3.0])
    gamma = rng.uniform(0.5, 1.5, size=d)
    dout = rng.normal(size=(n, d))
    return x, gamma, dout, 1e-5


def _bn_reference(dout, x, gamma, eps, ddof=0, mean_path=True, var_path=True):
    """Batch norm's backward pass (training mode), with switches that drop a path or use the unbiased variance."""
    n = len(x)
    mu = x.mean(axis=0)
    var = x.var(axis=0, ddof=ddof)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    dxhat = dout * gamma
    dx = dxhat.copy()
    if mean_path:
        dx -= dxhat.mean(axis=0)
    if var_path:
        dx -= xhat * (dxhat * xhat).sum(axis=0) / (n - ddof)
    return dx * inv_std, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def check_batchnorm_backward(func) -> Feedback:
    """Exercise 4.4: ``func(dout, x, gamma, eps) -> (dx, dgamma, dbeta)`` of batch norm in training mode.

    Compared with ``torch.nn.functional.batch_norm``'s autograd in float64;
    common mistakes (batch statistics treated as constants, one path
    missing, the unbiased variance, a wrong axis) are named.
    """
    import torch

    name = "4.4 batch-norm backward"
    x, gamma, dout, eps = _bn_case()
    result, problem = call_student(name, func, dout.copy(), x.copy(), gamma.copy(), eps)
    if problem is not None:
        return problem
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        return failed(name, "return the three gradients (dx, dgamma, dbeta).")
    x_t = torch.tensor(x, requires_grad=True)
    g_t = torch.tensor(gamma, requires_grad=True)
    b_t = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.batch_norm(x_t, None, None, g_t, b_t, training=True, eps=eps)
    out.backward(torch.from_numpy(dout))
    want = {"dx": x_t.grad.numpy(), "dgamma": g_t.grad.numpy(), "dbeta": b_t.grad.numpy()}
    got = dict(zip(want, result))
    for key in ("dbeta", "dgamma", "dx"):
        try:
            value = np.asarray(got[key], dtype=float)
        except (TypeError, ValueError):
            return failed(name, f"{key} must be an array of numbers, got {type(got[key]).__name__}.")
        if value.shape != want[key].shape:
            return failed(name, f"{key} has the shape {value.shape}, but a gradient has the shape of what it is "
                                f"the gradient of, {want[key].shape}: one value per feature means reducing over "
                                "the batch axis (" + _SECTION4 + ")." if key != "dx" else
                                f"dx has the shape {value.shape}; it must have x's shape {want[key].shape}.")
        got[key] = value
    if close(got["dbeta"], dout.mean(axis=0), 1e-10):
        return failed(name, "dbeta is a sum over the batch, not a mean: beta is added to every example's output "
                            "(" + _SECTION4 + ").")
    if not close(got["dbeta"], want["dbeta"], 1e-10):
        return failed(name, where_differs("dbeta", got["dbeta"], want["dbeta"]) + "; beta is added to every "
                            "example's output (" + _SECTION4 + ").")
    if not close(got["dgamma"], want["dgamma"], 1e-10):
        if close(got["dgamma"], _bn_reference(dout, x, gamma, eps, ddof=1)[1], 1e-10):
            return failed(name, "you normalised with the unbiased variance (divide by N - 1); batch norm divides "
                                "by N in training (" + _SECTION4 + ").")
        if close(got["dgamma"], (dout * x).sum(axis=0), 1e-10):
            return failed(name, "your dgamma pairs dout with the raw x; gamma scales the *normalised* input "
                                "(" + _SECTION4 + "'s formula).")
        return failed(name, where_differs("dgamma", got["dgamma"], want["dgamma"]) + "; gamma scales the "
                            "normalised input of every example (" + _SECTION4 + ").")
    if close(got["dx"], want["dx"], 1e-9):
        return passed(name, "dx, dgamma and dbeta agree with torch.autograd: the batch mean and variance "
                            "depend on every example, and your dx carries both of those paths.")
    mistakes = [
        (dict(mean_path=False, var_path=False), "you treated the batch mean and variance as constants; both are "
                                                "computed from x, so dx has two more terms (" + _SECTION4 + ")."),
        (dict(var_path=False), "dx has the path through the mean but not the one through the variance, which is "
                               "computed from x too (" + _SECTION4 + ")."),
        (dict(mean_path=False), "dx has the path through the variance but not the one through the mean, which "
                                "is computed from x too (" + _SECTION4 + ")."),
        (dict(ddof=1), "you normalised with the unbiased variance (divide by N - 1); batch norm divides by N in "
                       "training (" + _SECTION4 + ")."),
    ]
    for kwargs, hint in mistakes:
        if close(got["dx"], _bn_reference(dout, x, gamma, eps, **kwargs)[0], 1e-9):
            return failed(name, hint)
    return failed(name, "dgamma and dbeta are right, dx is not: " + where_differs("dx", got["dx"], want["dx"])
                        + ". Follow x through the mean, the variance and x_hat, and add the three paths "
                        "(" + _SECTION4 + ").")


EXERCISES = ("4.1 Xavier's std", "4.2 one Adam step", "4.3 inverted dropout", "4.4 batch-norm backward")
