"""Chapter 10's tasks, all 16x16 "cards" with values in 0..1: an 8x8 image pasted at a random position.

On centred 8x8 digits the raw pixels are already good features (a linear
classifier on them reaches 84% with 5 labels per class, chapter 10), so there
would be little to transfer; on a card the object can be anywhere, and
features that find strokes wherever they are become worth learning, as in
real photographs (``place_on_card``).

* ``"source"``: handwritten digits 0-4 (scikit-learn's digits, via
  ``course_lib.data.load_digits``), the task the shipped network was trained on;
* ``"similar"``: digits 5-9, relabelled 0-4: the same domain (pen strokes,
  same scanner, same cards), new classes;
* ``"different"``: outlines of four shapes (circle, square, triangle,
  cross) drawn at random sizes, thicknesses and rotations (``make_shapes``).
  They are rendered like the digits were (a 32x32 bitmap, counted in 4x4
  blocks) and pasted on cards the same way, so the pixels look alike, but
  the objects and the question are new.

``load_task`` gives a train/test split, ``load_target`` the target tasks'
train/validation/test split, ``few_labels`` a few labelled examples per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.checks import _fail, check_array, check_choice, check_float, check_int
from course_lib.data import load_digits, stratified_split

CARD = 16  # the side of a card, in pixels
TASKS = ("source", "similar", "different")
SHAPE_NAMES = ("circle", "square", "triangle", "cross")


def make_shapes(n_per_class: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outlines of a circle, square, triangle and cross as 8x8 images in 0..1.

    Each shape gets a random centre, size, stroke width and rotation, is
    drawn on a 32x32 bitmap and reduced to 8x8 by counting the "on" pixels
    of every 4x4 block, the way scikit-learn's digits were made.

    Shapes: -> X (4 * n_per_class, 1, 8, 8) float64, y (4 * n_per_class,) int64 in 0..3 (``SHAPE_NAMES``).
    """
    n = check_int(n_per_class, "n_per_class", "make_shapes", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", "make_shapes", minimum=0))
    y = np.repeat(np.arange(len(SHAPE_NAMES)), n)
    m = y.size
    centre = 15.5 + rng.uniform(-3.0, 3.0, size=(m, 2))
    size = rng.uniform(8.0, 12.5, size=m)  # half-width of the shape, in bitmap pixels
    width = rng.uniform(2.5, 4.5, size=m)  # stroke width
    angle = rng.uniform(0.0, 2 * np.pi, size=m)
    grid = np.arange(32) + 0.5
    dy = grid[None, :, None] - centre[:, 0, None, None]
    dx = grid[None, None, :] - centre[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # coordinates in the shape's own frame
    s, w = size[:, None, None], width[:, None, None]
    r = np.hypot(u, v)
    circle = np.abs(r - s) <= w / 2
    box = np.maximum(np.abs(u), np.abs(v))
    square = (box <= s * 0.85) & (box >= s * 0.85 - w)
    tri = _triangle_outline(u, v, s, w)
    cross = ((np.abs(u) <= w / 2) | (np.abs(v) <= w / 2)) & (box <= s)
    bitmaps = np.choose(y[:, None, None], [circle, square, tri, cross])
    X = bitmaps.reshape(m, 8, 4, 8, 4).mean(axis=(2, 4))[:, None]
    order = rng.permutation(m)
    return X[order].astype(np.float64), y[order].astype(np.int64)


def _triangle_outline(u, v, s, w):
    """Pixels within w of the edges of an equilateral triangle of circumradius s (inside only)."""
    # distance inside each edge: the edge normals point at -90, 30 and 150 degrees
    inside = []
    for phi in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):
        inside.append(s / 2 - (u * np.cos(phi) + v * np.sin(phi)))
    depth = np.minimum(np.minimum(inside[0], inside[1]), inside[2])
    return (depth >= 0) & (depth <= w)


def place_on_card(X: np.ndarray, seed: int = 0, size: int = CARD) -> np.ndarray:
    """Paste every 8x8 image at a random position on a blank ``size`` x ``size`` card.

    Shapes: X (N, 1, 8, 8) -> (N, 1, size, size) float64.
    """
    func = "place_on_card"
    check_array(X, "X", func, ndim=4, shape_doc="(N, 1, 8, 8)")
    if X.shape[1:] != (1, 8, 8):
        _fail(ValueError, func, "X of shape (N, 1, 8, 8)", f"shape {X.shape}",
              "pass 8x8 images, e.g. X.reshape(-1, 1, 8, 8)")
    size = check_int(size, "size", func, minimum=8)
    rng = np.random.default_rng(check_int(seed, "seed", func, minimum=0))
    n = X.shape[0]
    top, left = rng.integers(0, size - 7, size=(2, n))
    rows = top[:, None, None] + np.arange(8)[None, :, None]
    cols = left[:, None, None] + np.arange(8)[None, None, :]
    cards = np.zeros((n, 1, size, size))
    cards[np.arange(n)[:, None, None], 0, rows, cols] = X[:, 0]
    return cards


def load_task(name: str, copies: int = 1, seed: int = 0):
    """One of the chapter's tasks as a ``course_lib.data.Split`` of 16x16 cards with values in 0..1.

    ``"source"``: digits 0-4; ``"similar"``: digits 5-9 relabelled 0-4; both
    from ``load_digits(test_size=0.3, seed=0, images=True)``. ``"different"``:
    120 shapes per class from ``make_shapes`` (seed 9), 30% held out. Every
    image is pasted on a card at a random position (``place_on_card``);
    ``copies`` > 1 pastes every *training* image that many times, at
    different positions (more data for the source network). ``seed`` picks
    the positions.

    Shapes: X_* (N, 1, 16, 16) float64, y_* (N,) int64 in 0..4 (0..3 for "different").
    """
    from course_lib.data import Split

    func = "load_task"
    check_choice(name, "name", func, TASKS)
    copies = check_int(copies, "copies", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    if name == "different":
        X, y = make_shapes(120, seed=9)
        train_idx, test_idx = stratified_split(y, 0.3, 0)
        X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]
        classes = SHAPE_NAMES
    else:
        digits = load_digits(test_size=0.3, seed=0, scale="unit", images=True)
        first = 0 if name == "source" else 5
        keep_train = (digits.y_train >= first) & (digits.y_train < first + 5)
        keep_test = (digits.y_test >= first) & (digits.y_test < first + 5)
        X_train, y_train = digits.X_train[keep_train], digits.y_train[keep_train] - first
        X_test, y_test = digits.X_test[keep_test], digits.y_test[keep_test] - first
        classes = tuple(str(d) for d in range(first, first + 5))
    offset = 1000 * TASKS.index(name) + 10 * seed
    cards_train = np.concatenate([place_on_card(X_train, offset + c) for c in range(copies)])
    return Split(cards_train, np.tile(y_train, copies), place_on_card(X_test, offset + 9), y_test,
                 class_names=classes)


@dataclass(frozen=True)
class _Task:
    """A target task split three ways: training cards, validation cards (for every choice), test cards."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    centred: tuple = ()  # the same images before they were pasted on cards: (train, val, test), (N, 1, 8, 8)


def load_target(name: str, seed: int = 0, val_fraction: float = 0.2) -> _Task:
    """A target task (``"similar"`` or ``"different"``) split into training, validation and test cards.

    ``seed`` draws everything about the data: the test split (30% of every
    class), the validation split (``val_fraction`` of every class of the
    rest), the shapes themselves and every card position. The source task is
    not offered here: its split belongs to the shipped checkpoint (``load_task``).

    Shapes: X_* (N, 1, 16, 16) float64, y_* (N,) int64 in 0..4 (0..3 for "different").
    """
    func = "load_target"
    check_choice(name, "name", func, TASKS[1:])
    seed = check_int(seed, "seed", func, minimum=0)
    val_fraction = check_float(val_fraction, "val_fraction", func, minimum=0.0, strict_min=True, maximum=0.5)
    split_seed, shape_seed, val_seed, card_seed = (int(s) for s in np.random.default_rng(seed).integers(2**31, size=4))
    if name == "different":
        X, y = make_shapes(120, seed=shape_seed)
        rest, test = stratified_split(y, 0.3, split_seed)
        X_rest, y_rest, X_test, y_test = X[rest], y[rest], X[test], y[test]
        classes = SHAPE_NAMES
    else:
        digits = load_digits(test_size=0.3, seed=split_seed, scale="unit", images=True)
        keep_rest, keep_test = digits.y_train >= 5, digits.y_test >= 5
        X_rest, y_rest = digits.X_train[keep_rest], digits.y_train[keep_rest] - 5
        X_test, y_test = digits.X_test[keep_test], digits.y_test[keep_test] - 5
        classes = tuple(str(d) for d in range(5, 10))
    train, val = stratified_split(y_rest, val_fraction, val_seed)
    cards = place_on_card(np.concatenate([X_rest[train], X_rest[val], X_test]), card_seed)
    n_train, n_val = train.size, val.size
    return _Task(cards[:n_train], y_rest[train], cards[n_train:n_train + n_val], y_rest[val],
                 cards[n_train + n_val:], y_test, classes, (X_rest[train], X_rest[val], X_test))


def few_labels(y: np.ndarray, per_class, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` randomly chosen examples of every class (all of them for ``"all"``).

    Shapes: y (N,) -> sorted int64 indices, (K * per_class,).
    """
    func = "few_labels"
    check_array(y, "y", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if per_class == "all":
        return np.arange(y.size)
    per_class = check_int(per_class, "per_class", func, minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", func, minimum=0))
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if members.size < per_class:
            _fail(ValueError, func, f"per_class <= {members.size} (examples of class {label})",
                  str(per_class), "use 'all' for every example")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))
