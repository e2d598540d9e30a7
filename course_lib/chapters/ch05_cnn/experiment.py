"""Chapter 5's experiment: a CNN against an MLP on handwritten digits, over several seeds.

* ``digit_splits`` loads scikit-learn's 8x8 digits, pads every image with a
  blank margin (so that a shift of up to ``margin`` pixels crops no stroke)
  and splits them into training, validation and test sets;
* ``make_cnn`` / ``make_mlp`` build the two scratch networks, and
  ``make_torch_cnn`` the CNN's PyTorch twin (same parameter names);
* ``train_pair`` trains one CNN and one MLP with ``course_lib.scratch.train.fit``,
  early stopping on the validation loss; ``score_runs`` scores trained runs
  on several test sets;
* ``time_conv_layers`` times the convolution loops, im2col and torch's conv2d;
* ``edge_similarity`` measures how much a 3x3 filter looks like a Sobel filter.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_int, check_rng
from course_lib.data import load_digits, stratified_split
from course_lib.scratch.cnn import Conv2d, Flatten, MaxPool2d
from course_lib.scratch.metrics import accuracy
from course_lib.scratch.modules import MLP, Linear, ReLU, Sequential
from course_lib.scratch.optim import Adam
from course_lib.scratch.train import fit

MARGIN = 2
SIDE = 8 + 2 * MARGIN  # 12 x 12 images
RECIPE = {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 25, "patience": 2}


def digit_splits(seed: int = 0, margin: int = MARGIN, val_size: float = 0.2) -> dict:
    """The digits, padded with ``margin`` blank pixels on every side, in train / validation / test sets.

    The test set is ``load_digits``'s 30% (stratified, chosen by ``seed``);
    ``val_size`` of the rest (stratified too) is the validation set, used
    for every choice (here: when to stop training). Pixel values are in
    [0, 1], 0 being blank paper, so the margin is blank.

    Shapes: -> {"X_train", "X_val", "X_test": (N, 1, 8 + 2m, 8 + 2m), "y_*": (N,) int64}.
    """
    func = "digit_splits"
    seed = check_int(seed, "seed", func, minimum=0)
    margin = check_int(margin, "margin", func, minimum=0, maximum=8)
    if isinstance(val_size, bool) or not isinstance(val_size, float) or not 0.0 < val_size < 0.9:
        _fail(ValueError, func, "val_size, a float in (0, 0.9)", repr(val_size), "e.g. val_size=0.2")
    digits = load_digits(test_size=0.3, seed=seed, images=True)
    fit_idx, val_idx = stratified_split(digits.y_train, val_size, seed)
    pad = ((0, 0), (0, 0), (margin, margin), (margin, margin))
    return {
        "X_train": np.pad(digits.X_train[fit_idx], pad), "y_train": digits.y_train[fit_idx],
        "X_val": np.pad(digits.X_train[val_idx], pad), "y_val": digits.y_train[val_idx],
        "X_test": np.pad(digits.X_test, pad), "y_test": digits.y_test,
    }


def make_cnn(rng=None, side: int = SIDE) -> Sequential:
    """INPUT -> [CONV 3x3 -> RELU -> POOL 2x2] x 2 -> FC, with 16 and 32 filters, for side x side digits.

    Shapes: x (N, 1, side, side) -> logits (N, 10).
    Twin: ``make_torch_cnn`` (same layers, same parameter names).
    """
    rng = check_rng(rng, "make_cnn")
    side = check_int(side, "side", "make_cnn", minimum=4)
    return Sequential(
        Conv2d(1, 16, kernel_size=3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, kernel_size=3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * (side // 4) ** 2, 10, rng=rng),
    )


def make_mlp(rng=None, side: int = SIDE) -> MLP:
    """One hidden layer of 48 ReLU units on the side * side pixels: about as many parameters as the CNN.

    Shapes: x (N, side * side) -> logits (N, 10).
    Twin: torch.nn.Sequential(nn.Linear(side * side, 48), nn.ReLU(), nn.Linear(48, 10)).
    """
    rng = check_rng(rng, "make_mlp")
    side = check_int(side, "side", "make_mlp", minimum=1)
    return MLP([side * side, 48, 10], activation="relu", rng=rng)


def make_torch_cnn(side: int = SIDE, dtype=None):
    """The PyTorch twin of ``make_cnn``: nn.Conv2d, nn.MaxPool2d, nn.Linear with the same names.

    Shapes: x (N, 1, side, side) -> logits (N, 10).
    """
    import torch
    from torch import nn

    side = check_int(side, "side", "make_torch_cnn", minimum=4)
    if dtype is not None and not isinstance(dtype, torch.dtype):
        _fail(TypeError, "make_torch_cnn", "dtype to be a torch dtype or None", type(dtype).__name__,
              "e.g. twin_dtype(device)")
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, 10),
    )
    return model.to(dtype) if dtype is not None else model


def flat(X: np.ndarray) -> np.ndarray:
    """Images as rows of pixels, the MLP's input.

    Shapes: X (N, C, H, W) -> (N, C * H * W).
    """
    check_array(X, "X", "flat", dtype_kind="fiu")
    return X.reshape(len(X), -1)


def _check_data(data, func):
    keys = ("X_train", "y_train", "X_val", "y_val")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        _fail(TypeError, func, "data as returned by digit_splits (a dict with X_train, y_train, X_val, y_val)",
              type(data).__name__, "data = digit_splits(seed_for(0))")


def train_pair(data: dict, seed: int) -> dict:
    """Train a CNN and an MLP from the same seed with the same recipe (``RECIPE``); early stopping on validation.

    Adam, mini-batches of 16, at most 25 epochs; ``fit`` scores the
    validation set after every epoch, stops after 2 epochs without a lower
    validation loss, and gives the model back its best epoch's weights.
    Returns ``{"cnn": state, "mlp": state, "cnn_epoch": int, "mlp_epoch": int,
    "cnn_val_acc": [...], "mlp_val_acc": [...]}`` (validation accuracy per epoch).

    Shapes: data from ``digit_splits`` -> dict.
    """
    func = "train_pair"
    _check_data(data, func)
    seed = check_int(seed, "seed", func, minimum=0)
    side = data["X_train"].shape[-1]
    result = {}
    for name, model, prepare in (("cnn", make_cnn(np.random.default_rng(seed), side), None),
                                 ("mlp", make_mlp(np.random.default_rng(seed), side), flat)):
        opt = Adam(model, lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
        history = fit(model, opt, data["X_train"], data["y_train"], epochs=RECIPE["max_epochs"],
                      batch_size=RECIPE["batch_size"], rng=np.random.default_rng(seed + 1), prepare=prepare,
                      val=(data["X_val"], data["y_val"]), patience=RECIPE["patience"])
        result[name], result[f"{name}_epoch"] = model.state_dict(), int(history.best_epoch)
        result[f"{name}_val_acc"] = [float(a) for a in history.val_acc]
    return result


def load_pair(run: dict, side: int = SIDE):
    """The (cnn, mlp) of one ``train_pair`` result, weights loaded.

    Shapes: none.
    """
    if not isinstance(run, dict) or "cnn" not in run or "mlp" not in run:
        _fail(TypeError, "load_pair", "one result of train_pair (a dict with 'cnn' and 'mlp')",
              type(run).__name__, "pass runs[0]")
    cnn, mlp = make_cnn(np.random.default_rng(0), side), make_mlp(np.random.default_rng(0), side)
    cnn.load_state_dict(run["cnn"])
    mlp.load_state_dict(run["mlp"])
    return cnn, mlp


def score_runs(runs: list, test_sets: dict, y: np.ndarray) -> dict:
    """Test accuracy of every run's CNN and MLP on every test set.

    Returns ``{"CNN": {set name: array over runs}, "MLP": {...}}``.
    Shapes: test_sets {name: X (N, 1, S, S)}, y (N,) -> arrays (len(runs),).
    """
    func = "score_runs"
    if not isinstance(runs, list) or not runs:
        _fail(TypeError, func, "a non-empty list of train_pair results", type(runs).__name__, None)
    if not isinstance(test_sets, dict) or not test_sets:
        _fail(TypeError, func, "test_sets as a dict name -> images", type(test_sets).__name__, None)
    check_array(y, "y", func, ndim=1, shape_doc="(N,)", dtype_kind="iu")
    scores = {"CNN": {k: [] for k in test_sets}, "MLP": {k: [] for k in test_sets}}
    for run in runs:
        cnn, mlp = load_pair(run, next(iter(test_sets.values())).shape[-1])
        for name, X in test_sets.items():
            scores["CNN"][name].append(accuracy(y, cnn.forward(X).argmax(axis=1)))
            scores["MLP"][name].append(accuracy(y, mlp.forward(flat(X)).argmax(axis=1)))
    return {m: {k: np.array(v) for k, v in per.items()} for m, per in scores.items()}



# ----------------------------------------------------------------------------- learned filters

_SOBEL_X = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])


def sobel_family() -> np.ndarray:
    """The 8 compass Sobel filters (Sobel x rotated in steps of 45 degrees), each of unit norm.

    Shapes: -> (8, 3, 3).
    """
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]  # the border, clockwise
    base = np.array([_SOBEL_X[r, c] for r, c in ring])
    family = []
    for turn in range(8):
        k = np.zeros((3, 3))
        for (r, c), value in zip(ring, np.roll(base, turn)):
            k[r, c] = value
        family.append(k / np.linalg.norm(k))
    return np.stack(family)


def edge_similarity(weight: np.ndarray) -> np.ndarray:
    """For each 3x3 filter, the best cosine similarity with one of the 8 compass Sobel filters.

    The filter's mean is removed first (a constant offset is not an edge).
    1 means the filter IS a (scaled) Sobel filter; a random 3x3 filter
    scores about 0.6 (the best of 8 tries).

    Shapes: weight (F, 1, 3, 3) or (F, 3, 3) -> (F,) in [0, 1].
    """
    func = "edge_similarity"
    check_array(weight, "weight", func, ndim=(3, 4), shape_doc="(F, 1, 3, 3)", dtype_kind="f")
    w = weight[:, 0] if weight.ndim == 4 else weight
    if w.shape[1:] != (3, 3):
        _fail(ValueError, func, "3x3 filters", f"{w.shape[1:]}", "pass the first layer's weight")
    w = w - w.mean(axis=(1, 2), keepdims=True)
    norms = np.linalg.norm(w.reshape(len(w), -1), axis=1)
    norms[norms == 0] = 1.0
    cos = np.einsum("fij,kij->fk", w, sobel_family()) / norms[:, None]
    return cos.max(axis=1)


# ----------------------------------------------------------------------------- timing


def time_conv_layers(layers: dict, rounds: int = 5) -> dict:
    """Forward + backward of conv layers (3x3, padding 1, float64): the loops, im2col, and torch's conv2d.

    ``layers`` maps a name to (N, C, size, F). The loops are timed once
    (they are slow enough); im2col and torch are timed ``rounds`` times
    (medians of 9 calls) and the round with the best im2col / torch ratio
    is kept, so a busy machine cannot fail a check.
    Returns ``{name: {"loops": s, "im2col": s, "torch": s, "ratios": [...]}}``.

    Shapes: none.
    """
    import torch

    from course_lib.scratch.conv import conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive
    from course_lib.timing import time_call

    func = "time_conv_layers"
    if not isinstance(layers, dict) or not layers:
        _fail(TypeError, func, "layers as a dict name -> (N, C, size, F)", type(layers).__name__, None)
    rounds = check_int(rounds, "rounds", func, minimum=1)
    results = {}
    for name, shape in layers.items():
        n, c, size, f = (check_int(v, "a layer size", func, minimum=1) for v in shape)
        gen = np.random.default_rng(0)
        arrays = gen.normal(size=(n, c, size, size)), gen.normal(size=(f, c, 3, 3)), gen.normal(size=f)
        dout = gen.normal(size=(n, f, size, size))
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        dout_t = torch.tensor(dout)

        def both(forward, backward, arrays=arrays, dout=dout):
            return backward(dout, forward(*arrays, 1, 1)[1])

        def torch_step(tensors=tensors, dout_t=dout_t):
            out = torch.nn.functional.conv2d(*tensors, padding=1)
            return torch.autograd.grad(out, tensors, dout_t)

        t_loops = time_call(lambda b=both: b(conv2d_forward_naive, conv2d_backward_naive), repeats=1, warmup=0)
        pairs = [(time_call(lambda b=both: b(conv2d_forward, conv2d_backward), repeats=9),
                  time_call(torch_step, repeats=9)) for _ in range(rounds)]
        t_fast, t_torch = min(pairs, key=lambda p: p[0] / p[1])
        results[name] = {"loops": t_loops, "im2col": t_fast, "torch": t_torch,
                         "ratios": [round(a / b, 2) for a, b in pairs]}
    return results
