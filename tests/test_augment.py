"""Data augmentation (course_lib.scratch.augment): invariants, torch grid_sample, loop references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

from course_lib.scratch.augment import (
    augment,
    brightness_jitter,
    contrast_jitter,
    crop_and_resize,
    random_crop_and_scale,
    random_hflip,
    random_shift,
    shift_images,
)

SHAPES = [(4, 3, 8, 6), (3, 5, 7), (1, 1, 1, 1), (2, 1, 5), (1, 2, 9, 4)]


def images(shape, seed=0):
    return np.random.default_rng(seed).random(shape)  # values in [0, 1)


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------ flips


@pytest.mark.parametrize("shape", SHAPES)
def test_hflip(shape):
    x = images(shape)
    assert np.array_equal(random_hflip(x, 1.0, rng()), x[..., ::-1])
    assert np.array_equal(random_hflip(random_hflip(x, 1.0, rng()), 1.0, rng()), x)
    assert np.array_equal(random_hflip(x, 0.0, rng()), x)
    # Same seed, same coin flips: flipping twice undoes itself.
    assert np.array_equal(random_hflip(random_hflip(x, 0.5, rng(3)), 0.5, rng(3)), x)


def test_hflip_flips_whole_images_with_probability_p():
    x = images((2000, 1, 2, 3))
    out = random_hflip(x, 0.3, rng(1))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept)
    assert abs(flipped.mean() - 0.3) < 0.04
    assert np.array_equal(out, random_hflip(x, 0.3, rng(1)))
    assert not np.array_equal(out, random_hflip(x, 0.3, rng(2)))


# ------------------------------------------------------------------------ crop + scale


def torch_crop_and_resize(x4, top, left, height, width):
    """The same crop through torch's grid_sample: normalised coordinates g = (2 * pixel + 1) / size - 1."""
    N, _, H, W = x4.shape
    rows = top[:, None] + (np.arange(H) + 0.5) * height[:, None] / H - 0.5
    cols = left[:, None] + (np.arange(W) + 0.5) * width[:, None] / W - 0.5
    gy = (2 * rows + 1) / H - 1
    gx = (2 * cols + 1) / W - 1
    grid = np.stack(np.broadcast_arrays(gx[:, None, :], gy[:, :, None]), axis=-1)  # (N, H, W, 2) as (x, y)
    out = F.grid_sample(
        torch.tensor(x4), torch.tensor(grid), mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.numpy()


@pytest.mark.parametrize("shape", [(3, 2, 8, 6), (2, 7, 5), (1, 1, 3, 1)])
def test_crop_and_resize_matches_torch_grid_sample(shape):
    x = images(shape, 1)
    N, H, W = shape[0], shape[-2], shape[-1]
    r = rng(4)
    side = np.sqrt(r.uniform(0.3, 1.0, size=N))
    height, width = side * H, side * W
    top, left = r.random(N) * (H - height), r.random(N) * (W - width)
    ours = crop_and_resize(x, top, left, height, width)
    x4 = x[:, None] if x.ndim == 3 else x
    theirs = torch_crop_and_resize(x4, top, left, height, width).reshape(shape)
    assert_close(ours, theirs, "crop_and_resize")


def test_crop_and_resize_by_hand():
    # Zoom the top-left 2x2 block of a 4x4 image (x[i, j] = 4 i + j) by 2, align_corners=False:
    # output centres sit at source coordinates (k + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    # the first clamped to 0; the image is linear in i and j, so bilinear reads it exactly.
    x = np.arange(16.0).reshape(1, 4, 4)
    out = crop_and_resize(x, np.array([0]), np.array([0]), np.array([2]), np.array([2]))
    coords = np.array([[0.0, 0.25, 0.75, 1.25]])
    assert np.allclose(out[0], 4 * coords.T + coords)


@pytest.mark.parametrize("shape", SHAPES)
def test_random_crop_and_scale_invariants(shape):
    x = images(shape, 2)
    assert np.array_equal(random_crop_and_scale(x, (1.0, 1.0), rng()), x)  # scale 1 is the identity
    out = random_crop_and_scale(x, (0.5, 0.9), rng(5))
    assert out.shape == x.shape
    assert np.array_equal(out, random_crop_and_scale(x, (0.5, 0.9), rng(5)))
    lo, hi = x.min(axis=(-2, -1), keepdims=True), x.max(axis=(-2, -1), keepdims=True)
    assert np.all(out >= lo - 1e-12) and np.all(out <= hi + 1e-12)  # bilinear: convex combinations
    const = np.full(shape, 0.25)
    assert np.allclose(random_crop_and_scale(const, (0.5, 0.9), rng(6)), 0.25)
    if shape[-1] * shape[-2] > 1:
        assert not np.array_equal(out, x)


# ------------------------------------------------------------------------------ shifts


def loop_shift(x4, dy, dx, fill):
    out = np.full_like(x4, fill)
    H, W = x4.shape[-2:]
    for n in range(x4.shape[0]):
        for i in range(H):
            for j in range(W):
                if 0 <= i - dy[n] < H and 0 <= j - dx[n] < W:
                    out[n, :, i, j] = x4[n, :, i - dy[n], j - dx[n]]
    return out


def test_shift_images_matches_loop_reference():
    x = images((5, 2, 4, 7), 3)
    dy, dx = np.array([0, 1, -2, 5, -1]), np.array([3, -1, 0, 0, -9])
    assert np.array_equal(shift_images(x, dy, dx, fill=-1.0), loop_shift(x, dy, dx, -1.0))
    assert np.array_equal(shift_images(x[:, 0], dy, dx), loop_shift(x[:, :1], dy, dx, 0.0)[:, 0])


@pytest.mark.parametrize("shape", SHAPES)
def test_random_shift_is_a_shift_within_range(shape):
    x = images(shape, 4)
    assert np.array_equal(random_shift(x, 0, rng()), x)
    m = 2
    out = random_shift(x, m, rng(7))
    assert out.shape == x.shape
    assert np.array_equal(out, random_shift(x, m, rng(7)))
    shifts = [(a, b) for a in range(-m, m + 1) for b in range(-m, m + 1)]
    for n in range(shape[0]):  # every image equals one of the allowed shifts of itself
        candidates = [shift_images(x[n : n + 1], np.array([a]), np.array([b]))[0] for a, b in shifts]
        assert any(np.array_equal(out[n], c) for c in candidates)


# ------------------------------------------------------------------------------ colour


@pytest.mark.parametrize("shape", SHAPES)
def test_brightness_and_contrast_jitter(shape):
    x = 0.25 + 0.5 * images(shape, 5)  # values in [0.25, 0.75): no clipping at strength 0.3
    axes = tuple(range(1, x.ndim))
    assert np.array_equal(brightness_jitter(x, 0.0, rng()), x)
    assert np.allclose(contrast_jitter(x, 0.0, rng()), x, atol=1e-15)
    bright = brightness_jitter(x, 0.3, rng(1))
    ratio = bright / x
    assert np.allclose(ratio, ratio.reshape(shape[0], -1)[:, :1].reshape((-1,) + (1,) * (x.ndim - 1)))
    assert np.all((ratio >= 0.7 - 1e-12) & (ratio <= 1.3 + 1e-12))
    contrast = contrast_jitter(x, 0.3, rng(2))
    assert np.allclose(contrast.mean(axis=axes), x.mean(axis=axes))  # the mean is kept
    assert np.array_equal(contrast, contrast_jitter(x, 0.3, rng(2)))
    for out in (brightness_jitter(x, 1.0, rng(3)), contrast_jitter(x, 1.0, rng(4))):
        assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0  # clipped to value_range


def test_value_range_can_be_changed_or_switched_off():
    digits = 16.0 * images((3, 8, 8), 6)
    with pytest.raises(
        ValueError,
        match=r"brightness_jitter: expected x with values in value_range \[0, 1\], "
        r"got values from .* to 15.*; rescale x, e.g. x / 15",
    ):
        brightness_jitter(digits, 0.2, rng())
    out = brightness_jitter(digits, 0.5, rng(), value_range=(0, 16))
    assert out.max() <= 16
    assert contrast_jitter(digits, 0.9, rng(), value_range=None).shape == digits.shape


# ----------------------------------------------------------------------------- augment


@pytest.mark.parametrize("shape", SHAPES)
def test_augment_composes(shape):
    x = images(shape, 7)
    kwargs = dict(hflip_p=0.5, scale=(0.7, 1.0), max_shift=1, brightness=0.2, contrast=0.2)
    out = augment(x, rng(8), **kwargs)
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(out, augment(x, rng(8), **kwargs))
    off = augment(x, rng(8), hflip_p=0.0, scale=None)
    assert np.array_equal(off, x) and off is not x
    assert np.array_equal(augment(x, rng(8), hflip_p=1.0, scale=None), x[..., ::-1])


# ---------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    x = images((2, 3, 4, 4))
    with pytest.raises(
        ValueError,
        match=r"random_hflip: expected x of shape \(N, C, H, W\) or \(N, H, W\), "
        r"got shape \(28, 28\); pass a batch, e.g. x\[None\]",
    ):
        random_hflip(np.zeros((28, 28)), 0.5, rng())
    with pytest.raises(
        TypeError, match=r"random_shift: expected rng to be a numpy.random.Generator, got NoneType"
    ):
        random_shift(x, 1)
    with pytest.raises(TypeError, match=r"expected x with a floating dtype, got dtype uint8"):
        augment(x.astype(np.uint8), rng())
    with pytest.raises(ValueError, match=r"random_hflip: expected p <= 1.0, got 2.0"):
        random_hflip(x, 2.0, rng())
    with pytest.raises(ValueError, match=r"expected scale with 0.0 < low <= high <= 1.0, got \(0.9, 0.8\)"):
        random_crop_and_scale(x, (0.9, 0.8), rng())
    with pytest.raises(ValueError, match=r"expected scale with 0.0 < low <= high <= 1.0, got \(0, 1\)"):
        random_crop_and_scale(x, (0, 1), rng())
    with pytest.raises(TypeError, match=r"expected scale to be a pair \(low, high\) of numbers, got 0.5"):
        random_crop_and_scale(x, 0.5, rng())
    with pytest.raises(ValueError, match=r"random_shift: expected max_shift >= 0, got -1"):
        random_shift(x, -1, rng())
    with pytest.raises(TypeError, match=r"random_shift: expected max_shift to be an int, got float 1.5"):
        random_shift(x, 1.5, rng())
    with pytest.raises(ValueError, match=r"contrast_jitter: expected strength <= 1.0, got 1.5"):
        contrast_jitter(x, 1.5, rng())
    with pytest.raises(ValueError, match=r"expected value_range to be a pair \(low, high\) with low < high"):
        brightness_jitter(x, 0.1, rng(), value_range=(1, 0))
    with pytest.raises(
        ValueError,
        match=r"crop_and_resize: expected top of shape \(2,\) \(one per image\), "
        r"got shape \(3,\)",
    ):
        crop_and_resize(x, np.zeros(3), np.zeros(2), np.ones(2), np.ones(2))
    with pytest.raises(
        ValueError, match=r"crop_and_resize: expected boxes of positive size inside the \(4, 4\) image"
    ):
        crop_and_resize(x, np.array([0.0, 1.0]), np.zeros(2), np.full(2, 4.0), np.ones(2))
    with pytest.raises(
        TypeError, match=r"shift_images: expected dy with an integer or unsigned integer dtype"
    ):
        shift_images(x, np.zeros(2), np.zeros(2, dtype=int))
