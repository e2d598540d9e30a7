"""The LSTM from scratch, in torch's layout (gate blocks i, f, g, o), and in the slides' one.

The shapes and the step / sequence pairs are those of every recurrent cell
(see ``course_lib.scratch.rnn``): x (T, N, D), states (N, H), weight_ih
(4H, D), weight_hh (4H, H), biases (4H,).

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

from course_lib.checks import _fail, check_array, check_cache, check_dout, check_shape, named_errors
from course_lib.scratch.layers import sigmoid
from course_lib.scratch.rnn import (
    _check_input,
    _check_state,
    _check_upstream,
    _check_vector,
    _check_weights,
    _input_and_weight_grads,
    _Recurrent,
)

# ----------------------------------------------------------------------------
# LSTM (torch's gate order i, f, g, o)
# ----------------------------------------------------------------------------


def _gate_scale_shift(hs: int, dtype):
    """Per-column constants that turn one tanh into the four gate activations (i, f, g, o).

    sigmoid(a) = (1 + tanh(a / 2)) / 2, so every gate is ``tanh(a * scale) * scale + shift``
    with scale = 1/2, shift = 1/2 for the sigmoid gates i, f, o and scale = 1, shift = 0
    for g. (Halving is exact in floating point.)
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
    func = "lstm_step_backward"
    x, h_prev, c_prev, weight_ih, weight_hh, ifgo, tanh_c = check_cache(
        cache, func, "lstm_step_forward", 7, {0: 2, 1: 2, 2: 2, 5: 2, 6: 2}
    )
    check_dout(dh, h_prev.shape, func, "dh")
    if dc is None:
        dc = np.zeros_like(c_prev)
    check_dout(dc, c_prev.shape, func, "dc")
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
    func = "lstm_backward"
    x, weight_ih, weight_hh, h_all, c_all, ifgo_all, tanh_c_all = check_cache(
        cache, func, "lstm_forward", 7, {0: 3, 3: 3, 4: 3, 5: 3, 6: 3}
    )
    t_steps, n, hs = tanh_c_all.shape
    dh_all, (dh_next, dc_next) = _check_upstream(
        func, dh_all, dh_n, (t_steps, n, hs), extra=(("dc_n", dc_n),), dtype=h_all.dtype
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
    The inputs are the parameters of torch.nn.LSTM / torch.nn.LSTMCell.
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
    The outputs are the parameters of torch.nn.LSTM / torch.nn.LSTMCell.
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
    i = sigmoid(z[:, :hs])
    f = sigmoid(z[:, hs : 2 * hs])
    o = sigmoid(z[:, 2 * hs : 3 * hs])
    g = np.tanh(z[:, 3 * hs :])
    c = f * c_prev + i * g
    return o * np.tanh(c), c


# ----------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------


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
        with named_errors("LSTM.forward"):
            h_all, self.c_n, self._cache = lstm_forward(x, h0, c0, *self._weights())
        self.h_n = h_all[-1]
        return self._output(h_all)

    def slides_weights(self):
        """The parameters as the slides' single matrix W and bias b (gate rows i, f, o, g).

        Shapes: -> W (4H, D + H), b (4H,). See ``lstm_weights_to_slides``.
        """
        return lstm_weights_to_slides(*self._weights())

    def backward(self, dh_all, dh_n=None, dc_n=None):
        dh_all = self._start_backward(dh_all, "LSTM.backward")
        with named_errors("LSTM.backward"):
            dx, self.dh0, self.dc0, *grads = lstm_backward(dh_all, self._cache, dh_n, dc_n)
        return self._finish_backward(dx, grads)
