"""Chapter 9: the GAN library (ring, coverage, losses, models, seeds side by side, the step), checks, widgets."""


import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.chapters.ch09_gan import exercises
from course_lib.chapters.ch09_gan.dcgan import (
    DCDiscriminator,
    DCGenerator,
    DigitJudge,
    classify,
    confident_fraction,
    generate_images,
    train_classifier,
    train_dcgan,
)
from course_lib.chapters.ch09_gan.exercises import (
    EXERCISES,
    check_gan_step,
    check_nonsaturating_loss,
    check_optimal_discriminator,
    check_value_at_optimum,
)
from course_lib.chapters.ch09_gan.gan import (
    GANRun,
    mlp_discriminator,
    mlp_generator,
    mode_counts,
    mode_coverage,
    ring_centres,
    sample_ring,
    train_gan_2d,
)
from course_lib.chapters.ch09_gan.step import gan_step, gan_step_torch, value_of_game
from course_lib.chapters.ch09_gan.sweep import (
    VERDICTS,
    run_verdict,
    summarise_runs,
    train_gan_2d_seeds,
)
from course_lib.chapters.ch09_gan.widgets import draw_samples, gan_live_widget, plot_verdicts
from course_lib.device import one_thread
from course_lib.scratch.gan import discriminator_loss, generator_loss
from course_lib.scratch.modules import MLP
from course_lib.scratch.optim import SGD, Adam
from course_lib.twins.compare import copy_weights
from course_lib.twins.gan import discriminator_loss_torch, generator_loss_torch
from course_lib.twins.mlp import make_torch_mlp

# ----------------------------------------------------------------------------- data


def test_ring_centres_lie_on_the_circle_evenly():
    c = ring_centres(8, radius=2.0)
    assert c.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    np.testing.assert_allclose(c[0], [2.0, 0.0])
    np.testing.assert_allclose(np.linalg.norm(c[1] - c[0]), 2 * 2.0 * np.sin(np.pi / 8))


def test_sample_ring_is_deterministic_and_seed_dependent():
    a, b = sample_ring(500, seed=3), sample_ring(500, seed=3)
    assert a.shape == (500, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample_ring(500, seed=4))
    counts = mode_counts(sample_ring(8000, std=0.05, seed=0), ring_centres(), 0.25)
    assert counts.sum() == 8000 and counts.min() > 850  # every mode about 1000 points


# ----------------------------------------------------------------------------- coverage metric


def test_mode_coverage_on_constructed_samples():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = np.array([
        [0.1, 0.0], [0.0, -0.2], [-0.1, 0.1],  # 3 near mode 0
        [10.0, 0.3],  # 1 near mode 1
        [5.0, 5.0], [20.0, 20.0],  # 2 near nothing
    ])
    np.testing.assert_array_equal(mode_counts(samples, centres, 0.5), [3, 1, 0])
    assert mode_coverage(samples, centres, 0.5) == (2, 4 / 6)
    assert mode_coverage(samples, centres, 0.5, min_count=2) == (1, 4 / 6)
    assert mode_coverage(samples, centres, 0.05) == (0, 0.0)
    # a huge radius: every sample is near its nearest centre ([5, 5] ties go to mode 0, [20, 20] to mode 1)
    assert mode_coverage(samples, centres, 100.0) == (2, 1.0)


def test_mode_coverage_counts_a_sample_once_for_its_nearest_mode():
    centres = np.array([[0.0, 0.0], [1.0, 0.0]])
    samples = np.array([[0.4, 0.0], [0.6, 0.0]])
    np.testing.assert_array_equal(mode_counts(samples, centres, 0.7), [1, 1])
    assert mode_coverage(samples, centres, 0.7) == (2, 1.0)


@pytest.mark.parametrize(
    "samples, centres, radius, exc, match",
    [
        (np.zeros((5, 3)), np.zeros((8, 2)), 0.2, ValueError, "same number of columns"),
        (np.zeros(5), np.zeros((8, 2)), 0.2, ValueError, r"samples of shape \(N, 2\)"),
        ([[0.0, 0.0]], np.zeros((8, 2)), 0.2, TypeError, "numpy.ndarray"),
        (np.zeros((5, 2)), np.zeros((8, 2)), 0.0, ValueError, "radius > 0"),
        (np.full((5, 2), np.nan), np.zeros((8, 2)), 0.2, ValueError, "finite"),
    ],
)
def test_mode_coverage_bad_inputs(samples, centres, radius, exc, match):
    with pytest.raises(exc, match=match):
        mode_coverage(samples, centres, radius)


