"""Chapter 4: the exercise checks and the regularisation widget."""


import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib.chapters.ch04_training.exercises import (
    check_adam_step,
    check_batchnorm_backward,
    check_dropout_forward,
    check_xavier_std,
)
from course_lib.chapters.ch04_training.widgets import regularization_widget
from course_lib.scratch.optim import Adam


def _placeholder(*args):
    raise NotImplementedError("Your turn")


# pieces of the solutions' code (and of the formulas the old hints gave away) that no hint may contain
_CODE_FRAGMENTS = ("np.", ".sum(", ".mean(", "axis=", "dout *", "* gamma", "inv_std", "x_hat *", "sqrt(",
                   "fan_in + fan_out", "beta1**", "beta2**", "(1 - beta", "lr *", "m_hat /", "/ (1 - p)",
                   "* (1 - p)", "x * mask")


def _assert_hint(fb, hint, section):
    """A "not yet" that names the mistake (``hint``), points to ``section`` (None: a form complaint) and
    contains no solution code."""
    assert not fb.passed and hint in fb.message, fb.message
    assert section is None or section in fb.message, fb.message
    assert not any(fragment in fb.message for fragment in _CODE_FRAGMENTS), fb.message


# ----------------------------------------------------------------------------- 4.1 Xavier


def test_xavier_check_passes_a_right_answer():
    assert check_xavier_std(lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out))).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda fi, fo: 2.0 / (fi + fo), "that is the variance", "section 1"),
        (lambda fi, fo: np.sqrt(6.0 / (fi + fo)), "Xavier's *uniform* version", "section 1"),
        (lambda fi, fo: np.sqrt(2.0 / fi), "He's std", "section 1"),
        (lambda fi, fo: np.sqrt(1.0 / fi), "also uses fan_out", "section 1"),
        (lambda fi, fo: 0.01, "expected a std of", "section 1"),
        (lambda fi, fo: "a string", "return one number", None),
    ],
)
def test_xavier_check_hints(wrong, hint, section):
    _assert_hint(check_xavier_std(wrong), hint, section)


def test_xavier_check_not_attempted_and_crash():
    assert "not attempted yet" in check_xavier_std(_placeholder).message
    assert "ZeroDivisionError" in check_xavier_std(lambda fi, fo: 1 / 0).message


# ----------------------------------------------------------------------------- 4.2 Adam


def _adam(param, grad, m, v, t, lr, beta1, beta2, eps, bias_correction=True, sign=1.0, square=True):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * (grad**2 if square else grad)
    m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if bias_correction else (m, v)
    return param - sign * lr * m_hat / (np.sqrt(np.abs(v_hat)) + eps), m, v


def _adam_momentum_sum(param, grad, m, v, t, lr, beta1, beta2, eps):
    new_p, _, new_v = _adam(param, grad, m, v, t, lr, beta1, beta2, eps)
    return new_p, beta1 * m + grad, new_v  # momentum's sum instead of Adam's average


def _adam_scaled(which, factor):
    """Adam with one of its three results scaled: an answer no known mistake explains."""

    def step(*args):
        result = list(_adam(*args))
        result[which] = result[which] * factor
        return tuple(result)

    return step


def test_adam_check_passes_a_right_answer():
    assert check_adam_step(_adam).passed


