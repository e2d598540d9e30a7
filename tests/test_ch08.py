"""Chapter 8: the VAE loss pieces (against torch and numeric gradients), principal angles, the twins'
models, the exercise checks (typical wrong answers for 8.4 and 8.5 included), the workbench's training
and measuring helpers, and the latent-walk widget."""


import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.chapters.ch08_autoencoders_vae.exercises import (
    EXERCISES,
    check_compression_ratio,
    check_kl_1d,
    check_reparameterize,
    check_vae_loss,
    check_vae_step,
)
from course_lib.chapters.ch08_autoencoders_vae.widgets import latent_grid, latent_walk_widget
from course_lib.scratch.gradcheck import numeric_gradient, rel_error
from course_lib.scratch.modules import MLP
from course_lib.scratch.vae import (
    gaussian_kl,
    principal_angles,
    principal_components,
    reconstruction_loss,
    reparameterize,
    reparameterize_backward,
    vae_loss,
)
from course_lib.twins import vae as tg
from course_lib.twins.compare import copy_weights

SHAPES = [(1, 1), (5, 2), (3, 7)]




def _latents(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(scale=0.7, size=shape), rng.normal(size=shape)


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# ----------------------------------------------------------------------------- against torch


@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_kl_matches_torch(shape):
    mu, logvar, _ = _latents(shape, 0)
    kl, dmu, dlogvar = gaussian_kl(mu, logvar)
    mu_t, logvar_t = _t(mu, True), _t(logvar, True)
    kl_t = tg.gaussian_kl(mu_t, logvar_t)
    kl_t.backward()
    assert abs(kl - kl_t.item()) < 1e-10
    assert np.max(np.abs(dmu - mu_t.grad.numpy())) < 1e-10
    assert np.max(np.abs(dlogvar - logvar_t.grad.numpy())) < 1e-10


def test_gaussian_kl_known_values():
    # zero for the prior itself; 0.5 * mu**2 per dimension for a shifted unit Gaussian;
    # averaged over the batch
    assert gaussian_kl(np.zeros((4, 3)), np.zeros((4, 3)))[0] == 0.0
    mu = np.array([[1.0, 2.0], [0.0, 0.0]])
    assert gaussian_kl(mu, np.zeros((2, 2)))[0] == pytest.approx(0.5 * (1 + 4) / 2)
    sigma = 0.5  # one dimension: 0.5 * (sigma**2 - 1) - log(sigma)
    assert gaussian_kl(np.zeros((1, 1)), np.full((1, 1), np.log(sigma**2)))[0] == pytest.approx(
        0.5 * (sigma**2 - 1) - np.log(sigma))


@pytest.mark.parametrize("shape", SHAPES)
def test_reparameterize_matches_torch(shape):
    mu, logvar, eps = _latents(shape, 1)
    z, cache = reparameterize(mu, logvar, eps)
    dz = np.random.default_rng(2).normal(size=shape)
    dmu, dlogvar = reparameterize_backward(dz, cache)
    mu_t, logvar_t = _t(mu, True), _t(logvar, True)
    z_t = tg.reparameterize(mu_t, logvar_t, _t(eps))
    z_t.backward(_t(dz))
    assert np.max(np.abs(z - z_t.detach().numpy())) < 1e-10
    assert np.max(np.abs(dmu - mu_t.grad.numpy())) < 1e-10
    assert np.max(np.abs(dlogvar - logvar_t.grad.numpy())) < 1e-10


@pytest.mark.parametrize("kind", ["bce", "mse"])
@pytest.mark.parametrize("shape", [(1, 1), (4, 9)])
def test_reconstruction_loss_matches_torch(kind, shape):
    rng = np.random.default_rng(3)
    out, x = rng.normal(size=shape), rng.uniform(size=shape)
    loss, dout = reconstruction_loss(out, x, kind)
    out_t = _t(out, True)
    loss_t = tg.reconstruction_loss(out_t, _t(x), kind)
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-10
    assert np.max(np.abs(dout - out_t.grad.numpy())) < 1e-10


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_vae_loss_matches_torch(beta):
    rng = np.random.default_rng(4)
    out, x = rng.normal(size=(3, 5)), rng.uniform(size=(3, 5))
    mu, logvar, _ = _latents((3, 2), 5)
    loss, parts, dout, dmu, dlogvar = vae_loss(out, x, mu, logvar, beta=beta)
    out_t, mu_t, logvar_t = _t(out, True), _t(mu, True), _t(logvar, True)
    loss_t, recon_t, kl_t = tg.vae_loss(out_t, _t(x), mu_t, logvar_t, beta=beta)
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-10
    assert abs(parts["reconstruction"] - recon_t.item()) < 1e-10 and abs(parts["kl"] - kl_t.item()) < 1e-10
    for mine, theirs in ((dout, out_t), (dmu, mu_t), (dlogvar, logvar_t)):
        assert np.max(np.abs(mine - theirs.grad.numpy())) < 1e-10


def test_a_whole_scratch_vae_matches_the_torch_vae():
    rng = np.random.default_rng(6)
    encoder, decoder = MLP([6, 5, 6], rng=rng), MLP([3, 5, 6], rng=rng)
    twin = tg.VAE([6, 5, 3], dtype=torch.float64)
    copy_weights(encoder, twin.encoder)
    copy_weights(decoder, twin.decoder)
    x, eps = rng.uniform(size=(4, 6)), rng.normal(size=(4, 3))
    h = encoder.forward(x)
    mu, logvar = h[:, :3], h[:, 3:]
    z, cache = reparameterize(mu, logvar, eps)
    logits = decoder.forward(z)
    loss, _, dlogits, dmu, dlogvar = vae_loss(logits, x, mu, logvar)
    dmu_r, dlogvar_r = reparameterize_backward(decoder.backward(dlogits), cache)
    encoder.backward(np.concatenate([dmu + dmu_r, dlogvar + dlogvar_r], axis=1))
    logits_t, mu_t, logvar_t = twin(_t(x), eps=_t(eps))
    loss_t = tg.vae_loss(logits_t, _t(x), mu_t, logvar_t)[0]
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-10
    for scratch_part, torch_part in ((encoder, twin.encoder), (decoder, twin.decoder)):
        params = dict(torch_part.named_parameters())
        for name, _, grad in scratch_part.named_parameters():
            assert np.max(np.abs(grad - params[name].grad.numpy())) < 1e-10, name


# ----------------------------------------------------------------------------- against numeric gradients


@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_kl_gradients_are_numeric(shape):
    mu, logvar, _ = _latents(shape, 7)
    _, dmu, dlogvar = gaussian_kl(mu, logvar)
    assert rel_error(dmu, numeric_gradient(lambda: gaussian_kl(mu, logvar)[0], mu)) < 1e-7
    assert rel_error(dlogvar, numeric_gradient(lambda: gaussian_kl(mu, logvar)[0], logvar)) < 1e-7


@pytest.mark.parametrize("shape", SHAPES)
def test_reparameterize_gradients_are_numeric(shape):
    mu, logvar, eps = _latents(shape, 8)
    dz = np.random.default_rng(9).normal(size=shape)
    dmu, dlogvar = reparameterize_backward(dz, reparameterize(mu, logvar, eps)[1])
    assert rel_error(dmu, numeric_gradient(lambda: reparameterize(mu, logvar, eps)[0], mu, dz)) < 1e-7
    assert rel_error(dlogvar, numeric_gradient(lambda: reparameterize(mu, logvar, eps)[0], logvar, dz)) < 1e-7


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_reconstruction_loss_gradient_is_numeric(kind):
    rng = np.random.default_rng(10)
    out, x = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4))
    _, dout = reconstruction_loss(out, x, kind)
    assert rel_error(dout, numeric_gradient(lambda: reconstruction_loss(out, x, kind)[0], out)) < 1e-7