def test_mode_coverage_bad_min_count_and_sampler_args():
    with pytest.raises(ValueError, match="min_count >= 1"):
        mode_coverage(np.zeros((5, 2)), np.zeros((8, 2)), 0.2, min_count=0)
    with pytest.raises(ValueError, match="std > 0"):
        sample_ring(10, std=0.0)
    with pytest.raises(TypeError, match="n to be an int"):
        sample_ring(10.5)


# ----------------------------------------------------------------------------- losses vs torch


def _torch_losses(real, fake, kind):
    real_t = torch.tensor(real, requires_grad=True)
    fake_t = torch.tensor(fake, requires_grad=True)
    d = discriminator_loss_torch(real_t, fake_t)
    d.backward()
    dreal, dfake = real_t.grad.numpy().copy(), fake_t.grad.numpy().copy()
    fake_t.grad = None
    g = generator_loss_torch(fake_t, kind=kind)
    g.backward()
    return d.item(), dreal, dfake, g.item(), fake_t.grad.numpy()


@pytest.mark.parametrize("n_real, n_fake", [(1, 1), (7, 3), (64, 128)])
@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: logits up to about +-100, where naive formulas overflow
def test_losses_match_torch_in_float64(n_real, n_fake, kind, scale):
    rng = np.random.default_rng(n_real + n_fake)
    real, fake = scale * rng.normal(size=n_real), scale * rng.normal(size=n_fake)
    d_ref, dreal_ref, dfake_ref, g_ref, dg_ref = _torch_losses(real, fake, kind)
    d, dreal, dfake = discriminator_loss(real, fake)
    g, dg = generator_loss(fake, kind=kind)
    assert abs(d - d_ref) < 1e-10 and abs(g - g_ref) < 1e-10
    for ours, ref in ((dreal, dreal_ref), (dfake, dfake_ref), (dg, dg_ref)):
        assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-10


def _numeric_grad(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (f(xp) - f(xm)) / (2 * h)
    return grad


def _rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
def test_loss_gradients_match_numeric_gradients(kind):
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=5), rng.normal(size=4)
    _, dreal, dfake = discriminator_loss(real, fake)
    assert _rel_error(dreal, _numeric_grad(lambda r: discriminator_loss(r, fake)[0], real)) < 1e-7
    assert _rel_error(dfake, _numeric_grad(lambda f: discriminator_loss(real, f)[0], fake)) < 1e-7
    _, dg = generator_loss(fake, kind=kind)
    assert _rel_error(dg, _numeric_grad(lambda f: generator_loss(f, kind=kind)[0], fake)) < 1e-7


def test_saturation_is_visible_in_the_gradients():
    logits = np.array([-8.0])  # D(G(z)) = 0.0003: a confidently rejected fake
    assert abs(generator_loss(logits, kind="minimax")[1][0]) < 1e-3
    assert generator_loss(logits)[1][0] < -0.99


