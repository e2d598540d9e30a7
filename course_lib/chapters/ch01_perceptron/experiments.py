"""Chapter 1's experiments: the pieces its notebook cells call, kept here so that each cell stays short.

* ``perceptron_criterion``: the loss whose gradient step *is* Rosenblatt's rule (exercise 1.4's reference).
* ``pocket_perceptron``: the rule, keeping the best weights it visits (exercise 1.5's reference).
* ``margin_runs`` and ``loglog_slope``: the convergence theorem's gamma, R and (R/gamma)^2, measured.
* ``xor_epoch_accuracy``: the training accuracy after every epoch on noisy XOR clouds.
* ``iris_comparison``: final weights vs pocket vs logistic regression on versicolor/virginica,
  over random train / validation / test splits.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_int, check_labels, check_same_length
from course_lib.data import blobs_separator, load_iris, make_blobs, make_xor, stratified_split
from course_lib.device import seed_for
from course_lib.scratch.perceptron import _update, perceptron_forward, train_perceptron


def _check_xyw(X, y, w, b, func):
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, D)")
    y = check_labels(y, 2, "y", func)
    check_same_length(X, y, ("X", "y"), func)
    w = check_array(w, "w", func, ndim=1, shape_doc="(D,)")
    if w.shape != (X.shape[1],):
        _fail(ValueError, func, f"w with one weight per feature, shape ({X.shape[1]},)", f"shape {w.shape}", None)
    return X, y, w, check_float(b, "b", func)


def perceptron_criterion(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float):
    """The perceptron criterion and its gradient: (loss, dw, db).

    With s = 2y - 1 (labels as -1/+1) and z = X w + b, the loss is the mean
    over the batch of max(0, -s z): zero for a correct example, the distance
    on the wrong side for a mistake. A mistake is what the rule calls one,
    step(z) != y, so z = 0 with y = 0 counts. Its gradient sums -s x over the
    mistakes only, divided by N.

    Shapes: X (N, D), y (N,) in {0, 1}, w (D,), b scalar -> (float, (D,), float).
    Twin: torch.relu(-s * (X @ w + b)).mean().backward() (autograd gives the same dw, db away from z = 0).
    """
    X, y, w, b = _check_xyw(X, y, w, b, "perceptron_criterion")
    s = 2.0 * y - 1.0
    z = X @ w + b
    wrong = perceptron_forward(X, w, b) != y
    loss = float(np.mean(np.maximum(0.0, -s * z)))
    dw = -(s * wrong) @ X / len(y)
    db = float(-np.sum(s * wrong) / len(y))
    return loss, dw, db


def pocket_perceptron(X: np.ndarray, y: np.ndarray, epochs: int = 20, lr: float = 1.0):
    """Rosenblatt's rule that keeps "in its pocket" the best weights it has visited: (w, b, train_accuracy).

    Starts from zero weights and visits the examples in the given order for
    ``epochs`` passes. After every update it scores the new weights on all of
    (X, y) and keeps a copy when they are strictly better than the pocket
    (so the first of equally good weights stays). The zero start is scored too.

    Shapes: X (N, D), y (N,) in {0, 1} -> w (D,), b scalar, accuracy float.
    """
    func = "pocket_perceptron"
    X = check_array(X, "X", func, ndim=2, shape_doc="(N, D)")
    y = check_labels(y, 2, "y", func)
    check_same_length(X, y, ("X", "y"), func)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    w, b = np.zeros(X.shape[1]), 0.0
    best = (np.mean(perceptron_forward(X, w, b) == y), w.copy(), b)
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            w, b, wrong = _update(x_i, int(y_i), w, b, lr)
            if wrong:
                acc = np.mean(perceptron_forward(X, w, b) == y)
                if acc > best[0]:
                    best = (acc, w.copy(), b)
    return best[1], best[2], float(best[0])


def margin_runs(margins, seeds, n: int = 200) -> np.ndarray:
    """Train on make_blobs for every (seed, gap) and measure the theorem's quantities.

    One row per run: seed, gap, gamma, R, bound (R/gamma)^2, updates. gamma
    is the margin of the extended inputs (x, 1) with respect to the unit
    vector of the known separator; R is the largest extended input's length.

    Shapes: margins (M,), seeds (S,) -> (S * M, 6).
    """
    func = "margin_runs"
    margins = check_array(np.asarray(margins, dtype=float) if isinstance(margins, list | tuple) else margins,
                          "margins", func, ndim=1, shape_doc="(M,)")
    if isinstance(seeds, int | np.integer) or not hasattr(seeds, "__iter__"):
        _fail(TypeError, func, "seeds as a list of ints", type(seeds).__name__, "e.g. seeds=range(5)")
    n = check_int(n, "n", func, minimum=2)
    normal, offset = blobs_separator()
    u = np.append(normal, -offset) / np.linalg.norm(np.append(normal, -offset))  # separator of (x, 1)
    rows = []
    for seed in seeds:
        seed = check_int(seed, "a seed", func, minimum=0)
        for margin in margins:
            X, y = make_blobs(n=n, margin=float(margin), seed=seed)
            X_ext = np.column_stack([X, np.ones(len(X))])
            gamma = np.min(np.where(y == 1, 1.0, -1.0) * (X_ext @ u))
            R = np.max(np.linalg.norm(X_ext, axis=1))
            _, _, history = train_perceptron(X, y, max_epochs=5000)
            if not history.converged:
                _fail(RuntimeError, func, "the rule to converge on separable blobs", f"gap {margin}, seed {seed}",
                      "raise max_epochs")
            rows.append((seed, margin, gamma, R, (R / gamma) ** 2, history.updates))
    return np.array(rows)


def loglog_slope(x, y):
    """Least-squares slope of log(y) against log(x), and its standard error: (slope, se).

    Shapes: x (N,), y (N,) positive, N >= 3.
    """
    func = "loglog_slope"
    x = check_array(np.asarray(x, dtype=float) if isinstance(x, list | tuple) else x, "x", func, ndim=1,
                    shape_doc="(N,)", dtype_kind="fiu")
    y = check_array(np.asarray(y, dtype=float) if isinstance(y, list | tuple) else y, "y", func, ndim=1,
                    shape_doc="(N,)", dtype_kind="fiu")
    check_same_length(x, y, ("x", "y"), func)
    if len(x) < 3 or np.any(x <= 0) or np.any(y <= 0):
        _fail(ValueError, func, "at least 3 positive values in x and y", f"{len(x)} values, min {np.min(x)}",
              None)
    lx, ly = np.log(x), np.log(y)
    design = np.column_stack([lx, np.ones_like(lx)])
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    resid = ly - design @ coef
    se = np.sqrt(resid @ resid / (len(x) - 2) / np.sum((lx - lx.mean()) ** 2))
    return float(coef[0]), float(se)


def xor_epoch_accuracy(seeds, epochs: int = 30, n: int = 200) -> np.ndarray:
    """Training accuracy of the rule's weights after every epoch, on one noisy XOR cloud per seed.

    Shapes: seeds (S,) -> (S, epochs); a run that stopped early (it never does on XOR) would raise.
    """
    func = "xor_epoch_accuracy"
    if isinstance(seeds, int | np.integer) or not hasattr(seeds, "__iter__"):
        _fail(TypeError, func, "seeds as a list of ints", type(seeds).__name__, "e.g. seeds=range(5)")
    epochs = check_int(epochs, "epochs", func, minimum=1)
    n = check_int(n, "n", func, minimum=4)
    out = []
    for seed in seeds:
        X, y = make_xor(n=n, seed=check_int(seed, "a seed", func, minimum=0))
        _, _, history = train_perceptron(X, y, max_epochs=epochs)
        if history.converged:
            _fail(RuntimeError, func, "the rule never to converge on XOR", f"convergence with seed {seed}", None)
        out.append([np.mean(perceptron_forward(X, w, b) == y) for w, b in zip(history.weights[1:], history.biases[1:])])
    return np.array(out)


IRIS_PAIR = ("versicolor", "virginica")
IRIS_FEATURES = ("petal length", "petal width")
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def iris_comparison(splits: int = 20, epochs: int = 20) -> dict:
    """Versicolor vs virginica over random splits: 50% train, 25% validation, 25% test.

    Split k uses seed ``seed_for(k)`` for the split and the order of the
    training examples. Per split: the rule's final weights after ``epochs``
    passes, the pocket perceptron's weights (best training accuracy), and
    logistic regression with its regularisation C chosen on the validation
    set from ``C_GRID``. Each is scored once on the split's test set.

    Returns {"final", "pocket", "logreg": test accuracies (splits,), "C": chosen C (splits,)}.
    """
    from sklearn.linear_model import LogisticRegression

    func = "iris_comparison"
    splits = check_int(splits, "splits", func, minimum=2)
    epochs = check_int(epochs, "epochs", func, minimum=1)
    X, y = load_iris(features=IRIS_FEATURES, classes=IRIS_PAIR)
    result = {"final": [], "pocket": [], "logreg": [], "C": []}
    for k in range(splits):
        seed = seed_for(k)
        rest, test = stratified_split(y, 0.25, seed)
        train_rel, val_rel = stratified_split(y[rest], 1 / 3, seed)
        train = np.random.default_rng(seed).permutation(rest[train_rel])  # a random order of visits
        val = rest[val_rel]
        w, b, _ = train_perceptron(X[train], y[train], max_epochs=epochs)
        result["final"].append(np.mean(perceptron_forward(X[test], w, b) == y[test]))
        w, b, _ = pocket_perceptron(X[train], y[train], epochs=epochs)
        result["pocket"].append(np.mean(perceptron_forward(X[test], w, b) == y[test]))
        scores = [LogisticRegression(C=C).fit(X[train], y[train]).score(X[val], y[val]) for C in C_GRID]
        C = C_GRID[int(np.argmax(scores))]  # the first of the best, on validation only
        result["logreg"].append(LogisticRegression(C=C).fit(X[train], y[train]).score(X[test], y[test]))
        result["C"].append(C)
    return {key: np.array(value) for key, value in result.items()}


def mean_and_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (std with ddof=1 over sqrt(n)).

    Shapes: values (n,), n >= 2 -> (float, float).
    """
    values = check_array(np.asarray(values, dtype=float) if isinstance(values, list | tuple) else values,
                         "values", "mean_and_se", ndim=1, shape_doc="(n,)", dtype_kind="fiu")
    if len(values) < 2:
        _fail(ValueError, "mean_and_se", "at least 2 values", f"{len(values)}", None)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
