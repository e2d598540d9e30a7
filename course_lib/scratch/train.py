"""The training loop of chapter 3, as one function for the chapters after it.

Chapter 3 writes the loop out (sample a mini-batch, forward, backward,
update) so that every step is visible; from chapter 4 on, ``fit`` runs the
same four steps and adds what experiments need: a validation set scored
after every epoch, early stopping that keeps the best weights, and a record
of every step's loss.

Twin: a PyTorch loop of ``for xb, yb in loader: opt.zero_grad();
loss_fn(model(xb), yb).backward(); opt.step()`` (torch has no ``fit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from course_lib.checks import _fail, check_array, check_int, check_rng
from course_lib.scratch.data import minibatches
from course_lib.scratch.losses import softmax_cross_entropy


@dataclass
class History:
    """What ``fit`` measured: every step's training loss and, with validation data, every epoch's scores.

    ``val_loss`` and ``val_acc`` hold one value per epoch (before the first
    epoch too: index 0 is the untrained model). ``best_epoch`` is the epoch
    whose weights the model holds at the end when early stopping was on.

    Shapes: losses (steps,), val_loss and val_acc (epochs + 1,), lists of floats.
    """

    losses: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False


def evaluate(model, X: np.ndarray, y: np.ndarray, loss=softmax_cross_entropy, prepare=None) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on (X, y) in evaluation mode (dropout off, batch-norm running statistics).

    Shapes: X (N, ...), y (N,) int -> (float, float).
    Twin: model.eval(); with torch.no_grad(): F.cross_entropy(model(X), y).
    """
    func = "evaluate"
    check_array(X, "X", func, dtype_kind="fiu")
    check_array(y, "y", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if len(X) != len(y):
        _fail(ValueError, func, "X and y with the same number of rows", f"{len(X)} and {len(y)}", None)
    was_training = getattr(model, "training", True)
    if hasattr(model, "eval"):
        model.eval()
    logits = model.forward(prepare(X) if prepare is not None else X)
    if hasattr(model, "train") and was_training:
        model.train()
    value = loss(logits, y)[0]
    return float(value), float(np.mean(logits.argmax(axis=1) == y))


def fit(model, opt, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int = 32, rng=None,
        loss: Callable = softmax_cross_entropy, prepare: Callable | None = None, transform: Callable | None = None,
        val: tuple | None = None, patience: int | None = None, progress: Callable | None = None) -> History:
    """Mini-batch training of a scratch ``Module`` with the optimiser ``opt``; returns a ``History``.

    Each step: ``xb, yb`` from ``minibatches`` (shuffled with ``rng``),
    ``transform(xb, rng)`` if given (data augmentation), ``prepare(xb)`` if
    given (e.g. a reshape), forward, ``loss(logits, yb) -> (value, dlogits)``,
    backward, ``opt.step()``.
    ``val=(X_val, y_val)`` scores the model after every epoch (``History.val_loss``,
    ``val_acc``). ``patience=p`` (needs ``val``) is early stopping: training
    stops after ``p`` epochs without a lower validation loss, and the model
    gets back the weights of its best epoch. ``progress`` wraps the epoch
    range (e.g. ``course_lib.progress.progress``).

    torch has no fit: there it is the loop itself (see the module docstring).

    Shapes: X (N, ...), y (N,) -> History.
    """
    func = "fit"
    for name in ("forward", "backward", "state_dict", "load_state_dict"):
        if not callable(getattr(model, name, None)):
            _fail(TypeError, func, "model to be a course_lib.scratch Module (forward, backward, state_dict)",
                  type(model).__name__, "build it from course_lib.scratch.modules")
    if not callable(getattr(opt, "step", None)):
        _fail(TypeError, func, "opt to be an optimiser with a step() method", type(opt).__name__,
              "e.g. SGD(model, lr=0.1) from course_lib.scratch.optim")
    epochs = check_int(epochs, "epochs", func, minimum=0)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    rng = check_rng(rng, func)
    for value, name in ((loss, "loss"), (prepare, "prepare"), (transform, "transform"), (progress, "progress")):
        if value is not None and not callable(value):
            _fail(TypeError, func, f"{name} to be a function or None", type(value).__name__, None)
    if val is not None and (not isinstance(val, tuple) or len(val) != 2):
        _fail(TypeError, func, "val as a pair (X_val, y_val)", type(val).__name__, "e.g. val=(X_val, y_val)")
    if patience is not None:
        patience = check_int(patience, "patience", func, minimum=1)
        if val is None:
            _fail(ValueError, func, "val data for early stopping (patience)", "val=None",
                  "pass val=(X_val, y_val): early stopping watches the validation loss")
    check_array(X, "X", func, dtype_kind="fiu")
    check_array(y, "y", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    if len(X) != len(y):
        _fail(ValueError, func, "X and y with the same number of rows", f"{len(X)} and {len(y)}", None)
    history = History()

    def score():
        if val is not None:
            v_loss, v_acc = evaluate(model, val[0], val[1], loss=loss, prepare=prepare)
            history.val_loss.append(v_loss)
            history.val_acc.append(v_acc)

    score()
    best, since_best = (history.val_loss[0], model.state_dict()) if patience else (None, None), 0
    epoch_range = range(1, epochs + 1)
    for epoch in progress(epoch_range) if progress is not None else epoch_range:
        for xb, yb in minibatches(X, y, batch_size, rng=rng):
            if transform is not None:
                xb = transform(xb, rng)
            value, dlogits = loss(model.forward(prepare(xb) if prepare is not None else xb), yb)
            model.backward(dlogits)  # overwrites every layer's grads: no zero_grad needed
            opt.step()
            history.losses.append(float(value))
        score()
        if patience:
            if history.val_loss[-1] < best[0]:
                best, since_best, history.best_epoch = (history.val_loss[-1], model.state_dict()), 0, epoch
            else:
                since_best += 1
                if since_best >= patience:
                    history.stopped_early = True
                    break
    if patience:
        history.best_epoch = history.best_epoch or 0
        model.load_state_dict(best[1])
    return history
