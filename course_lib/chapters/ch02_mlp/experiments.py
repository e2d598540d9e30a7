"""Chapter 2's longer cells, moved here so the notebook's cells stay short.

* ``plot_activation_grid``: six activation functions and their slopes.
* ``train_xor`` and ``plot_hidden_space``: the XOR network and what its hidden layer does.
* ``fit_curve``: universal approximation in one dimension, scored on held-out points.
* ``two_layer_forward_backward``: exercise 2.4's reference, a ReLU MLP's loss and gradients by hand.
* ``standardise``: scale features with the training part's statistics only.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import _fail, check_array, check_int, check_labels, check_same_length
from course_lib.device import rng
from course_lib.plots import plot_line, plot_points
from course_lib.scratch.losses import mse_loss, softmax_cross_entropy
from course_lib.scratch.modules import MLP
from course_lib.scratch.optim import Adam


def plot_activation_grid(z: np.ndarray, curves: dict):
    """Draw each activation f(z) (solid) and its slope f'(z) (dashed), one panel each; returns the figure.

    Shapes: z (N,), curves {name: (values (N,), slopes (N,))}.
    """
    z = check_array(z, "z", "plot_activation_grid", ndim=1, shape_doc="(N,)")
    if not isinstance(curves, dict) or not curves:
        _fail(TypeError, "plot_activation_grid", "curves as a dict {name: (values, slopes)}",
              type(curves).__name__, None)
    rows = (len(curves) + 2) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(11, 2.75 * rows), sharex=True, squeeze=False)
    for ax, (name, (value, slope)) in zip(axes.ravel(), curves.items()):
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.plot(z, value, lw=2, label="f(z)")
        ax.plot(z, slope, "--", lw=1.5, label="f'(z)")
        ax.set_title(name)
        ax.set_ylim(-1.6, 4.1)
    axes[0, 0].legend(loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("z")
    fig.tight_layout()
    return fig


def train_xor(X: np.ndarray, y: np.ndarray, hidden: int, seed: int, steps: int = 300, lr: float = 0.05):
    """Full-batch Adam on MLP([2, hidden, 2], "tanh") from the start ``rng(seed)``; returns (net, final loss).

    Shapes: X (N, 2), y (N,) in {0, 1}.
    """
    func = "train_xor"
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, 2)")
    y = check_labels(y, 2, "y", func)
    check_same_length(X, y, ("X", "y"), func)
    hidden = check_int(hidden, "hidden", func, minimum=1)
    steps = check_int(steps, "steps", func, minimum=1)
    net = MLP([2, hidden, 2], "tanh", rng=rng(check_int(seed, "seed", func, minimum=0)))
    optimiser = Adam(net, lr=lr)
    for _ in range(steps):
        loss, dlogits = softmax_cross_entropy(net(X), y)  # forward + loss
        net.backward(dlogits)  # fills every layer's grads
        optimiser.step()  # moves every parameter against its gradient
    return net, loss


def hidden_of(net, X: np.ndarray) -> np.ndarray:
    """The first Linear and its activation of an MLP: the hidden representation.

    Shapes: X (N, D) -> (N, H).
    """
    X = check_array(X, "X", "hidden_of", ndim=2, shape_doc="(N, D)")
    return net[1](net[0](X))


def _label_points(ax, points, names, offset):
    """Annotate points, merging names whose points (nearly) coincide so that labels never overprint."""
    groups = []
    for name, p in zip(names, points):
        for group in groups:
            if np.linalg.norm(group[1] - p) < 0.25:
                group[0].append(name)
                break
        else:
            groups.append(([name], p))
    for group_names, p in groups:
        ax.annotate(" = ".join(group_names) if len(group_names) > 1 else group_names[0], p, xytext=offset,
                    textcoords="offset points", fontsize=10, weight="bold")


def plot_hidden_space(net, X: np.ndarray, y: np.ndarray, centres: np.ndarray, names):
    """Left: decision regions and the hidden units' lines; right: the points and a warped grid in hidden space.

    Shapes: X (N, 2), y (N,), centres (4, 2) with their names (4 strings). Returns the figure.
    """
    func = "plot_hidden_space"
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, 2)")
    centres = check_array(centres, "centres", func, ndim=2, shape_doc="(K, 2)")
    W1, b1 = net[0].params["weight"], net[0].params["bias"]
    W2, b2 = net[2].params["weight"], net[2].params["bias"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    lim = (-1.3, 1.3)
    gx, gy = np.meshgrid(np.linspace(*lim, 150), np.linspace(*lim, 150))
    regions = net(np.column_stack([gx.ravel(), gy.ravel()])).argmax(axis=1).reshape(gx.shape)
    axes[0].contourf(gx, gy, regions, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:orange"], alpha=0.2)
    plot_points(X, y, ax=axes[0])
    for k in range(W1.shape[0]):
        plot_line(W1[k], b1[k], axes[0], lim, color="k", ls="--", lw=1)
    axes[0].set(xlim=lim, ylim=lim, title="input space: decision regions, hidden units' lines")
    along = np.linspace(*lim, 100)
    for t in np.linspace(*lim, 13):
        level = np.full_like(along, t)
        for line in (np.column_stack([level, along]), np.column_stack([along, level])):
            warped = hidden_of(net, line)
            axes[1].plot(warped[:, 0], warped[:, 1], color="0.8", lw=0.7)
    plot_points(hidden_of(net, X), y, ax=axes[1])
    plot_line(W2[1] - W2[0], b2[1] - b2[0], axes[1], (-1.05, 1.05), color="k", lw=1.5)
    axes[1].set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel="hidden unit 1", ylabel="hidden unit 2",
                title="hidden space: the output layer's line")
    _label_points(axes[0], centres, names, (6, -12))
    _label_points(axes[1], hidden_of(net, centres), names, (6, 6))
    fig.tight_layout()
    return fig


def fit_curve(x: np.ndarray, target: np.ndarray, hidden: int, seed: int = 1, steps: int = 800) -> MLP:
    """Full-batch Adam on the MSE of MLP([1, hidden, 1], "tanh"); the learning rate drops tenfold for the last 300
    steps. Returns the trained network.

    Shapes: x (N, 1), target (N, 1).
    """
    func = "fit_curve"
    x = check_array(x, "x", func, ndim=2, shape_doc="(N, 1)")
    target = check_array(target, "target", func, ndim=2, shape_doc="(N, 1)")
    check_same_length(x, target, ("x", "target"), func)
    hidden = check_int(hidden, "hidden", func, minimum=1)
    steps = check_int(steps, "steps", func, minimum=301)
    net = MLP([1, hidden, 1], "tanh", rng=rng(check_int(seed, "seed", func, minimum=0)))
    optimiser = Adam(net, lr=0.03)
    for step in range(steps):
        if step == steps - 300:
            optimiser.lr = 0.003
        _, dpred = mse_loss(net(x), target)
        net.backward(dpred)
        optimiser.step()
    return net


def bumpy(x: np.ndarray) -> np.ndarray:
    """The curve section 4 fits: sin(2x) + 0.5 cos(5x) exp(-x^2 / 2).

    Shapes: any -> same shape.
    """
    x = check_array(x, "x", "bumpy", dtype_kind="f")
    return np.sin(2 * x) + 0.5 * np.cos(5 * x) * np.exp(-(x**2) / 2)


def standardise(X_train: np.ndarray, *others: np.ndarray):
    """Scale every column to mean 0 and std 1 using the training part's statistics only; returns all parts.

    Constant columns (blank border pixels) are left at 0. Shapes: (N, D) each.
    """
    X_train = check_array(X_train, "X_train", "standardise", ndim=2, shape_doc="(N, D)", dtype_kind="fiu")
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    parts = [X_train] + [check_array(o, "each further part", "standardise", ndim=2, shape_doc="(N, D)",
                                     dtype_kind="fiu") for o in others]
    return tuple((p - mean) / std for p in parts)


def two_layer_forward_backward(X: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                               b2: np.ndarray):
    """Loss and gradients of logits = relu(X W1^T + b1) W2^T + b2 under the mean softmax cross-entropy.

    Returns (loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}), gradients in the weights' own shapes.

    Shapes: X (N, D), y (N,) in 0..C-1, W1 (H, D), b1 (H,), W2 (C, H), b2 (C,).
    Twin: F.cross_entropy(F.linear(F.relu(F.linear(X, W1, b1)), W2, b2), y).backward().
    """
    func = "two_layer_forward_backward"
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, D)")
    W1 = check_array(W1, "W1", func, ndim=2, shape_doc="(H, D)")
    W2 = check_array(W2, "W2", func, ndim=2, shape_doc="(C, H)")
    b1 = check_array(b1, "b1", func, ndim=1, shape_doc="(H,)")
    b2 = check_array(b2, "b2", func, ndim=1, shape_doc="(C,)")
    y = check_labels(y, W2.shape[0], "y", func)
    check_same_length(X, y, ("X", "y"), func)
    if W1.shape[1] != X.shape[1] or b1.shape[0] != W1.shape[0] or W2.shape[1] != W1.shape[0] or b2.shape[0] != \
            W2.shape[0]:
        _fail(ValueError, func, "matching shapes X (N, D), W1 (H, D), b1 (H,), W2 (C, H), b2 (C,)",
              f"{X.shape}, {W1.shape}, {b1.shape}, {W2.shape}, {b2.shape}", "weights use PyTorch's (out, in) layout")
    pre = X @ W1.T + b1
    hidden = np.maximum(pre, 0.0)
    loss, dlogits = softmax_cross_entropy(hidden @ W2.T + b2, y)  # dlogits already holds the 1/N of the mean
    dhidden = dlogits @ W2
    dpre = dhidden * (pre > 0)
    grads = {"W1": dpre.T @ X, "b1": dpre.sum(axis=0), "W2": dlogits.T @ hidden, "b2": dlogits.sum(axis=0)}
    return float(loss), grads
