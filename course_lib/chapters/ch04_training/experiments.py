"""Chapter 4's workbench: the data splits and the networks its experiments train.

Each builder returns a ``course_lib.scratch`` ``Sequential`` so that the
notebook trains it with ``course_lib.scratch.train.fit`` and scores it with
``evaluate``. Seeds come in as generators (``course_lib.device.rng(k)``),
so that a chapter re-run with another base seed changes every one of them.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from course_lib.checks import _fail, check_array, check_choice, check_float, check_int, check_rng
from course_lib.data import load_digits, stratified_split
from course_lib.scratch.init import kaiming_normal_, naive_normal_, xavier_normal_
from course_lib.scratch.modules import Linear, ReLU, Sequential, Tanh
from course_lib.scratch.regularization import BatchNorm1d, Dropout
from course_lib.scratch.residual import PlainBlock, ResidualBlock

INITS = ("small N(0, 0.01²)", "Xavier", "He")
BLOCKS = {"plain": PlainBlock, "residual": ResidualBlock}


def digit_splits(scale: str = "standard", images: bool = False, val_size: float = 0.2, seed: int = 0,
                 split_seed: int = 1) -> SimpleNamespace:
    """scikit-learn's digits split three ways: train, validation (``val_size`` of the training part) and test.

    The test part is ``load_digits``'s 30% (chosen by ``seed``); the
    validation part is drawn from the rest, stratified by class (chosen by
    ``split_seed``). ``scale="standard"`` standardises every pixel with the
    mean and standard deviation of the *training* part only, so nothing
    about the validation or test images leaks into the inputs; ``"unit"``
    maps 0..16 to 0..1.

    Shapes: X_* (N, 64), or (N, 1, 8, 8) with ``images=True``; y_* (N,) int64.
    """
    func = "digit_splits"
    check_choice(scale, "scale", func, ("standard", "unit"))
    if not isinstance(images, bool):
        _fail(TypeError, func, "images to be True or False", repr(images), None)
    val_size = check_float(val_size, "val_size", func, minimum=0.0, strict_min=True, maximum=0.5)
    seed = check_int(seed, "seed", func, minimum=0)
    split_seed = check_int(split_seed, "split_seed", func, minimum=0)
    raw = load_digits(test_size=0.3, seed=seed, scale="raw")
    fit_idx, val_idx = stratified_split(raw.y_train, val_size, split_seed)
    X_train, X_val, X_test = raw.X_train[fit_idx], raw.X_train[val_idx], raw.X_test
    if scale == "standard":
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std[std == 0] = 1.0  # border pixels that are always blank
        X_train, X_val, X_test = ((X - mean) / std for X in (X_train, X_val, X_test))
    else:
        X_train, X_val, X_test = X_train / 16.0, X_val / 16.0, X_test / 16.0
    if images:
        X_train, X_val, X_test = (X.reshape(-1, 1, 8, 8) for X in (X_train, X_val, X_test))
    return SimpleNamespace(X_train=X_train, y_train=raw.y_train[fit_idx], X_val=X_val, y_val=raw.y_train[val_idx],
                           X_test=X_test, y_test=raw.y_test)


def _init_weight(W, init: str, rng) -> None:
    if init == INITS[0]:
        naive_normal_(W, std=0.01, rng=rng)
    elif init == "Xavier":
        xavier_normal_(W, rng=rng)
    else:
        kaiming_normal_(W, nonlinearity="relu", rng=rng)


def deep_net(init: str, activation: str, depth: int = 10, width: int = 64, d_in: int = 64, d_out: int = 10,
             rng=None) -> Sequential:
    """``depth`` x (Linear + activation), then a Linear output layer; weights drawn by ``init``, biases 0.

    ``init`` is one of ``INITS``: small N(0, 0.01²), Xavier (normal) or He
    (Kaiming normal, for ReLU).

    Shapes: input (N, d_in) -> logits (N, d_out).
    Twin: torch.nn.Sequential of nn.Linear and nn.Tanh / nn.ReLU, initialised with torch.nn.init.
    """
    func = "deep_net"
    check_choice(init, "init", func, INITS)
    check_choice(activation, "activation", func, ("tanh", "relu"))
    depth = check_int(depth, "depth", func, minimum=1)
    width, d_in, d_out = (check_int(v, n, func, minimum=1) for v, n in ((width, "width"), (d_in, "d_in"),
                                                                        (d_out, "d_out")))
    rng = check_rng(rng, func)
    sizes = [d_in] + [width] * depth + [d_out]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = Linear(n_in, n_out, rng=rng)
        _init_weight(linear.params["weight"], init, rng)
        linear.params["bias"][...] = 0.0
        layers.append(linear)
        if i < depth:
            layers.append(Tanh() if activation == "tanh" else ReLU())
    return Sequential(*layers)


def activation_stds(net, x: np.ndarray) -> np.ndarray:
    """Standard deviation of the activations after every hidden layer's nonlinearity, on the batch ``x``.

    Shapes: x (N, D) -> (L,), one value per Tanh or ReLU layer.
    """
    func = "activation_stds"
    if not isinstance(net, Sequential):
        _fail(TypeError, func, "net to be a course_lib.scratch Sequential", type(net).__name__,
              "build it with deep_net(...) or bn_net(...)")
    check_array(x, "x", func, ndim=2, shape_doc="(N, D)", dtype_kind="f")
    stds = []
    for layer in net:
        x = layer.forward(x)
        if isinstance(layer, (Tanh, ReLU)):
            stds.append(x.std())
    return np.array(stds)


def small_net(width: int = 192, depth: int = 2, p: float = 0.0, rng=None) -> Sequential:
    """``depth`` x (Linear + ReLU [+ Dropout(p)]), then Linear to 10 classes, for 8x8 images flattened to 64.

    Shapes: input (N, 64) -> logits (N, 10).
    Twin: torch.nn.Sequential of nn.Linear, nn.ReLU and nn.Dropout(p).
    """
    func = "small_net"
    width = check_int(width, "width", func, minimum=1)
    depth = check_int(depth, "depth", func, minimum=1)
    p = check_float(p, "p", func, minimum=0.0, maximum=0.95)
    rng = check_rng(rng, func)
    layers, n_in = [], 64
    for _ in range(depth):
        layers += [Linear(n_in, width, rng=rng), ReLU()]
        if p > 0:
            layers.append(Dropout(p, rng=rng))
        n_in = width
    return Sequential(*layers, Linear(n_in, 10, rng=rng))


def bn_net(batchnorm: bool = False, he_init: bool = False, depth: int = 8, width: int = 64, rng=None) -> Sequential:
    """``depth`` x (Linear [+ BatchNorm1d] + ReLU), then Linear to 10 classes; default (torch) or He init.

    Shapes: input (N, 64) -> logits (N, 10).
    Twin: torch.nn.Sequential of nn.Linear, nn.BatchNorm1d and nn.ReLU.
    """
    func = "bn_net"
    for value, name in ((batchnorm, "batchnorm"), (he_init, "he_init")):
        if not isinstance(value, bool):
            _fail(TypeError, func, f"{name} to be True or False", repr(value), None)
    depth = check_int(depth, "depth", func, minimum=1)
    width = check_int(width, "width", func, minimum=1)
    rng = check_rng(rng, func)
    layers, n_in = [], 64
    for _ in range(depth):
        layers.append(Linear(n_in, width, rng=rng))
        if batchnorm:
            layers.append(BatchNorm1d(width))
        layers.append(ReLU())
        n_in = width
    net = Sequential(*layers, Linear(n_in, 10, rng=rng))
    if he_init:
        for layer in net:
            if isinstance(layer, Linear):
                kaiming_normal_(layer.params["weight"], rng=rng)
                layer.params["bias"][...] = 0.0
    return net


def block_stack(block: str, blocks: int = 16, width: int = 32, rng=None) -> Sequential:
    """Linear(64, width) + ReLU, ``blocks`` plain or residual blocks, then Linear(width, 10).

    Shapes: input (N, 64) -> logits (N, 10).
    Twin: the same stack of course_lib.twins.regularization.TorchPlainBlock / TorchResidualBlock.
    """
    func = "block_stack"
    check_choice(block, "block", func, tuple(BLOCKS))
    blocks = check_int(blocks, "blocks", func, minimum=1)
    width = check_int(width, "width", func, minimum=1)
    rng = check_rng(rng, func)
    return Sequential(Linear(64, width, rng=rng), ReLU(), *[BLOCKS[block](width, rng=rng) for _ in range(blocks)],
                      Linear(width, 10, rng=rng))


def smooth(values, window: int = 20) -> np.ndarray:
    """Moving average over ``window`` steps, to read noisy per-step losses.

    Shapes: values (T,) -> (T - window + 1,).
    """
    func = "smooth"
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(TypeError, func, "values as a list of numbers (per-step losses)", type(values).__name__, None)
    window = check_int(window, "window", func, minimum=1)
    if arr.ndim != 1 or arr.size < window:
        _fail(ValueError, func, f"a 1-D list of at least window={window} values", f"shape {arr.shape}",
              "pass a longer run or a smaller window")
    return np.convolve(arr, np.ones(window) / window, mode="valid")
