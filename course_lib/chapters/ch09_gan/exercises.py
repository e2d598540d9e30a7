"""Checks for chapter 9, generative adversarial networks."""

from __future__ import annotations

import numpy as np
import torch

from course_lib.chapters.ch09_gan.step import gan_step_torch, value_of_game
from course_lib.feedback import Feedback, call_student, close, failed, passed, where_differs
from course_lib.scratch.gan import discriminator_loss, generator_loss
from course_lib.scratch.layers import sigmoid, softplus
from course_lib.scratch.modules import MLP
from course_lib.scratch.optim import SGD
from course_lib.twins.compare import copy_weights
from course_lib.twins.gan import generator_loss_torch
from course_lib.twins.mlp import make_torch_mlp

EXERCISES = ("9.1 optimal discriminator", "9.2 value of the game", "9.3 non-saturating loss",
             "9.4 alternating GAN step")


def _distributions(seed: int, size: int = 6):
    """Two discrete distributions over ``size`` points, both strictly positive."""
    rng = np.random.default_rng(seed)
    p_data, p_g = rng.random(size) + 0.05, rng.random(size) + 0.05
    return p_data / p_data.sum(), p_g / p_g.sum()


def check_optimal_discriminator(func) -> Feedback:
    """Exercise 9.1: ``func(p_data, p_g)`` returns the best discriminator D*(x) at each point."""
    name = EXERCISES[0]
    p_data, p_g = _distributions(81)
    result, problem = call_student(name, func, p_data.copy(), p_g.copy())
    if problem is not None:
        return problem
    if np.shape(result) != p_data.shape:
        return failed(name, f"return one value per point, shape {p_data.shape}; got {np.shape(result)}.")
    expected = p_data / (p_data + p_g)
    if close(result, 1 - expected):
        return failed(name, "that is 1 - D*: D should be large where the data is dense (section 1).")
    if close(result, p_data / p_g):
        return failed(name, "that ratio can exceed 1, but D* is a probability between 0 and 1 (section 1).")
    if close(result, p_data):
        return failed(name, "that is p_data alone: D* weighs the data's density against the generator's "
                            "(section 1).")
    if not close(result, expected):
        try:
            where = where_differs("D*", result, expected)
        except (TypeError, ValueError):
            return failed(name, f"return numbers, one per point; got {type(result).__name__}.")
        return failed(name, f"{where}; no common mistake matches: maximise p_data log D + p_g log(1 - D) at each "
                            "point by setting its derivative to 0 (section 1).")
    same, _ = call_student(name, func, p_data.copy(), p_data.copy())
    if not close(same, np.full(p_data.shape, 0.5)):
        return failed(name, "when p_g equals p_data, D* must be 1/2 everywhere (section 1).")
    return passed(name, "D* is 1/2 everywhere once p_g = p_data: the discriminator can only guess.")


def check_value_at_optimum(func) -> Feedback:
    """Exercise 9.2: ``func(p_data, p_g)`` returns V(D*, G) for two discrete distributions."""
    name = EXERCISES[1]
    for seed in (82, 83):
        p_data, p_g = _distributions(seed)
        result, problem = call_student(name, func, p_data.copy(), p_g.copy())
        if problem is not None:
            return problem
        try:
            value = float(result)
        except (TypeError, ValueError):
            return failed(name, f"return one number, got {type(result).__name__}.")
        expected = value_of_game(p_data, p_g)
        if np.isclose(value, -np.log(4)) and not np.isclose(expected, -np.log(4)):
            return failed(name, "-log 4 is the value only when p_g = p_data; compute V from p_data and p_g "
                                "(section 1).")
        if np.isclose(value, -expected):
            return failed(name, "the sign is flipped: V sums p log D terms, and the log of a probability is "
                                "negative (section 1).")
        if np.isclose(value, expected / len(p_data)):
            return failed(name, "that is a mean over the points: an expectation weights by the probabilities "
                                "(section 1).")
        if not np.isclose(value, expected, atol=1e-8):
            return failed(name, f"your {where_differs('V(D*, G)', value, expected)}; no common mistake matches: "
                                "both sums use D* (section 1).")
    p_data, _ = _distributions(84)
    equal, problem = call_student(name, func, p_data.copy(), p_data.copy())
    if problem is not None:
        return problem
    if not np.isclose(float(equal), -np.log(4), atol=1e-8):
        return failed(name, "for p_g = p_data every D* is 1/2, so V should be 2 log(1/2) = -log 4 (section 1).")
    return passed(name, "V(D*, G) = -log 4 + 2 JS(p_data || p_g): lowest (-log 4) just when p_g = p_data.")


