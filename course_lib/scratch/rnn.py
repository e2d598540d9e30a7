"""The tanh RNN from scratch, and what the three recurrent cells share.

Layout (the same as PyTorch's single-layer modules, so weights copy across
with no renaming or transposing):

* sequences are time-major, ``x`` of shape (T, N, D), like torch's default
  ``batch_first=False``; hidden states ``h`` are (N, H), without torch's
  leading layer axis (torch's ``h_0`` is (1, N, H): use ``h0[0]``);
* ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh``
  (G*H,), with G gate blocks stacked along the rows: G = 1 for the RNN,
  G = 4 in the order (i, f, g, o) for the LSTM (``lstm.py``), G = 3 in the
  order (r, z, n) for the GRU (``gru.py``).

Each cell has a step pair (``*_step_forward`` / ``*_step_backward``) and a
sequence pair (``*_forward`` / ``*_backward``, back-propagation through
time). The sequence versions do the same cell maths as the step versions
but lift the input projection ``x @ weight_ih.T`` out of the time loop: one
big matrix product for all T steps, then one small product with
``weight_hh`` per step, which is all the recurrence really needs.

This module holds the input checks the three cells share, the tanh RNN,
the weight gradients summed over time (``_input_and_weight_grads``),
gradient clipping (``clip_grad_norm``, the cure for exploding gradients
through time) and the module classes' base ``_Recurrent``. Every public name
of the chapter is also importable from ``course_lib.scratch.recurrent``.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import (
    _fail,
    check_array,
    check_cache,
    check_dout,
    check_float,
    check_int,
    check_rng,
    check_shape,
    named_errors,
)
from course_lib.scratch.modules import Module

PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")



# ----------------------------------------------------------------------------
# Input checks shared by the three cells
# ----------------------------------------------------------------------------


def _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, gates: int, order: str):
    """Check torch-layout cell weights; return (D, H)."""
    rows_doc = "H" if gates == 1 else f"{gates}*H"
    check_array(weight_ih, "weight_ih", func, ndim=2, shape_doc=f"({rows_doc}, D)", dtype_kind="f")
    rows, d = weight_ih.shape
    if rows % gates:
        _fail(
            ValueError,
            func,
            f"weight_ih with {gates}*H rows (gate blocks {order})",
            f"shape {weight_ih.shape}",
            "use torch's layout: the gates' weights stacked along axis 0",
        )
    h = rows // gates
    fix = f"torch's layout with H={h}: weight_hh ({rows_doc}, H), biases ({rows_doc},)"
    check_array(weight_hh, "weight_hh", func, ndim=2, shape_doc=f"({rows_doc}, H)", dtype_kind="f")
    check_shape(weight_hh, (rows, h), "weight_hh", func, fix)
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        _check_vector(func, bias, name, rows, f"({rows_doc},)", fix)
    return d, h


def _check_vector(func, v, name: str, length: int, doc: str, fix: str | None) -> None:
    """Check a 1-D float array of a given length (check_shape would print (20,) as "(20)")."""
    check_array(v, name, func, ndim=1, shape_doc=doc, dtype_kind="f")
    if v.shape != (length,):
        _fail(ValueError, func, f"{name} of shape {(length,)}", f"shape {v.shape}", fix)


def _check_input(func, x, ndim: int, d: int, weight_ih) -> None:
    """Check x of shape (N, D) (ndim=2) or (T, N, D) (ndim=3) against weight_ih's D."""
    doc = "(N, D)" if ndim == 2 else "(T, N, D)"
    fix = None
    if getattr(x, "ndim", None) == ndim - 1:
        fix = (
            "add a batch axis for a single example, e.g. x[None]"
            if ndim == 2
            else ("sequences are time-major (T, N, D); for one sequence of shape (T, D) use x[:, None]")
        )
    check_array(x, "x", func, ndim=ndim, shape_doc=doc, dtype_kind="f", fix=fix)
    if x.shape[-1] != d:
        _fail(
            ValueError,
            func,
            f"x with D={d} features to match weight_ih of shape {weight_ih.shape}",
            f"x of shape {x.shape}",
            "the last axis of x is input_size",
        )


