"""Data augmentation for image batches, in vectorised NumPy.

Every function takes a batch ``x`` of shape (N, C, H, W) or (N, H, W), draws
one random setting per image from ``rng`` (a ``np.random.Generator``, always
required so that augmentation is reproducible), and returns a NEW array of
the same shape; ``x`` is never modified.

* :func:`random_hflip` mirrors left-right;
* :func:`random_crop_and_scale` cuts a random box and resizes it back to
  (H, W) with bilinear interpolation (zoom in), via :func:`crop_and_resize`;
* :func:`random_shift` moves the image by whole pixels, filling the gap,
  via :func:`shift_images`;
* :func:`brightness_jitter` / :func:`contrast_jitter` change the pixel values;
* :func:`augment` chains them.

torchvision (not installed here) has the torch versions: RandomHorizontalFlip,
RandomResizedCrop, RandomCrop(padding=...), ColorJitter. The maths here is
written out for teaching and is not bit-compatible with torchvision.
"""

from __future__ import annotations

import numbers

import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_int

_SHAPE_DOC = "(N, C, H, W) or (N, H, W)"


def random_hflip(x, p=0.5, rng=None):
    """Mirror each image left-right with probability p.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.RandomHorizontalFlip
    """
    func = "random_hflip"
    x4, rng = _check_images(x, rng, func)
    p = check_float(p, "p", func, minimum=0.0, maximum=1.0)
    flip = rng.random(x4.shape[0]) < p
    out = np.where(flip[:, None, None, None], x4[..., ::-1], x4)
    return out.reshape(x.shape)


def random_crop_and_scale(x, scale=(0.8, 1.0), rng=None):
    """Crop a random box holding a fraction ``s ~ U(scale)`` of the area, resize back to (H, W).

    The box keeps the image's aspect ratio (sides H*sqrt(s) and W*sqrt(s)),
    has a uniformly random position and may have fractional corners; see
    :func:`crop_and_resize`. ``scale=(1, 1)`` returns the images unchanged.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.RandomResizedCrop(ratio=(W/H, W/H))
    """
    func = "random_crop_and_scale"
    x4, rng = _check_images(x, rng, func)
    lo, hi = _check_range_pair(scale, "scale", func, low=0.0, high=1.0)
    N, _, H, W = x4.shape
    side = np.sqrt(rng.uniform(lo, hi, size=N))  # box side as a fraction of the image side
    top = rng.random(N) * H * (1.0 - side)
    left = rng.random(N) * W * (1.0 - side)
    return _crop_and_resize(x4, top, left, side * H, side * W).reshape(x.shape)


def crop_and_resize(x, top, left, height, width):
    """Cut box n, (top[n], left[n], height[n], width[n]) in pixels, out of image n; resize it to (H, W).

    Output pixel centre i maps to the source coordinate
    ``top + (i + 0.5) * height / H - 0.5`` (the align_corners=False
    convention; columns alike), clamped to the image, and is read off with
    bilinear interpolation, one axis after the other. Corners may be
    fractional; the box must lie inside the image.

    Shapes: x (N, C, H, W) or (N, H, W); top, left, height, width (N,) -> out same shape as x.
    Twin: torch.nn.functional.grid_sample(mode="bilinear", padding_mode="border", align_corners=False)
    """
    func = "crop_and_resize"
    _check_batch(x, func)
    x4 = x[:, None] if x.ndim == 3 else x
    N, _, H, W = x4.shape
    box = {}
    for name, value in (("top", top), ("left", left), ("height", height), ("width", width)):
        box[name] = check_array(value, name, func, ndim=1, shape_doc=f"({N},)", dtype_kind="fiu")
        if box[name].shape != (N,):
            _fail(
                ValueError, func, f"{name} of shape ({N},) (one per image)", f"shape {box[name].shape}", None
            )
    inside = (
        np.all(box["top"] >= 0)
        and np.all(box["left"] >= 0)
        and np.all(box["height"] > 0)
        and np.all(box["width"] > 0)
        and np.all(box["top"] + box["height"] <= H + 1e-9)
        and np.all(box["left"] + box["width"] <= W + 1e-9)
    )
    if not inside:
        _fail(
            ValueError,
            func,
            f"boxes of positive size inside the ({H}, {W}) image",
            "a box reaching outside",
            "keep 0 <= top, top + height <= H, and the same for left and width",
        )
    return _crop_and_resize(x4, box["top"], box["left"], box["height"], box["width"]).reshape(x.shape)


