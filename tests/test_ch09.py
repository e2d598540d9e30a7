"""Chapter 9: the GAN library (sampler, coverage, losses vs torch, models), exercise checks, widget."""


import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

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
    check_nonsaturating_grad,
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
from course_lib.chapters.ch09_gan.widgets import draw_samples, gan_snapshot_widget
from course_lib.device import one_thread
from course_lib.scratch.gan import discriminator_loss, generator_loss
from course_lib.twins.gan import discriminator_loss_torch, generator_loss_torch


def _placeholder(*args):
    raise NotImplementedError("Your turn")


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


# ----------------------------------------------------------------------------- exercises


def test_optimal_discriminator_check():
    assert check_optimal_discriminator(lambda p, q: p / (p + q)).passed
    for wrong, hint in [
        (lambda p, q: q / (p + q), "1 - D*"),
        (lambda p, q: p / q, "probability"),
        (lambda p, q: np.full_like(p, 0.5), "derivative"),
        (lambda p, q: p[:2], "one value per point"),
    ]:
        fb = check_optimal_discriminator(wrong)
        assert not fb.passed and hint in fb.message, fb.message
    assert "not attempted yet" in check_optimal_discriminator(_placeholder).message


def _value(p, q):
    d = p / (p + q)
    return np.sum(p * np.log(d)) + np.sum(q * np.log(1 - d))


def test_value_at_optimum_check():
    assert check_value_at_optimum(_value).passed
    for wrong, hint in [
        (lambda p, q: -np.log(4), "only when p_g = p_data"),
        (lambda p, q: -_value(p, q), "sign"),
        (lambda p, q: _value(p, q) / len(p), "weights by the probabilities"),
        (lambda p, q: np.sum(p * np.log(p / (p + q))), "V = sum"),
        (lambda p, q: "a string", "one number"),
    ]:
        fb = check_value_at_optimum(wrong)
        assert not fb.passed and hint in fb.message, fb.message
    assert "not attempted yet" in check_value_at_optimum(_placeholder).message
    assert "ZeroDivisionError" in check_value_at_optimum(lambda p, q: 1 / 0).message


def test_nonsaturating_grad_check():
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    assert check_nonsaturating_grad(lambda f: (sigmoid(f) - 1) / f.size).passed
    assert check_nonsaturating_grad(lambda f: generator_loss(f)[1]).passed  # agrees with the library
    for wrong, hint in [
        (lambda f: sigmoid(f) - 1, "divide by N"),
        (lambda f: -sigmoid(f) / f.size, "minimax"),
        (lambda f: (1 - sigmoid(f)) / f.size, "sign"),
        (lambda f: f / f.size, "sigmoid(x) - 1"),
        (lambda f: np.zeros(3), "one gradient per logit"),
    ]:
        fb = check_nonsaturating_grad(wrong)
        assert not fb.passed and hint in fb.message, fb.message
    assert "not attempted yet" in check_nonsaturating_grad(_placeholder).message


# ----------------------------------------------------------------------------- widget


def _snapshots():
    centres = ring_centres()
    data = sample_ring(200, seed=0)
    snaps = np.stack([sample_ring(100, seed=s) * (s / 2) for s in (1, 2)])
    return [0, 100], snaps, data, centres


def test_widget_builds_and_redraws():
    steps, snaps, data, centres = _snapshots()
    w = gan_snapshot_widget(steps, snaps, data, centres, 0.2)
    assert isinstance(w, ipywidgets.interactive)
    slider = w.children[0]
    assert list(slider.options) == [0, 100] and slider.value == 100
    slider.value = 0  # redraws without error
    w.update()


def test_draw_samples_reports_coverage():
    steps, snaps, data, centres = _snapshots()
    fig, ax = plt.subplots()
    covered, near = draw_samples(ax, snaps[1], data, centres, 0.2, min_count=5, title="x: ")
    assert covered == 8 and near > 0.99 and ax.get_title().startswith("x: 8/8 modes")


def test_widget_bad_inputs():
    steps, snaps, data, centres = _snapshots()
    with pytest.raises(ValueError, match=r"snapshots of shape \(2, M, 2\)"):
        gan_snapshot_widget(steps, snaps[:1], data, centres, 0.2)
    with pytest.raises(TypeError, match="non-empty list"):
        gan_snapshot_widget([], snaps, data, centres, 0.2)
    with pytest.raises(ValueError, match="radius > 0"):
        gan_snapshot_widget(steps, snaps, data, centres, -1.0)
