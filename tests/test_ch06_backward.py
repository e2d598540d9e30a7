"""Chapter 6: the backward exercises (6.5 one RNN step, 6.6 BPTT), the chapter's models and the live widget."""

import time

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.chapters.ch06_rnn_lstm.exercises import EXERCISES, _bptt, check_bptt, check_rnn_step_backward
from course_lib.chapters.ch06_rnn_lstm.models import (
    CharLSTM,
    EnsembleRecurrent,
    SequenceModel,
    TorchCharLSTM,
    bits_per_char,
    caption_inputs,
    eval_columns,
    fit_sampled,
    gradient_profile,
    greedy_captions,
    train_adding_ensemble,
)
from course_lib.chapters.ch06_rnn_lstm.sequences import CharVocab, adding_problem, bigram_bits, unigram_entropy_bits
from course_lib.chapters.ch06_rnn_lstm.widgets import sampling_widget
from course_lib.scratch.rnn import rnn_step_backward
from course_lib.twins.compare import copy_weights

SOLUTION_CODE = ("np.", "@", "axis=", "return ", "** 2", "**2", "for t in", ".sum(")


def _no_solution_code(message):
    return not any(piece in message for piece in SOLUTION_CODE)


# --------------------------------------------------------------------------- 6.5 one step backward


def _step_backward(dh, x, h_prev, h_next, weight_ih, weight_hh, mistake=None):
    """The notebook's solution, with switches for the typical mistakes."""
    da = dh * (1 - h_next**2)
    if mistake == "no tanh":
        da = dh
    elif mistake == "h_prev":
        da = dh * (1 - h_prev**2)
    elif mistake == "1 - h":
        da = dh * (1 - h_next)
    grads = [da @ weight_ih, da @ weight_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0)]
    if mistake == "mean":
        grads[4] = da.mean(axis=0)
    elif mistake == "transposed":
        grads[2] = x.T @ da
    elif mistake == "W_hh.T":
        grads[1] = da @ weight_hh.T
    return tuple(grads)


def test_step_backward_reference_and_library_pass():
    assert check_rnn_step_backward(_step_backward).passed

    def library(dh, x, h_prev, h_next, weight_ih, weight_hh):
        cache = (x, h_prev, h_next, weight_ih, weight_hh)  # what rnn_step_forward keeps
        dx, dh_prev, dw_ih, dw_hh, db, _ = rnn_step_backward(dh, cache)
        return dx, dh_prev, dw_ih, dw_hh, db

    assert check_rnn_step_backward(library).passed


@pytest.mark.parametrize("mistake, hint", [
    ("no tanh", "skipped the tanh"),
    ("h_prev", "THIS step's output"),
    ("1 - h", "not the derivative of tanh"),
    ("mean", "average over the batch"),
    ("transposed", "the transpose of its weight's"),
    ("W_hh.T", "W_hh transposed"),
])
def test_step_backward_names_the_mistake(mistake, hint):
    feedback = check_rnn_step_backward(lambda *a: _step_backward(*a, mistake=mistake))
    assert not feedback.passed and hint in feedback.message, feedback.message
    assert "(section 2: delta_t)" in feedback.message, feedback.message
    assert _no_solution_code(feedback.message), feedback.message


def test_step_backward_reports_an_unknown_difference_and_a_wrong_tuple():
    def off(*args):
        grads = list(_step_backward(*args))
        grads[3] = grads[3] + np.eye(4) * 0.5
        return tuple(grads)

    feedback = check_rnn_step_backward(off)
    assert not feedback.passed and "dweight_hh[" in feedback.message and "0.5" in feedback.message
    assert "no common mistake matches" in feedback.message and "section 2" in feedback.message
    feedback = check_rnn_step_backward(lambda *a: _step_backward(*a)[:4])
    assert not feedback.passed and "return 5 arrays" in feedback.message


# --------------------------------------------------------------------------- 6.6 BPTT


def test_bptt_reference_passes():
    assert check_bptt(_bptt).passed