def test_reparameterize_samples_have_the_right_moments():
    n = 200_000
    eps = np.random.default_rng(11).standard_normal((n, 1))
    z, _ = reparameterize(np.full((n, 1), -1.0), np.full((n, 1), np.log(4.0)), eps)
    assert abs(z.mean() + 1.0) < 0.02 and abs(z.std() - 2.0) < 0.02


# ----------------------------------------------------------------------------- principal angles and PCA


def test_principal_angles_on_known_subspaces():
    theta = np.radians(25.0)
    plane = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    tilted = np.array([[1.0, 0.0], [0.0, np.cos(theta)], [0.0, 0.0], [0.0, np.sin(theta)]])
    assert np.allclose(principal_angles(plane, tilted), [0.0, 25.0], atol=1e-8)
    # the same span in another basis: all angles zero; orthogonal complements: 90 degrees
    assert np.allclose(principal_angles(plane, plane @ np.array([[3.0, 1.0], [-1.0, 2.0]])), 0.0, atol=1e-8)
    other = np.array([[0.0], [0.0], [1.0], [0.0]])
    assert np.allclose(principal_angles(plane, other), [90.0], atol=1e-8)
    # a line inside the plane: one angle of 0; a line at 60 degrees to the plane: one angle of 60
    assert np.allclose(principal_angles(plane, np.array([[1.0], [1.0], [0.0], [0.0]])), [0.0], atol=1e-8)
    line = np.array([[np.cos(np.radians(60.0))], [0.0], [np.sin(np.radians(60.0))], [0.0]])
    assert np.allclose(principal_angles(line, plane), [60.0], atol=1e-8)


