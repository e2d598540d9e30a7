"""Chapter 8 demo: walk a VAE's 2-D latent space with two sliders and watch the decoded digit.

The notebook supplies ``decode_fn``, which turns latent points into images,
so the model the student trained is the one the widget shows.
``latent_grid`` decodes a whole grid of latent points into one mosaic, the
static figure that follows the widget.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_int

_FUNC = "latent_walk_widget"


def _decode(decode_fn, z: np.ndarray, func: str) -> np.ndarray:
    """Call decode_fn on (N, 2) points and return (N, S, S) images in [0, 1]."""
    images = decode_fn(z)
    expected = "decode_fn to return images in [0, 1] as a numpy array (N, S*S) or (N, S, S), one per point"
    if not isinstance(images, np.ndarray):
        _fail(TypeError, func, expected, type(images).__name__,
              "convert a tensor with .detach().cpu().numpy() and apply the sigmoid to logits")
    n = z.shape[0]
    if images.ndim == 2 and images.shape[0] == n:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side == images.shape[1]:
            images = images.reshape(n, side, side)
    if images.ndim == 4 and images.shape[:2] == (n, 1):
        images = images[:, 0]
    if images.ndim != 3 or images.shape[0] != n or images.shape[1] != images.shape[2]:
        _fail(ValueError, func, expected, f"shape {images.shape} for {n} points", None)
    if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
        _fail(ValueError, func, expected, f"values from {np.nanmin(images):g} to {np.nanmax(images):g}",
              "apply the sigmoid to the decoder's logits")
    return images


def latent_grid(decode_fn, n: int = 15, limit: float = 2.5, gap: int = 1) -> np.ndarray:
    """Decode an n x n grid of latent points on [-limit, limit]^2 into one mosaic image.

    Tile row 0 of the mosaic is the top, z2 = +limit; tile column 0 is
    z1 = -limit. Tiles are separated (and framed) by ``gap`` pixels of NaN,
    which matplotlib's imshow leaves blank.

    Shapes: decode_fn (M, 2) -> (M, S, S) or (M, S*S); returns (n*(S+gap)+gap, n*(S+gap)+gap).
    """
    func = "latent_grid"
    if not callable(decode_fn):
        _fail(TypeError, func, "decode_fn to be a function (N, 2) array -> images", type(decode_fn).__name__,
              "pass the function itself, without calling it")
    n = check_int(n, "n", func, minimum=1, maximum=60)
    limit = check_float(limit, "limit", func, minimum=0.0, strict_min=True)
    gap = check_int(gap, "gap", func, minimum=0, maximum=8)
    values = np.linspace(-limit, limit, n)
    z1, z2 = np.meshgrid(values, values[::-1])
    images = _decode(decode_fn, np.column_stack([z1.ravel(), z2.ravel()]), func)
    side = images.shape[1]
    step = side + gap
    mosaic = np.full((n * step + gap, n * step + gap), np.nan)
    for index, image in enumerate(images):
        row, col = divmod(index, n)
        mosaic[gap + row * step:gap + row * step + side, gap + col * step:gap + col * step + side] = image
    return mosaic


def latent_walk_widget(decode_fn, z1: float = 0.0, z2: float = 0.0, limit: float = 3.0, points=None,
                       labels=None):
    """Two sliders choose a latent point (z1, z2); the decoded digit is drawn beside the latent plane.

    ``decode_fn`` maps an (N, 2) float array to images in [0, 1], (N, S, S)
    or (N, S*S). ``points`` (M, 2), optionally with integer ``labels`` (M,),
    are drawn in the plane (e.g. the encoded test digits), so you see which
    cluster the slider point sits in.

    Shapes: decode_fn (N, 2) -> (N, S, S); points (M, 2); labels (M,).
    """
    if not callable(decode_fn):
        _fail(TypeError, _FUNC, "decode_fn to be a function (N, 2) array -> images", type(decode_fn).__name__,
              "pass the function itself, without calling it")
    limit = check_float(limit, "limit", _FUNC, minimum=0.0, strict_min=True)
    z1 = check_float(z1, "z1", _FUNC, minimum=-limit, maximum=limit)
    z2 = check_float(z2, "z2", _FUNC, minimum=-limit, maximum=limit)
    if points is not None:
        check_array(points, "points", _FUNC, ndim=2, shape_doc="(M, 2)", dtype_kind="fiu")
        if points.shape[1] != 2:
            _fail(ValueError, _FUNC, "points of shape (M, 2), one latent point per row",
                  f"shape {points.shape}", "pass the encoder's mu of a 2-D latent space")
        if labels is not None:
            check_array(labels, "labels", _FUNC, ndim=1, shape_doc="(M,)", dtype_kind="iu")
            if labels.shape[0] != points.shape[0]:
                _fail(ValueError, _FUNC, f"one label per point ({points.shape[0]})",
                      f"{labels.shape[0]} labels", None)
    elif labels is not None:
        _fail(ValueError, _FUNC, "labels only together with points", "labels without points", None)
    # Decode the first point here, not inside the callback, so that a wrong
    # decode_fn raises at once instead of being logged by the widget.
    _decode(decode_fn, np.array([[z1, z2]]), _FUNC)

    def draw(z1, z2):
        image = _decode(decode_fn, np.array([[z1, z2]], dtype=np.float64), _FUNC)[0]
        fig, (ax_plane, ax_image) = plt.subplots(1, 2, figsize=(7.5, 3.5), width_ratios=(1.3, 1))
        if points is not None:
            colour = labels if labels is not None else "lightgray"
            ax_plane.scatter(points[:, 0], points[:, 1], c=colour, cmap="tab10", s=6, alpha=0.5,
                             vmin=0, vmax=9)
        ax_plane.plot([z1], [z2], "k*", markersize=16)
        ax_plane.set(xlim=(-limit, limit), ylim=(-limit, limit), xlabel="z1", ylabel="z2", aspect="equal",
                     title="latent plane")
        ax_image.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        ax_image.set_axis_off()
        ax_image.set_title(f"decoded at z = ({z1:.1f}, {z2:.1f})")
        plt.show()

    def slider(value, name):
        return widgets.FloatSlider(value=value, min=-limit, max=limit, step=0.1, description=name,
                                   continuous_update=False, style={"description_width": "initial"})

    return widgets.interactive(draw, z1=slider(z1, "z1"), z2=slider(z2, "z2"))