def _check_state(func, state, name: str, n: int, h: int) -> None:
    """Check a hidden or cell state of shape (N, H)."""
    fix = None
    if getattr(state, "ndim", None) == 3:
        fix = f"pass {name} without torch's leading layer axis, e.g. {name}[0]"
    check_array(state, name, func, ndim=2, shape_doc="(N, H)", dtype_kind="f", fix=fix)
    check_shape(state, (n, h), name, func, f"{name} holds one H={h} state per sequence in the batch")


def _check_upstream(func, dh_all, dh_n, shape, extra=(), dtype=np.float64):
    """Check the upstream gradients of a sequence backward; None means zeros (of ``dtype``)."""
    t, n, h = shape
    if dh_all is None and dh_n is None and all(g is None for _, g in extra):
        _fail(ValueError, func, "a gradient dh_all or dh_n", "None for all", "pass the loss gradient")
    if dh_all is None:
        dh_all = np.zeros(shape, dtype=dtype)
    else:
        check_array(dh_all, "dh_all", func, ndim=3, shape_doc=str(shape))
        check_shape(dh_all, shape, "dh_all", func, "dh_all matches h_all from the forward pass")
    states = []
    for name, grad in (("dh_n", dh_n),) + tuple(extra):
        if grad is None:
            grad = np.zeros((n, h), dtype=dtype)
        else:
            check_array(grad, name, func, ndim=2, shape_doc=str((n, h)))
            check_shape(grad, (n, h), name, func, f"{name} matches the final state (N, H)")
        states.append(grad)
    return dh_all, states



# ----------------------------------------------------------------------------
# Vanilla RNN:  h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
# ----------------------------------------------------------------------------