def test_principal_angles_are_accurate_for_tiny_angles():
    theta = 1e-9  # radians; arccos of the cosine would return 0 or 1e-8-sized noise
    a = np.array([[1.0], [0.0]])
    b = np.array([[np.cos(theta)], [np.sin(theta)]])
    assert principal_angles(a, b)[0] == pytest.approx(np.degrees(theta), rel=1e-6)


def test_principal_angles_agree_with_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(9, 3)), rng.normal(size=(9, 4))
    expected = np.sort(np.degrees(scipy_linalg.subspace_angles(a, b)))
    assert np.allclose(principal_angles(a, b), expected, atol=1e-8)


def test_principal_components_match_sklearn():
    decomposition = pytest.importorskip("sklearn.decomposition")
    X = np.random.default_rng(13).normal(size=(50, 6)) @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    components, variances, mean = principal_components(X, 3)
    pca = decomposition.PCA(3).fit(X)
    assert np.allclose(np.abs(np.sum(components * pca.components_, axis=1)), 1.0)
    assert np.allclose(variances, pca.explained_variance_) and np.allclose(mean, pca.mean_)
    assert np.allclose(principal_angles(components.T, pca.components_.T), 0.0, atol=1e-6)


# ----------------------------------------------------------------------------- the torch models


def test_autoencoder_and_vae_shapes_and_layouts():
    ae = tg.Autoencoder([64, 32, 8])
    x = torch.rand(5, 64)
    assert ae(x).shape == (5, 64) and ae.encode(x).shape == (5, 8)
    linear = tg.Autoencoder([64, 8], activation="linear")
    assert [type(m).__name__ for m in linear.encoder] == ["Linear"]
    vae = tg.VAE([64, 16, 2])
    logits, mu, logvar = vae(x, generator=torch.Generator().manual_seed(0))
    assert logits.shape == (5, 64) and mu.shape == (5, 2) and logvar.shape == (5, 2)
    keys = set(vae.state_dict())
    assert {"encoder.0.weight", "encoder.2.weight", "decoder.0.weight", "decoder.2.bias"} <= keys
    assert vae.encoder[2].out_features == 4  # mu and logvar side by side