def _crop_and_resize(x4, top, left, height, width):
    _, _, H, W = x4.shape
    rows = top[:, None] + (np.arange(H) + 0.5) * (height[:, None] / H) - 0.5
    cols = left[:, None] + (np.arange(W) + 0.5) * (width[:, None] / W) - 0.5
    out = _interp_axis(x4, rows, axis=2)
    return _interp_axis(out, cols, axis=3)


def _interp_axis(x4, coords, axis):
    """Linear interpolation of x4 along one spatial axis at per-image coordinates (N, L)."""
    size = x4.shape[axis]
    coords = np.clip(coords, 0.0, size - 1)
    lo = np.floor(coords).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    w = coords - lo
    index_shape = [x4.shape[0], 1, 1, 1]
    index_shape[axis] = coords.shape[1]
    lo, hi, w = (a.reshape(index_shape) for a in (lo, hi, w))
    below = np.take_along_axis(x4, lo, axis=axis)
    above = np.take_along_axis(x4, hi, axis=axis)
    return below * (1.0 - w) + above * w


def random_shift(x, max_shift, rng=None, fill=0.0):
    """Shift each image by whole pixels (dy, dx), each uniform in [-max_shift, max_shift].

    Equivalent to padding by max_shift with ``fill`` and cropping an (H, W)
    window at a random offset; see :func:`shift_images`.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.RandomCrop(size=(H, W), padding=max_shift)
    """
    func = "random_shift"
    x4, rng = _check_images(x, rng, func)
    max_shift = check_int(max_shift, "max_shift", func, minimum=0)
    dy = rng.integers(-max_shift, max_shift + 1, size=x4.shape[0])
    dx = rng.integers(-max_shift, max_shift + 1, size=x4.shape[0])
    return shift_images(x, dy, dx, fill=fill)


def shift_images(x, dy, dx, fill=0.0):
    """Move image n down by dy[n] and right by dx[n] pixels (negative: up/left); uncovered pixels get fill.

    ``out[n, ..., i, j] = x[n, ..., i - dy[n], j - dx[n]]`` where that is inside the image.

    Shapes: x (N, C, H, W) or (N, H, W); dy, dx (N,) integers -> out same shape as x.
    Twin: torch.roll plus masking (torchvision.transforms.functional.affine with a translation)
    """
    func = "shift_images"
    _check_batch(x, func)
    x4 = x[:, None] if x.ndim == 3 else x
    N, _, H, W = x4.shape
    for name, value in (("dy", dy), ("dx", dx)):
        check_array(value, name, func, ndim=1, shape_doc=f"({N},)", dtype_kind="iu")
        if value.shape != (N,):
            _fail(ValueError, func, f"{name} of shape ({N},) (one per image)", f"shape {value.shape}", None)
    fill = check_float(fill, "fill", func)
    m = int(max(np.abs(dy).max(), np.abs(dx).max()))
    padded = np.pad(x4, ((0, 0), (0, 0), (m, m), (m, m)), constant_values=fill)
    # out[i, j] = x[i - dy, j - dx] = padded[i - dy + m, j - dx + m], always inside padded
    rows = (np.arange(H)[None, :] - dy[:, None] + m).reshape(N, 1, H, 1)
    cols = (np.arange(W)[None, :] - dx[:, None] + m).reshape(N, 1, 1, W)
    out = np.take_along_axis(padded, rows, axis=2)
    out = np.take_along_axis(out, cols, axis=3)
    return out.reshape(x.shape)


def brightness_jitter(x, strength, rng=None, value_range=(0.0, 1.0)):
    """Multiply each image by a factor b ~ U(1 - strength, 1 + strength), then clip.

    ``value_range`` is the range pixel values live in (x is checked to lie in
    it, and the output is clipped to it); pass None to skip both.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.ColorJitter(brightness=strength)
    """
    func = "brightness_jitter"
    x4, rng = _check_images(x, rng, func)
    strength = check_float(strength, "strength", func, minimum=0.0, maximum=1.0)
    bounds = _check_value_range(x4, value_range, func)
    factor = rng.uniform(1.0 - strength, 1.0 + strength, size=x4.shape[0])
    out = x4 * factor[:, None, None, None]
    return _clip(out, bounds).reshape(x.shape)


