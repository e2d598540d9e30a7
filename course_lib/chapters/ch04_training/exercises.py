"""Checks for chapter 4, training deep networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed


def _largest_gap(got, want) -> str:
    """The largest elementwise difference, formatted, or a note when the shapes differ."""
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return "(not numbers)"
    if got.shape != np.shape(want):
        return f"(shape {got.shape}, expected {np.shape(want)})"
    return f"{np.max(np.abs(got - want)):.3g}"


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
            return failed(name, "that is the variance; the standard deviation is its square root.")
        if close(value, np.sqrt(6.0 / total)):
            return failed(name, "sqrt(6 / (fan_in + fan_out)) is the bound of Xavier's *uniform* version, "
                                "not its std.")
        if close(value, np.sqrt(2.0 / fan_in)):
            return failed(name, "sqrt(2 / fan_in) is He's std for ReLU; Xavier averages fan_in and fan_out.")
        if close(value, np.sqrt(1.0 / fan_in)):
            return failed(name, "sqrt(1 / fan_in) keeps the forward pass alone in check; "
                                "Xavier also uses fan_out.")
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
                return failed(name, "m is a moving *average*: the new gradient is weighted by (1 - beta1), "
                                    "not added in full (that is momentum's sum).")
            if close(new_m, m, atol=1e-12):
                return failed(name, "m came back unchanged: return the updated moment, not the one you were given.")
            return failed(name, f"m differs from the expected first moment by up to "
                                f"{_largest_gap(new_m, ref_m)}; it mixes the old m and the new gradient.")
        if not close(new_v, ref_v, atol=1e-12):
            if close(new_v, hp["beta2"] * v + (1 - hp["beta2"]) * grad, atol=1e-12):
                return failed(name, "v averages the *squared* gradient, elementwise.")
            return failed(name, f"v differs from the expected second moment by up to "
                                f"{_largest_gap(new_v, ref_v)}.")
        if close(new_p, ref_p, atol=1e-10):
            continue
        no_bc, _, _ = _adam_reference(param, grad, m, v, t, **hp, bias_correction=False)
        if close(new_p, no_bc, atol=1e-10):
            return failed(name, "m and v start at zero, so correct their bias: divide m by (1 - beta1**t) "
                                "and v by (1 - beta2**t) before the step.")
        if close(new_p, 2 * param - ref_p, atol=1e-10):
            return failed(name, "the step goes against the gradient: "
                                "subtract lr * m_hat / (sqrt(v_hat) + eps).")
        return failed(name, f"m and v are right, the parameter is not (step t={t}): it differs by up to "
                            f"{_largest_gap(new_p, ref_p)}; check where eps and the square root go.")
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
            return failed(name, f"with p={p} the survivors must be scaled by 1 / (1 - p), so that every unit "
                                "keeps its expected value and evaluation needs no change.")
        if close(result, x * mask * (1 - p)):
            return failed(name, "divide the survivors by (1 - p), do not multiply.")
        if close(result, x * ~mask / (1 - p)):
            return failed(name, "mask is True where a unit is *kept*; zero the others.")
        return failed(name, f"with p={p} the output differs from inverted dropout by up to "
                            f"{_largest_gap(result, x * mask / (1 - p))}: dropped units are 0, kept ones keep "
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
                                "the batch axis." if key != "dx" else
                                f"dx has the shape {value.shape}; it must have x's shape {want[key].shape}.")
        got[key] = value
    if close(got["dbeta"], dout.mean(axis=0), 1e-10):
        return failed(name, "dbeta is a sum over the batch, not a mean: beta is added to every example's output.")
    if not close(got["dbeta"], want["dbeta"], 1e-10):
        return failed(name, f"dbeta differs by up to {np.max(np.abs(got['dbeta'] - want['dbeta'])):.3g}; beta is "
                            "added to every example's output.")
    if not close(got["dgamma"], want["dgamma"], 1e-10):
        if close(got["dgamma"], _bn_reference(dout, x, gamma, eps, ddof=1)[1], 1e-10):
            return failed(name, "you normalised with the unbiased variance (divide by N - 1); batch norm divides "
                                "by N in training (" + _SECTION4 + ").")
        if close(got["dgamma"], (dout * x).sum(axis=0), 1e-10):
            return failed(name, "dgamma multiplies dout by x; gamma scales the *normalised* input x_hat.")
        return failed(name, f"dgamma differs by up to {np.max(np.abs(got['dgamma'] - want['dgamma'])):.3g}; "
                            "gamma scales the normalised input of every example.")
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
    index = np.unravel_index(int(np.argmax(np.abs(got["dx"] - want["dx"]))), x.shape)
    return failed(name, f"dgamma and dbeta are right; dx differs from torch.autograd, most at element "
                        f"{tuple(int(i) for i in index)} (by {abs(got['dx'][index] - want['dx'][index]):.3g}). "
                        "Follow x through the mean, the variance and x_hat, and add the three paths.")


EXERCISES = ("4.1 Xavier's std", "4.2 one Adam step", "4.3 inverted dropout", "4.4 batch-norm backward")