def test_vae_forward_is_deterministic_given_eps_or_generator():
    vae = tg.VAE([6, 4, 2])
    x = torch.rand(3, 6)
    a = vae(x, generator=torch.Generator().manual_seed(1))[0]
    b = vae(x, generator=torch.Generator().manual_seed(1))[0]
    assert torch.equal(a, b)
    zero = vae(x, eps=torch.zeros(3, 2))[0]
    assert torch.allclose(zero, vae.decode(vae.encode(x)[0]))


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: gaussian_kl(np.zeros(3), np.zeros(3)), ValueError,
         r"expected mu of shape \(N, K\), got shape \(3,\)"),
        (lambda: gaussian_kl(np.zeros((2, 3)), np.zeros((2, 2))), ValueError,
         r"logvar of mu's shape \(2, 3\)"),
        (lambda: gaussian_kl(torch.zeros(2, 3), np.zeros((2, 3))), TypeError, "numpy.ndarray, got Tensor"),
        (lambda: gaussian_kl(np.zeros((2, 3), dtype=int), np.zeros((2, 3))), TypeError, "floating dtype"),
        (lambda: reparameterize(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
         r"eps of mu's shape \(2, 3\), got shape \(3, 2\)"),
        (lambda: reparameterize_backward(np.zeros((3, 3)), reparameterize(*_latents((2, 3), 0))[1]),
         ValueError,
         r"dz of the forward output's shape \(2, 3\)"),
        (lambda: reconstruction_loss(np.zeros((2, 4)), np.zeros((2, 4)), kind="l1"), ValueError,
         "kind to be one of"),
        (lambda: reconstruction_loss(np.zeros((2, 4)), np.full((2, 4), 2.0)), ValueError,
         r"target in \[0, 1\]"),
        (lambda: reconstruction_loss(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), ValueError,
         r"out of shape \(N, D\)"),
        (lambda: vae_loss(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((3, 2)), np.zeros((3, 2))), ValueError,
         "one row per example"),
        (lambda: vae_loss(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 2)), np.zeros((2, 2)), beta=-1.0),
         ValueError, "beta >= 0"),
        (lambda: principal_angles(np.zeros((5, 2)) + np.array([1.0, 1.0]), np.eye(5)[:, :2]), ValueError,
         "linearly independent"),
        (lambda: principal_angles(np.eye(5)[:, :2].T, np.eye(5)[:, :2]), ValueError, "try A.T"),
        (lambda: principal_angles(np.eye(5)[:, :2], np.eye(4)[:, :2]), ValueError, "B with A's 5 rows"),
        (lambda: principal_angles(np.ones(5), np.eye(5)[:, :2]), ValueError, r"A of shape \(D, k\)"),
        (lambda: principal_components(np.ones((4, 3)), 5), ValueError, "k <= 3"),
        (lambda: tg.gaussian_kl(np.zeros((2, 2)), torch.zeros(2, 2)), TypeError, "mu to be a torch.Tensor"),
        (lambda: tg.reparameterize(torch.zeros(2, 2), torch.zeros(2, 3)), ValueError, "logvar of mu's shape"),
        (lambda: tg.reconstruction_loss(torch.zeros(2, 4), torch.zeros(2, 4), kind="l2"), ValueError,
         "kind to be one of"),
        (lambda: tg.Autoencoder([64]), ValueError, "sizes as a list"),
        (lambda: tg.Autoencoder([64, 32, 8], activation="linear"), ValueError, "sizes \\[D, K\\]"),
        (lambda: tg.VAE([64, 2]), ValueError, "length >= 3"),
    ],
)
def test_bad_inputs_are_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ----------------------------------------------------------------------------- exercise checks


def _placeholder(*args):
    raise NotImplementedError("Your turn")


# pieces of the notebook's solutions that no hint of 8.1-8.3 may show
_WARMUP_CODE = ("np.", "0.5 * (", "mu**2", "sigma**2", "logvar / 2", "0.5 * logvar", "mu + ", "std * eps",
                "/ code_size", "input size /")


def _assert_warmup_hint(fb, hint, section):
    assert not fb.passed and hint in fb.message, fb.message
    if section is not None:
        assert f"section {section}" in fb.message, fb.message
    assert not any(bit in fb.message for bit in _WARMUP_CODE), fb.message


def test_kl_check_passes_a_right_answer():
    assert check_kl_1d(lambda mu, sigma: 0.5 * (mu**2 + sigma**2 - 1) - np.log(sigma)).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda mu, s: 0.5 * (mu**2 + s**2 - 1) - 2 * np.log(s), "the log term is doubled", 4.2),
        (lambda mu, s: 0.5 * (mu**2 + s - 1) - np.log(s), "the variance is sigma squared", 4.2),
        (lambda mu, s: 0.5 * (mu**2 + s**2 - 1), "left out the -log(sigma)", 4.2),
        (lambda mu, s: np.log(s) - 0.5 * (mu**2 + s**2 - 1), "sign is flipped", 4.2),
        (lambda mu, s: mu**2, "differs from the right one", 4.2),
        (lambda mu, s: "zero", "return one number", None),
    ],
)
def test_kl_check_hints(wrong, hint, section):
    _assert_warmup_hint(check_kl_1d(wrong), hint, section)


