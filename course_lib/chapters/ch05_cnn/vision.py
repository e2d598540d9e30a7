"""Chapter 5 helpers: a photograph to filter, hand-made filters, shifted digits, filter pictures.

* ``load_photo`` turns a sample photograph that ships inside scikit-learn
  (``china.jpg`` or ``flower.jpg``; no download) into a grayscale float
  image in [0, 1], optionally shrunk by averaging blocks of pixels;
* ``hand_filters`` returns the classic 3x3 filters (blur, sharpen, edges)
  and ``box_filter`` / ``edge_filter`` make them at any size;
* ``shift_every_image`` moves every image exactly ``shift`` pixels in one
  of the 8 compass directions, the test set of the translation experiment;
* ``plot_filters`` and ``plot_maps`` draw conv weights and feature maps.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_array, check_choice, check_int
from course_lib.scratch.augment import shift_images

PHOTOS = ("china.jpg", "flower.jpg")

# The luminance weights of ITU-R BT.601 (what PIL's "L" mode uses).
_GRAY = np.array([0.299, 0.587, 0.114])


def load_photo(name: str = "china.jpg", downsample: int = 1) -> np.ndarray:
    """A sample photograph from scikit-learn as a grayscale float64 image in [0, 1].

    ``downsample=k`` averages k x k blocks (dropping the incomplete last
    rows and columns), so the image is k times smaller along each axis.
    china.jpg is 427 x 640 pixels at full size.

    Shapes: -> image (H, W).
    In torch code: torchvision.io.read_image(..., ImageReadMode.GRAY) / 255.
    """
    func = "load_photo"
    check_choice(name, "name", func, PHOTOS)
    k = check_int(downsample, "downsample", func, minimum=1, maximum=50)
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image(name).astype(np.float64) / 255.0
    gray = rgb @ _GRAY
    h, w = (gray.shape[0] // k) * k, (gray.shape[1] // k) * k
    return gray[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def box_filter(size: int = 3) -> np.ndarray:
    """A size x size blur: every weight 1/size**2, so flat regions keep their brightness.

    Shapes: -> kernel (size, size).
    Twin: torch.full((size, size), 1 / size**2)
    """
    size = check_int(size, "size", "box_filter", minimum=1)
    return np.full((size, size), 1.0 / size**2)


def edge_filter(size: int = 3, direction: str = "vertical") -> np.ndarray:
    """A size x size edge detector: -1 on one side, +1 on the other, 0 on an odd middle line.

    ``"vertical"`` responds to vertical edges (dark left, bright right gives
    a positive output); ``"horizontal"`` to horizontal ones. The weights sum
    to zero, so a flat region gives 0. Scaled so each side sums to +-1.

    Shapes: -> kernel (size, size).
    """
    func = "edge_filter"
    size = check_int(size, "size", func, minimum=2)
    check_choice(direction, "direction", func, ("vertical", "horizontal"))
    half = size // 2
    row = np.zeros(size)
    row[:half], row[size - half :] = -1.0, 1.0
    kernel = np.tile(row, (size, 1)) / (half * size)
    return kernel if direction == "vertical" else kernel.T.copy()


def hand_filters() -> dict[str, np.ndarray]:
    """The classic hand-made 3x3 filters, by name (a fresh copy on every call).

    identity, box blur, Gaussian blur, sharpen (identity plus a Laplacian),
    Sobel x (vertical edges), Sobel y (horizontal edges), Laplacian (edges
    in every direction).

    Shapes: -> {name: kernel (3, 3)}.
    """
    return {
        "identity": np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "box blur": box_filter(3),
        "Gaussian blur": np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
        "sharpen": np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "Sobel x": np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "Sobel y": np.array([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),
        "Laplacian": np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    }


_DIRECTIONS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)])


def shift_every_image(x: np.ndarray, shift: int = 1, seed: int = 0):
    """Move every image exactly ``shift`` pixels up, down, sideways or diagonally (8 directions).

    The direction is drawn for each image from ``seed``; pixels that leave
    the frame are lost and uncovered ones are 0 (blank paper for digits
    scaled to [0, 1]). Returns ``(shifted, dy, dx)``.

    Shapes: x (N, C, H, W) or (N, H, W) -> shifted (same), dy (N,), dx (N,).
    Twin: torch.roll plus masking (see course_lib.scratch.augment.shift_images)
    """
    func = "shift_every_image"
    check_array(x, "x", func, ndim=(3, 4), shape_doc="(N, C, H, W)", dtype_kind="f",
                fix="pass a batch, e.g. x[None] for one image")
    shift = check_int(shift, "shift", func, minimum=0)
    seed = check_int(seed, "seed", func, minimum=0)
    if shift >= min(x.shape[-2:]):
        _fail(ValueError, func, f"shift < the image size {x.shape[-2:]}", str(shift), "use a smaller shift")
    pick = np.random.default_rng(seed).integers(0, len(_DIRECTIONS), size=x.shape[0])
    dy, dx = shift * _DIRECTIONS[pick, 0], shift * _DIRECTIONS[pick, 1]
    return shift_images(x, dy, dx), dy, dx


def _symmetric_limit(a: np.ndarray) -> float:
    limit = float(np.max(np.abs(a)))
    return limit if limit > 0 else 1.0


def plot_filters(weight: np.ndarray, ncols: int = 8, size: float = 0.9, title: str | None = None):
    """Draw conv filters (channel 0 of each), blue negative, red positive, white zero; returns the figure.

    Each filter uses its own symmetric colour range, so its pattern shows
    whatever its scale.

    Shapes: weight (F, C, KH, KW) or (F, KH, KW).
    """
    func = "plot_filters"
    check_array(weight, "weight", func, ndim=(3, 4), shape_doc="(F, C, KH, KW)", dtype_kind="fiu")
    filters = weight[:, 0] if weight.ndim == 4 else weight
    return _grid(filters, ncols, size, title, cmap="bwr", symmetric=True, func=func)


def plot_maps(maps: np.ndarray, ncols: int = 8, size: float = 0.9, title: str | None = None, cmap: str = "viridis"):
    """Draw feature maps of one image (one panel per channel); returns the figure.

    Shapes: maps (C, H, W) or (1, C, H, W).
    """
    func = "plot_maps"
    check_array(maps, "maps", func, ndim=(3, 4), shape_doc="(C, H, W)", dtype_kind="fiu")
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            _fail(ValueError, func, "the maps of one image", f"a batch of {maps.shape[0]}", "pass maps[0]")
        maps = maps[0]
    return _grid(maps, ncols, size, title, cmap=cmap, symmetric=False, func=func)


def _grid(panels, ncols, size, title, cmap, symmetric, func):
    ncols = check_int(ncols, "ncols", func, minimum=1)
    n = panels.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, 1.15 * size * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            if symmetric:
                lim = _symmetric_limit(panels[i])
                ax.imshow(panels[i], cmap=cmap, vmin=-lim, vmax=lim)
            else:
                ax.imshow(panels[i], cmap=cmap)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
