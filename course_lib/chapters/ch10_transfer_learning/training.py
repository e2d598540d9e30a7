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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch10_transfer_learning.tasks import few_labels, load_task, make_shapes, place_on_card
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
    ``train_early_stopping`` is the same loop with a validation set.

    Shapes: X (N, 1, 16, 16) or (N, D), y (N,) int labels -> list of ``steps`` floats.
    Twin: a hand-written loop over ``torch.optim.Adam``.
    """
    return _fit(model, X, y, steps=steps, lr=lr, stage_lrs=stage_lrs, batch_size=batch_size,
                weight_decay=weight_decay, seed=seed, device=device, desc=desc, func="train").losses


def train_early_stopping(model: nn.Module, X, y, X_val, y_val, *, max_steps: int = 400, eval_every: int = 20,
                         patience: int = 3, lr: float = 0.01, stage_lrs: dict | None = None,
                         batch_size: int = 64, seed: int = 0, device=None, desc: str = ""):
    """``train`` with early stopping: stop when the validation loss has not improved for a while.

    The validation loss is measured every ``eval_every`` steps; training
    stops after ``patience`` measurements without a new lowest loss (or at
    ``max_steps``) and the model ends with the weights of its lowest
    validation loss. So the number of steps is chosen on validation data,
    never on the test set. Returns a record with ``losses``, ``steps`` (taken),
    ``best_step`` (whose weights the model holds) and ``val_acc`` (there).

    Shapes: X (N, 1, 16, 16) or (N, D), y (N,), X_val (M, ...), y_val (M,) -> record.
    Twin: ``course_lib.scratch.train.fit(..., val=..., patience=...)`` (the NumPy loop, per epoch).
    """
    func = "train_early_stopping"
    eval_every = check_int(eval_every, "eval_every", func, minimum=1)
    patience = check_int(patience, "patience", func, minimum=1)
    X_val_t = _as_tensor(X_val, func)
    y_val_t = _as_labels(y_val, X_val_t, func)
    return _fit(model, X, y, steps=max_steps, lr=lr, stage_lrs=stage_lrs, batch_size=batch_size, seed=seed,
                device=device, desc=desc, val=(X_val_t, y_val_t), eval_every=eval_every, patience=patience,
                func=func)


@dataclass
class _Fit:
    """What one training run did: every step's loss, the steps taken, and where validation stopped it."""

    losses: list
    steps: int
    best_step: int
    val_acc: float | None = None


def _fit(model, X, y, *, steps, lr, stage_lrs, batch_size, seed, device, desc, func, weight_decay=0.0,
         val=None, eval_every=20, patience=3) -> _Fit:
    _check_module(model, func)
    steps = check_int(steps, "steps" if val is None else "max_steps", func, minimum=1)
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
    record = _Fit([], 0, 0)
    best_loss, waited, best_state = float("inf"), 0, None
    model.train()
    for step in progress(range(1, steps + 1), desc=desc or "training"):
        if position + min(batch_size, n) > n:
            order, position = torch.randperm(n, generator=generator), 0
        batch = order[position:position + batch_size].to(device)
        position += batch_size
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(X_t[batch]), y_t[batch])
        loss.backward()
        optimiser.step()
        record.losses.append(float(loss.detach()))
        record.steps = record.best_step = step
        if val is not None and (step % eval_every == 0 or step == steps):
            val_loss, val_acc = _val_scores(model, *val)
            if val_loss < best_loss:
                best_loss, waited, record.val_acc = val_loss, 0, val_acc
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_step = step
            else:
                waited += 1
                if waited >= patience:
                    break
    if val is not None:
        model.load_state_dict(best_state)
        record.best_step = best_step
    return record


