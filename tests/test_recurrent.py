"""Tests of course_lib.scratch.recurrent against torch (float64) and numeric gradients."""

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_diffs_small, check_op, max_diff, rng_for
from torch.func import functional_call

from course_lib.scratch.recurrent import (
    GRU,
    LSTM,
    PARAM_NAMES,
    RNN,
    Embedding,
    clip_grad_norm,
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    lstm_step_forward_slides,
    lstm_weights_from_slides,
    lstm_weights_to_slides,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)
from course_lib.twins.recurrent import compare_recurrent, torch_like, torch_lstm_like

# (T, N, D, H): single step, single sequence, one feature, D != H both ways, odd sizes.
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 3), (5, 2, 1, 4), (3, 3, 7, 2), (7, 5, 6, 6)]
TORCH_SEQ = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
TORCH_CELL = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
SEQ = {
    "rnn": (rnn_forward, rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}
STEP = {
    "rnn": (rnn_step_forward, rnn_step_backward),
    "lstm": (lstm_step_forward, lstm_step_backward),
    "gru": (gru_step_forward, gru_step_backward),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def random_weights(rng, kind, d, h):
    rows = GATES[kind] * h
    return [rng.uniform(-0.7, 0.7, size=s) for s in [(rows, d), (rows, h), (rows,), (rows,)]]


# ----------------------------------------------------------------------------
# Sequence functions and step functions vs torch (weights copied torch -> scratch)
# ----------------------------------------------------------------------------


def sequence_pair(kind):
    """The scratch sequence functions as one forward/backward pair with outputs (h_all, h_n[, c_n])."""
    forward, backward = SEQ[kind]

    def pair_forward(x, *rest):
        if kind == "lstm":
            h_all, c_n, cache = forward(x, *rest)
            return (h_all, h_all[-1], c_n), cache
        h_all, cache = forward(x, *rest)
        return (h_all, h_all[-1]), cache

    def pair_backward(douts, cache):
        return backward(douts[0], cache, *douts[1:])

    return pair_forward, pair_backward


def sequence_twin(kind, module):
    """torch.nn.RNN / LSTM / GRU as a function of (x, h0[, c0], *weights) with the same outputs."""
    n_states = 2 if kind == "lstm" else 1

    def fn(x, *rest):
        states, weights = [s[None] for s in rest[:n_states]], rest[n_states:]
        params = dict(zip(PARAM_NAMES, weights, strict=True))
        out, final = functional_call(module, params, (x, tuple(states) if kind == "lstm" else states[0]))
        finals = final if kind == "lstm" else (final,)
        return (out, *(f[0] for f in finals))

    return fn


def step_pair(kind):
    """The scratch step functions as a pair; the LSTM's has outputs (h_next, c_next)."""
    forward, backward = STEP[kind]
    if kind != "lstm":
        return forward, backward

    def pair_forward(*inputs):
        h_next, c_next, cache = forward(*inputs)
        return (h_next, c_next), cache

    return pair_forward, lambda douts, cache: backward(*douts, cache)


def step_twin(kind, cell):
    """torch.nn.RNNCell / LSTMCell / GRUCell as a function of (x, h[, c], *weights)."""
    n_states = 2 if kind == "lstm" else 1

    def fn(x, *rest):
        states, weights = rest[:n_states], rest[n_states:]
        params = {name[:-3]: w for name, w in zip(PARAM_NAMES, weights, strict=True)}
        return functional_call(cell, params, (x, tuple(states) if kind == "lstm" else states[0]))

    return fn


def sequence_inputs(rng, kind, t, n, d, h, weights):
    states = [rng.standard_normal((n, h)) for _ in range(2 if kind == "lstm" else 1)]
    return [rng.standard_normal((t, n, d)), *states, *weights]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES)
def test_sequence_matches_torch(kind, shape):
    t, n, d, h = shape
    torch.manual_seed(sum(shape))
    twin = TORCH_SEQ[kind](d, h, dtype=torch.float64)
    weights = [getattr(twin, name).detach().numpy().copy() for name in PARAM_NAMES]
    rng = np.random.default_rng(sum(shape) + GATES[kind])
    inputs = sequence_inputs(rng, kind, t, n, d, h, weights)
    check_op(*sequence_pair(kind), sequence_twin(kind, twin), inputs=inputs, rng=rng)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES[:5])
