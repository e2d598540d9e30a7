"""Recurrent networks from scratch: RNN, LSTM and GRU cells, BPTT, embeddings.

Layout (the same as PyTorch's single-layer modules, so weights copy across
with no renaming or transposing):

* sequences are time-major, ``x`` of shape (T, N, D), like torch's default
  ``batch_first=False``; hidden states ``h`` are (N, H), without torch's
  leading layer axis (torch's ``h_0`` is (1, N, H): use ``h0[0]``);
* ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh``
  (G*H,), with G gate blocks stacked along the rows: G = 1 for the RNN,
  G = 4 in the order (i, f, g, o) for the LSTM, G = 3 in the order
  (r, z, n) for the GRU.

Each cell has a step pair (``*_step_forward`` / ``*_step_backward``) and a
sequence pair (``*_forward`` / ``*_backward``, back-propagation through
time). The sequence versions do the same cell maths as the step versions
(shared helpers ``_lstm_cell`` etc.) but lift the input projection
``x @ weight_ih.T`` out of the time loop: one big matrix product for all T
steps, then one small product with ``weight_hh`` per step, which is all the
recurrence really needs.

The LSTM of the slides
----------------------
The slides write one weight matrix W of shape [4n x 2n] applied to the
stacked column vector [x_t; h_{t-1}] (x_t is h^{l-1}_t, the layer below),
with the gates in the order (i, f, o, g) and no bias::

    (i, f, o, g) = (sigm, sigm, sigm, tanh)(W [x_t; h_{t-1}])
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

PyTorch keeps the same numbers in two matrices and a different row order:
``W = concatenate([weight_ih, weight_hh], axis=1)`` with the gate blocks
reordered from torch's (i, f, g, o) to the slides' (i, f, o, g), and the
bias of the slides (if any) is ``bias_ih + bias_hh`` in that order. W has
shape (4H, D + H), which is the slides' [4n x 2n] when D == H == n. For a
batch of row vectors the product is ``[x, h_prev] @ W.T``.
``lstm_weights_to_slides`` / ``lstm_weights_from_slides`` convert, and
``lstm_step_forward_slides`` computes the slides' equations literally.
"""

from __future__ import annotations

import numpy as np

from course_lib._checks import _fail, check_array, check_float, check_int, check_rng, check_shape
from course_lib.scratch.modules import Module

PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function written with tanh: no overflow for large |a|."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


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


def _check_dout(func, dout, expected_shape, name="dh") -> None:
    check_array(dout, name, func, ndim=len(expected_shape), shape_doc=str(expected_shape))
    check_shape(dout, expected_shape, name, func, f"{name} matches the forward output")


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
    x, h_prev, h_next, weight_ih, weight_hh = cache
    _check_dout("rnn_step_backward", dh, h_next.shape)
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
    x, h0, h_all, weight_ih, weight_hh = cache
    dh_all, (dh_next,) = _check_upstream("rnn_backward", dh_all, dh_n, h_all.shape, dtype=h_all.dtype)
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
# LSTM (torch's gate order i, f, g, o)
# ----------------------------------------------------------------------------


def _gate_scale_shift(hs: int, dtype):
    """Per-column constants that turn one tanh into the four gate activations (i, f, g, o).

    sigmoid(a) = (1 + tanh(a / 2)) / 2, so every gate is ``tanh(a * scale) * scale + shift``
    with scale = 1/2, shift = 1/2 for the sigmoid gates i, f, o and scale = 1, shift = 0
    for g. (Halving is exact in floating point: the same bits as ``_sigmoid``.)
    """
    scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype), hs)
    shift = np.repeat(np.array([0.5, 0.5, 0.0, 0.5], dtype=dtype), hs)
    return scale, shift


def _lstm_cell(a, c_prev, h=None, c=None, tanh_c=None, scale_shift=None):
    """LSTM gate maths on the pre-activations a (N, 4H) in torch's order (i, f, g, o).

    Works in place: ``a`` is overwritten with the gate values ``ifgo``. ``h``,
    ``c`` and ``tanh_c`` are optional (N, H) output buffers (the sequence loop
    passes rows of its (T, N, H) arrays, so nothing is allocated per step).
    Returns (h, c, ifgo, tanh_c).
    """
    hs = c_prev.shape[1]
    scale, shift = _gate_scale_shift(hs, a.dtype) if scale_shift is None else scale_shift
    # All four gates with one tanh over (N, 4H): 4 NumPy calls instead of a dozen on quarter-size slices.
    a *= scale
    np.tanh(a, out=a)
    a *= scale
    a += shift
    i, f, g, o = a[:, :hs], a[:, hs : 2 * hs], a[:, 2 * hs : 3 * hs], a[:, 3 * hs :]  # views, no copies
    c = np.multiply(f, c_prev, out=c)
    c += i * g
    tanh_c = np.tanh(c, out=tanh_c)
    h = np.multiply(o, tanh_c, out=h)
    return h, c, a, tanh_c