@pytest.mark.parametrize("switch, hint", [
    ({"carry": False}, "flows back from step t+1"),
    ({"accumulate": False}, "sums over the steps"),
    ({"shift": False}, "off-by-one"),
])
def test_bptt_names_the_mistake(switch, hint):
    feedback = check_bptt(lambda *a: _bptt(*a, **switch))
    assert not feedback.passed and hint in feedback.message, feedback.message
    assert "(section 2)" in feedback.message, feedback.message
    assert _no_solution_code(feedback.message), feedback.message


def test_bptt_zero_dh0_and_unknown_differences():
    def no_dh0(*args):
        dx, dh0, *rest = _bptt(*args)
        return (dx, np.zeros_like(dh0), *rest)

    feedback = check_bptt(no_dh0)
    assert not feedback.passed and "dh0 is zero" in feedback.message and "(section 2)" in feedback.message

    def off(*args):
        dx, *rest = _bptt(*args)
        dx = dx.copy()
        dx[2, 1, 0] += 1.0
        return (dx, *rest)

    feedback = check_bptt(off)
    assert not feedback.passed and "dx[2, 1, 0]" in feedback.message and "(|difference| 1;" in feedback.message
    assert "section 2" in feedback.message and _no_solution_code(feedback.message), feedback.message


def test_exercise_list():
    assert EXERCISES[-2:] == ("6.5 RNN step backward", "6.6 back-propagation through time") and len(EXERCISES) == 6


# --------------------------------------------------------------------------- models


def test_sequence_model_routes_gradients_like_autograd():
    gen = np.random.default_rng(0)
    for every_step in (False, True):
        model = SequenceModel(3, 5, 4, every_step=every_step, rng=np.random.default_rng(1))
        x = gen.normal(size=(6, 2, 3))
        out = model.forward(x)
        assert out.shape == ((12, 4) if every_step else (2, 4))
        dout = gen.normal(size=out.shape)
        dx = model.backward(dout)
        eps, i = 1e-6, (2, 1, 0)
        x_plus, x_minus = x.copy(), x.copy()
        x_plus[i] += eps
        x_minus[i] -= eps
        numeric = (np.sum(model.forward(x_plus) * dout) - np.sum(model.forward(x_minus) * dout)) / (2 * eps)
        assert np.isclose(dx[i], numeric, rtol=1e-5)
    with pytest.raises(TypeError, match="SequenceModel"):
        SequenceModel(3, 5, 4, every_step="yes")


def test_fit_sampled_lowers_the_loss_of_a_delayed_echo():
    def echo(n, gen):
        s = gen.integers(0, 3, size=(6, n))
        targets = np.concatenate([np.zeros((1, n), dtype=np.int64), s[:-1]])
        return np.eye(3)[s], targets.reshape(-1)

    model = SequenceModel(3, 8, 3, every_step=True, rng=np.random.default_rng(0))
    losses = fit_sampled(model, echo, steps=150, lr=0.02, rng=np.random.default_rng(1))
    assert len(losses) == 150 and np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    with pytest.raises(TypeError, match="fit_sampled"):
        fit_sampled(model, "not a sampler", steps=1, lr=0.1)


def test_caption_inputs_feed_the_image_first_and_the_previous_letter_after():
    images = np.arange(6.0).reshape(2, 3)
    previous = np.array([[0, 0], [2, 1], [0, 2]])
    x = caption_inputs(images, previous, 3)
    assert x.shape == (3, 2, 6)
    assert np.array_equal(x[0, :, :3], images) and not x[0, :, 3:].any()
    assert np.array_equal(x[1, :, 3:], np.eye(3)[[2, 1]]) and not x[1:, :, :3].any()
    with pytest.raises(ValueError, match="one column of previous per image"):
        caption_inputs(images, previous[:, :1], 3)


def test_greedy_captions_feed_back_their_own_letters():
    model = SequenceModel(4 + 3, 5, 3, every_step=True, rng=np.random.default_rng(0))
    images = np.random.default_rng(1).random((2, 4))
    written = greedy_captions(model, images, 4, 3)
    full = model.forward(caption_inputs(images, np.roll(written, 1, axis=0), 3)).argmax(axis=1).reshape(4, 2)
    assert np.array_equal(written, full)  # the same letters as one pass over the letters it fed back