def contrast_jitter(x, strength, rng=None, value_range=(0.0, 1.0)):
    """Scale each image's deviations from its mean by c ~ U(1 - strength, 1 + strength), then clip.

    ``out = mean + c * (x - mean)`` with the mean over all of one image's
    channels and pixels (torchvision uses the grayscale mean). ``value_range``
    as in :func:`brightness_jitter`.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.ColorJitter(contrast=strength)
    """
    func = "contrast_jitter"
    x4, rng = _check_images(x, rng, func)
    strength = check_float(strength, "strength", func, minimum=0.0, maximum=1.0)
    bounds = _check_value_range(x4, value_range, func)
    factor = rng.uniform(1.0 - strength, 1.0 + strength, size=x4.shape[0])[:, None, None, None]
    mean = x4.mean(axis=(1, 2, 3), keepdims=True)
    out = mean + factor * (x4 - mean)
    return _clip(out, bounds).reshape(x.shape)


def augment(
    x,
    rng=None,
    *,
    hflip_p=0.5,
    scale=(0.8, 1.0),
    max_shift=0,
    brightness=0.0,
    contrast=0.0,
    value_range=(0.0, 1.0),
):
    """Chain the augmentations: crop-and-scale, flip, shift, brightness, contrast.

    A step is skipped when its setting turns it off (``scale=None``,
    ``hflip_p=0``, ``max_shift=0``, ``brightness=0``, ``contrast=0``).
    For digits, where a mirrored 2 is not a 2, pass ``hflip_p=0``.

    Shapes: x (N, C, H, W) or (N, H, W) -> out same shape.
    Twin: torchvision.transforms.Compose of the transforms above
    """
    func = "augment"
    _check_images(x, rng, func)
    out = x
    if scale is not None:
        out = random_crop_and_scale(out, scale, rng)
    if check_float(hflip_p, "hflip_p", func, minimum=0.0, maximum=1.0) > 0:
        out = random_hflip(out, hflip_p, rng)
    if check_int(max_shift, "max_shift", func, minimum=0) > 0:
        out = random_shift(out, max_shift, rng)
    if check_float(brightness, "brightness", func, minimum=0.0, maximum=1.0) > 0:
        out = brightness_jitter(out, brightness, rng, value_range=value_range)
    if check_float(contrast, "contrast", func, minimum=0.0, maximum=1.0) > 0:
        out = contrast_jitter(out, contrast, rng, value_range=value_range)
    return out.copy() if out is x else out


# ----------------------------------------------------------------------------- checks


def _check_images(x, rng, func):
    """Validate the batch and the generator; return x viewed as (N, C, H, W) and rng."""
    _check_batch(x, func)
    if not isinstance(rng, np.random.Generator):
        _fail(
            TypeError,
            func,
            "rng to be a numpy.random.Generator",
            type(rng).__name__,
            "pass rng=np.random.default_rng(0) so the augmentation is reproducible",
        )
    x4 = x[:, None] if x.ndim == 3 else x
    return x4, rng


def _check_range_pair(value, name, func, low, high):
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        _fail(TypeError, func, f"{name} to be a pair (low, high) of numbers", repr(value), None)
    lo, hi = float(value[0]), float(value[1])
    if not (low < lo <= hi <= high):
        _fail(
            ValueError,
            func,
            f"{name} with {low} < low <= high <= {high}",
            repr(value),
            "e.g. scale=(0.8, 1.0) keeps 80-100% of the area",
        )
    return lo, hi


def _check_value_range(x4, value_range, func):
    if value_range is None:
        return None
    ok = (
        isinstance(value_range, (tuple, list))
        and len(value_range) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)
        and value_range[0] < value_range[1]
    )
    if not ok:
        _fail(
            ValueError,
            func,
            "value_range to be a pair (low, high) with low < high, or None",
            repr(value_range),
            None,
        )
    lo, hi = float(value_range[0]), float(value_range[1])
    xmin, xmax = float(x4.min()), float(x4.max())
    if xmin < lo or xmax > hi:
        _fail(
            ValueError,
            func,
            f"x with values in value_range [{lo:g}, {hi:g}]",
            f"values from {xmin:g} to {xmax:g}",
            f"rescale x, e.g. x / {xmax:g}, or pass value_range=({xmin:g}, {xmax:g})",
        )
    return lo, hi


def _clip(out, bounds):
    return out if bounds is None else np.clip(out, bounds[0], bounds[1])


def _check_batch(x, func: str) -> None:
    """A float batch of images, (N, C, H, W) or (N, H, W)."""
    check_array(
        x, "x", func, ndim=(3, 4), shape_doc=_SHAPE_DOC, dtype_kind="f", fix="pass a batch, e.g. x[None] for one image"
    )