def _lstm_local_grads(c_prev, ifgo, tanh_c):
    """The chain-rule factors of an LSTM cell that do not depend on the upstream gradients.

    With ``dc = dc_next + dh * o * (1 - tanh_c**2)``, the gradient on the
    pre-activations is ``da = (dc * g * i(1-i), dc * c_prev * f(1-f),
    dc * i * (1-g**2), dh * tanh_c * o(1-o))``. Returns ``local`` (..., 4H),
    the four factors after dc (or dh), and ``dc_dh`` (..., H) = o (1 - tanh_c**2).
    Any leading shape: one step (N, .) or a whole sequence (T, N, .) at once.
    """
    hs = c_prev.shape[-1]
    i, _, g, o = (ifgo[..., k * hs : (k + 1) * hs] for k in range(4))
    # Speed: whole (..., 4H) arrays, updated in place, instead of a dozen operations on
    # quarter-size strided slices (and fewer fresh multi-MB temporaries, which cost page faults).
    # The activations' derivatives for all four gates at once: s (1 - s) for the sigmoids
    # i, f, o and (1 - g)(1 + g) = 1 - g**2 for g; times what each gate multiplies in
    # c = f * c_prev + i * g and h = o * tanh(c).
    g_block = np.repeat(np.array([0.0, 0.0, 1.0, 0.0], dtype=ifgo.dtype), hs)  # 1 on the g columns
    local = np.concatenate([g, c_prev, i, tanh_c], axis=-1)
    local *= 1.0 - ifgo
    local *= ifgo + g_block
    dc_dh = tanh_c * tanh_c
    np.subtract(1.0, dc_dh, out=dc_dh)
    dc_dh *= o
    return local, dc_dh


def _lstm_step_grads(dh, dc_next, local, dc_dh, f):
    """One step back through the cell: ``local`` (N, 4H) is turned into da IN PLACE.

    ``dh`` and ``dc_next`` are the total gradients on this step's h and c.
    Returns (da (N, 4H), dc_prev (N, H)).
    """
    n, hs = dh.shape
    dc = dh * dc_dh
    dc += dc_next
    da = local.reshape(n, 4, hs)  # a view: the gate blocks side by side
    da[:, :3] *= dc[:, None]  # i, f, g: times dc
    da[:, 3] *= dh  # o: times dh
    return local, dc * f


