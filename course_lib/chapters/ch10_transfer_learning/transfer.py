"""Transfer learning on small images: a source network, two target tasks, four ways to reuse it.

Chapter 10 measures the lecture slides' 2x2 advice table. The pieces:

* ``DigitCNN``: a tiny CNN for 16x16 images with four named stages,
  ``conv1 -> conv2 -> fc -> head``, so features can be taken after any of them;
* the tasks (``tasks.py``: ``load_task``, ``load_target``, ``few_labels``);

* ``freeze`` / ``unfreeze``, ``param_groups`` (layer-wise learning rates),
  ``features`` (a forward hook on a named stage), ``predict`` and ``evaluate``;
* ``load_pretrained``: the shipped checkpoint ``data/digits_source_cnn.pt``,
  SHA-256 checked. Rebuild it with ``python -m course_lib.tools.checkpoint --rebuild``.

Training lives in ``training.py``: ``train``,
``prepare`` (the four strategies ``"scratch"``, ``"probe"``, ``"top"``, ``"all"``),
``train_cached``, ``run_strategy``, ``linear_probe`` and the checkpoint's
``rebuild``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.checks import (
    _fail,
    check_array,
    check_float,
    check_int,
)
from course_lib.data import data_file
from course_lib.device import torch_seeded

STAGES = ("conv1", "conv2", "fc", "head")
FEATURE_STAGES = ("conv1", "conv2", "fc")
FEATURE_SHAPES = {"conv1": (8, 8, 8), "conv2": (16, 4, 4), "fc": (32,)}
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


# ----------------------------------------------------------------------------- the shipped checkpoint


def load_pretrained(path=None) -> DigitCNN:
    """The source network (``DigitCNN(5)`` trained on digits 0-4), from ``data/digits_source_cnn.pt``.

    The file's SHA-256 sum is checked against the ``SHA256SUMS`` file next to
    it, and it is read with ``torch.load(..., weights_only=True)``. A missing,
    changed or unreadable file raises ValueError saying how to rebuild it.

    Shapes: -> a model on the CPU for (N, 1, 16, 16) images, 5 classes.
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