@torch.no_grad()
def _val_scores(model, X_val, y_val) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the validation set, in eval mode; the model goes back to training."""
    model.eval()
    device = _device_of(model)
    logits = model(X_val.to(device))
    model.train()
    y_val = y_val.to(device)
    return float(nn.functional.cross_entropy(logits, y_val)), float((logits.argmax(1) == y_val).float().mean())


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


@dataclass(frozen=True)
class _Run:
    """One strategy's run: validation accuracy (what choices use), test accuracy, and the steps early stopping kept."""

    val_acc: float
    test_acc: float
    steps: int


def run_strategy(strategy: str, task, pretrained: nn.Module | None = None, *, count="all", seed: int = 0,
                 max_steps: int = 300, lr: float = 0.01, body_lr_factor: float = 0.1, batch_size: int = 64,
                 device=None) -> _Run:
    """Prepare a model with ``strategy``, train it on ``count`` labels per class of ``task``, score it.

    ``task`` is a three-way split (``load_target``). ``seed`` picks the
    labelled cards (``few_labels``), initialises the new layers and shuffles
    the batches. Training stops early on the validation cards
    (``train_early_stopping``); frozen leading stages are run once
    (``train_cached``'s idea). Returns validation and test accuracy.

    Shapes: task.X_train (N, 1, 16, 16), task.y_train (N,) -> record with val_acc, test_acc, steps.
    """
    func = "run_strategy"
    check_choice(strategy, "strategy", func, STRATEGIES)
    missing = [name for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
               if not hasattr(task, name)]
    if missing:
        _fail(TypeError, func, "task as a three-way split with X_train, y_train, X_val, y_val, X_test, y_test",
              type(task).__name__, "e.g. task = load_target('similar')")
    with named_errors(func):
        check_array(task.y_train, "task.y_train", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
        idx = few_labels(task.y_train, count, seed=seed)
        num_classes = int(task.y_train.max()) + 1
        model, stage_lrs = prepare(strategy, num_classes, pretrained, seed=seed, lr=lr,
                                   body_lr_factor=body_lr_factor)
        device = device if device is not None else _default_device()
        model.to(device)
        prefix = frozen_prefix(model)
        X_train, X_val = task.X_train[idx], task.X_val
        trained = model
        if prefix:  # run the frozen stages once, train the rest on their stored output
            X_train, X_val = features(model, X_train, prefix[-1]), features(model, X_val, prefix[-1])
            stages = dict(model.named_children())
            trained = nn.Sequential(*[stages[name] for name in stages if name not in prefix])
        record = train_early_stopping(trained, X_train, task.y_train[idx], X_val, task.y_val, max_steps=max_steps,
                                      lr=lr, stage_lrs=stage_lrs, batch_size=batch_size, seed=seed, device=device,
                                      desc=strategy)
        return _Run(record.val_acc, evaluate(model, task.X_test, task.y_test), record.best_step)



def _default_device():
    from course_lib.device import get_device

    return get_device()


def linear_probe(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray, *,
                 seed: int = 0, steps: int = 150, lr: float = 0.01, batch_size: int = 64,
                 device=None, val=None) -> float:
    """Train a linear classifier on fixed features; return its test accuracy.

    The features are standardised with the training rows' mean and standard
    deviation first (stages differ wildly in scale). Same Adam loop as ``train``;
    with ``val=(F_val, y_val)`` it stops early on those rows (``train_early_stopping``,
    at most ``steps`` steps).

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
    if val is None:
        train(head, (F_train - mean) / std, y_train, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
              device=device, desc="probe")
    else:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            _fail(TypeError, func, "val as a pair (F_val, y_val)", type(val).__name__, "e.g. val=(F_val, y_val)")
        F_val = check_array(val[0], "val[0]", func, ndim=2, shape_doc="(M, D)")
        if F_val.shape[1] != F_train.shape[1]:
            _fail(ValueError, func, f"F_val with {F_train.shape[1]} columns like F_train", f"{F_val.shape[1]}",
                  "take both from the same stage")
        train_early_stopping(head, (F_train - mean) / std, y_train, (F_val - mean) / std, val[1], max_steps=steps,
                             lr=lr, batch_size=batch_size, seed=seed, device=device, desc="probe")
    return evaluate(head, (F_test - mean) / std, y_test)


# ----------------------------------------------------------------------------- the shipped checkpoint


def train_source(steps: int = SOURCE_STEPS, seed: int = SOURCE_SEED) -> DigitCNN:
    """Train the source network on digits 0-4 (``SOURCE_COPIES`` placements of each), on one CPU thread.

    Deterministic: the same call gives the same weights on the same machine.

    Shapes: -> DigitCNN(5) on the CPU.
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


# ----------------------------------------------------------------------------- the chapter's grid of runs

ONE_RATE = "all, one lr"  # fine-tune everything with the head's learning rate for the pretrained stages too


def measure_grid(tasks: dict, pretrained: nn.Module, seeds, counts=(5, "all"), one_rate_counts=(5, "all"),
                 device="cpu") -> dict:
    """Every strategy on every target and label count, once per seed: the chapter's section 5 and 6 runs.

    Also runs "fine-tune everything" with one learning rate for all stages
    (``ONE_RATE``) at ``one_rate_counts``. Every run stops early on its
    target's validation cards.

    Shapes: -> {(target, strategy, count): {"val": [S floats], "test": [S floats], "steps": [S ints]}}.
    """
    func = "measure_grid"
    if not isinstance(tasks, dict) or not tasks:
        _fail(TypeError, func, "tasks as a dict {target: load_target(target)}", type(tasks).__name__, None)
    if not isinstance(seeds, (list, tuple)) or len(seeds) < 2:
        _fail(TypeError, func, "seeds as a list or tuple of at least 2 seeds", repr(seeds)[:40],
              "e.g. tuple(seed_for(k) for k in range(5))")
    seeds = [check_int(s, "seeds[i]", func, minimum=0) for s in seeds]
    results = {}
    for target, task in tasks.items():
        for count in counts:
            variants = [(s, 0.1) for s in STRATEGIES] + ([(ONE_RATE, 1.0)] if count in one_rate_counts else [])
            for variant, factor in variants:
                strategy = "all" if variant == ONE_RATE else variant
                runs = [run_strategy(strategy, task, pretrained, count=count, seed=s, body_lr_factor=factor,
                                     device=device) for s in seeds]
                results[target, variant, count] = {"val": [r.val_acc for r in runs],
                                                   "test": [r.test_acc for r in runs],
                                                   "steps": [r.steps for r in runs]}
    return results


def shapes_ceiling(task, per_class: int = 500, seed: int = 0, device="cpu") -> dict:
    """How well the shapes can be told apart at all: a CNN from scratch on ``per_class`` fresh shapes per class.

    The shapes and their cards are drawn anew (``make_shapes``, ``place_on_card``
    with seeds from ``seed``); training stops early on ``task``'s validation
    cards and the network is scored on ``task``'s test cards.

    Shapes: task a ``load_target("different")`` split -> {"labels_per_class", "val_acc", "test_acc", "steps"}.
    """

    func = "shapes_ceiling"
    if getattr(task, "class_names", None) != ("circle", "square", "triangle", "cross"):
        _fail(TypeError, func, "task = load_target('different')", type(task).__name__, None)
    per_class = check_int(per_class, "per_class", func, minimum=1)
    seed = check_int(seed, "seed", func, minimum=0)
    shape_seed, card_seed = (int(s) for s in np.random.default_rng(seed).integers(2**31, size=2))
    X, y = make_shapes(per_class, seed=shape_seed)
    model = make_cnn(4, seed)
    record = train_early_stopping(model, place_on_card(X, card_seed), y, task.X_val, task.y_val, max_steps=800,
                                  eval_every=40, seed=seed, device=device, desc="ceiling")
    return {"labels_per_class": per_class, "val_acc": record.val_acc,
            "test_acc": evaluate(model, task.X_test, task.y_test), "steps": record.best_step}