def test_adam_check_agrees_with_the_library_optimiser():
    # the check's reference must be the same rule as course_lib's (and torch's) Adam
    def library_step(param, grad, m, v, t, lr, beta1, beta2, eps):
        opt = Adam([(param, grad)], lr=lr, betas=(beta1, beta2), eps=eps)
        opt.state[0] = {"step": t - 1, "exp_avg": m.copy(), "exp_avg_sq": v.copy()}
        opt.step()
        return param, opt.state[0]["exp_avg"], opt.state[0]["exp_avg_sq"]

    assert check_adam_step(library_step).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda *a: _adam(*a, bias_correction=False), "skips the bias correction", "section 2"),
        (lambda *a: _adam(*a, sign=-1.0), "goes uphill", "section 2"),
        (lambda *a: _adam(*a, square=False), "*squared* gradient", "section 2"),
        (lambda p, g, m, v, *rest: (p, g, v), "moving *average*", "section 2"),
        (_adam_momentum_sum, "not momentum's running sum", "section 2"),
        (lambda p, g, m, v, *rest: (_adam(p, g, m, v, *rest)[0], m, _adam(p, g, m, v, *rest)[2]),
         "m came back unchanged", "section 2"),
        (lambda p, g, m, v, *rest: _adam(p, g, m, v, *rest)[:2], "return the three arrays", None),
        (lambda p, g, m, v, t, lr, *rest: _adam(p, g, m, v, t, 2 * lr, *rest), "parameter is not", "section 2"),
    ],
)
def test_adam_check_hints(wrong, hint, section):
    _assert_hint(check_adam_step(wrong), hint, section)


@pytest.mark.parametrize("which, name", [(0, "param["), (1, "m["), (2, "v[")])
def test_adam_check_points_at_the_element_of_an_unknown_mistake(which, name):
    fb = check_adam_step(_adam_scaled(which, 1.5))
    _assert_hint(fb, name, "section 2")
    assert "but should be" in fb.message and "|difference|" in fb.message


def test_adam_check_not_attempted():
    assert "not attempted yet" in check_adam_step(_placeholder).message


# ----------------------------------------------------------------------------- 4.3 dropout


def test_dropout_check_passes_right_answers():
    assert check_dropout_forward(lambda x, p, mask: x * mask / (1 - p)).passed
    assert check_dropout_forward(lambda x, p, mask: np.where(mask, x / (1 - p), 0.0)).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda x, p, mask: x * mask, "did not rescale the kept ones", "section 3"),
        (lambda x, p, mask: x * mask * (1 - p), "by the keep probability", "section 3"),
        (lambda x, p, mask: x * ~mask / (1 - p), "you zeroed the kept units", "section 3"),
        (lambda x, p, mask: (x * mask / (1 - p)).ravel(), "shape", None),
        (lambda x, p, mask: x / (1 - p), "but should be 0", "section 3"),
    ],
)
def test_dropout_check_hints(wrong, hint, section):
    _assert_hint(check_dropout_forward(wrong), hint, section)


def test_dropout_check_names_the_element_of_an_unknown_mistake():
    fb = check_dropout_forward(lambda x, p, mask: x / (1 - p))
    assert "with p=0.5 out[" in fb.message and "|difference|" in fb.message


def test_dropout_check_not_attempted():
    assert "not attempted yet" in check_dropout_forward(_placeholder).message


# ----------------------------------------------------------------------------- widget


class _FakeTraining:
    """Stands in for the notebook's training run: records calls, returns curves."""

    def __init__(self, history=None):
        self.calls = []
        self.history = history

    def __call__(self, p, weight_decay, shift):
        self.calls.append((p, weight_decay, shift))
        if self.history is not None:
            return self.history
        val = 0.8 + 0.1 * p - weight_decay
        return {"epoch": [5, 10, 15], "train_acc": [0.5, 0.9, 1.0], "val_acc": [0.4, 0.7, val]}


def _controls(demo):
    return {w.description: w for w in demo.children if isinstance(w, ipywidgets.ValueWidget)}


def test_widget_builds_draws_and_caches():
    train_fn = _FakeTraining()
    demo = regularization_widget(train_fn, p=0.5, weight_decay=1e-3)
    controls = _controls(demo)
    assert set(controls) == {"dropout p", "weight decay", "augment: random shifts"}
    assert train_fn.calls == [(0.5, 1e-3, False)]  # the first frame is drawn straight away

    controls["dropout p"].value = 0.2  # moving a slider retrains with the new setting
    controls["augment: random shifts"].value = True
    assert train_fn.calls[-1] == (0.2, 1e-3, True) and demo.kwargs["shift"] is True
    title = plt.figure(plt.get_fignums()[-1]).axes[0].get_title()  # the callback drew to the end
    assert title.startswith("dropout 0.2, weight decay 0.001, shifts") and "validation 0.819, gap 0.181" in title
    controls["augment: random shifts"].value = False
    controls["dropout p"].value = 0.5  # back to settings seen before: cached, no new training
    assert train_fn.calls.count((0.5, 1e-3, False)) == 1
    controls["weight decay"].value = 0.1
    assert train_fn.calls[-1] == (0.5, 0.1, False)