def rnn_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One tanh RNN step: h = tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh).

    Shapes: x (N, D), h_prev (N, H), weight_ih (H, D), weight_hh (H, H),
    bias_ih (H,), bias_hh (H,) -> h (N, H).
    Twin: torch.nn.RNNCell (nonlinearity="tanh").
    """
    func = "rnn_step_forward"
    d, h = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 1, "(h)")
    _check_input(func, x, 2, d, weight_ih)
    _check_state(func, h_prev, "h_prev", x.shape[0], h)
    h_next = np.tanh(x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)
    cache = (x, h_prev, h_next, weight_ih, weight_hh)
    return h_next, cache


def rnn_step_backward(dh, cache):
    """Gradients of one RNN step.

    Shapes: dh (N, H) -> dx (N, D), dh_prev (N, H), dweight_ih (H, D),
    dweight_hh (H, H), dbias_ih (H,), dbias_hh (H,).
    Twin: torch.autograd through torch.nn.RNNCell.
    """
    func = "rnn_step_backward"
    x, h_prev, h_next, weight_ih, weight_hh = check_cache(cache, func, "rnn_step_forward", 5, {0: 2, 1: 2, 2: 2})
    check_dout(dh, h_next.shape, func, "dh")
    da = dh * (1.0 - h_next * h_next)
    dbias = da.sum(axis=0)
    return da @ weight_ih, da @ weight_hh, da.T @ x, da.T @ h_prev, dbias, dbias.copy()


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    """Run a tanh RNN over a whole sequence.

    Returns (h_all, cache); the final state h_n is h_all[-1].
    Shapes: x (T, N, D), h0 (N, H), weight_ih (H, D), weight_hh (H, H),
    bias_ih (H,), bias_hh (H,) -> h_all (T, N, H).
    Twin: torch.nn.RNN (one layer, tanh, batch_first=False).
    """
    func = "rnn_forward"
    d, h = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 1, "(h)")
    _check_input(func, x, 3, d, weight_ih)
    t_steps, n, _ = x.shape
    _check_state(func, h0, "h0", n, h)
    x_proj = (x.reshape(t_steps * n, d) @ weight_ih.T + (bias_ih + bias_hh)).reshape(t_steps, n, h)
    h_all = np.empty_like(x_proj)
    h_prev = h0
    for t in range(t_steps):
        h_prev = np.tanh(x_proj[t] + h_prev @ weight_hh.T)
        h_all[t] = h_prev
    return h_all, (x, h0, h_all, weight_ih, weight_hh)


def rnn_backward(dh_all, cache, dh_n=None):
    """Back-propagation through time for ``rnn_forward``.

    ``dh_all`` is the loss gradient on every step's output (None for zeros,
    e.g. many-to-one); ``dh_n`` an optional extra gradient on the final state.
    Returns (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    Shapes: dh_all (T, N, H), dh_n (N, H) -> dx (T, N, D), dh0 (N, H),
    dweight_ih (H, D), dweight_hh (H, H), dbias_ih (H,), dbias_hh (H,).
    Twin: torch.autograd through torch.nn.RNN.
    """
    func = "rnn_backward"
    x, h0, h_all, weight_ih, weight_hh = check_cache(cache, func, "rnn_forward", 5, {0: 3, 1: 2, 2: 3, 3: 2, 4: 2})
    dh_all, (dh_next,) = _check_upstream(func, dh_all, dh_n, h_all.shape, dtype=h_all.dtype)
    t_steps, n, h = h_all.shape
    da_all = np.empty_like(h_all)
    for t in reversed(range(t_steps)):
        da_all[t] = (dh_all[t] + dh_next) * (1.0 - h_all[t] * h_all[t])
        dh_next = da_all[t] @ weight_hh
    h_prev_all = np.concatenate([h0[None], h_all[:-1]])
    return _input_and_weight_grads(x, h_prev_all, da_all, da_all, weight_ih, dh_next)


def _input_and_weight_grads(x, h_prev_all, dax_all, dah_all, weight_ih, dh0):
    """After the time loop: gradients that sum over all steps, as big matmuls.

    ``dax_all`` is the gradient on the input projection x W_ih^T + b_ih and
    ``dah_all`` the one on h_prev W_hh^T + b_hh (equal except for the GRU).
    """
    t_steps, n, d = x.shape
    dax = dax_all.reshape(t_steps * n, -1)
    dah = dah_all.reshape(t_steps * n, -1)
    dx = (dax @ weight_ih).reshape(t_steps, n, d)
    dweight_ih = dax.T @ x.reshape(t_steps * n, d)
    dweight_hh = dah.T @ h_prev_all.reshape(t_steps * n, -1)
    dbias_ih = dax.sum(axis=0)
    dbias_hh = dbias_ih.copy() if dah_all is dax_all else dah.sum(axis=0)
    return dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh


# ----------------------------------------------------------------------------
# Gradient clipping
# ----------------------------------------------------------------------------


def clip_grad_norm(grads, max_norm, norm_type=2.0) -> float:
    """Scale gradients in place so that their joint norm is at most max_norm.

    ``grads`` is a list of arrays, a dict name -> array, or a Module (its
    ``grads``). The joint norm is the norm of all entries together; if it
    exceeds max_norm every array is multiplied by max_norm / (norm + 1e-6),
    as torch does. Returns the norm before clipping. Unlike torch's default,
    a NaN or inf norm raises ValueError instead of spreading NaN everywhere.
    Shapes: grads: any shapes -> a float.
    Twin: torch.nn.utils.clip_grad_norm_.
    """
    func = "clip_grad_norm"
    if isinstance(grads, Module):
        arrays = [g for _, _, g in grads.named_parameters() if g is not None]
    elif isinstance(grads, dict):
        arrays = list(grads.values())
    elif isinstance(grads, np.ndarray):
        arrays = [grads]
    elif hasattr(grads, "__iter__") and not isinstance(grads, str):
        arrays = list(grads)  # a list, a tuple, or any other iterable of arrays (e.g. a dict's values())
    else:
        _fail(TypeError, func, "grads as a list of arrays, a dict name -> array or a Module",
              type(grads).__name__, "pass e.g. list(model.grads.values())")
    max_norm = check_float(max_norm, "max_norm", func, minimum=0.0)
    if norm_type in ("inf", float("inf")):
        norm_type = float("inf")
    else:
        norm_type = check_float(norm_type, "norm_type", func, minimum=0.0, strict_min=True)
    for k, g in enumerate(arrays):
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            got = type(g).__name__ if not isinstance(g, np.ndarray) else f"dtype {g.dtype}"
            _fail(TypeError, func, f"grads[{k}] to be a floating numpy.ndarray", got, None)
    if not arrays:
        return 0.0
    norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in arrays]
    total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if not np.isfinite(total):
        _fail(
            ValueError,
            func,
            "finite gradients",
            f"a total norm of {total}",
            "the step diverged: lower the learning rate or find the NaN",
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in arrays:
            g *= coef
    return total


# ----------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------


class _Recurrent(Module):
    """Shared plumbing of RNN, LSTM and GRU: parameters, init, batch_first."""

    gates = 1

    def __init__(self, input_size, hidden_size, *, batch_first=False, rng=None, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_int(input_size, "input_size", name, minimum=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", name, minimum=1)
        self.batch_first = bool(batch_first)
        rng = check_rng(rng, name)
        rows, hs = self.gates * self.hidden_size, self.hidden_size
        shapes = dict(zip(PARAM_NAMES, [(rows, self.input_size), (rows, hs), (rows,), (rows,)], strict=True))
        bound = 1.0 / np.sqrt(hs)
        for key, shape in shapes.items():
            self.params[key] = rng.uniform(-bound, bound, size=shape).astype(dtype)
            self.grads[key] = np.zeros(shape, dtype=dtype)
        self._cache = None
        self.h_n = None
        self.dh0 = None

    def __call__(self, x, *states):
        return self.forward(x, *states)

    def _weights(self):
        return tuple(self.params[key] for key in PARAM_NAMES)

    # The module checks only what it needs to transpose (an array of rank 3): the sequence
    # function checks the rest and scans the values once, its errors renamed by named_errors.

    def _time_major(self, x, name, func, fix=None):
        """x (N, T, .) or (T, N, .) as time-major (T, N, .): a view."""
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            doc = "(N, T, D)" if self.batch_first else "(T, N, D)"
            if name != "x":
                doc = doc.replace("D", "H")
            check_array(x, name, func, ndim=3, shape_doc=doc, dtype_kind="f", fix=fix)  # raises
        return x.swapaxes(0, 1) if self.batch_first else x

    def _input(self, x, func):
        """x as time-major, and the batch size N."""
        fix = None
        if getattr(x, "ndim", None) == 2:
            example = "x[None]" if self.batch_first else "x[:, None]"
            fix = f"for one sequence add a batch axis, e.g. {example}"
        x = self._time_major(x, "x", func, fix)
        return x, x.shape[1]

    def _zeros_if_none(self, state, n):
        if state is None:
            return np.zeros((n, self.hidden_size), dtype=self.params["weight_hh_l0"].dtype)
        return state

    def _output(self, h_all):
        return h_all.swapaxes(0, 1) if self.batch_first else h_all

    def _start_backward(self, dh_all, func):
        """dh_all as time-major (or None), once it is an array and a forward pass has run."""
        if dh_all is not None and not isinstance(dh_all, np.ndarray):
            _fail(TypeError, func, "dh_all to be a numpy.ndarray or None", type(dh_all).__name__,
                  "pass the gradient of the loss with respect to every step's output, or None")
        if self._cache is None:
            _fail(RuntimeError, func, "a forward pass first", "backward with no cache", "call forward(x)")
        return None if dh_all is None else self._time_major(dh_all, "dh_all", func)

    def _finish_backward(self, dx, grads):
        for key, grad in zip(PARAM_NAMES, grads, strict=True):
            self.grads[key][...] = grad
        return self._output(dx)


class RNN(_Recurrent):
    """Single-layer tanh RNN; parameters named and shaped like torch.nn.RNN's.

    ``forward(x, h0=None)`` returns every step's hidden state and keeps the
    final one in ``self.h_n``; ``backward(dh_all, dh_n=None)`` fills
    ``self.grads``, keeps the initial state's gradient in ``self.dh0`` and
    returns dx. Init: every parameter U(-1/sqrt(H), 1/sqrt(H)), like torch.
    Shapes: x (T, N, D) ((N, T, D) if batch_first), h0 (N, H) -> (T, N, H).
    Twin: torch.nn.RNN(input_size, hidden_size) (course_lib.twins.recurrent.torch_rnn_like).
    """

    gates = 1

    def forward(self, x, h0=None):
        x, n = self._input(x, "RNN.forward")
        with named_errors("RNN.forward"):
            h_all, self._cache = rnn_forward(x, self._zeros_if_none(h0, n), *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def backward(self, dh_all, dh_n=None):
        dh_all = self._start_backward(dh_all, "RNN.backward")
        with named_errors("RNN.backward"):
            dx, self.dh0, *grads = rnn_backward(dh_all, self._cache, dh_n)
        return self._finish_backward(dx, grads)
