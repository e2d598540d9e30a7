"""Chapter 10's training: ``train``, the four strategies, linear probes, and the source network's rebuild.

The network, its stages, the tasks and the shipped checkpoint are in
``course_lib.chapters.ch10_transfer_learning.transfer``, which also re-exports every name here (notebooks
import them from there). The pieces:

* ``train``: Adam on float32 copies of (X, y), each stage with its ``param_groups`` learning rate;
* ``prepare``: the four strategies (``"scratch"``, ``"probe"``, ``"top"``, ``"all"``);
  ``train_cached`` runs frozen leading stages once; ``run_strategy`` prepares, trains and scores one;
* ``linear_probe``: a linear classifier on fixed features;
* ``train_source`` / ``rebuild`` / ``main``: the shipped checkpoint,
  ``python -m course_lib.tools.checkpoint --rebuild``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch10_transfer_learning.transfer import (
    CHECKPOINT,
    FEATURE_STAGES,
    SOURCE_COPIES,
    SOURCE_LR,
    SOURCE_SEED,
    SOURCE_STEPS,
    STRATEGIES,
    DigitCNN,
    _as_labels,
    _as_tensor,
    _check_label_range,
    _check_module,
    _device_of,
    _num_outputs,
    evaluate,
    features,
    freeze,
    load_task,
    make_cnn,
    new_head,
    param_groups,
)
from course_lib.checks import (
    _fail,
    check_array,
    check_choice,
    check_float,
    check_int,
    check_same_length,
    named_errors,
)
from course_lib.data import DATA_DIR, write_sum
from course_lib.progress import progress

# ----------------------------------------------------------------------------- training


def train(model: nn.Module, X, y, *, steps: int = 150, lr: float = 0.01, stage_lrs: dict | None = None,
          batch_size: int = 64, weight_decay: float = 0.0, seed: int = 0, device=None,
          desc: str = "") -> list:
    """Train ``model`` with Adam on float32 copies of (X, y); returns the loss of every step.

    ``steps`` updates on batches of ``batch_size`` examples, drawn by walking
    through shuffled copies of the data (one fixed ``seed``: the same call
    gives the same weights on the same machine). A batch size at least N
    means full-batch training. Only trainable parameters are updated, each
    stage with its ``param_groups`` learning rate. The model is moved to
    ``device`` (default ``course_lib.device.get_device()``) and stays there.

    Shapes: X (N, 1, 16, 16) or (N, D), y (N,) int labels -> list of ``steps`` floats.
    Twin: a hand-written loop over ``torch.optim.Adam``.
    """
    func = "train"
    _check_module(model, func)
    steps = check_int(steps, "steps", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    weight_decay = check_float(weight_decay, "weight_decay", func, minimum=0.0)
    seed = check_int(seed, "seed", func, minimum=0)
    device = torch.device(_default_device() if device is None else device)
    X_t = _as_tensor(X, func)
    y_t = _as_labels(y, X_t, func)
    model.to(device=device, dtype=torch.float32)
    _check_label_range(y_t, _num_outputs(model, X_t), func)
    optimiser = torch.optim.Adam(param_groups(model, lr, stage_lrs), weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = X_t.shape[0]
    X_t, y_t = X_t.to(device), y_t.to(device)
    order, position = torch.randperm(n, generator=generator), 0
    model.train()
    losses = []
    for _ in progress(range(steps), desc=desc or "training"):
        if position + min(batch_size, n) > n:
            order, position = torch.randperm(n, generator=generator), 0
        batch = order[position:position + batch_size].to(device)
        position += batch_size
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(X_t[batch]), y_t[batch])
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    return losses


# ----------------------------------------------------------------------------- the four strategies


def prepare(strategy: str, num_classes: int, pretrained: nn.Module | None = None, seed: int = 0,
            lr: float = 0.01, body_lr_factor: float = 0.1) -> tuple[nn.Module, dict]:
    """A model ready to train on a new task, and its per-stage learning rates.

    * ``"scratch"``: a fresh ``DigitCNN`` (initialised with ``seed``), everything trained at ``lr``;
    * ``"probe"``: a copy of ``pretrained`` with conv1, conv2 and fc frozen and a new head:
      a linear classifier on the penultimate features;
    * ``"top"``: conv1 and conv2 frozen; fc and a new head trained ("fine-tune a few layers");
    * ``"all"``: everything trained, the pretrained stages at ``lr * body_lr_factor``
      (layer-wise learning rates), the new head at ``lr``.

    ``pretrained`` is copied, never changed. Returns ``(model, stage_lrs)``
    for ``train(model, ..., lr=lr, stage_lrs=stage_lrs)``.

    Shapes: -> a model for (N, 1, 16, 16) images and ``num_classes`` classes, and a dict {stage: lr}.
    Twin: none.
    """
    func = "prepare"
    check_choice(strategy, "strategy", func, STRATEGIES)
    num_classes = check_int(num_classes, "num_classes", func, minimum=2)
    seed = check_int(seed, "seed", func, minimum=0)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    body_lr_factor = check_float(body_lr_factor, "body_lr_factor", func, minimum=0.0, maximum=1.0)
    if strategy == "scratch":
        return make_cnn(num_classes, seed), {}
    if not isinstance(pretrained, DigitCNN):
        _fail(TypeError, func, f"pretrained to be a DigitCNN for strategy {strategy!r}",
              type(pretrained).__name__, "pass load_pretrained()")
    model = DigitCNN(num_classes)
    body = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("head.")}
    model.load_state_dict(body, strict=False)
    model.head = new_head(model.head.in_features, num_classes, seed)
    model.to(_device_of(pretrained))
    frozen = {"probe": ("conv1", "conv2", "fc"), "top": ("conv1", "conv2"), "all": ()}[strategy]
    for stage in frozen:
        freeze(getattr(model, stage))
    stage_lrs = {}
    if strategy == "all":
        stage_lrs = {stage: lr * body_lr_factor for stage in FEATURE_STAGES}
    return model, stage_lrs


def frozen_prefix(model: nn.Module) -> list[str]:
    """Names of the leading stages whose parameters are all frozen (they act as a fixed feature extractor).

    Shapes: model -> list of stage names, in order.
    Twin: none.
    """
    names = []
    for name, child in _check_module(model, "frozen_prefix").named_children():
        params = list(child.parameters())
        if params and any(p.requires_grad for p in params):
            break
        names.append(name)
    return names


def train_cached(model: nn.Module, X, y, **train_kwargs) -> list:
    """``train`` for a model whose first stages are frozen: run them once, train the rest on their output.

    A frozen stage computes the same output at every step, so computing it
    once and training the remaining stages on the cached features gives the
    same weights as ``train(model, X, y, ...)``, several times faster.
    ``model`` is trained in place. Needs at least one frozen leading stage.

    Shapes: X (N, 1, 16, 16), y (N,) -> list of ``steps`` losses.
    Twin: ``train(model, X, y, ...)`` (same result, slower).
    """
    with named_errors("train_cached"):
        prefix = frozen_prefix(model)
        if not prefix:
            _fail(ValueError, "train_cached", "a model whose first stage is frozen", "a trainable first stage",
                  "freeze(model.conv1) first, or use train()")
        stages = dict(model.named_children())
        cached = features(model, X, prefix[-1])
        rest = nn.Sequential(*[stages[name] for name in stages if name not in prefix])
        return train(rest, cached, y, **train_kwargs)


def run_strategy(strategy: str, task, pretrained: nn.Module | None = None, *, train_idx=None, seed: int = 0,
                 steps: int = 150, lr: float = 0.01, batch_size: int = 64, device=None) -> float:
    """Prepare a model with ``strategy``, train it on ``task`` (a Split), return its test accuracy.

    ``train_idx`` picks the labelled training examples (default: all of them,
    see ``few_labels``). ``seed`` initialises the new layers and shuffles
    batches. Frozen leading stages are run once (``train_cached``).

    Shapes: task.X_train (N, 1, 16, 16), task.y_train (N,) -> float.
    Twin: none.
    """
    func = "run_strategy"
    check_choice(strategy, "strategy", func, STRATEGIES)
    missing = [name for name in ("X_train", "y_train", "X_test", "y_test") if not hasattr(task, name)]
    if missing:
        _fail(TypeError, func, "task as a Split with X_train, y_train, X_test and y_test", type(task).__name__,
              "e.g. task = load_task('similar')")
    with named_errors(func):
        check_array(task.y_train, "task.y_train", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
        num_classes = int(task.y_train.max()) + 1
        idx = np.arange(len(task.y_train)) if train_idx is None else np.asarray(train_idx)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            _fail(TypeError, func, "train_idx as 1-D integer indices (or None for all)",
                  f"dtype {idx.dtype}, shape {idx.shape}", "e.g. few_labels(task.y_train, 5)")
        model, stage_lrs = prepare(strategy, num_classes, pretrained, seed=seed, lr=lr)
        kwargs = dict(steps=steps, lr=lr, batch_size=batch_size, seed=seed, device=device, desc=strategy)
        if frozen_prefix(model):
            model.to(device if device is not None else _default_device())
            train_cached(model, task.X_train[idx], task.y_train[idx], **kwargs)
        else:
            train(model, task.X_train[idx], task.y_train[idx], stage_lrs=stage_lrs, **kwargs)
        return evaluate(model, task.X_test, task.y_test)


def _default_device():
    from course_lib.device import get_device

    return get_device()


def linear_probe(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray, *,
                 seed: int = 0, steps: int = 150, lr: float = 0.01, batch_size: int = 64,
                 device=None) -> float:
    """Train a linear classifier on fixed features; return its test accuracy.

    The features are standardised with the training rows' mean and standard
    deviation first (stages differ wildly in scale). Same Adam loop as ``train``.

    Shapes: F_train (N, D), y_train (N,), F_test (M, D), y_test (M,) -> float.
    Twin: ``sklearn.linear_model.LogisticRegression`` (a different optimiser, the same model).
    """
    func = "linear_probe"
    check_array(F_train, "F_train", func, ndim=2, shape_doc="(N, D)")
    check_array(F_test, "F_test", func, ndim=2, shape_doc="(M, D)")
    check_array(y_train, "y_train", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    check_array(y_test, "y_test", func, ndim=1, shape_doc="(M,)", dtype_kind="iu")
    check_same_length(F_train, y_train, ("F_train", "y_train"), func)
    check_same_length(F_test, y_test, ("F_test", "y_test"), func)
    if y_train.min() < 0 or y_test.min() < 0:
        _fail(ValueError, func, "labels >= 0", f"minimum {int(min(y_train.min(), y_test.min()))}",
              "labels must be class indices 0..K-1")
    unseen = sorted(set(np.unique(y_test).tolist()) - set(np.unique(y_train).tolist()))
    if unseen:
        _fail(ValueError, func, "y_test to hold only classes that occur in y_train",
              f"classes {unseen[:5]} in y_test alone", "a probe cannot learn a class it never sees")
    if F_test.shape[1] != F_train.shape[1]:
        _fail(ValueError, func, f"F_test with {F_train.shape[1]} columns like F_train", f"{F_test.shape[1]}",
              "take both from the same stage")
    mean, std = F_train.mean(axis=0), F_train.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    head = new_head(F_train.shape[1], num_classes, seed)
    train(head, (F_train - mean) / std, y_train, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
          device=device, desc="probe")
    return evaluate(head, (F_test - mean) / std, y_test)


# ----------------------------------------------------------------------------- the shipped checkpoint


def train_source(steps: int = SOURCE_STEPS, seed: int = SOURCE_SEED) -> DigitCNN:
    """Train the source network on digits 0-4 (``SOURCE_COPIES`` placements of each), on one CPU thread.

    Deterministic: the same call gives the same weights on the same machine.

    Shapes: -> DigitCNN(5) on the CPU.
    Twin: none.
    """
    steps = check_int(steps, "steps", "train_source", minimum=1)
    source = load_task("source", copies=SOURCE_COPIES)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same result whatever the machine's thread count
    try:
        model = make_cnn(5, seed)
        train(model, source.X_train, source.y_train, steps=steps, lr=SOURCE_LR, batch_size=64, seed=seed,
              device="cpu", desc="source network")
    finally:
        torch.set_num_threads(threads)
    return model


def rebuild(data_dir=DATA_DIR, steps: int = SOURCE_STEPS, seed: int = SOURCE_SEED) -> Path:
    """Train the source network and write ``digits_source_cnn.pt`` and its line in ``SHA256SUMS``.

    Other lines of ``SHA256SUMS`` are kept. Returns the checkpoint's path.

    Shapes: -> Path.
    Twin: none.
    """
    func = "rebuild"
    if not isinstance(data_dir, (str, Path)):
        _fail(TypeError, func, "data_dir as a str or pathlib.Path", type(data_dir).__name__, "e.g. 'data'")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        _fail(ValueError, func, "data_dir to be an existing folder", repr(str(data_dir)), None)
    steps = check_int(steps, "steps", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    model = train_source(steps, seed)
    buffer = io.BytesIO()
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, buffer)
    path = data_dir / CHECKPOINT
    path.write_bytes(buffer.getvalue())
    write_sum(CHECKPOINT, data_dir)
    return path