def test_step_matches_torch_cell(kind, shape):
    _, n, d, h = shape
    torch.manual_seed(7 + sum(shape))
    cell = TORCH_CELL[kind](d, h, dtype=torch.float64)
    weights = [getattr(cell, name[:-3]).detach().numpy().copy() for name in PARAM_NAMES]
    rng = np.random.default_rng(sum(shape))
    states = [rng.standard_normal((n, h)) for _ in range(2 if kind == "lstm" else 1)]
    inputs = [rng.standard_normal((n, d)), *states, *weights]
    check_op(*step_pair(kind), step_twin(kind, cell), inputs=inputs, rng=rng)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_dh_all_none_means_only_final_state_gradient(kind):
    rng = np.random.default_rng(3)
    t, n, d, h = 4, 2, 3, 5
    inputs = sequence_inputs(rng, kind, t, n, d, h, random_weights(rng, kind, d, h))
    forward, backward = sequence_pair(kind)
    dfinal = [rng.standard_normal((n, h)) for _ in range(2 if kind == "lstm" else 1)]
    _, cache = forward(*inputs)
    zeros = backward((np.zeros((t, n, h)), *dfinal), cache)
    nones = backward((None, *dfinal), cache)
    for name, zero, none in zip(["dx", "dh0", "dc0"][: len(inputs) - 4] + list(PARAM_NAMES), zeros, nones, strict=True):
        assert_close(none, zero, name, tol=0.0)


# ----------------------------------------------------------------------------
# Modules: torch's names, init, batch_first, twins helpers
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (5, 2, 3, 4), (3, 3, 6, 2)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_module_matches_twin(cls, shape, batch_first):
    t, n, d, h = shape
    rng = np.random.default_rng(11)
    module = cls(d, h, batch_first=batch_first, rng=rng)
    x = rng.standard_normal((n, t, d) if batch_first else (t, n, d))
    h0 = rng.standard_normal((n, h))
    diffs = compare_recurrent(module, x, h0=h0, c0=rng.standard_normal((n, h)), seed=5)
    expected = {"output", "dx", "h_n", "dh0", *PARAM_NAMES} | ({"c_n", "dc0"} if cls is LSTM else set())
    assert set(diffs) == expected
    assert_diffs_small(diffs)
    # zero initial state by default, like torch
    assert_diffs_small(compare_recurrent(module, x, seed=6))


def test_module_state_dict_matches_torch_and_copies():
    for cls, twin_cls in [(RNN, torch.nn.RNN), (LSTM, torch.nn.LSTM), (GRU, torch.nn.GRU)]:
        module = cls(3, 5, rng=np.random.default_rng(0))
        twin_state = twin_cls(3, 5).state_dict()
        ours = module.state_dict()
        assert list(ours) == list(twin_state)
        assert all(ours[k].shape == tuple(twin_state[k].shape) for k in ours)
    lstm = LSTM(3, 5, rng=np.random.default_rng(0))
    twin = torch_lstm_like(lstm)
    lstm.params["weight_ih_l0"][...] = 0.0
    assert np.abs(twin.weight_ih_l0.detach().numpy()).max() > 0  # a copy, not a view
    lstm.load_state_dict(twin.state_dict())
    assert_close(lstm.params["weight_ih_l0"], twin.weight_ih_l0, "weight_ih_l0", tol=0.0)