def test_reparameterize_check_passes_right_answers():
    assert check_reparameterize(lambda mu, lv, eps: mu + np.exp(0.5 * lv) * eps).passed
    assert check_reparameterize(lambda mu, lv, eps: reparameterize(mu, lv, eps)[0]).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda mu, lv, eps: mu + np.exp(lv) * eps, "exp(logvar) is the variance", 4.1),
        (lambda mu, lv, eps: mu + lv * eps, "logvar is the log of the variance", 4.1),
        (lambda mu, lv, eps: np.exp(0.5 * lv) * eps, "the mean mu is missing", 4.1),
        (lambda mu, lv, eps: mu + np.sqrt(np.abs(lv)) * eps, "undo it with exp", 4.1),
        (lambda mu, lv, eps: mu, "no common mistake matches", 4.1),
        (lambda mu, lv, eps: np.full(mu.shape, "z"), "z should be an array of numbers", None),
        (lambda mu, lv, eps: mu[0], "z has mu's shape", None),
    ],
)
def test_reparameterize_check_hints(wrong, hint, section):
    _assert_warmup_hint(check_reparameterize(wrong), hint, section)


def test_reparameterize_check_says_where_an_unknown_answer_differs():
    def off(mu, lv, eps):
        z = mu + np.exp(0.5 * lv) * eps
        z[2, 1] += 0.5
        return z

    fb = check_reparameterize(off)
    assert "z[2, 1] is " in fb.message and "(|difference| 0.5; 1 of 8 elements differ)" in fb.message, fb.message


def test_compression_check_passes_a_right_answer():
    assert check_compression_ratio(lambda shape, code: np.prod(shape) / code).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda shape, code: code / np.prod(shape), "other way round", 1),
        (lambda shape, code: shape[0] / code, "only the first dimension", 1),
        (lambda shape, code: int(np.prod(shape)) // code, "floor division", 1),
        (lambda shape, code: 8.0, "your ratio 8 should be 24.5", 1),
        (lambda shape, code: None, "return one number", None),
    ],
)
def test_compression_check_hints(wrong, hint, section):
    _assert_warmup_hint(check_compression_ratio(wrong), hint, section)


@pytest.mark.parametrize("check", [check_kl_1d, check_reparameterize, check_compression_ratio, check_vae_loss,
                                   check_vae_step])
def test_checks_handle_not_attempted_and_crashes(check):
    assert "not attempted yet" in check(_placeholder).message
    assert "ZeroDivisionError" in check(lambda *args: 1 / 0).message
    assert "pass your function itself" in check(3.0).message


# ----------------------------------------------------------------------------- widget


class _FakeDecoder:
    """Stands in for the VAE's decoder: the image brightness encodes z1, records the points asked for."""

    def __init__(self, flat=True):
        self.calls = []
        self.flat = flat

    def __call__(self, z):
        self.calls.append(np.array(z))
        images = np.zeros((len(z), 8, 8))
        images[:, :4] = (np.tanh(z[:, :1, None]) + 1) / 2
        images[:, 4:] = (np.tanh(z[:, 1:, None]) + 1) / 2
        return images.reshape(len(z), 64) if self.flat else images


def _controls(demo):
    return {w.description: w for w in demo.children if isinstance(w, ipywidgets.ValueWidget)}


