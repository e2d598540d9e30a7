"""The GRU from scratch, in torch's layout (gate blocks r, z, n).

The shapes and the step / sequence pairs are those of every recurrent cell
(see ``course_lib.scratch.rnn``): x (T, N, D), states (N, H), weight_ih
(3H, D), weight_hh (3H, H), biases (3H,).
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import check_cache, check_dout, named_errors
from course_lib.scratch.layers import sigmoid
from course_lib.scratch.rnn import (
    _check_input,
    _check_state,
    _check_upstream,
    _check_weights,
    _input_and_weight_grads,
    _Recurrent,
)

# ----------------------------------------------------------------------------
# GRU (torch's gate order r, z, n)
# ----------------------------------------------------------------------------


def _gru_cell(ax, h_prev, weight_hh, bias_hh):
    """GRU maths given ax = x W_ih^T + b_ih (N, 3H); returns (h, rz, n, hn)."""
    hs = h_prev.shape[1]
    ah = h_prev @ weight_hh.T + bias_hh
    rz = sigmoid(ax[:, : 2 * hs] + ah[:, : 2 * hs])
    r, z = rz[:, :hs], rz[:, hs:]
    hn = ah[:, 2 * hs :]
    n = np.tanh(ax[:, 2 * hs :] + r * hn)
    return n + z * (h_prev - n), rz, n, hn


def _gru_cell_backward(dh, h_prev, rz, n, hn, weight_hh, dax=None, dah=None):
    """Backward of ``_gru_cell``: returns (dax (N, 3H), dah (N, 3H), dh_prev (N, H))."""
    hs = h_prev.shape[1]
    r, z = rz[:, :hs], rz[:, hs:]
    dan = dh * (1.0 - z) * (1.0 - n * n)
    dax = np.empty((dh.shape[0], 3 * hs), dtype=dan.dtype) if dax is None else dax
    dah = np.empty_like(dax) if dah is None else dah
    dax[:, :hs] = dan * hn * r * (1.0 - r)
    dax[:, hs : 2 * hs] = dh * (h_prev - n) * z * (1.0 - z)
    dax[:, 2 * hs :] = dan
    dah[:, : 2 * hs] = dax[:, : 2 * hs]
    dah[:, 2 * hs :] = dan * r
    return dax, dah, dh * z + dah @ weight_hh


def gru_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step in torch's layout (gate blocks r, z, n).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.
    Returns (h, cache).
    Shapes: x (N, D), h_prev (N, H), weight_ih (3H, D), weight_hh (3H, H),
    bias_ih (3H,), bias_hh (3H,) -> h (N, H).
    Twin: torch.nn.GRUCell.
    """
    func = "gru_step_forward"
    d, hs = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 3, "(r, z, n)")
    _check_input(func, x, 2, d, weight_ih)
    _check_state(func, h_prev, "h_prev", x.shape[0], hs)
    h, rz, n, hn = _gru_cell(x @ weight_ih.T + bias_ih, h_prev, weight_hh, bias_hh)
    return h, (x, h_prev, weight_ih, weight_hh, rz, n, hn)