def test_module_init_matches_torch_distribution():
    h = 16
    lstm = LSTM(7, h, rng=np.random.default_rng(1))
    bound = 1 / np.sqrt(h)
    values = np.concatenate([p.ravel() for p in lstm.params.values()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.1 * bound / np.sqrt(3)
    emb = Embedding(400, 10, rng=np.random.default_rng(2)).params["weight"]
    assert abs(emb.mean()) < 0.05 and abs(emb.std() - 1.0) < 0.05
    assert RNN(2, 3, dtype=np.float32).params["weight_hh_l0"].dtype == np.float32


def test_module_backward_overwrites_grads():
    rng = np.random.default_rng(4)
    gru = GRU(3, 4, rng=rng)
    x = rng.standard_normal((5, 2, 3))
    dout = rng.standard_normal((5, 2, 4))
    gru(x)
    gru.backward(dout)
    first = {k: v.copy() for k, v in gru.grads.items()}
    grad_arrays = dict(gru.grads)
    gru(x)
    gru.backward(dout)
    for k in PARAM_NAMES:
        assert gru.grads[k] is grad_arrays[k]
        assert_close(gru.grads[k], first[k], k, tol=0.0)


def test_embedding_module_matches_twin():
    rng = np.random.default_rng(8)
    for num, dim, shape in [(5, 3, (6, 4)), (1, 1, (3,)), (9, 7, (2, 3, 4))]:
        emb = Embedding(num, dim, rng=rng)
        indices = rng.integers(0, num, size=shape)
        assert_diffs_small(compare_recurrent(emb, indices))


def _torch_embedding(indices, weight):
    return torch.nn.functional.embedding(indices, weight)


def test_embedding_functions_match_torch_with_repeats():
    rng = np.random.default_rng(9)
    weight = rng.standard_normal((4, 3))
    indices = np.array([[0, 3, 3], [3, 1, 0]], dtype=np.int32)  # repeated rows must add up
    result = check_op(embedding_forward, embedding_backward, _torch_embedding, inputs=[indices, weight], rng=rng)
    assert np.all(result.grads[0][2] == 0.0)


# ----------------------------------------------------------------------------
# The slides' single-matrix LSTM
# ----------------------------------------------------------------------------


def slides_literal(x, h_prev, c_prev, W, b):
    """The slides' equations one column vector at a time (no batching, no cleverness)."""
    h_out, c_out = [], []
    n = W.shape[0] // 4
    for k in range(x.shape[0]):
        z = W @ np.concatenate([x[k], h_prev[k]]) + b
        i, f, o = (1 / (1 + np.exp(-z[j * n : (j + 1) * n])) for j in range(3))
        g = np.tanh(z[3 * n :])
        c = f * c_prev[k] + i * g
        h_out.append(o * np.tanh(c))
        c_out.append(c)
    return np.array(h_out), np.array(c_out)


@pytest.mark.parametrize("d, h, n", [(4, 4, 3), (2, 5, 1), (6, 3, 2)])
def test_slides_formulation_equals_torch_layout(d, h, n):
    rng = np.random.default_rng(d * 10 + h)
    torch.manual_seed(d + h)
    cell = torch.nn.LSTMCell(d, h, dtype=torch.float64)
    weights = [getattr(cell, name[:-3]).detach().numpy().copy() for name in PARAM_NAMES]
    x = rng.standard_normal((n, d))
    h_prev, c_prev = rng.standard_normal((n, h)), rng.standard_normal((n, h))

    W, b = lstm_weights_to_slides(*weights)
    assert W.shape == (4 * h, d + h)  # [4n x 2n] when d == h
    h_s, c_s = lstm_step_forward_slides(x, h_prev, c_prev, W, b)
    h_lit, c_lit = slides_literal(x, h_prev, c_prev, W, b)
    h_lib, c_lib, _ = lstm_step_forward(x, h_prev, c_prev, *weights)
    h_t, c_t = cell(torch.tensor(x), (torch.tensor(h_prev), torch.tensor(c_prev)))
    for name, got in (("slides", h_s), ("literal", h_lit), ("library", h_lib)):
        assert_close(got, h_t, "h " + name)
    for name, got in (("slides", c_s), ("literal", c_lit), ("library", c_lib)):
        assert_close(got, c_t, "c " + name)

    # W is concatenate([weight_ih, weight_hh], axis=1) with torch's g and o blocks swapped
    stacked = np.concatenate(weights[:2], axis=1)
    assert np.array_equal(W[: 2 * h], stacked[: 2 * h])
    assert np.array_equal(W[2 * h : 3 * h], stacked[3 * h :])  # o
    assert np.array_equal(W[3 * h :], stacked[2 * h : 3 * h])  # g
    # ...and forgetting the swap gives a different (wrong) cell
    h_wrong, _ = lstm_step_forward_slides(x, h_prev, c_prev, stacked, weights[2] + weights[3])
    assert max_diff(h_wrong, h_t) > 1e-3


def test_slides_weights_round_trip_and_module():
    rng = np.random.default_rng(12)
    d, h = 3, 4
    W, b = rng.standard_normal((4 * h, d + h)), rng.standard_normal(4 * h)
    weights = lstm_weights_from_slides(W, b)
    assert [w.shape for w in weights] == [(4 * h, d), (4 * h, h), (4 * h,), (4 * h,)]
    W2, b2 = lstm_weights_to_slides(*weights)
    assert np.array_equal(W, W2) and np.array_equal(b, b2)
    lstm = LSTM(d, h, rng=rng)
    lstm.load_state_dict(dict(zip(PARAM_NAMES, weights, strict=True)))
    W3, b3 = lstm.slides_weights()
    assert np.array_equal(W, W3) and np.allclose(b, b3, rtol=0, atol=1e-15)
    x = rng.standard_normal((1, 2, d))
    h_all = lstm(x)
    zeros = np.zeros((2, h))
    assert_close(h_all[0], lstm_step_forward_slides(x[0], zeros, zeros, W, b)[0], "h")
    W_no_bias = lstm_weights_from_slides(W)
    assert np.all(W_no_bias[2] == 0) and np.all(W_no_bias[3] == 0)


# ----------------------------------------------------------------------------
# Numeric gradients
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_sequence_backward_matches_numeric_gradient(kind):
    # weights drawn wider than torch's init, so the gates leave their linear range
    rng = rng_for("sequence numeric", kind)
    t, n, d, h = 3, 2, 2, 3
    inputs = sequence_inputs(rng, kind, t, n, d, h, random_weights(rng, kind, d, h))
    check_op(*sequence_pair(kind), sequence_twin(kind, TORCH_SEQ[kind](d, h, dtype=torch.float64)),
             inputs=inputs, rng=rng)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_step_backward_matches_numeric_gradient(kind):
    rng = rng_for("step numeric", kind)
    n, d, h = 2, 3, 2
    states = [rng.standard_normal((n, h)) for _ in range(2 if kind == "lstm" else 1)]
    inputs = [rng.standard_normal((n, d)), *states, *random_weights(rng, kind, d, h)]
    check_op(*step_pair(kind), step_twin(kind, TORCH_CELL[kind](d, h, dtype=torch.float64)), inputs=inputs, rng=rng)


def test_embedding_backward_matches_numeric_gradient():
    rng = np.random.default_rng(23)
    indices = np.array([[1, 1], [3, 0], [1, 2]])
    check_op(embedding_forward, embedding_backward, _torch_embedding, inputs=[indices, rng.standard_normal((4, 3))],
             dout=rng.standard_normal((3, 2, 3)))


# ----------------------------------------------------------------------------
# clip_grad_norm vs torch.nn.utils.clip_grad_norm_
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("scale", [0.3, 10.0])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    rng = np.random.default_rng(31)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2), (1,)]]
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    norm_p = np.linalg.norm(np.concatenate([g.ravel() for g in grads]), ord=norm_type)
    max_norm = scale * norm_p
    total_t = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    total = clip_grad_norm(grads, max_norm, norm_type=norm_type)
    assert_close(total, total_t, "total norm")
    for p, g in zip(params, grads, strict=True):
        assert_close(g, p.grad, "clipped gradient")
    if scale < 1:
        after = np.linalg.norm(np.concatenate([g.ravel() for g in grads]), ord=norm_type)
        assert abs(after - max_norm) < 1e-5


