"""Transfer learning on small images: a source network, two target tasks, four ways to reuse it.

Chapter 10 measures the lecture slides' 2x2 advice table. The pieces:

* ``DigitCNN``: a tiny CNN for 16x16 images with four named stages,
  ``conv1 -> conv2 -> fc -> head``, so features can be taken after any of them;
* the tasks (``load_task``), all 16x16 "cards" with values in 0..1: an 8x8
  image pasted at a random position on a blank 16x16 card (``place_on_card``).
  On centred 8x8 digits the raw pixels are already good features (a linear
  classifier on them reaches 84% with 5 labels per class, chapter 10), so there
  would be little to transfer; on a card the object can be anywhere, and
  features that find strokes wherever they are become worth learning, as in
  real photographs.

  - ``"source"``: handwritten digits 0-4 (scikit-learn's digits, via
    ``course_lib.data.load_digits``), the task the shipped network was trained on;
  - ``"similar"``: digits 5-9, relabelled 0-4: the same domain (pen strokes,
    same scanner, same cards), new classes;
  - ``"different"``: outlines of four shapes (circle, square, triangle,
    cross) drawn at random sizes, thicknesses and rotations (``make_shapes``).
    They are rendered like the digits were (a 32x32 bitmap, counted in 4x4
    blocks) and pasted on cards the same way, so the pixels look alike, but
    the objects and the question are new;

* ``freeze`` / ``unfreeze``, ``param_groups`` (layer-wise learning rates),
  ``features`` (a forward hook on a named stage), ``predict`` and ``evaluate``;
* ``load_pretrained``: the shipped checkpoint ``data/digits_source_cnn.pt``,
  SHA-256 checked. Rebuild it with ``python -m course_lib.tools.checkpoint --rebuild``.

Training lives in ``course_lib.chapters.ch10_transfer_learning.training`` (split for size): ``train``,
``prepare`` (the four strategies ``"scratch"``, ``"probe"``, ``"top"``, ``"all"``),
``train_cached``, ``run_strategy``, ``linear_probe`` and the checkpoint's
``rebuild``; every one of them can still be imported from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.checks import (
    _fail,
    check_array,
    check_choice,
    check_float,
    check_int,
)
from course_lib.data import data_file, load_digits, stratified_split
from course_lib.device import torch_seeded

STAGES = ("conv1", "conv2", "fc", "head")
FEATURE_STAGES = ("conv1", "conv2", "fc")
FEATURE_SHAPES = {"conv1": (8, 8, 8), "conv2": (16, 4, 4), "fc": (32,)}
CARD = 16  # the side of a card, in pixels
STRATEGIES = ("scratch", "probe", "top", "all")
STRATEGY_NAMES = {
    "scratch": "train from scratch",
    "probe": "linear probe (frozen features)",
    "top": "fine-tune the top layers",
    "all": "fine-tune everything",
}
# The lecture slides' 2x2 table: (very little data?, very similar dataset?) -> advice.
SLIDES_ADVICE = {
    (True, True): "probe",  # "use a linear classifier on the top layer"
    (False, True): "top",  # "fine-tune a few layers"
    (True, False): "stages",  # "you're in trouble... try a linear classifier from different stages"
    (False, False): "all",  # "fine-tune a larger number of layers"
}
TASKS = ("source", "similar", "different")
SHAPE_NAMES = ("circle", "square", "triangle", "cross")
CHECKPOINT = "digits_source_cnn.pt"
REBUILD_HINT = (
    "rebuild it with `python -m course_lib.tools.checkpoint --rebuild` "
    "(or restore the shipped copy with `git checkout -- data/`)"
)
# How the shipped checkpoint is trained (rebuild uses these).
SOURCE_STEPS = 600
SOURCE_COPIES = 4  # placements of every source training digit
SOURCE_LR = 0.01
SOURCE_SEED = 0


# ----------------------------------------------------------------------------- the network


class DigitCNN(nn.Module):
    """conv(1->8) relu pool, conv(8->16) relu pool, linear(256->32) relu, linear(32->K).

    Each stage is a named child, so ``model.conv1`` etc. can be frozen, given
    their own learning rate, or tapped for features.

    Shapes: x (N, 1, 16, 16) -> conv1 (N, 8, 8, 8) -> conv2 (N, 16, 4, 4) -> fc (N, 32) -> head (N, K).
    Twin: none (a torch model; ``course_lib.scratch`` has the conv and linear layers it is made of).
    """

    def __init__(self, num_classes: int = 5):
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", "DigitCNN", minimum=2)
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.ReLU())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        func = "DigitCNN.forward"
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 16, 16):
            got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            _fail(TypeError if not isinstance(x, torch.Tensor) else ValueError, func,
                  "x as a tensor of shape (N, 1, 16, 16)", got, "pass a batch of 16x16 one-channel images")
        return self.head(self.fc(self.conv2(self.conv1(x))))


def make_cnn(num_classes: int = 5, seed: int = 0) -> DigitCNN:
    """A freshly initialised ``DigitCNN``; the same ``seed`` gives the same weights.

    The global torch generator is left untouched (initialisation runs in a fork of it).

    Shapes: -> a model for (N, 1, 16, 16) images and ``num_classes`` classes.
    Twin: none.
    """
    num_classes = check_int(num_classes, "num_classes", "make_cnn", minimum=2)
    seed = check_int(seed, "seed", "make_cnn", minimum=0)
    with torch_seeded(seed):
        return DigitCNN(num_classes)


def new_head(in_features: int, num_classes: int, seed: int = 0) -> nn.Linear:
    """A freshly initialised ``nn.Linear(in_features, num_classes)`` (a new task's classifier).

    Shapes: -> weight (K, D), bias (K,).
    Twin: torch.nn.Linear.
    """
    in_features = check_int(in_features, "in_features", "new_head", minimum=1)
    num_classes = check_int(num_classes, "num_classes", "new_head", minimum=2)
    seed = check_int(seed, "seed", "new_head", minimum=0)
    with torch_seeded(seed):
        return nn.Linear(in_features, num_classes)


def _check_module(model, func: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        _fail(TypeError, func, "a torch.nn.Module", type(model).__name__,
              "pass the model (or one of its stages)")
    return model


def _check_stage(model, stage, func: str) -> nn.Module:
    names = [name for name, _ in model.named_children()]
    if not isinstance(stage, str) or stage not in names:
        _fail(ValueError, func, f"a stage name from {tuple(names)}", repr(stage), "e.g. stage='fc'")
    return getattr(model, stage)


# ----------------------------------------------------------------------------- freezing, learning rates


def freeze(module: nn.Module) -> nn.Module:
    """Stop training every parameter of ``module`` (``requires_grad = False``); returns it.

    Frozen parameters get no gradient (``.grad`` stays None) and an optimiser
    leaves them alone.

    Shapes: any module -> the same module.
    Twin: ``module.requires_grad_(False)``.
    """
    _check_module(module, "freeze").requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Make every parameter of ``module`` trainable again; returns it.

    Shapes: any module -> the same module.
    Twin: ``module.requires_grad_(True)``.
    """
    _check_module(module, "unfreeze").requires_grad_(True)
    return module


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameters (scalars with ``requires_grad``).

    Shapes: model -> int.
    Twin: ``course_lib.twins.conv.count_parameters(model, trainable_only=True)``.
    """
    return sum(p.numel() for p in _check_module(model, "count_trainable").parameters() if p.requires_grad)


def param_groups(model: nn.Module, lr: float, stage_lrs: dict | None = None) -> list[dict]:
    """Optimiser parameter groups, one per named stage that has trainable parameters.

    Every stage trains with ``lr`` unless ``stage_lrs`` gives it its own rate,
    e.g. ``{"conv1": 1e-4, "conv2": 1e-4}`` to nudge pretrained layers gently
    while a new head learns fast. Frozen parameters are left out.

    Shapes: model -> [{"params": [...], "lr": float, "stage": name}, ...].
    Twin: the ``params`` argument of any ``torch.optim`` optimiser.
    """
    func = "param_groups"
    _check_module(model, func)
    lr = check_float(lr, "lr", func, minimum=0.0)
    stage_lrs = {} if stage_lrs is None else stage_lrs
    if not isinstance(stage_lrs, dict):
        _fail(TypeError, func, "stage_lrs as a dict {stage: lr}", type(stage_lrs).__name__,
              "e.g. {'conv1': 1e-4}")
    children = dict(model.named_children())
    for stage, rate in stage_lrs.items():
        if stage not in children:
            _fail(ValueError, func, f"stage_lrs keys from {tuple(children)}", repr(stage), None)
        check_float(rate, f"stage_lrs[{stage!r}]", func, minimum=0.0)
    groups = []
    for name, child in children.items():
        params = [p for p in child.parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": float(stage_lrs.get(name, lr)), "stage": name})
    own = [p for p in model.parameters(recurse=False) if p.requires_grad]
    if own:
        groups.append({"params": own, "lr": lr, "stage": "(model)"})
    if not groups:
        _fail(ValueError, func, "at least one trainable parameter", "a fully frozen model",
              "unfreeze a stage, e.g. unfreeze(model.head)")
    return groups


# ----------------------------------------------------------------------------- data in, features out


def _as_tensor(X, func: str, device=None) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float32)
    check_array(X, "X", func, ndim=(2, 4), shape_doc="(N, 1, 16, 16) or (N, D)")
    return torch.as_tensor(X, dtype=torch.float32, device=device)


def _as_labels(y, X, func: str) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        y = y.cpu().numpy()
    check_array(y, "y", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if y.shape[0] != X.shape[0]:
        _fail(ValueError, func, "X and y with the same number of rows", f"{X.shape[0]} and {y.shape[0]}",
              "pass matching examples and labels")
    if y.min() < 0:
        _fail(ValueError, func, "labels >= 0", f"minimum {int(y.min())}",
              "labels must be class indices 0..K-1")
    return torch.as_tensor(y, dtype=torch.int64)


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device


@torch.no_grad()
def features(model: nn.Module, X, stage: str, batch_size: int = 1024) -> np.ndarray:
    """The output of stage ``stage`` for every image, flattened to one row per image.

    Uses a forward hook on the stage, so it works on any model whose stages
    are named children (a hub model's ``layer3``, say). Runs in eval mode
    without gradients, on the model's device.

    Shapes: X (N, 1, 16, 16) -> (N, D) float64; for DigitCNN D is 512 (conv1), 256 (conv2), 32 (fc), K (head).
    Twin: ``torch.nn.Module.register_forward_hook``.
    """
    func = "features"
    _check_module(model, func)
    module = _check_stage(model, stage, func)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    X = _as_tensor(X, func)
    captured = []
    handle = module.register_forward_hook(lambda _mod, _inp, out: captured.append(out.flatten(1).cpu()))
    was_training = model.training
    model.eval()
    try:
        device = _device_of(model)
        for start in range(0, X.shape[0], batch_size):
            model(X[start:start + batch_size].to(device))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured).double().numpy()



# ----------------------------------------------------------------------------- predicting


@torch.no_grad()
def predict(model: nn.Module, X, batch_size: int = 1024) -> np.ndarray:
    """Predicted classes (argmax of the logits), computed on the model's device in eval mode.

    Shapes: X (N, 1, 16, 16) or (N, D) -> (N,) int64.
    Twin: ``model(X).argmax(dim=1)``.
    """
    _check_module(model, "predict")
    X_t = _as_tensor(X, "predict")
    device = _device_of(model)
    was_training = model.training
    model.eval()
    try:
        out = [model(X_t[i:i + batch_size].to(device)).argmax(dim=1).cpu()
               for i in range(0, len(X_t), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.int64)


def evaluate(model: nn.Module, X, y) -> float:
    """Accuracy of ``model`` on (X, y), a float in [0, 1].

    Shapes: X (N, 1, 16, 16) or (N, D), y (N,) -> float.
    Twin: ``(model(X).argmax(1) == y).float().mean()``.
    """
    func = "evaluate"
    _check_module(model, func)
    X_t = _as_tensor(X, func)
    y_t = _as_labels(y, X_t, func)
    _check_label_range(y_t, _num_outputs(model, X_t), func)
    return float(np.mean(predict(model, X_t) == y_t.numpy()))


@torch.no_grad()
def _num_outputs(model: nn.Module, X_t: torch.Tensor) -> int:
    """How many classes the model scores: the width of its output on one example."""
    was_training = model.training
    model.eval()
    try:
        out = model(X_t[:1].to(_device_of(model)))
    finally:
        model.train(was_training)
    return int(out.shape[1])


def _check_label_range(y_t: torch.Tensor, num_classes: int, func: str) -> None:
    if int(y_t.max()) >= num_classes:
        _fail(ValueError, func, f"labels in [0, {num_classes}) (the model scores {num_classes} classes)",
              f"labels up to {int(y_t.max())}", "give the model a head with one output per class, e.g. new_head")


# ----------------------------------------------------------------------------- the tasks


def make_shapes(n_per_class: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outlines of a circle, square, triangle and cross as 8x8 images in 0..1.

    Each shape gets a random centre, size, stroke width and rotation, is
    drawn on a 32x32 bitmap and reduced to 8x8 by counting the "on" pixels
    of every 4x4 block, the way scikit-learn's digits were made.

    Shapes: -> X (4 * n_per_class, 1, 8, 8) float64, y (4 * n_per_class,) int64 in 0..3 (``SHAPE_NAMES``).
    Twin: none.
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
    Twin: none.
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
    Twin: none.
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
    Twin: none.
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
    Twin: none.
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


# ----------------------------------------------------------------------------- the shipped checkpoint


def load_pretrained(path=None) -> DigitCNN:
    """The source network (``DigitCNN(5)`` trained on digits 0-4), from ``data/digits_source_cnn.pt``.

    The file's SHA-256 sum is checked against the ``SHA256SUMS`` file next to
    it, and it is read with ``torch.load(..., weights_only=True)``. A missing,
    changed or unreadable file raises ValueError saying how to rebuild it.

    Shapes: -> a model on the CPU for (N, 1, 16, 16) images, 5 classes.
    Twin: none.
    """
    func = "load_pretrained"
    if path is None:
        path = data_file(CHECKPOINT, rebuild_hint=REBUILD_HINT)
    else:
        if not isinstance(path, (str, Path)):
            _fail(TypeError, func, "path as a str or pathlib.Path", type(path).__name__, None)
        path = Path(path)
        path = data_file(path.name, data_dir=path.parent, rebuild_hint=REBUILD_HINT)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the sum matched but the content is not a checkpoint
        _fail(ValueError, func, f"{path.name} to be a torch checkpoint", f"{type(exc).__name__}",
              REBUILD_HINT)
    model = DigitCNN(5)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        _fail(ValueError, func, "the weights of a DigitCNN(5)", str(exc).splitlines()[0], REBUILD_HINT)
    return model


# ----------------------------------------------------------------------------- training: see training.py