def lstm_step_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step in torch's layout (gate blocks i, f, g, o).

    a = x W_ih^T + b_ih + h_prev W_hh^T + b_hh; i, f, o = sigmoid, g = tanh;
    c = f * c_prev + i * g; h = o * tanh(c). Returns (h, c, cache).
    Shapes: x (N, D), h_prev (N, H), c_prev (N, H), weight_ih (4H, D),
    weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,) -> h (N, H), c (N, H).
    Twin: torch.nn.LSTMCell.
    """
    func = "lstm_step_forward"
    d, hs = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 4, "(i, f, g, o)")
    _check_input(func, x, 2, d, weight_ih)
    _check_state(func, h_prev, "h_prev", x.shape[0], hs)
    _check_state(func, c_prev, "c_prev", x.shape[0], hs)
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    h, c, ifgo, tanh_c = _lstm_cell(a, c_prev)
    return h, c, (x, h_prev, c_prev, weight_ih, weight_hh, ifgo, tanh_c)


def lstm_step_backward(dh, dc, cache):
    """Gradients of one LSTM step, given the loss gradients on h and on c.

    Pass ``dc=None`` when only h feeds the loss.
    Returns (dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    Shapes: dh (N, H), dc (N, H) -> dx (N, D), dh_prev (N, H), dc_prev (N, H),
    dweight_ih (4H, D), dweight_hh (4H, H), dbias_ih (4H,), dbias_hh (4H,).
    Twin: torch.autograd through torch.nn.LSTMCell.
    """
    x, h_prev, c_prev, weight_ih, weight_hh, ifgo, tanh_c = cache
    _check_dout("lstm_step_backward", dh, h_prev.shape)
    if dc is None:
        dc = np.zeros_like(c_prev)
    _check_dout("lstm_step_backward", dc, c_prev.shape, "dc")
    hs = c_prev.shape[1]
    local, dc_dh = _lstm_local_grads(c_prev, ifgo, tanh_c)
    da, dc_prev = _lstm_step_grads(dh, dc, local, dc_dh, ifgo[:, hs : 2 * hs])
    dbias = da.sum(axis=0)
    return da @ weight_ih, da @ weight_hh, dc_prev, da.T @ x, da.T @ h_prev, dbias, dbias.copy()


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
    """Run an LSTM over a whole sequence from the initial state (h0, c0).

    Returns (h_all, c_n, cache): every step's hidden state, the final cell
    state (the final hidden state is h_all[-1]) and the cache for backward.
    Shapes: x (T, N, D), h0 (N, H), c0 (N, H), weight_ih (4H, D),
    weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,) -> h_all (T, N, H), c_n (N, H).
    Twin: torch.nn.LSTM (one layer, batch_first=False).
    """
    func = "lstm_forward"
    d, hs = _check_weights(func, weight_ih, weight_hh, bias_ih, bias_hh, 4, "(i, f, g, o)")
    _check_input(func, x, 3, d, weight_ih)
    t_steps, n, _ = x.shape
    _check_state(func, h0, "h0", n, hs)
    _check_state(func, c0, "c0", n, hs)
    # Speed (docs/benchmarks.md): the work that does not depend on h_prev is done for all T
    # steps at once (one product for every x_t W_ih^T); the loop does one (N, H) @ (H, 4H)
    # product and ten small in-place NumPy calls per step, writing into preallocated arrays.
    dtype = np.result_type(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh)
    gates = x.reshape(t_steps * n, d) @ weight_ih.T  # (T*N, 4H): x_t W_ih^T for every t
    gates = gates.astype(dtype, copy=False)
    gates += bias_ih + bias_hh
    gates = gates.reshape(t_steps, n, 4 * hs)  # turned into the gate values ifgo, step by step
    weight_hh_t = np.ascontiguousarray(weight_hh.T)  # (H, 4H), copied once: a faster product in the loop
    h_all = np.empty((t_steps + 1, n, hs), dtype=dtype)  # h_all[0] = h0, h_all[t + 1] = h_t
    c_all = np.empty_like(h_all)  # so that "the previous state" is the view h_all[:-1]
    tanh_c_all = np.empty((t_steps, n, hs), dtype=dtype)
    h_all[0], c_all[0] = h0, c0
    scale_shift = _gate_scale_shift(hs, dtype)
    for t in range(t_steps):
        gates[t] += h_all[t] @ weight_hh_t  # a_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T
        _lstm_cell(gates[t], c_all[t], h_all[t + 1], c_all[t + 1], tanh_c_all[t], scale_shift)
    cache = (x, weight_ih, weight_hh, h_all, c_all, gates, tanh_c_all)
    return h_all[1:], c_all[-1], cache


def lstm_backward(dh_all, cache, dh_n=None, dc_n=None):
    """Back-propagation through time for ``lstm_forward``.

    ``dh_all`` is the gradient on every step's h (None for zeros); ``dh_n`` and
    ``dc_n`` optional gradients on the final states (h_n = h_all[-1], c_n).
    Returns (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    Shapes: dh_all (T, N, H), dh_n (N, H), dc_n (N, H) -> dx (T, N, D),
    dh0 (N, H), dc0 (N, H), dweight_ih (4H, D), dweight_hh (4H, H),
    dbias_ih (4H,), dbias_hh (4H,).
    Twin: torch.autograd through torch.nn.LSTM.
    """
    x, weight_ih, weight_hh, h_all, c_all, ifgo_all, tanh_c_all = cache
    t_steps, n, hs = tanh_c_all.shape
    dh_all, (dh_next, dc_next) = _check_upstream(
        "lstm_backward", dh_all, dh_n, (t_steps, n, hs), extra=(("dc_n", dc_n),), dtype=h_all.dtype
    )
    # Speed: only dh and dc carry the recursion. Every other factor of the chain rule
    # is known from the forward pass, so it is computed for all T steps in a few big
    # NumPy calls before the loop; each step then costs six small calls and one product.
    da_all, dc_dh_all = _lstm_local_grads(c_all[:-1], ifgo_all, tanh_c_all)  # (T, N, 4H), (T, N, H)
    f_all = ifgo_all[..., hs : 2 * hs]
    for t in reversed(range(t_steps)):
        _, dc_next = _lstm_step_grads(dh_all[t] + dh_next, dc_next, da_all[t], dc_dh_all[t], f_all[t])
        dh_next = da_all[t] @ weight_hh  # da_all[t] now holds da_t
    dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh = _input_and_weight_grads(
        x, h_all[:-1], da_all, da_all, weight_ih, dh_next
    )
    return dx, dh0, dc_next, dweight_ih, dweight_hh, dbias_ih, dbias_hh


# ----------------------------------------------------------------------------
# The slides' formulation: one matrix W (4H, D+H), gates (i, f, o, g)
# ----------------------------------------------------------------------------


def _swap_g_o(a):
    """Swap the 3rd and 4th gate blocks along axis 0: (i, f, g, o) <-> (i, f, o, g)."""
    hs = a.shape[0] // 4
    return np.concatenate([a[: 2 * hs], a[3 * hs :], a[2 * hs : 3 * hs]], axis=0)


def lstm_weights_to_slides(weight_ih, weight_hh, bias_ih, bias_hh):
    """Torch-layout LSTM weights -> the slides' single matrix W and bias b.

    W = concatenate([weight_ih, weight_hh], axis=1) with the gate rows put
    in the slides' order (i, f, o, g); b = bias_ih + bias_hh in that order
    (the slides have no bias: it is zero for a bias-free torch LSTM).
    Shapes: weight_ih (4H, D), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,)
    -> W (4H, D + H) ([4n x 2n] when D == H == n), b (4H,).
    Twin: none; the parameters of torch.nn.LSTM / torch.nn.LSTMCell.
    """
    _check_weights("lstm_weights_to_slides", weight_ih, weight_hh, bias_ih, bias_hh, 4, "(i, f, g, o)")
    weight = np.concatenate([weight_ih, weight_hh], axis=1)
    return _swap_g_o(weight), _swap_g_o(bias_ih + bias_hh)


def lstm_weights_from_slides(W, b=None):
    """The slides' W (gates i, f, o, g) and optional b -> torch-layout weights.

    Returns (weight_ih, weight_hh, bias_ih, bias_hh), the argument order of
    ``lstm_step_forward``; the bias goes into bias_ih and bias_hh is zero
    (torch only ever uses their sum). For a module:
    ``lstm.load_state_dict(dict(zip(PARAM_NAMES, lstm_weights_from_slides(W, b), strict=True)))``.
    Shapes: W (4H, D + H), b (4H,) -> weight_ih (4H, D), weight_hh (4H, H),
    bias_ih (4H,), bias_hh (4H,).
    Twin: none; the parameters of torch.nn.LSTM / torch.nn.LSTMCell.
    """
    func = "lstm_weights_from_slides"
    check_array(W, "W", func, ndim=2, shape_doc="(4H, D + H)", dtype_kind="f")
    rows, cols = W.shape
    if rows % 4 or cols <= rows // 4:
        _fail(ValueError, func, "W of shape (4H, D + H) with D >= 1", f"shape {W.shape}", None)
    hs = rows // 4
    if b is None:
        b = np.zeros(rows, dtype=W.dtype)
    _check_vector(func, b, "b", rows, "(4H,)", "one bias per row of W")
    W = _swap_g_o(W)
    return W[:, : cols - hs].copy(), W[:, cols - hs :].copy(), _swap_g_o(b), np.zeros_like(b)


def lstm_step_forward_slides(x, h_prev, c_prev, W, b=None):
    """One LSTM step exactly as on the slides: gates from ONE matrix W.

    (i, f, o, g) = (sigm, sigm, sigm, tanh)(W [x; h_prev] + b), then
    c = f * c_prev + i * g and h = o * tanh(c). With row-vector batches
    [x; h_prev] becomes ``concatenate([x, h_prev], axis=1)`` and W v becomes
    ``v @ W.T``. Teaching version (forward only); returns (h, c).
    Shapes: x (N, D), h_prev (N, H), c_prev (N, H), W (4H, D + H), b (4H,)
    -> h (N, H), c (N, H).
    Twin: torch.nn.LSTMCell with the weights of ``lstm_weights_from_slides``.
    """
    func = "lstm_step_forward_slides"
    check_array(W, "W", func, ndim=2, shape_doc="(4H, D + H)", dtype_kind="f")
    hs = W.shape[0] // 4
    check_array(x, "x", func, ndim=2, shape_doc="(N, D)", dtype_kind="f")
    _check_state(func, h_prev, "h_prev", x.shape[0], hs)
    _check_state(func, c_prev, "c_prev", x.shape[0], hs)
    check_shape(W, (4 * hs, x.shape[1] + hs), "W", func, "W is (4H, D + H) with rows (i, f, o, g)")
    stacked = np.concatenate([x, h_prev], axis=1)
    z = stacked @ W.T
    if b is not None:
        _check_vector(func, b, "b", 4 * hs, "(4H,)", "one bias per row of W")
        z = z + b
    i = _sigmoid(z[:, :hs])
    f = _sigmoid(z[:, hs : 2 * hs])
    o = _sigmoid(z[:, 2 * hs : 3 * hs])
    g = np.tanh(z[:, 3 * hs :])
    c = f * c_prev + i * g
    return o * np.tanh(c), c


# ----------------------------------------------------------------------------
# GRU (torch's gate order r, z, n)
# ----------------------------------------------------------------------------


def _gru_cell(ax, h_prev, weight_hh, bias_hh):
    """GRU maths given ax = x W_ih^T + b_ih (N, 3H); returns (h, rz, n, hn)."""
    hs = h_prev.shape[1]
    ah = h_prev @ weight_hh.T + bias_hh
    rz = _sigmoid(ax[:, : 2 * hs] + ah[:, : 2 * hs])
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
    x, h_prev, weight_ih, weight_hh, rz, n, hn = cache
    _check_dout("gru_step_backward", dh, h_prev.shape)
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
    x, h0, weight_ih, weight_hh, h_all, rz_all, n_all, hn_all = cache
    dh_all, (dh_next,) = _check_upstream("gru_backward", dh_all, dh_n, h_all.shape, dtype=h_all.dtype)
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
# Embedding and gradient clipping
# ----------------------------------------------------------------------------


def embedding_forward(indices, weight):
    """Look up rows of ``weight``: out[...] = weight[indices[...]].

    Returns (out, cache). Indices may have any shape, e.g. (T, N) token ids.
    Shapes: indices (...) integers in [0, num_embeddings),
    weight (num_embeddings, embedding_dim) -> out (..., embedding_dim).
    Twin: torch.nn.functional.embedding (torch.nn.Embedding).
    """
    func = "embedding_forward"
    check_array(weight, "weight", func, ndim=2, shape_doc="(num_embeddings, embedding_dim)", dtype_kind="f")
    check_array(
        indices,
        "indices",
        func,
        dtype_kind="iu",
        fix="indices are token ids; cast them, e.g. indices.astype(np.int64)",
    )
    num = weight.shape[0]
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= num:
        _fail(
            ValueError,
            func,
            f"indices in [0, {num}) for a weight with num_embeddings={num}",
            f"values from {low} to {high}",
            "map tokens to ids 0..num_embeddings-1 or make the table bigger",
        )
    return weight[indices], (indices, weight.shape)


def embedding_backward(dout, cache):
    """Gradient of the table: rows looked up several times add up.

    Returns dweight (there is no gradient with respect to integer indices).
    Shapes: dout (..., embedding_dim) -> dweight (num_embeddings, embedding_dim).
    Twin: torch.autograd through torch.nn.functional.embedding.
    """
    indices, weight_shape = cache
    _check_dout("embedding_backward", dout, indices.shape + (weight_shape[1],), "dout")
    dweight = np.zeros(weight_shape, dtype=dout.dtype)
    np.add.at(dweight, indices.ravel(), dout.reshape(-1, weight_shape[1]))
    return dweight


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
    else:
        arrays = list(grads)
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

    def _time_major(self, x, name, func):
        check_array(x, name, func, ndim=3, shape_doc="(N, T, H)" if self.batch_first else "(T, N, H)")
        return x.swapaxes(0, 1) if self.batch_first else x

    def _input(self, x, func):
        doc = "(N, T, D)" if self.batch_first else "(T, N, D)"
        fix = None
        if getattr(x, "ndim", None) == 2:
            example = "x[None]" if self.batch_first else "x[:, None]"
            fix = f"for one sequence add a batch axis, e.g. {example}"
        check_array(x, "x", func, ndim=3, shape_doc=doc, dtype_kind="f", fix=fix)
        x = x.swapaxes(0, 1) if self.batch_first else x
        return x, x.shape[1]

    def _zeros_if_none(self, state, n):
        if state is None:
            return np.zeros((n, self.hidden_size), dtype=self.params["weight_hh_l0"].dtype)
        return state

    def _output(self, h_all):
        return h_all.swapaxes(0, 1) if self.batch_first else h_all

    def _start_backward(self, dh_all, func):
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
        h_all, self._cache = rnn_forward(x, self._zeros_if_none(h0, n), *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def backward(self, dh_all, dh_n=None):
        dh_all = self._start_backward(dh_all, "RNN.backward")
        dx, self.dh0, *grads = rnn_backward(dh_all, self._cache, dh_n)
        return self._finish_backward(dx, grads)


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
        h_all, self._cache = gru_forward(x, self._zeros_if_none(h0, n), *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def backward(self, dh_all, dh_n=None):
        dh_all = self._start_backward(dh_all, "GRU.backward")
        dx, self.dh0, *grads = gru_backward(dh_all, self._cache, dh_n)
        return self._finish_backward(dx, grads)


class LSTM(_Recurrent):
    """Single-layer LSTM; parameters named and shaped like torch.nn.LSTM's (gates i, f, g, o).

    ``forward(x, h0=None, c0=None)`` returns every step's hidden state and
    keeps the final states in ``self.h_n`` and ``self.c_n``;
    ``backward(dh_all, dh_n=None, dc_n=None)`` fills ``self.grads``, keeps
    ``self.dh0`` and ``self.dc0`` and returns dx. ``slides_weights()`` gives
    the slides' single matrix W and bias b. Init U(-1/sqrt(H), 1/sqrt(H)).
    Shapes: x (T, N, D) ((N, T, D) if batch_first), h0, c0 (N, H) -> (T, N, H).
    Twin: torch.nn.LSTM(input_size, hidden_size) (course_lib.twins.recurrent.torch_lstm_like).
    """

    gates = 4

    def __init__(self, input_size, hidden_size, *, batch_first=False, rng=None, dtype=np.float64):
        super().__init__(input_size, hidden_size, batch_first=batch_first, rng=rng, dtype=dtype)
        self.c_n = None
        self.dc0 = None

    def forward(self, x, h0=None, c0=None):
        x, n = self._input(x, "LSTM.forward")
        h0, c0 = self._zeros_if_none(h0, n), self._zeros_if_none(c0, n)
        h_all, self.c_n, self._cache = lstm_forward(x, h0, c0, *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def slides_weights(self):
        """The parameters as the slides' single matrix W and bias b (gate rows i, f, o, g).

        Shapes: -> W (4H, D + H), b (4H,).
        Twin: none; see ``lstm_weights_to_slides``.
        """
        return lstm_weights_to_slides(*self._weights())

    def backward(self, dh_all, dh_n=None, dc_n=None):
        dh_all = self._start_backward(dh_all, "LSTM.backward")
        dx, self.dh0, self.dc0, *grads = lstm_backward(dh_all, self._cache, dh_n, dc_n)
        return self._finish_backward(dx, grads)


class Embedding(Module):
    """A lookup table of learned vectors, like torch.nn.Embedding.

    The parameter is ``weight`` (num_embeddings, embedding_dim), initialised
    N(0, 1) as in torch. ``backward(dout)`` fills ``grads["weight"]`` and
    returns None: integer indices have no gradient.
    Shapes: indices (...) integers -> (..., embedding_dim).
    Twin: torch.nn.Embedding(num_embeddings, embedding_dim)
    (course_lib.twins.recurrent.torch_embedding_like).
    """

    def __init__(self, num_embeddings, embedding_dim, *, rng=None, dtype=np.float64):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", "Embedding", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", "Embedding", minimum=1)
        rng = check_rng(rng, "Embedding")
        shape = (self.num_embeddings, self.embedding_dim)
        self.params["weight"] = rng.standard_normal(shape).astype(dtype)
        self.grads["weight"] = np.zeros(shape, dtype=dtype)
        self._cache = None

    def forward(self, indices):
        out, self._cache = embedding_forward(indices, self.params["weight"])
        return out

    def backward(self, dout):
        if self._cache is None:
            _fail(
                RuntimeError,
                "Embedding.backward",
                "a forward pass first",
                "backward with no cache",
                "call forward(indices)",
            )
        self.grads["weight"][...] = embedding_backward(dout, self._cache)
        return None