def test_clip_grad_norm_accepts_dict_module_and_empty():
    rng = np.random.default_rng(32)
    grads = {"a": rng.standard_normal((3, 3)), "b": rng.standard_normal(4)}
    before = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    assert_close(clip_grad_norm(grads, 0.5), before, "total norm")
    assert abs(np.sqrt(sum(np.sum(g * g) for g in grads.values())) - 0.5) < 1e-5
    rnn = RNN(2, 3, rng=rng)
    rnn(rng.standard_normal((4, 1, 2)))
    rnn.backward(rng.standard_normal((4, 1, 3)))
    clip_grad_norm(rnn, 1e-3)
    assert np.sqrt(sum(np.sum(g * g) for g in rnn.grads.values())) < 1e-3 + 1e-8
    assert clip_grad_norm([], 1.0) == 0.0


# ----------------------------------------------------------------------------
# Errors that teach
# ----------------------------------------------------------------------------


def expect(exc, pattern, fn, *args, **kwargs):
    """fn(*args) raises exc whose message matches pattern (a regex naming expected and got)."""
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)


def test_bad_sequence_inputs_raise_clear_errors():
    rng = np.random.default_rng(40)
    x, h0, c0 = rng.standard_normal((3, 2, 4)), np.zeros((2, 5)), np.zeros((2, 5))
    w = random_weights(rng, "lstm", 4, 5)
    f = lstm_forward
    expect(
        ValueError,
        r"^lstm_forward: expected x of shape \(T, N, D\), got shape \(3, 4\).*x\[:, None\]",
        f,
        x[:, 0],
        h0,
        c0,
        *w,
    )
    expect(ValueError, r"expected x of shape \(T, N, D\), got shape \(1, 3, 2, 4\)", f, x[None], h0, c0, *w)
    expect(ValueError, r"expected x with D=4 features.*got x of shape \(3, 2, 3\)", f, x[..., :3], h0, c0, *w)
    expect(ValueError, r"expected h0 of shape \(2, 5\), got shape \(2, 6\)", f, x, np.zeros((2, 6)), c0, *w)
    expect(
        ValueError, r"expected h0 of shape \(N, H\), got shape \(1, 2, 5\).*h0\[0\]", f, x, h0[None], c0, *w
    )
    expect(ValueError, r"expected c0 of shape \(2, 5\), got shape \(3, 5\)", f, x, h0, np.zeros((3, 5)), *w)
    expect(
        ValueError,
        r"expected weight_ih with 4\*H rows .*got shape \(19, 4\)",
        f,
        x,
        h0,
        c0,
        w[0][:19],
        *w[1:],
    )
    expect(
        ValueError,
        r"expected weight_hh of shape \(20, 5\), got shape \(20, 4\)",
        f,
        x,
        h0,
        c0,
        w[0],
        w[1][:, :4],
        *w[2:],
    )
    expect(
        ValueError,
        r"expected bias_hh of shape \(20,\), got shape \(5,\); torch.s layout with H=5",
        f,
        x,
        h0,
        c0,
        *w[:3],
        w[3][:5],
    )
    expect(TypeError, r"expected x with a floating dtype, got dtype int64", f, x.astype(np.int64), h0, c0, *w)
    expect(
        TypeError,
        r"expected x to be a numpy.ndarray, got Tensor; this is NumPy code",
        f,
        torch.tensor(x),
        h0,
        c0,
        *w,
    )
    w_rnn = random_weights(rng, "rnn", 3, 3)
    expect(
        ValueError,
        r"^rnn_forward: expected x with D=3 features to match weight_ih of shape \(3, 3\), "
        r"got x of shape \(2, 1, 2\)",
        rnn_forward,
        np.zeros((2, 1, 2)),
        np.zeros((1, 3)),
        *w_rnn,
    )
    w_gru = random_weights(rng, "gru", 3, 2)
    expect(
        ValueError,
        r"^gru_step_forward: expected x of shape \(N, D\), got shape \(3,\).*x\[None\]",
        gru_step_forward,
        np.zeros(3),
        np.zeros((1, 2)),
        *w_gru,
    )