def test_widget_accepts_curves_without_epoch_numbers():
    train_fn = _FakeTraining({"train_acc": [0.5, 1.0], "val_acc": [0.5, 0.8]})
    regularization_widget(train_fn)
    assert train_fn.calls == [(0.0, 0.0, False)]


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: regularization_widget("train"), TypeError, "train_fn to be a function"),
        (lambda: regularization_widget(_FakeTraining(), p=1.5), ValueError, "p"),
        (lambda: regularization_widget(_FakeTraining(), weight_decay=0.5), ValueError, "weight_decay to be"),
        (lambda: regularization_widget(_FakeTraining(), shift="yes"), TypeError, "shift to be True or False"),
        (lambda: regularization_widget(_FakeTraining(), weight_decays=(-1.0,)), ValueError, "non-negative"),
    ],
)
def test_widget_bad_arguments_are_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.parametrize(
    "history, message",
    [
        ([0.5, 0.9], "train_fn to return a dict"),
        ({"train_acc": [0.5, 0.9]}, "train_fn to return a dict"),
        ({"train_acc": [50, 90], "val_acc": [40, 80]}, "outside"),
        ({"train_acc": [0.5, 0.9], "val_acc": [0.5]}, "lengths 2 and 1"),
        ({"train_acc": [0.5], "val_acc": [0.5], "epoch": [1, 2]}, "epoch numbers"),
        ({"train_acc": ["a"], "val_acc": [0.5]}, "not a list of numbers"),
    ],
)
def test_widget_explains_a_bad_training_result(history, message):
    with pytest.raises(ValueError, match=message):
        regularization_widget(_FakeTraining(history))


# ----------------------------------------------------------------------------- 4.4 batch-norm backward


def _bn(dout, x, gamma, eps, ddof=0, mean_path=True, var_path=True, dbeta_mean=False, dgamma_x=False):
    n = len(x)
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=ddof)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    dx_hat = dout * gamma
    dx = dx_hat.copy()
    if mean_path:
        dx -= dx_hat.mean(axis=0)
    if var_path:
        dx -= x_hat * (dx_hat * x_hat).sum(axis=0) / (n - ddof)
    dgamma = (dout * (x if dgamma_x else x_hat)).sum(axis=0)
    dbeta = dout.mean(axis=0) if dbeta_mean else dout.sum(axis=0)
    return dx * inv_std, dgamma, dbeta


