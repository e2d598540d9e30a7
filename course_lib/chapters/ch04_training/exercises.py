"""Checks for chapter 4, training deep networks."""

from __future__ import annotations

import numpy as np

from course_lib.feedback import Feedback, call_student, close, failed, passed


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
        return failed(name, f"for fan_in={fan_in}, fan_out={fan_out} expected {np.sqrt(2.0 / total):.4f}, "
                            f"got {value:.4f}; the variance is 2 / (fan_in + fan_out).")
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
            return failed(name, "the first moment is m = beta1 * m + (1 - beta1) * grad.")
        if not close(new_v, ref_v, atol=1e-12):
            if close(new_v, hp["beta2"] * v + (1 - hp["beta2"]) * grad, atol=1e-12):
                return failed(name, "v averages the *squared* gradient: (1 - beta2) * grad**2.")
            return failed(name, "the second moment is v = beta2 * v + (1 - beta2) * grad**2.")
        if close(new_p, ref_p, atol=1e-10):
            continue
        no_bc, _, _ = _adam_reference(param, grad, m, v, t, **hp, bias_correction=False)
        if close(new_p, no_bc, atol=1e-10):
            return failed(name, "m and v start at zero, so correct their bias: divide m by (1 - beta1**t) "
                                "and v by (1 - beta2**t) before the step.")
        if close(new_p, 2 * param - ref_p, atol=1e-10):
            return failed(name, "the step goes against the gradient: "
                                "subtract lr * m_hat / (sqrt(v_hat) + eps).")
        return failed(name, f"m and v are right, the parameter is not (step t={t}); "
                            "param - lr * m_hat / (sqrt(v_hat) + eps).")
    return passed(name, "every weight gets its own step size, lr / sqrt(v_hat), "
                        "from the gradients it has seen.")


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
        return failed(name, f"with p={p} expected x * mask / (1 - p).")
    return passed(name, "zero the dropped units, scale the kept ones by 1 / (1 - p).")