# ----------------------------------------------------------------------------- 9.3 the non-saturating loss

_LOGITS = np.array([-6.0, -2.0, -0.5, 0.0, 1.5, 4.0, -9.0])
_EXTREME = np.array([-800.0, -40.0, 0.25, 35.0, 800.0])


def _loss_pair(func, name, logits):
    """The student's (loss, grad) for ``logits``, computed with every floating-point problem raised."""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result, problem = call_student(name, func, logits.copy())
    if problem is not None:
        if "FloatingPointError" in problem.message:
            return None, failed(name, f"for the logits {np.array2string(logits, precision=2)} your code "
                                      f"hit '{problem.message.split(': ', 2)[-1]}': for a logit of -800, e^800 "
                                      "does not fit in a float. Write log(1 + e^x) and the sigmoid so that "
                                      "exp only ever sees a number <= 0 (section 1's note on logits).")
        return None, problem
    if not isinstance(result, tuple | list) or len(result) != 2:
        return None, failed(name, f"return two things, (loss, grad); got {type(result).__name__}.")
    loss, grad = result
    try:
        loss = float(loss)
    except (TypeError, ValueError):
        return None, failed(name, f"the loss should be one number, got {type(loss).__name__}.")
    if np.shape(grad) != logits.shape:
        return None, failed(name, f"return one gradient per logit, shape {logits.shape}; got {np.shape(grad)}.")
    grad = np.asarray(grad, dtype=float)
    if not np.isfinite(loss) or not np.all(np.isfinite(grad)):
        return None, failed(name, f"for the logits {np.array2string(logits, precision=2)} you returned inf or "
                                  "nan: exp overflowed. Rearrange so that exp only ever sees a number <= 0 "
                                  "(section 1's note on logits).")
    return (loss, grad), None


def check_nonsaturating_loss(func) -> Feedback:
    """Exercise 9.3: ``func(fake_logits)`` returns (mean(-log sigmoid(l)), its gradient), stable for any logit."""
    name = EXERCISES[2]
    answer, problem = _loss_pair(func, name, _LOGITS)
    if problem is not None:
        return problem
    loss, grad = answer
    n, s = _LOGITS.size, sigmoid(_LOGITS)
    logits_t = torch.tensor(_LOGITS, requires_grad=True)
    want = generator_loss_torch(logits_t)
    want.backward()
    want_loss, want_grad = want.item(), logits_t.grad.numpy()
    if np.isclose(loss, -np.mean(softplus(_LOGITS))):
        return failed(name, "that is the minimax term mean log(1 - D(G(z))); this loss is mean -log D(G(z)) "
                            "(section 1).")
    if np.isclose(loss, n * want_loss):
        return failed(name, "the loss is a mean over the batch of fakes, not a sum (section 1).")
    if np.isclose(loss, -want_loss):
        return failed(name, "the sign is flipped: -log of a probability is positive, so the loss is at least 0 "
                            "(section 1).")
    if not np.isclose(loss, want_loss, atol=1e-10):
        return failed(name, f"for these logits your {where_differs('loss', loss, want_loss)}; no common mistake "
                            "matches: compare with section 1's L_G.")
    if close(grad, s - 1.0):
        return failed(name, "the gradient is N times too large: the loss divides by N, so does its gradient "
                            "(section 1).")
    if close(grad, -s / n):
        return failed(name, "that is the minimax loss's gradient; differentiate the non-saturating loss instead "
                            "(section 1).")
    if close(grad, (1.0 - s) / n):
        return failed(name, "the sign is flipped: raising a fake's logit lowers -log D, so every gradient is "
                            "negative (section 1).")
    numeric = _numeric_grad(func, _LOGITS)
    if numeric is not None and not close(grad, numeric, atol=1e-6):
        i = int(np.argmax(np.abs(grad - numeric)))
        return failed(name, f"your gradient is not the derivative of your loss: at logit {_LOGITS[i]:g} it is "
                            f"{grad[i]:.6f}, central differences give {numeric[i]:.6f} (section 1).")
    if not close(grad, want_grad, atol=1e-10):
        return failed(name, f"{where_differs('grad', grad, want_grad)} (autograd's); no common mistake matches: "
                            "compare with section 1's gradient of L_G.")
    extreme, problem = _loss_pair(func, name, _EXTREME)
    if problem is not None:
        return problem
    want_x = generator_loss(_EXTREME)
    if not np.isclose(extreme[0], want_x[0], rtol=1e-10) or not close(extreme[1], want_x[1], atol=1e-12):
        return failed(name, f"for the logits {np.array2string(_EXTREME, precision=2)} the loss should be "
                            f"{want_x[0]:.4f}, got {extreme[0]:.4f}: a log(1 + e^x) or a sigmoid is "
                            "probably rounded away (section 1's note on logits).")
    return passed(name, "mean -log sigmoid, stable for any logit; about -1/N of gradient per rejected fake.")