def test_batchnorm_check_passes_the_reference_and_the_papers_staged_form():
    assert check_batchnorm_backward(_bn).passed

    def staged(dout, x, gamma, eps):  # Ioffe and Szegedy's chain: dx_hat, dvar, dmu, then dx
        n = len(x)
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        x_hat = (x - mu) / np.sqrt(var + eps)
        dx_hat = dout * gamma
        dvar = (dx_hat * (x - mu)).sum(axis=0) * -0.5 * (var + eps) ** -1.5
        dmu = (-dx_hat / np.sqrt(var + eps)).sum(axis=0) + dvar * (-2 * (x - mu)).mean(axis=0)
        dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / n + dmu / n
        return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)

    assert check_batchnorm_backward(staged).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda *a: _bn(*a, mean_path=False, var_path=False), "treated the batch mean and variance as constants",
         "section 4"),
        (lambda *a: _bn(*a, var_path=False), "not the one through the variance", "section 4"),
        (lambda *a: _bn(*a, mean_path=False), "not the one through the mean", "section 4"),
        (lambda *a: _bn(*a, ddof=1), "unbiased variance", "section 4"),
        (lambda *a: _bn(*a, dbeta_mean=True), "dbeta is a sum over the batch, not a mean", "section 4"),
        (lambda *a: _bn(*a, dgamma_x=True), "*normalised* input", "section 4"),
        (lambda d, x, g, e: (_bn(d, x, g, e)[0], (d * x).sum(axis=1), d.sum(axis=1)), "reducing over the batch axis",
         "section 4"),
        (lambda d, x, g, e: (2 * _bn(d, x, g, e)[0], *_bn(d, x, g, e)[1:]), "dx is not: dx[", "section 4"),
        (lambda d, x, g, e: (_bn(d, x, g, e)[0], 2 * _bn(d, x, g, e)[1], _bn(d, x, g, e)[2]), "dgamma[",
         "section 4"),
        (lambda d, x, g, e: (*_bn(d, x, g, e)[:2], 2 * _bn(d, x, g, e)[2]), "dbeta[", "section 4"),
        (lambda d, x, g, e: _bn(d, x, g, e)[:2], "three gradients", None),
        (_placeholder, "not attempted yet", None),
    ],
)
def test_batchnorm_check_names_the_mistake_without_the_solution(wrong, hint, section):
    _assert_hint(check_batchnorm_backward(wrong), hint, section)


def test_exercise_hints_of_4_1_to_4_3_show_no_solution_code():
    for fb in (check_xavier_std(lambda fi, fo: 0.01), check_dropout_forward(lambda x, p, mask: x / (1 - p)),
               check_adam_step(lambda p, g, m, v, t, lr, *rest: _adam(p, g, m, v, t, 2 * lr, *rest))):
        assert not fb.passed and "sqrt(2" not in fb.message and "x * mask /" not in fb.message
        assert "m_hat / (sqrt(v_hat)" not in fb.message


# ----------------------------------------------------------------------------- the workbench


def test_digit_splits_are_disjoint_stratified_and_standardised_on_training_data_only():
    from course_lib.chapters.ch04_training.experiments import digit_splits

    d = digit_splits()
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1008, 250, 539)
    assert np.allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12) and abs(d.X_val.mean()) > 1e-6
    assert np.bincount(d.y_val).min() >= 24
    imgs = digit_splits("unit", images=True)
    assert imgs.X_val.shape == (250, 1, 8, 8) and imgs.X_train.max() <= 1.0


def test_workbench_networks_have_the_promised_shapes_and_initialisation():
    from course_lib.chapters.ch04_training.experiments import (
        activation_stds,
        block_stack,
        bn_net,
        deep_net,
        small_net,
        smooth,
    )

    gen = np.random.default_rng(0)
    x = gen.normal(size=(200, 64))
    for net in (deep_net("He", "relu", rng=gen), small_net(p=0.5, rng=gen), bn_net(batchnorm=True, rng=gen),
                block_stack("residual", blocks=2, rng=gen)):
        assert net.forward(x).shape == (200, 10)
    stds = activation_stds(deep_net("He", "relu", width=256, d_in=256, rng=gen), gen.normal(size=(500, 256)))
    assert stds.shape == (10,) and 0.5 < stds[-1] / stds[0] < 2.0
    assert np.allclose(smooth([1.0, 2.0, 3.0, 4.0], window=2), [1.5, 2.5, 3.5])


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: __import__("course_lib.chapters.ch04_training.experiments", fromlist=["x"]).deep_net("LeCun", "relu"),
         ValueError, "init to be one of"),
        (lambda: __import__("course_lib.chapters.ch04_training.experiments", fromlist=["x"]).small_net(p=1.0),
         ValueError, "p"),
        (lambda: __import__("course_lib.chapters.ch04_training.experiments", fromlist=["x"]).smooth([1.0], window=5),
         ValueError, "at least window=5"),
        (lambda: __import__("course_lib.chapters.ch04_training.experiments", fromlist=["x"]).block_stack("dense"),
         ValueError, "block to be one of"),
    ],
)
def test_workbench_bad_input_is_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