def test_ensemble_members_are_independent_torch_networks():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, 2)
    for kind in ("RNN", "LSTM"):
        ensemble = EnsembleRecurrent(kind, 3, 2, 4, forget_bias=1.0, seed=5)
        out = ensemble(x)
        for k in range(3):
            cell, head = ensemble.member(k)
            assert torch.allclose(out[k], head(cell(x[k])[0][-1]).squeeze(-1), atol=1e-6)
        out.sum().backward()
        norms = ensemble.clip_members_(1.0)
        assert norms.shape == (3,)
        assert ensemble.rnn.weight_hh_l0.grad[:4, 4:].abs().max() == 0  # no gradient between members
    lstm = EnsembleRecurrent("LSTM", 2, 2, 4, forget_bias=1.0, seed=5)
    cell, _ = lstm.member(1)
    assert cell.bias_ih_l0[4:8].mean() > 0.5  # the forget gate's bias carries the +1
    with pytest.raises(ValueError, match="EnsembleRecurrent"):
        EnsembleRecurrent("GRU", 2)


def test_train_adding_ensemble_records_one_curve_per_seed():
    val = adding_problem(50, 10, np.random.default_rng(0))
    run = train_adding_ensemble("LSTM", [1, 2], seq_len=10, steps=20, batch_size=8, hidden_size=4, val=val, every=10)
    assert run["curves"].shape == (2, 2) and np.all(np.isfinite(run["curves"]))
    with pytest.raises(TypeError, match="val as a pair"):
        train_adding_ensemble("RNN", [1], val=None)


def test_char_models_agree_and_bits_per_char_is_a_cross_entropy():
    vocab_size = 6
    scratch = CharLSTM(vocab_size, 3, 5, rng=np.random.default_rng(0))
    twin = TorchCharLSTM(vocab_size, 3, 5, dtype=torch.float64)
    copy_weights(scratch, twin)
    ids = np.random.default_rng(1).integers(0, vocab_size, size=(7, 2))
    assert np.allclose(scratch.forward(ids), twin(torch.from_numpy(ids)).detach().numpy(), atol=1e-12)
    text = np.random.default_rng(2).integers(0, vocab_size, size=500)
    assert abs(bits_per_char(scratch, text, length=20) - np.log2(vocab_size)) < 0.5
    assert eval_columns(text, 20).shape == (21, 500 // 21)


def test_bigram_bits_beats_the_unigram_on_a_text_with_structure():
    text = np.tile(np.array([0, 1, 2, 3]), 200)  # each character fixes the next
    assert bigram_bits(text, text, 4, alpha=0.01) < 0.1 < unigram_entropy_bits(text, 4)
    noise = np.random.default_rng(0).integers(0, 4, size=4000)
    assert abs(bigram_bits(noise[:3000], noise[3000:], 4) - 2.0) < 0.05
    with pytest.raises(ValueError, match="bigram_bits"):
        bigram_bits(text, np.array([7, 1]), 4)


def test_gradient_profile_is_relative_to_the_last_step():
    dx = np.ones((4, 2, 3)) * np.array([1.0, 2.0, 4.0, 8.0])[:, None, None]
    assert np.allclose(gradient_profile(dx), [1.0, 0.5, 0.25, 0.125])


def test_sampling_widget_resamples_live_and_quickly():
    vocab = CharVocab.from_text("ab c")
    model = CharLSTM(len(vocab), 3, 8, rng=np.random.default_rng(0))
    demo = sampling_widget(model.step, vocab, "a", length=50, temperature=1.0, seed=3)
    assert isinstance(demo, ipywidgets.interactive)
    temperature, seed = demo.children[:2]
    assert temperature.style.description_width == "initial" and seed.description == "sampling seed"
    start = time.perf_counter()
    seed.value = 4  # samples a new text
    demo.update()
    assert time.perf_counter() - start < 2.0
    plt.close("all")
    with pytest.raises(ValueError, match="sampling_widget"):
        sampling_widget(model.step, vocab, "")