def test_widget_builds_and_redraws():
    decode = _FakeDecoder()
    points = np.random.default_rng(0).normal(size=(20, 2))
    labels = np.arange(20) % 10
    demo = latent_walk_widget(decode, z1=0.5, z2=-1.0, points=points, labels=labels)
    controls = _controls(demo)
    assert set(controls) == {"z1", "z2"}
    assert np.allclose(decode.calls[0], [[0.5, -1.0]])  # the first frame is decoded straight away
    controls["z1"].value = 2.0
    assert np.allclose(decode.calls[-1], [[2.0, -1.0]])
    fig = plt.figure(plt.get_fignums()[-1])
    assert fig.axes[1].get_title() == "decoded at z = (2.0, -1.0)"
    image = fig.axes[1].get_images()[0].get_array()
    assert image.shape == (8, 8) and image[0, 0] == pytest.approx((np.tanh(2.0) + 1) / 2)


def test_widget_without_points():
    decode = _FakeDecoder(flat=False)
    latent_walk_widget(decode, limit=2.0)
    assert np.allclose(decode.calls[0], [[0.0, 0.0]])


def test_latent_grid_layout():
    framed = latent_grid(_FakeDecoder(), n=3, limit=1.0)
    assert framed.shape == (28, 28) and np.isnan(framed[0]).all() and np.isnan(framed[:, 9]).all()
    assert np.array_equal(framed[1:9, 1:9], latent_grid(_FakeDecoder(), n=3, limit=1.0, gap=0)[:8, :8])
    mosaic = latent_grid(_FakeDecoder(), n=3, limit=1.0, gap=0)
    assert mosaic.shape == (24, 24)
    # top-left tile: z1 = -1 (left half of the tile's rows 0..3), z2 = +1 (rows 4..7)
    assert mosaic[0, 0] == pytest.approx((np.tanh(-1.0) + 1) / 2)
    assert mosaic[4, 0] == pytest.approx((np.tanh(1.0) + 1) / 2)
    # bottom-right tile: z1 = +1, z2 = -1
    assert mosaic[16, 16] == pytest.approx((np.tanh(1.0) + 1) / 2)
    assert mosaic[20, 16] == pytest.approx((np.tanh(-1.0) + 1) / 2)


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: latent_walk_widget("decoder"), TypeError, "decode_fn to be a function"),
        (lambda: latent_walk_widget(_FakeDecoder(), z1=5.0), ValueError, "z1 <= 3.0"),
        (lambda: latent_walk_widget(_FakeDecoder(), limit=0.0), ValueError, "limit > 0"),
        (lambda: latent_walk_widget(_FakeDecoder(), points=np.zeros((5, 3))), ValueError,
         r"points of shape \(M, 2\)"),
        (lambda: latent_walk_widget(_FakeDecoder(), points=np.zeros((5, 2)), labels=np.zeros(4, dtype=int)),
         ValueError, "one label per point"),
        (lambda: latent_walk_widget(_FakeDecoder(), labels=np.zeros(4, dtype=int)), ValueError,
         "labels only together with points"),
        (lambda: latent_walk_widget(lambda z: torch.zeros(len(z), 64)), TypeError, "numpy array"),
        (lambda: latent_walk_widget(lambda z: np.zeros((len(z), 10))), ValueError, "shape"),
        (lambda: latent_walk_widget(lambda z: np.full((len(z), 64), 3.0)), ValueError, "apply the sigmoid"),
        (lambda: latent_grid(_FakeDecoder(), n=0), ValueError, "n >= 1"),
        (lambda: latent_grid(_FakeDecoder(), gap=-1), ValueError, "gap >= 0"),
    ],
)
def test_widget_bad_arguments_are_explained(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ----------------------------------------------------------------------------- exercises 8.4 and 8.5


def _right_vae_loss(logits, x, mu, logvar):
    n = x.shape[0]
    p = 1 / (1 + np.exp(-logits))
    var = np.exp(logvar)
    loss = np.sum(np.logaddexp(0, logits) - x * logits) / n + 0.5 * np.sum(mu**2 + var - 1 - logvar) / n
    return loss, (p - x) / n, mu / n, 0.5 * (var - 1) / n


def _variant(change):
    def answer(logits, x, mu, logvar):
        loss, dl, dm, dv = _right_vae_loss(logits, x, mu, logvar)
        return change(loss, dl, dm, dv, logits, x, mu, logvar)
    return answer


_SOLUTION_BITS = ("np.exp(", "logaddexp", "0.5 * (", "(p - x)", "mu / n", "concatenate")


def _assert_diagnosis(feedback, hint, section=None):
    assert not feedback.passed and hint in feedback.message, feedback.message
    if section is not None:
        assert f"section {section}" in feedback.message, feedback.message
    assert not any(bit in feedback.message for bit in _SOLUTION_BITS), feedback.message


def test_vae_loss_check_passes_the_reference():
    assert check_vae_loss(_right_vae_loss).passed


def _bce(logits, x):
    return np.logaddexp(0, logits) - x * logits


@pytest.mark.parametrize("wrong, hint, section", [
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (np.mean(np.mean(_bce(lo, x), axis=1))
                                                         + 0.5 * np.sum(mu**2 + np.exp(lv) - 1 - lv) / len(x),
                                                         dl, dm, dv)), "mean over the pixels", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss * len(x), dl, dm, dv)), "summed over the batch", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (np.sum(_bce(lo, x)) / len(x), dl, dm, dv)),
     "KL term is missing", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, (lo - x) / len(x), dm, dv)), "sigmoid", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl * len(x), dm, dv)), "wrong scale", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl, dm, 2 * dv)), "factor 1/2", 4.2),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl, mu, dv)), "dmu is missing the 1/N", 4.2),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl, 2 * dm, dv)), "dmu is twice too large", 4.2),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl, dm, dv * len(x))), "1/N of the batch average",
     4.2),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss, dl, dm, dv + 0.01)),
     "] is -0.041979 but should be -0.051979 (|difference| 0.01; 10 of 10 elements differ)", 4),
    (_variant(lambda loss, dl, dm, dv, lo, x, mu, lv: (loss + 0.5, dl, dm, dv)), "(|difference| 0.5)", 4),
    (lambda lo, x, mu, lv: 3.0, "return four things", None),
])
def test_vae_loss_check_names_the_mistake(wrong, hint, section):
    _assert_diagnosis(check_vae_loss(wrong), hint, section)