def _numeric_grad(func, logits, eps: float = 1e-6):
    grad = np.zeros_like(logits)
    for i in range(logits.size):
        up, down = logits.copy(), logits.copy()
        up[i] += eps
        down[i] -= eps
        try:
            grad[i] = (float(func(up)[0]) - float(func(down)[0])) / (2 * eps)
        except Exception:  # the student's code failed on a nearby input: skip this diagnosis
            return None
    return grad


# ----------------------------------------------------------------------------- 9.4 the alternating step

_SECTION = "(section 5, 'One training step, in order')"
_MISTAKES = {
    "stale": "the generator was trained against the discriminator *before* its update: part 2 judges the fakes "
             f"with the discriminator as it is after its step {_SECTION}.",
    "minimax": "the generator used the minimax loss; train it with the non-saturating generator_loss (section 1).",
    "sign": "the generator followed the discriminator's gradient for the fakes, so it made its fakes look "
            f"*more* fake: the generator's loss is generator_loss, not the fake half of discriminator_loss {_SECTION}.",
    "same_noise": f"the generator's step reused z_d; it should draw its fakes from z_g {_SECTION}.",
    "d_twice": "the discriminator changed twice: opt_d.step() also applied the gradients of the generator's "
               f"pass. Only opt_g steps after that pass {_SECTION}.",
    "fakes_only": "the discriminator learned from the fakes only: a scratch Module remembers only its *last* "
                  f"forward pass, so a second forward before backward overwrites the first {_SECTION}.",
    "no_d_step": f"the discriminator's weights did not change: its optimiser never stepped {_SECTION}.",
    "no_g_step": f"the generator's weights did not change: its optimiser never stepped {_SECTION}.",
}


def _step_variant(gen, disc, opt_g, opt_d, x, z_d, z_g, mistake=None):
    """The NumPy step with one named mistake built in (None: the correct step)."""
    n = len(x)
    before = {k: v.copy() for k, v in disc.state_dict().items()}
    fake = gen.forward(z_d)
    if mistake == "fakes_only":  # two forward passes: only the fakes' cache is left for backward
        real_logits, fake_logits = disc.forward(x).reshape(-1), disc.forward(fake).reshape(-1)
        d_loss, dreal, dfake = discriminator_loss(real_logits, fake_logits)
        disc.backward(dreal[:, None])
        disc.backward(dfake[:, None])
    else:
        logits = disc.forward(np.concatenate([x, fake])).reshape(-1)
        d_loss, dreal, dfake = discriminator_loss(logits[:n], logits[n:])
        disc.backward(np.concatenate([dreal, dfake])[:, None])
    if mistake != "no_d_step":
        opt_d.step()
    updated = {k: v.copy() for k, v in disc.state_dict().items()}
    if mistake == "stale":
        disc.load_state_dict(before)
    fake_logits = disc.forward(gen.forward(z_d if mistake == "same_noise" else z_g)).reshape(-1)
    kind = "minimax" if mistake == "minimax" else "non_saturating"
    g_loss, dlogits = generator_loss(fake_logits, kind=kind)
    if mistake == "sign":
        dlogits = discriminator_loss(fake_logits, fake_logits)[2]
    gen.backward(disc.backward(dlogits[:, None]))
    if mistake == "stale":
        disc.load_state_dict(updated)
    if mistake == "d_twice":
        opt_d.step()
    if mistake != "no_g_step":
        opt_g.step()
    return d_loss, g_loss