def test_bad_backward_inputs_raise_clear_errors():
    rng = np.random.default_rng(41)
    x, h0, c0 = rng.standard_normal((3, 2, 4)), np.zeros((2, 5)), np.zeros((2, 5))
    h_all, _, cache = lstm_forward(x, h0, c0, *random_weights(rng, "lstm", 4, 5))
    expect(
        ValueError,
        r"^lstm_backward: expected dh_all of shape \(3, 2, 5\), got shape \(3, 2, 4\)",
        lstm_backward,
        np.zeros((3, 2, 4)),
        cache,
    )
    expect(
        ValueError,
        r"expected dc_n of shape \(2, 5\), got shape \(5,\)",
        lstm_backward,
        np.zeros_like(h_all),
        cache,
        dc_n=np.zeros(5),
    )
    expect(ValueError, r"expected a gradient dh_all or dh_n, got None", lstm_backward, None, cache)
    _, step_cache = rnn_step_forward(x[0], np.zeros((2, 3)), *random_weights(rng, "rnn", 4, 3))
    expect(
        ValueError,
        r"^rnn_step_backward: expected dh of the forward output's shape \(2, 3\), got shape \(3, 2\)",
        rnn_step_backward,
        np.zeros((3, 2)),
        step_cache,
    )


def test_bad_embedding_inputs_raise_clear_errors():
    weight = np.zeros((5, 2))
    f = embedding_forward
    expect(
        ValueError, r"expected indices in \[0, 5\) .*got values from 0 to 5", f, np.array([[0, 5]]), weight
    )
    expect(
        ValueError, r"expected indices in \[0, 5\) .*got values from -1 to 2", f, np.array([-1, 2]), weight
    )
    expect(
        TypeError,
        r"expected indices with an integer or unsigned integer dtype, got dtype float64",
        f,
        np.array([0.0, 1.0]),
        weight,
    )
    expect(TypeError, r"got dtype bool", f, np.array([True]), weight)
    expect(
        ValueError,
        r"expected weight of shape \(num_embeddings, embedding_dim\)",
        f,
        np.array([0]),
        np.zeros(5),
    )
    emb = Embedding(5, 2)
    expect(RuntimeError, "Embedding.backward: expected a forward pass first", emb.backward, np.zeros((1, 2)))
    emb(np.array([1, 2, 3]))
    expect(
        ValueError,
        r"^Embedding.backward: expected dout of shape \(3, 2\), got shape \(3, 5\)",  # the method called
        emb.backward,
        np.zeros((3, 5)),
    )