def _right_step(encoder, decoder, x, eps, mistake=None):
    k = eps.shape[1]
    h = encoder.forward(x)
    mu, logvar = h[:, :k], h[:, k:]
    z, _ = reparameterize(mu, logvar, eps)
    loss, _, dlogits, dmu_kl, dlogvar_kl = vae_loss(decoder.forward(z), x, mu, logvar)
    dz = decoder.backward(dlogits)
    half = 1.0 if mistake == "no_half" else 0.5
    noise = 1.0 if mistake == "no_eps" else eps
    sigma = 1.0 if mistake == "no_sigma" else np.exp(0.5 * logvar)
    dmu, dlogvar = dmu_kl + dz, dlogvar_kl + dz * noise * half * sigma
    if mistake == "no_kl":
        dmu, dlogvar = dz, dz * noise * half * sigma
    if mistake == "no_recon":
        dmu, dlogvar = dmu_kl, dlogvar_kl
    parts = [dlogvar, dmu] if mistake == "swapped" else [dmu, dlogvar]
    encoder.backward(np.concatenate(parts, axis=1))
    return loss


def test_vae_step_check_passes_the_reference():
    assert check_vae_step(_right_step).passed


@pytest.mark.parametrize("mistake, hint, section", [
    ("no_kl", "KL term's own gradient", 4.3),
    ("no_recon", "does not reach the encoder", 4.1),
    ("no_half", "factor 1/2", 4.1),
    ("no_eps", "misses the noise eps", 4.1),
    ("no_sigma", "misses sigma itself", 4.1),
    ("swapped", "each other's place", 4.3),
])
def test_vae_step_check_names_the_mistake(mistake, hint, section):
    def wrong(encoder, decoder, x, eps):
        return _right_step(encoder, decoder, x, eps, mistake)
    _assert_diagnosis(check_vae_step(wrong), hint, section)


def test_vae_step_check_says_where_an_unknown_gradient_differs():
    def off(encoder, decoder, x, eps):
        loss = _right_step(encoder, decoder, x, eps)
        [(_, _, grad), *_] = encoder.named_parameters()
        grad[1, 2] += 0.5
        return loss

    _assert_diagnosis(check_vae_step(off), "the encoder's 0.weight gradient[1, 2] is ", 4)