def test_losses_bad_inputs():
    with pytest.raises(ValueError, match=r"real_logits of shape \(N,\).*flatten"):
        discriminator_loss(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(TypeError, match="floating"):
        generator_loss(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="kind to be one of"):
        generator_loss(np.zeros(4), kind="wasserstein")
    with pytest.raises(TypeError, match="torch.Tensor"):
        discriminator_loss_torch(np.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        generator_loss_torch(torch.zeros(4, 1))


# ----------------------------------------------------------------------------- models and training loops


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_train_gan_2d_is_repeatable_and_records_snapshots():
    data = sample_ring(300, seed=0)
    settings = dict(steps=20, batch_size=32, snapshot_every=10, n_snapshot=50, seed=1)
    state = torch.get_rng_state()
    runs = [train_gan_2d(data, **settings) for _ in range(2)]
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left alone
    assert runs[0].snapshot_steps == [0, 10, 20]
    assert runs[0].snapshots.shape == (3, 50, 2) and runs[0].d_loss.shape == (20,)
    np.testing.assert_array_equal(runs[0].snapshots, runs[1].snapshots)
    packed = train_gan_2d(data, steps=3, batch_size=32, pack=4, d_steps=2, n_snapshot=8, seed=1)
    assert packed.discriminator[0].in_features == 8 and np.all(np.isfinite(packed.g_loss))
    back = GANRun.from_results(runs[0].to_results(), mlp_generator(), mlp_discriminator())  # as shipped.run does
    np.testing.assert_array_equal(back.snapshots, runs[0].snapshots)
    assert back.snapshot_steps == [0, 10, 20]


def test_train_gan_2d_bad_inputs():
    data = sample_ring(100, seed=0)
    with pytest.raises(ValueError, match="multiple of pack"):
        train_gan_2d(data, steps=2, batch_size=30, pack=4)
    with pytest.raises(ValueError, match=r"data of shape \(N, 2\)"):
        train_gan_2d(data[:, 0], steps=2)
    with pytest.raises(ValueError, match="lr_g > 0"):
        train_gan_2d(data, steps=2, lr_g=0.0)


def test_dcgan_shapes_training_and_samples():
    g, d = DCGenerator(latent_dim=5, width=4), DCDiscriminator(width=4)
    z = torch.randn(3, 5)
    assert g(z).shape == (3, 1, 8, 8) and d(g(z)).shape == (3, 1)
    images = np.random.default_rng(0).random((40, 1, 8, 8))
    run = train_dcgan(images, steps=3, batch_size=8, latent_dim=5, width=4, seed=0)
    x = generate_images(run.generator, 6, seed=2)
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, generate_images(run.generator, 6, seed=2))


def test_dcgan_bad_inputs():
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        train_dcgan(np.full((10, 1, 8, 8), 16.0), steps=1)
    with pytest.raises(ValueError, match=r"images of shape \(N, 1, 8, 8\)"):
        train_dcgan(np.zeros((10, 64)), steps=1)
    with pytest.raises(TypeError, match="DCGenerator"):
        generate_images(DCDiscriminator(4), 3)


def test_classifier_pieces():
    rng = np.random.default_rng(0)
    images, labels = rng.random((50, 1, 8, 8)), rng.integers(0, 10, 50)
    model = train_classifier(images, labels, epochs=1, batch_size=25)
    assert isinstance(model, DigitJudge) and not model.training
    pred, conf = classify(model, images)
    assert pred.shape == (50,) and np.all((conf > 0.1) & (conf <= 1))
    assert confident_fraction(model, images, threshold=0.0) == 1.0
    assert confident_fraction(model, images, threshold=1.0) <= 0.1
    with pytest.raises(ValueError, match="one label per image"):
        train_classifier(images, labels[:10], epochs=1)
    with pytest.raises(ValueError, match=r"threshold <= 1"):
        confident_fraction(model, images, threshold=1.5)


# ----------------------------------------------------------------------------- many seeds at once


def test_train_gan_2d_seeds_equals_one_run_per_seed():
    data = sample_ring(500, seed=0)
    both = train_gan_2d_seeds(data, [3, 7], steps=12, batch_size=32, lr_g=3e-3, d_steps=2, snapshot_every=4,
                              n_snapshot=50)
    assert both["snapshots"].shape == (2, 4, 50, 2) and both["snapshot_steps"] == [0, 4, 8, 12]
    for i, seed in enumerate((3, 7)):
        one = train_gan_2d(data, steps=12, batch_size=32, lr_g=3e-3, d_steps=2, seed=seed, snapshot_every=4,
                           n_snapshot=50)
        # the same run up to the rounding order of the batched products (float32)
        np.testing.assert_allclose(both["snapshots"][i], one.snapshots, atol=1e-5)
        np.testing.assert_allclose(both["d_loss"][i], one.d_loss, atol=1e-5)
        np.testing.assert_allclose(both["g_loss"][i], one.g_loss, atol=1e-5)


def test_train_gan_2d_seeds_bad_inputs():
    data = sample_ring(50, seed=0)
    with pytest.raises(TypeError, match="seeds as a non-empty list"):
        train_gan_2d_seeds(data, 3)
    with pytest.raises(ValueError, match="different seeds"):
        train_gan_2d_seeds(data, [1, 1])
    with pytest.raises(ValueError, match="d_steps >= 1"):
        train_gan_2d_seeds(data, [1], d_steps=0)


def test_run_verdict_names_the_two_failures_apart():
    assert run_verdict(8, 0.9) == "converged" and run_verdict(7, 0.5) == "converged"
    assert run_verdict(1, 0.99) == "mode collapse" and run_verdict(4, 0.6) == "mode collapse"
    assert run_verdict(1, 0.06) == "not converged" and run_verdict(8, 0.1) == "not converged"
    assert run_verdict(6, 0.4) == "partly" and run_verdict(5, 0.7) == "partly"
    assert set(VERDICTS) == {"converged", "mode collapse", "not converged", "partly"}
    with pytest.raises(ValueError, match="near <= 1"):
        run_verdict(3, 1.5)
    with pytest.raises(ValueError, match="covered <= 8"):
        run_verdict(9, 0.5)


def test_summarise_runs_on_constructed_runs():
    centres = ring_centres()
    good = sample_ring(200, seed=1)
    one_mode = centres[0] + 0.01 * np.random.default_rng(2).standard_normal((200, 2))
    runs = {"snapshots": np.stack([np.stack([one_mode, good]), np.stack([good, one_mode])])}
    s = summarise_runs(runs, centres, 0.2)
    assert s["covered"].tolist() == [[1, 8], [8, 1]] and s["verdicts"] == ["converged", "mode collapse"]
    assert s["covered_mean"] == 4.5 and np.isclose(s["covered_std"], np.std([8, 1], ddof=1))
    with pytest.raises(TypeError, match="train_gan_2d_seeds returns"):
        summarise_runs([1, 2], centres, 0.2)


# ----------------------------------------------------------------------------- the GAN step and the game


def _step_pair(seed=0, optimiser="sgd"):
    rng = np.random.default_rng(seed)
    gen, disc = MLP([3, 8, 2], rng=rng), MLP([2, 8, 8, 1], rng=rng)
    gen_t, disc_t = make_torch_mlp([3, 8, 2]), make_torch_mlp([2, 8, 8, 1])
    copy_weights(gen, gen_t)
    copy_weights(disc, disc_t)
    if optimiser == "sgd":
        opts = SGD(gen, lr=0.1), SGD(disc, lr=0.1)
        opts_t = torch.optim.SGD(gen_t.parameters(), lr=0.1), torch.optim.SGD(disc_t.parameters(), lr=0.1)
    else:
        opts = Adam(gen, lr=1e-2), Adam(disc, lr=1e-2)
        opts_t = torch.optim.Adam(gen_t.parameters(), lr=1e-2), torch.optim.Adam(disc_t.parameters(), lr=1e-2)
    return gen, disc, opts, gen_t, disc_t, opts_t, rng


@pytest.mark.parametrize("n_real, n_fake, optimiser", [(5, 5, "sgd"), (1, 4, "sgd"), (7, 3, "adam")])
def test_gan_step_equals_its_torch_twin(n_real, n_fake, optimiser):
    gen, disc, opts, gen_t, disc_t, opts_t, rng = _step_pair(optimiser=optimiser)
    for _ in range(3):
        batch = rng.normal(size=(n_real, 2)), rng.normal(size=(n_fake, 3)), rng.normal(size=(n_fake, 3))
        losses = gan_step(gen, disc, *opts, *batch)
        losses_t = gan_step_torch(gen_t, disc_t, *opts_t, *(torch.tensor(a) for a in batch))
        np.testing.assert_allclose(losses, losses_t, atol=1e-10)
    for net, net_t in ((gen, gen_t), (disc, disc_t)):
        for name, p in net_t.state_dict().items():
            np.testing.assert_allclose(net.state_dict()[name], p.numpy(), atol=1e-9)


def test_gan_step_generator_gradient_matches_numeric_gradient():
    """The generator's update is -lr times the numeric gradient of L_G through the updated discriminator."""
    gen, disc, (opt_g, opt_d), *_ , rng = _step_pair(seed=3)
    x, z_d, z_g = rng.normal(size=(6, 2)), rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    gen0 = {k: v.copy() for k, v in gen.state_dict().items()}
    gan_step(gen, disc, opt_g, opt_d, x, z_d, z_g)  # disc is now the updated discriminator
    gen1 = {k: v.copy() for k, v in gen.state_dict().items()}
    gen.load_state_dict(gen0)
    w = gen.state_dict()["0.weight"]
    eps, numeric = 1e-6, np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        losses = []
        for sign in (1, -1):
            shifted = {k: v.copy() for k, v in gen0.items()}
            shifted["0.weight"][idx] += sign * eps
            gen.load_state_dict(shifted)
            losses.append(generator_loss(disc.forward(gen.forward(z_g)).reshape(-1))[0])
        numeric[idx] = (losses[0] - losses[1]) / (2 * eps)
    np.testing.assert_allclose((gen0["0.weight"] - gen1["0.weight"]) / 0.1, numeric, atol=1e-7)


def test_gan_step_bad_inputs():
    gen, disc, (opt_g, opt_d), gen_t, disc_t, (opt_gt, opt_dt), _ = _step_pair()
    x, z = np.zeros((2, 2)), np.zeros((2, 3))
    with pytest.raises(TypeError, match="gan_step: expected gen to be a scratch Module"):
        gan_step(gen_t, disc, opt_g, opt_d, x, z, z)
    with pytest.raises(TypeError, match="opt_d to be a scratch optimiser"):
        gan_step(gen, disc, opt_g, opt_dt, x, z, z)
    with pytest.raises(ValueError, match="x_real"):
        gan_step(gen, disc, opt_g, opt_d, np.zeros(2), z, z)
    with pytest.raises(TypeError, match="gan_step_torch: expected disc to be a torch.nn.Module"):
        gan_step_torch(gen_t, disc, opt_gt, opt_dt, *(torch.zeros(2, 2),) * 3)
    with pytest.raises(TypeError, match="z_g as a 2-D torch.Tensor"):
        gan_step_torch(gen_t, disc_t, opt_gt, opt_dt, torch.zeros(2, 2), torch.zeros(2, 3), torch.zeros(3))


def test_value_of_game():
    p = np.array([0.2, 0.3, 0.5])
    assert np.isclose(value_of_game(p, p), -np.log(4))
    q = np.array([0.5, 0.3, 0.2])
    d = p / (p + q)
    assert np.isclose(value_of_game(p, q), np.sum(p * np.log(d)) + np.sum(q * np.log(1 - d)))
    with pytest.raises(ValueError, match="two positive distributions"):
        value_of_game(p, np.array([0.5, 0.5, 0.0]))


# ----------------------------------------------------------------------------- exercises


def test_exercise_names():
    assert EXERCISES == ("9.1 optimal discriminator", "9.2 value of the game", "9.3 non-saturating loss",
                         "9.4 alternating GAN step")


# pieces of the notebook's solutions to 9.1 and 9.2 that no hint may show
VALUE_SOLUTION_CODE = ("p_data / (", "(p_data + p_g)", "p_data * np.log", "np.sum(", "log(d)")


def test_optimal_discriminator_check():
    assert check_optimal_discriminator(lambda p, q: p / (p + q)).passed
    for wrong, hint, section in [
        (lambda p, q: q / (p + q), "1 - D*", 1),
        (lambda p, q: p / q, "probability", 1),
        (lambda p, q: p, "p_data alone", 1),
        (lambda p, q: np.full_like(p, 0.5), "derivative", 1),
        (lambda p, q: np.full_like(p, 0.5), "D*[3] is 0.5 but should be", 1),
        (lambda p, q: np.where(p > 0, "a", "b"), "return numbers", None),
        (lambda p, q: p[:2], "one value per point", None),
    ]:
        fb = check_optimal_discriminator(wrong)
        assert not fb.passed and hint in fb.message, fb.message
        assert section is None or f"section {section}" in fb.message, fb.message
        assert not any(code in fb.message for code in VALUE_SOLUTION_CODE), fb.message


def _value(p, q):
    d = p / (p + q)
    return np.sum(p * np.log(d)) + np.sum(q * np.log(1 - d))


def test_value_at_optimum_check():
    assert check_value_at_optimum(_value).passed
    for wrong, hint, section in [
        (lambda p, q: -np.log(4), "only when p_g = p_data", 1),
        (lambda p, q: -_value(p, q), "sign is flipped", 1),
        (lambda p, q: _value(p, q) / len(p), "mean over the points", 1),
        (lambda p, q: np.sum(p * np.log(p / (p + q))), "but should be", 1),
        (lambda p, q: np.sum(p * np.log(p / (p + q))), "no common mistake matches", 1),
        (lambda p, q: _value(p, q) if not np.allclose(p, q) else 0.0, "-log 4", 1),
        (lambda p, q: "a string", "one number", None),
    ]:
        fb = check_value_at_optimum(wrong)
        assert not fb.passed and hint in fb.message, fb.message
        assert section is None or f"section {section}" in fb.message, fb.message
        assert not any(code in fb.message for code in VALUE_SOLUTION_CODE), fb.message
    assert "ZeroDivisionError" in check_value_at_optimum(lambda p, q: 1 / 0).message


def _sig(x):
    return 1 / (1 + np.exp(-x))


NONSAT_SOLUTION_CODE = ("np.log1p", "np.maximum(-", "np.exp(-np.abs", "(sig - 1.0)", "sigmoid(x) - 1")


def _minimax_gradient(f):
    return generator_loss(f)[0], generator_loss(f, kind="minimax")[1]


@pytest.mark.parametrize("wrong, hint, section", [
    (lambda f: (np.mean(np.log(1 + np.exp(-f))), (_sig(f) - 1) / f.size), "does not fit in a float", 1),
    (lambda f: (generator_loss(f)[0], _sig(np.clip(f, -50, 50)) - 1), "N times too large", 1),
    (lambda f: (generator_loss(f)[0], -generator_loss(f)[1]), "the sign is flipped", 1),
    (lambda f: generator_loss(f, kind="minimax"), "minimax term", 1),
    (_minimax_gradient, "minimax loss's gradient", 1),
    (lambda f: (generator_loss(f)[0] * f.size, generator_loss(f)[1]), "mean over the batch", 1),
    (lambda f: (-generator_loss(f)[0], generator_loss(f)[1]), "at least 0", 1),
    (lambda f: (generator_loss(f)[0], generator_loss(f)[1] * 1.01), "not the derivative of your loss", 1),
    (lambda f: (generator_loss(f)[0], generator_loss(f)[1][:2]), "one gradient per logit", None),
    (lambda f: generator_loss(f)[1], "return two things", None),
    (lambda f: (np.maximum(-f, 0).mean(), (_sig(np.clip(f, -50, 50)) - 1) / f.size), "but should be 2.71662", 1),
    (lambda f: (generator_loss(f)[0], np.where(f < -100, np.nan, generator_loss(f)[1])), "inf or nan", 1),
    (lambda f: (generator_loss(f)[0] if f.max() < 100 else 0.0, generator_loss(f)[1]), "rounded away", 1),
])
def test_nonsaturating_loss_check_names_each_mistake(wrong, hint, section):
    fb = check_nonsaturating_loss(wrong)
    assert not fb.passed and hint in fb.message, fb.message
    assert section is None or f"section {section}" in fb.message, fb.message
    assert not any(code in fb.message for code in NONSAT_SOLUTION_CODE), fb.message


def test_nonsaturating_loss_check_accepts_stable_answers():
    assert check_nonsaturating_loss(generator_loss).passed
    def with_logaddexp(f):  # log(1 + e^-f) and 1 - sigmoid(f) = e^(-log(1 + e^f)), both stable
        return float(np.mean(np.logaddexp(0, -f))), -np.exp(-np.logaddexp(0, f)) / f.size

    assert check_nonsaturating_loss(with_logaddexp).passed


def _variant(mistake):
    return lambda *args: exercises._step_variant(*args, mistake=mistake)


GAN_STEP_SOLUTION_CODE = ("disc.backward(dlogits", "gen.backward(disc.backward", "discriminator_loss(logits[:n]",
                          "generator_loss(disc.forward(", "np.concatenate([x_real")


@pytest.mark.parametrize("mistake, hint", [
    ("stale", "before* its update"),
    ("minimax", "minimax loss"),
    ("sign", "*more* fake"),
    ("same_noise", "reused z_d"),
    ("d_twice", "changed twice"),
    ("fakes_only", "remembers only its *last*"),
    ("no_d_step", "discriminator's weights did not change"),
    ("no_g_step", "generator's weights did not change"),
])
def test_gan_step_check_names_each_mistake(mistake, hint):
    fb = check_gan_step(_variant(mistake))
    assert not fb.passed and hint in fb.message, fb.message
    assert "section 5" in fb.message or "section 1" in fb.message
    assert not any(code in fb.message for code in GAN_STEP_SOLUTION_CODE), fb.message


def test_gan_step_check_reference_passes_and_other_answers_get_numbers():
    assert check_gan_step(gan_step).passed
    assert check_gan_step(_variant(None)).passed

    def swapped_losses(*args):
        d_loss, g_loss = gan_step(*args)
        return g_loss, d_loss

    def half_lr_generator(gen, disc, opt_g, opt_d, x, z_d, z_g):
        opt_g.lr /= 2
        return gan_step(gen, disc, opt_g, opt_d, x, z_d, z_g)

    assert "d_loss is" in check_gan_step(swapped_losses).message
    assert "return (d_loss, g_loss)" in check_gan_step(lambda *a: (gan_step(*a), None)[1]).message
    fb = check_gan_step(half_lr_generator)  # unrecognised: names the element and the difference
    assert not fb.passed and "PyTorch twin's step gives" in fb.message and "|difference|" in fb.message
    assert "after your step, gen " in fb.message and "but should be" in fb.message, fb.message
    assert "generator's update is off (section 5" in fb.message, fb.message
    assert "section 5" in check_gan_step(swapped_losses).message
    assert "ZeroDivisionError" in check_gan_step(lambda *a: 1 / 0).message


# ----------------------------------------------------------------------------- widgets


def test_live_widget_retrains_on_each_change(monkeypatch):
    calls = []
    import course_lib.chapters.ch09_gan.widgets as w

    real = w.train_gan_2d
    def short_run(*args, **kwargs):  # records the settings, trains only 4 steps
        calls.append(kwargs)
        return real(*args, **{**kwargs, "steps": 4, "snapshot_every": 2, "n_snapshot": 50})

    monkeypatch.setattr(w, "train_gan_2d", short_run)
    data, centres = sample_ring(300, seed=0), ring_centres()
    widget = gan_live_widget(data, centres, 0.2)
    assert isinstance(widget, ipywidgets.interactive) and len(calls) == 1
    sliders = {c.description: c for c in widget.children if hasattr(c, "description")}
    assert calls[0]["d_steps"] == 3 and calls[0]["steps"] == 300
    assert all(s.style.description_width == "initial" for s in sliders.values() if s.description)
    sliders["k (discriminator steps per generator step)"].value = 1
    sliders["training steps"].value = 100
    assert len(calls) == 3 and calls[-1]["d_steps"] == 1 and calls[-1]["steps"] == 100
    plt.close("all")


def test_draw_samples_reports_coverage():
    centres, data = ring_centres(), sample_ring(200, seed=0)
    fig, ax = plt.subplots()
    covered, near = draw_samples(ax, sample_ring(100, seed=2), data, centres, 0.2, min_count=5, title="x: ")
    assert covered == 8 and near > 0.99 and ax.get_title().startswith("x: 8/8 modes")
    plt.close(fig)


def test_plot_verdicts_draws_every_run():
    runs = {"snapshots": np.stack([sample_ring(100, seed=s)[None] for s in (1, 2, 3)])}
    s = summarise_runs(runs, ring_centres(), 0.2)
    fig, ax = plt.subplots()
    plot_verdicts(ax, {"a": s, "b": s})
    assert len(ax.collections) >= 2
    with pytest.raises(TypeError, match="summarise_runs"):
        plot_verdicts(ax, [s])
    plt.close(fig)


def test_widget_bad_inputs():
    data, centres = sample_ring(50, seed=0), ring_centres()
    with pytest.raises(ValueError, match="radius > 0"):
        gan_live_widget(data, centres, -1.0)
    with pytest.raises(ValueError, match="data"):
        gan_live_widget(data[:, 0], centres, 0.2)
