"""PyTorch twins of the scratch recurrent modules, and the "prove they agree" helper.

``torch_lstm_like(lstm)`` builds a ``torch.nn.LSTM`` with the scratch
module's sizes and a copy of its weights (float64 by default); likewise
``torch_rnn_like``, ``torch_gru_like``, ``torch_embedding_like`` and the
dispatcher ``torch_like``. ``compare_recurrent`` runs both on the same
input and upstream gradients and returns the largest absolute difference
of every output, final state and gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.checks import _fail, check_int, named_errors
from course_lib.scratch.recurrent import GRU, LSTM, RNN, Embedding


def _check_module(module, cls, func: str, dtype) -> None:
    """``module`` is a scratch ``cls`` (tuple: any of them); ``dtype`` a floating torch dtype."""
    classes = cls if isinstance(cls, tuple) else (cls,)
    if not isinstance(module, classes):
        names = ", ".join(c.__name__ for c in classes[:-1])
        names = f"{names} or {classes[-1].__name__}" if names else classes[-1].__name__
        hint = "it is already a torch module" if isinstance(module, torch.nn.Module) else None
        _fail(TypeError, func, f"a scratch {names}", type(module).__name__, hint)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        _fail(TypeError, func, "dtype to be a floating torch.dtype", repr(dtype), "e.g. dtype=torch.float64")


def _copy_weights(scratch, twin):
    """Load a copy of the scratch parameters into the torch module (same names, no transposes)."""
    state = scratch.state_dict()  # copies
    twin.load_state_dict({name: torch.from_numpy(value) for name, value in state.items()})
    return twin


def torch_rnn_like(rnn: RNN, dtype=torch.float64) -> torch.nn.RNN:
    """A torch.nn.RNN (tanh, one layer) holding a copy of a scratch RNN's weights.

    Shapes: the same as ``course_lib.scratch.recurrent.RNN`` (h_0 is (1, N, H) in torch).
    Twin: course_lib.scratch.rnn.RNN (whose weights it copies into a torch.nn.RNN).
    """
    _check_module(rnn, RNN, "torch_rnn_like", dtype)
    twin = torch.nn.RNN(
        rnn.input_size, rnn.hidden_size, nonlinearity="tanh", batch_first=rnn.batch_first, dtype=dtype
    )
    return _copy_weights(rnn, twin)


def torch_lstm_like(lstm: LSTM, dtype=torch.float64) -> torch.nn.LSTM:
    """A torch.nn.LSTM (one layer) holding a copy of a scratch LSTM's weights.

    Shapes: the same as ``course_lib.scratch.recurrent.LSTM`` (h_0, c_0 are (1, N, H) in torch).
    Twin: course_lib.scratch.lstm.LSTM (whose weights it copies into a torch.nn.LSTM).
    """
    _check_module(lstm, LSTM, "torch_lstm_like", dtype)
    twin = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=lstm.batch_first, dtype=dtype)
    return _copy_weights(lstm, twin)


def torch_gru_like(gru: GRU, dtype=torch.float64) -> torch.nn.GRU:
    """A torch.nn.GRU (one layer) holding a copy of a scratch GRU's weights.

    Shapes: the same as ``course_lib.scratch.recurrent.GRU`` (h_0 is (1, N, H) in torch).
    Twin: course_lib.scratch.gru.GRU (whose weights it copies into a torch.nn.GRU).
    """
    _check_module(gru, GRU, "torch_gru_like", dtype)
    twin = torch.nn.GRU(gru.input_size, gru.hidden_size, batch_first=gru.batch_first, dtype=dtype)
    return _copy_weights(gru, twin)


def torch_embedding_like(embedding: Embedding, dtype=torch.float64) -> torch.nn.Embedding:
    """A torch.nn.Embedding holding a copy of a scratch Embedding's table.

    Shapes: weight (num_embeddings, embedding_dim).
    Twin: course_lib.scratch.embedding.Embedding (whose weight it copies into a torch.nn.Embedding).
    """
    _check_module(embedding, Embedding, "torch_embedding_like", dtype)
    twin = torch.nn.Embedding(embedding.num_embeddings, embedding.embedding_dim, dtype=dtype)
    return _copy_weights(embedding, twin)


_BUILDERS = (
    (LSTM, torch_lstm_like),
    (GRU, torch_gru_like),
    (RNN, torch_rnn_like),
    (Embedding, torch_embedding_like),
)


def torch_like(module, dtype=torch.float64):
    """The torch twin of a scratch RNN, LSTM, GRU or Embedding, weights copied.

    Shapes: as the scratch module.
    Twin: course_lib.scratch.recurrent.RNN / LSTM / GRU / Embedding.
    """
    _check_module(module, (RNN, LSTM, GRU, Embedding), "torch_like", dtype)
    for kind, build in _BUILDERS:
        if isinstance(module, kind):
            return build(module, dtype)
    return None  # unreachable: _check_module refused every other type


def _max_diff(a, b) -> float:
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else b
    return float(np.max(np.abs(np.asarray(a) - b)))


def compare_recurrent(scratch, x, h0=None, c0=None, seed: int = 0) -> dict[str, float]:
    """Run a scratch module and its torch twin forward and backward; report max |differences|.

    The loss is sum(output * G) (+ sum(h_n * G_h) + sum(c_n * G_c)) with
    random fixed G, so every output, final state, input gradient and weight
    gradient is compared. Returns {"output": ..., "h_n": ..., "dx": ...,
    "dh0": ..., "weight_ih_l0": ..., ...}; all should be ~1e-15 in float64.
    Shapes: x (T, N, D) (or (N, T, D) if batch_first; integer indices for
    an Embedding), h0, c0 (N, H) -> a dict of floats.
    Twin: course_lib.scratch.recurrent.RNN / LSTM / GRU / Embedding (against torch_like of it).
    """
    func = "compare_recurrent"
    _check_module(scratch, (RNN, LSTM, GRU, Embedding), func, torch.float64)
    rng = np.random.default_rng(check_int(seed, "seed", func, minimum=0))
    if not isinstance(x, np.ndarray) or (x.ndim != 3 and not isinstance(scratch, Embedding)):
        doc = "integer indices" if isinstance(scratch, Embedding) else "(T, N, D) (or (N, T, D) if batch_first)"
        got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        _fail(TypeError if not isinstance(x, np.ndarray) else ValueError, func, f"x as a numpy array of shape {doc}",
              got, "pass the same input you would give the scratch module")
    twin = torch_like(scratch)
    with named_errors(func):
        return _compare(scratch, twin, x, h0, c0, rng)


def _compare(scratch, twin, x, h0, c0, rng) -> dict[str, float]:
    if isinstance(scratch, Embedding):
        out = scratch(x)
        dout = rng.standard_normal(out.shape)
        scratch.backward(dout)
        out_t = twin(torch.from_numpy(x))
        (out_t * torch.from_numpy(dout)).sum().backward()
        return {
            "output": _max_diff(out, out_t),
            "weight": _max_diff(scratch.grads["weight"], twin.weight.grad),
        }

    n = x.shape[0] if scratch.batch_first else x.shape[1]
    shape = (n, scratch.hidden_size)
    h0 = np.zeros(shape) if h0 is None else h0
    states = [h0] + ([np.zeros(shape) if c0 is None else c0] if isinstance(scratch, LSTM) else [])
    out = scratch(x, *states)
    final = [scratch.h_n] + ([scratch.c_n] if isinstance(scratch, LSTM) else [])
    dout = rng.standard_normal(out.shape)
    dfinal = [rng.standard_normal(shape) for _ in final]
    dx = scratch.backward(dout, *dfinal)
    dstates = [scratch.dh0] + ([scratch.dc0] if isinstance(scratch, LSTM) else [])

    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s[None], requires_grad=True) for s in states]
    out_t, final_t = twin(x_t, tuple(states_t) if len(states_t) == 2 else states_t[0])
    final_t = list(final_t) if isinstance(final_t, tuple) else [final_t]
    loss = (out_t * torch.from_numpy(dout)).sum()
    for f_t, g in zip(final_t, dfinal, strict=True):
        loss = loss + (f_t[0] * torch.from_numpy(g)).sum()
    loss.backward()

    names = ["h", "c"][: len(final)]
    diffs = {"output": _max_diff(out, out_t), "dx": _max_diff(dx, x_t.grad)}
    for name, f, f_t, ds, s_t in zip(names, final, final_t, dstates, states_t, strict=True):
        diffs[f"{name}_n"] = _max_diff(f, f_t[0])
        diffs[f"d{name}0"] = _max_diff(ds, s_t.grad[0])
    for name, param in twin.named_parameters():
        diffs[name] = _max_diff(scratch.grads[name], param.grad)
    return diffs