def _step_problem(seed: int = 94):
    """Fresh networks, optimisers and batches for one check (SGD, so every gradient shows in the weights)."""
    rng = np.random.default_rng(seed)
    gen, disc = MLP([3, 16, 16, 2], rng=rng), MLP([2, 16, 16, 1], rng=rng)
    x, z_d, z_g = rng.normal(0, 2, (32, 2)), rng.standard_normal((32, 3)), rng.standard_normal((32, 3))
    return gen, disc, SGD(gen, lr=0.2), SGD(disc, lr=0.2), x, z_d, z_g


def _torch_reference(seed: int = 94):
    """The torch twin's step from the same weights: (d_loss, g_loss, gen state, disc state)."""
    gen, disc, _, _, x, z_d, z_g = _step_problem(seed)
    gen_t, disc_t = make_torch_mlp([3, 16, 16, 2]), make_torch_mlp([2, 16, 16, 1])
    copy_weights(gen, gen_t)
    copy_weights(disc, disc_t)
    opt_g, opt_d = torch.optim.SGD(gen_t.parameters(), lr=0.2), torch.optim.SGD(disc_t.parameters(), lr=0.2)
    d_loss, g_loss = gan_step_torch(gen_t, disc_t, opt_g, opt_d, *(torch.tensor(a) for a in (x, z_d, z_g)))
    state = {f"gen {k}": v.detach().numpy() for k, v in gen_t.state_dict().items()}
    state |= {f"disc {k}": v.detach().numpy() for k, v in disc_t.state_dict().items()}
    return d_loss, g_loss, state


def _states(gen, disc) -> dict:
    return {f"gen {k}": v.copy() for k, v in gen.state_dict().items()} | {
        f"disc {k}": v.copy() for k, v in disc.state_dict().items()}


def _same(a: dict, b: dict, prefix: str) -> bool:
    return all(np.allclose(a[k], b[k], atol=1e-9, rtol=0) for k in a if k.startswith(prefix))


def check_gan_step(func) -> Feedback:
    """Exercise 9.4: ``func(gen, disc, opt_g, opt_d, x_real, z_d, z_g)`` does one alternating step in place."""
    name = EXERCISES[3]
    gen, disc, opt_g, opt_d, x, z_d, z_g = _step_problem()
    result, problem = call_student(name, func, gen, disc, opt_g, opt_d, x.copy(), z_d.copy(), z_g.copy())
    if problem is not None:
        return problem
    got = _states(gen, disc)
    want_d, want_g, want = _torch_reference()
    for part in ("disc", "gen"):
        if _same(got, want, part):
            continue
        for mistake, hint in _MISTAKES.items():
            g2, d2, og, od, *batch = _step_problem()
            _step_variant(g2, d2, og, od, *batch, mistake=mistake)
            if _same(got, _states(g2, d2), part):
                return failed(name, hint)
        k = max((k for k in want if k.startswith(part)), key=lambda k: np.abs(got[k] - want[k]).max())
        who = "the discriminator" if part == "disc" else "the generator"
        return failed(name, f"after your step, {where_differs(k, got[k], want[k])}, as the PyTorch twin's step "
                            f"gives it; no common mistake matches: {who}'s update is off {_SECTION}.")
    if not isinstance(result, tuple | list) or len(result) != 2:
        return failed(name, f"the weights are right; now return (d_loss, g_loss), got {type(result).__name__}.")
    try:
        d_loss, g_loss = float(result[0]), float(result[1])
    except (TypeError, ValueError):
        return failed(name, "the weights are right; return the two losses as numbers, (d_loss, g_loss).")
    if not np.isclose(d_loss, want_d, atol=1e-10):
        return failed(name, f"the weights are right, but d_loss is {d_loss:.5f}, the twin's {want_d:.5f}: return "
                            f"the discriminator's loss of part 1 {_SECTION}.")
    if not np.isclose(g_loss, want_g, atol=1e-10):
        return failed(name, f"the weights are right, but g_loss is {g_loss:.5f}, the twin's {want_g:.5f}: return "
                            f"the generator's loss of part 2, judged by the updated discriminator {_SECTION}.")
    return passed(name, "both updates equal the PyTorch twin's, in the right order, to rounding.")