def test_bad_module_inputs_raise_clear_errors():
    expect(ValueError, "^LSTM: expected hidden_size >= 1, got 0", LSTM, 3, 0)
    expect(TypeError, "^GRU: expected input_size to be an int, got float 2.5", GRU, 2.5, 3)
    expect(TypeError, "^RNN: expected rng to be a numpy.random.Generator or None, got int", RNN, 2, 3, rng=0)
    expect(
        RuntimeError, "^RNN.backward: expected a forward pass first", RNN(2, 3).backward, np.zeros((1, 1, 3))
    )
    expect(
        ValueError,
        r"^RNN.forward: expected x of shape \(N, T, D\), got shape \(4, 2\).*x\[None\]",
        RNN(2, 3, batch_first=True),
        np.zeros((4, 2)),
    )
    expect(TypeError, "^torch_like: expected a scratch RNN, LSTM, GRU or Embedding, got dict", torch_like, {})
    expect(
        ValueError,
        r"^lstm_weights_from_slides: expected W of shape \(4H, D \+ H\) with D >= 1",
        lstm_weights_from_slides,
        np.zeros((8, 2)),
    )


def test_bad_clip_inputs_raise_clear_errors():
    expect(
        ValueError, r"^clip_grad_norm: expected max_norm >= 0.0, got -1.0", clip_grad_norm, [np.ones(2)], -1.0
    )
    expect(
        TypeError,
        r"expected grads\[1\] to be a floating numpy.ndarray, got list",
        clip_grad_norm,
        [np.ones(2), [1.0]],
        1.0,
    )
    expect(
        TypeError,
        r"expected grads\[0\] to be a floating numpy.ndarray, got dtype int64",
        clip_grad_norm,
        [np.ones(2, dtype=np.int64)],
        1.0,
    )
    expect(
        ValueError,
        r"expected finite gradients, got a total norm of nan",
        clip_grad_norm,
        [np.array([1.0, np.nan])],
        1.0,
    )
    expect(ValueError, r"expected norm_type > 0.0, got 0.0", clip_grad_norm, [np.ones(2)], 1.0, norm_type=0)