def test_vae_step_check_refuses_the_library_backward():
    def lazy(encoder, decoder, x, eps):
        return reparameterize_backward  # named in the source: the exercise asks to write it out
    _assert_diagnosis(check_vae_step(lazy), "without the library's")


def test_vae_step_check_sends_back_a_wrong_loss():
    def wrong(encoder, decoder, x, eps):
        _right_step(encoder, decoder, x, eps)
        return 0.0
    _assert_diagnosis(check_vae_step(wrong), "the loss is 0 but should be", 4)


def test_exercise_list_names_every_check():
    assert EXERCISES[3] == "8.4 the VAE loss and its gradients" and len(EXERCISES) == 5


# ----------------------------------------------------------------------------- the workbench


def test_workbench_vae_step_equals_the_exercise_reference():
    from course_lib.chapters.ch08_autoencoders_vae.workbench import vae_step

    rng = np.random.default_rng(0)
    enc, dec = MLP([6, 5, 4], rng=rng), MLP([2, 5, 6], rng=rng)
    x, eps = rng.uniform(size=(3, 6)), rng.normal(size=(3, 2))
    out = vae_step(enc, dec, x, eps)
    grads = {n: g.copy() for n, _, g in enc.named_parameters()}
    loss = _right_step(enc, dec, x, eps)
    assert np.isclose(out["loss"], loss)
    assert all(np.allclose(grads[n], g) for n, _, g in enc.named_parameters())


def test_gap_report_finds_a_hole():
    from course_lib.chapters.ch08_autoencoders_vae.workbench import gap_report

    codes = np.concatenate([np.random.default_rng(0).normal(size=(200, 2)) * 0.1 - 3,
                            np.random.default_rng(1).normal(size=(200, 2)) * 0.1 + 3])
    z = np.array([[0.0, 0.0], [3.0, 3.0]])  # one in the hole between the clusters, one inside a cluster
    images = np.zeros((2, 4))
    report = gap_report(codes, z, images, np.array([0.5, 1.0]), np.zeros((3, 4)))
    assert report["in_gap"] == 0.5 and report["confidence"] == 0.75 and report["sure"] == 0.5
    assert report["distance"] == 0.0


def test_nearest_distance_and_path_report():
    from course_lib.chapters.ch08_autoencoders_vae.workbench import nearest_distance, path_report

    ref = np.eye(4)
    assert np.allclose(nearest_distance(np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]]), ref), [0.0, 0.5])
    out = path_report(np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]]), np.array([0.9, 0.4]), ref)
    assert out == {"min_confidence": 0.4, "max_distance": 0.5}
    with pytest.raises(ValueError, match="nearest_distance: expected images and reference with the same"):
        nearest_distance(np.zeros((2, 3)), ref)


def test_split_digits_keeps_classes_and_is_disjoint():
    from course_lib.chapters.ch08_autoencoders_vae.workbench import split_digits
    from course_lib.data import load_digits

    d = split_digits(load_digits(test_size=0.3, seed=0), val_size=0.2, seed=1)
    assert len(d["X_train"]) + len(d["X_val"]) == 1258 and len(d["X_test"]) == 539
    assert set(np.unique(d["y_val"])) == set(range(10))
    train_rows = {tuple(r) for r in d["X_train"]}
    assert sum(tuple(r) in train_rows for r in d["X_val"]) < 5  # a few digits are exact duplicates in the data


def test_train_autoencoder_records_a_falling_validation_curve():
    from course_lib.chapters.ch08_autoencoders_vae.workbench import train_autoencoder

    X = torch.rand(64, 8)
    torch.manual_seed(0)
    curve = train_autoencoder(tg.Autoencoder([8, 4]), X, epochs=5, X_val=X[:16])
    assert len(curve) == 5 and curve[-1] < curve[0]
    with pytest.raises(TypeError, match="train_autoencoder: expected X as a 2-D float tensor"):
        train_autoencoder(tg.Autoencoder([8, 4]), np.zeros((4, 8)), epochs=1)