def gru_step_backward(dh, cache):
    """Gradients of one GRU step.

    Returns (dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    Shapes: dh (N, H) -> dx (N, D), dh_prev (N, H), dweight_ih (3H, D),
    dweight_hh (3H, H), dbias_ih (3H,), dbias_hh (3H,).
    Twin: torch.autograd through torch.nn.GRUCell.
    """
    func = "gru_step_backward"
    x, h_prev, weight_ih, weight_hh, rz, n, hn = check_cache(
        cache, func, "gru_step_forward", 7, {0: 2, 1: 2, 4: 2, 5: 2, 6: 2}
    )
    check_dout(dh, h_prev.shape, func, "dh")
    dax, dah, dh_prev = _gru_cell_backward(dh, h_prev, rz, n, hn, weight_hh)
    return dax @ weight_ih, dh_prev, dax.T @ x, dah.T @ h_prev, dax.sum(axis=0), dah.sum(axis=0)


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    """Run a GRU over a whole sequence. Returns (h_all, cache); h_n is h_all[-1].

    Shapes: x (T, N, D), h0 (N, H), weight_ih (3H, D), weight_hh (3H, H),
    bias_ih (3H,), bias_hh (3H,) -> h_all (T, N, H).
    Twin: torch.nn.GRU (one layer, batch_first=False).
    """
    func = "gru_forward"
    d, hs = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 3, "(r, z, n)")
    _check_input(func, x, 3, d, weight_ih)
    t_steps, n_batch, _ = x.shape
    _check_state(func, h0, "h0", n_batch, hs)
    x_proj = (x.reshape(t_steps * n_batch, d) @ weight_ih.T + bias_ih).reshape(t_steps, n_batch, 3 * hs)
    h_all = np.empty((t_steps, n_batch, hs), dtype=x_proj.dtype)
    rz_all = np.empty((t_steps, n_batch, 2 * hs), dtype=x_proj.dtype)
    n_all = np.empty_like(h_all)
    hn_all = np.empty_like(h_all)
    h = h0
    for t in range(t_steps):
        h, rz_all[t], n_all[t], hn_all[t] = _gru_cell(x_proj[t], h, weight_hh, bias_hh)
        h_all[t] = h
    return h_all, (x, h0, weight_ih, weight_hh, h_all, rz_all, n_all, hn_all)


def gru_backward(dh_all, cache, dh_n=None):
    """Back-propagation through time for ``gru_forward``.

    ``dh_all``: gradient on every step's output (None for zeros); ``dh_n``:
    optional gradient on the final state.
    Returns (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    Shapes: dh_all (T, N, H), dh_n (N, H) -> dx (T, N, D), dh0 (N, H),
    dweight_ih (3H, D), dweight_hh (3H, H), dbias_ih (3H,), dbias_hh (3H,).
    Twin: torch.autograd through torch.nn.GRU.
    """
    func = "gru_backward"
    x, h0, weight_ih, weight_hh, h_all, rz_all, n_all, hn_all = check_cache(
        cache, func, "gru_forward", 8, {0: 3, 1: 2, 4: 3, 5: 3, 6: 3, 7: 3}
    )
    dh_all, (dh_next,) = _check_upstream(func, dh_all, dh_n, h_all.shape, dtype=h_all.dtype)
    t_steps, n_batch, hs = h_all.shape
    h_prev_all = np.concatenate([h0[None], h_all[:-1]])
    dax_all = np.empty((t_steps, n_batch, 3 * hs), dtype=h_all.dtype)
    dah_all = np.empty_like(dax_all)
    for t in reversed(range(t_steps)):
        _, _, dh_next = _gru_cell_backward(
            dh_all[t] + dh_next,
            h_prev_all[t],
            rz_all[t],
            n_all[t],
            hn_all[t],
            weight_hh,
            dax=dax_all[t],
            dah=dah_all[t],
        )
    return _input_and_weight_grads(x, h_prev_all, dax_all, dah_all, weight_ih, dh_next)


# ----------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------


class GRU(_Recurrent):
    """Single-layer GRU; parameters named and shaped like torch.nn.GRU's (gates r, z, n).

    Same interface as ``RNN``: ``forward(x, h0=None)``, ``h_n``,
    ``backward(dh_all, dh_n=None)``, ``dh0``. Init U(-1/sqrt(H), 1/sqrt(H)).
    Shapes: x (T, N, D) ((N, T, D) if batch_first), h0 (N, H) -> (T, N, H).
    Twin: torch.nn.GRU(input_size, hidden_size) (course_lib.twins.recurrent.torch_gru_like).
    """

    gates = 3

    def forward(self, x, h0=None):
        x, n = self._input(x, "GRU.forward")
        with named_errors("GRU.forward"):
            h_all, self._cache = gru_forward(x, self._zeros_if_none(h0, n), *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def backward(self, dh_all, dh_n=None):
        dh_all = self._start_backward(dh_all, "GRU.backward")
        with named_errors("GRU.backward"):
            dx, self.dh0, *grads = gru_backward(dh_all, self._cache, dh_n)
        return self._finish_backward(dx, grads)
