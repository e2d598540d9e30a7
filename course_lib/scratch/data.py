"""Mini-batches for stochastic gradient descent.

    for xb, yb in minibatches(X, y, batch_size=32, rng=rng):
        ...one step on (xb, yb)...

One pass over the generator is one epoch. Without shuffling the batches are
views into X and y (no copies); with shuffling they are gathered in a new
random order each epoch.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_int, check_rng, check_same_length


def minibatches(
    X: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    rng=None,
    shuffle: bool = True,
    drop_last: bool = False,
):
    """Split (X, y) into mini-batches; returns a generator of (xb, yb) pairs.

    The inputs are checked when this is called, not when the first batch is
    drawn. ``y=None`` (unlabelled data) yields ``(xb, None)``. The last
    batch is smaller when N is not a multiple of batch_size, unless
    ``drop_last``. ``rng=None`` with ``shuffle`` draws a seed from NumPy's
    global state (seeded by ``course_lib.device.setup``).

    Shapes: X (N, ...), y (N, ...) or None -> batches xb (B, ...), yb (B, ...), B <= batch_size.
    Twin: torch.utils.data.DataLoader(TensorDataset(X, y), batch_size, shuffle, drop_last)
    """
    func = "minibatches"
    check_array(X, "X", func, ndim=tuple(range(1, 33)), shape_doc="(N, ...)", dtype_kind="fiub")
    if y is not None:
        check_array(y, "y", func, ndim=tuple(range(1, 33)), shape_doc="(N, ...)", dtype_kind="fiub")
        check_same_length(X, y, ("X", "y"), func)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    if not isinstance(shuffle, bool) or not isinstance(drop_last, bool):
        _fail(
            TypeError,
            func,
            "shuffle and drop_last to be True or False",
            f"{type(shuffle).__name__} and {type(drop_last).__name__}",
            None,
        )
    if drop_last and batch_size > X.shape[0]:
        _fail(
            ValueError,
            func,
            f"batch_size <= N = {X.shape[0]} when drop_last=True",
            str(batch_size),
            "every batch would be dropped; use a smaller batch_size",
        )
    order = None
    if shuffle:
        order = check_rng(rng, func).permutation(X.shape[0])
    return _batches(X, y, batch_size, order, drop_last)


def _batches(X, y, batch_size, order, drop_last):
    n = X.shape[0]
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            rows = slice(start, start + batch_size)  # a view, no copy
        else:
            rows = order[start : start + batch_size]
        yield X[rows], (None if y is None else y[rows])
