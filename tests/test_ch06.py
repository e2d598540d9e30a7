"""Chapter 6: the sequence data and sampling helpers, the exercise checks, and the figures and widget."""


import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.chapters.ch06_rnn_lstm.exercises import (
    check_lstm_cell,
    check_lstm_params,
    check_rnn_step,
    check_temperature_softmax,
)
from course_lib.chapters.ch06_rnn_lstm.sequences import (
    ADDING_BASELINE_MSE,
    STDLIB_MODULES,
    CharVocab,
    adding_problem,
    char_batches,
    is_reference_corpus,
    module_docs,
    sample_text,
    softmax_with_temperature,
    stdlib_corpus,
    unigram_entropy_bits,
)
from course_lib.chapters.ch06_rnn_lstm.widgets import (
    draw_sequence_shapes,
    draw_unrolled,
    plot_next_char,
)


def _not_attempted(*args):
    raise NotImplementedError


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# pieces of the notebook's solutions (and of their formulas) that no hint may show
SOLUTION_CODE = ("@ h_prev", "W_hh @", "W_xh @", "np.", "tanh(W", "f * c_prev", "i * g", "o * tanh", "tanh(c)",
                 "logits / temperature", "/ temperature", "exp(z", "max z", "4 * h", "(d + h)")


def _assert_hint(feedback, hint, section):
    """The check names the mistake, points to the section that explains it and shows no solution code."""
    assert not feedback.passed and hint in feedback.message, feedback.message
    if section is not None:
        pointer = section if isinstance(section, str) else f"section {section}"
        assert pointer in feedback.message, feedback.message
    assert not any(piece in feedback.message for piece in SOLUTION_CODE), feedback.message


# --------------------------------------------------------------------------- the adding problem


def test_adding_problem_marks_one_number_in_each_half_and_sums_them():
    x, y = adding_problem(200, 11, rng=np.random.default_rng(0))
    assert x.shape == (11, 200, 2) and y.shape == (200,) and x.dtype == np.float64
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2) and set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[:5].sum(axis=0) == 1) and np.all(markers[5:].sum(axis=0) == 1)
    assert np.allclose(y, (x[:, :, 0] * markers).sum(axis=0))
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))


def test_adding_problem_baseline_is_the_variance_of_the_target():
    _, y = adding_problem(200_000, 4, rng=np.random.default_rng(1))
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(np.mean((y - 1.0) ** 2) - ADDING_BASELINE_MSE) < 0.002


def test_adding_problem_is_reproducible_and_checks_its_input():
    a = adding_problem(3, 6, rng=np.random.default_rng(5))
    b = adding_problem(3, 6, rng=np.random.default_rng(5))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    with pytest.raises(ValueError, match="seq_len >= 2"):
        adding_problem(3, 1)
    with pytest.raises(TypeError, match="n to be an int"):
        adding_problem(2.5, 10)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        adding_problem(3, 10, rng=0)


# --------------------------------------------------------------------------- the corpus


def test_the_corpus_is_the_reference_text_on_this_python():
    text = stdlib_corpus()
    assert is_reference_corpus(text)
    assert 50_000 < len(text) < 80_000 and text.isascii()
    assert not is_reference_corpus(text + " ")
    assert module_docs("json") in text and text.startswith(module_docs(STDLIB_MODULES[0]))


def test_module_docs_reads_the_module_and_its_public_docstrings():
    docs = module_docs("textwrap")
    import textwrap

    assert docs.startswith(textwrap.__doc__.strip()[:20])
    assert "Wrap a single paragraph of text" in docs  # textwrap.wrap's docstring


def test_corpus_errors():
    with pytest.raises(ValueError, match="name of a standard-library module"):
        module_docs("no_such_module_here")
    with pytest.raises(ValueError, match=r"module_docs: expected the name of a standard-library module, got 'numpy'"):
        module_docs("numpy")  # imports nothing outside the standard library
    with pytest.raises(ValueError, match="standard-library module, got 'antigravity'"):
        module_docs("antigravity")  # would open a web browser
    with pytest.raises(TypeError, match="module name"):
        module_docs(3)
    with pytest.raises(TypeError, match="list of module names"):
        stdlib_corpus("json")
    with pytest.raises(ValueError, match="at least one module"):
        stdlib_corpus([])
    with pytest.raises(TypeError, match="corpus text"):
        is_reference_corpus(b"bytes")


# --------------------------------------------------------------------------- characters and ids


def test_vocab_round_trip():
    vocab = CharVocab.from_text("hello world")
    assert len(vocab) == 8 and vocab.chars == tuple(sorted(set("hello world")))
    ids = vocab.encode("low drew"[:3] + "d")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "lowd"
    assert vocab.decode(np.array([], dtype=np.int64)) == ""
    assert "8 characters" in repr(vocab)


def test_vocab_errors():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"unknown characters \['z'\]"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"ids in \[0, 3\)"):
        vocab.decode(np.array([0, 3]))
    with pytest.raises(TypeError, match="integer"):
        vocab.decode(np.array([0.5]))
    with pytest.raises(ValueError, match="distinct"):
        CharVocab("aab")
    with pytest.raises(TypeError, match="single characters"):
        CharVocab(["ab", "c"])
    with pytest.raises(TypeError, match="non-empty str"):
        CharVocab.from_text("")


def test_unigram_entropy():
    assert unigram_entropy_bits(np.arange(8), 8) == pytest.approx(3.0)
    assert unigram_entropy_bits(np.zeros(5, dtype=np.int64), 4) == pytest.approx(0.0)
    ids = np.array([0, 0, 0, 1])
    assert unigram_entropy_bits(ids, 2) == pytest.approx(-(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))
    with pytest.raises(ValueError, match=r"ids in \[0, 2\)"):
        unigram_entropy_bits(np.array([0, 2]), 2)
    with pytest.raises(TypeError, match="integer"):
        unigram_entropy_bits(np.array([0.0, 1.0]), 2)


def test_char_batches_targets_are_the_next_characters():
    ids = np.arange(100) * 3
    x, y = char_batches(ids, 7, 5, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (7, 5) and x.dtype == np.int64
    assert np.array_equal(y[:-1], x[1:]) and np.all(y - x == 3)
    x_end, y_end = char_batches(np.arange(8), 7, 50, rng=np.random.default_rng(1))
    assert x_end.max() == 6 and y_end.max() == 7  # windows never run past the end
    with pytest.raises(ValueError, match="at least seq_len \\+ 1 = 9 ids"):
        char_batches(np.arange(8), 8, 2)


# --------------------------------------------------------------------------- sampling


def test_softmax_with_temperature_matches_torch():
    logits = np.random.default_rng(2).normal(size=(3, 6)) * 4
    for tau in (0.25, 1.0, 3.0):
        p = softmax_with_temperature(logits, tau)
        assert np.allclose(p, torch.softmax(torch.from_numpy(logits) / tau, dim=-1).numpy(), rtol=0, atol=1e-14)
    big = softmax_with_temperature(np.array([1000.0, 999.0]), 1.0)
    assert np.all(np.isfinite(big)) and big.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="temperature > 0"):
        softmax_with_temperature(logits, 0.0)
    with pytest.raises(TypeError, match="floating"):
        softmax_with_temperature(np.array([1, 2]), 1.0)


def _bigram_step(table):
    """A fake model: the logits of the next character depend on the last one only."""

    def step(ids, state):
        count = 0 if state is None else state + 1
        return table[ids], count

    return step


def test_sample_text_feeds_back_and_follows_the_model():
    vocab = CharVocab.from_text("abc")
    table = np.full((3, 3), -50.0)
    table[0, 1] = table[1, 2] = table[2, 0] = 0.0  # a -> b -> c -> a, almost surely
    text = sample_text(_bigram_step(table), vocab, "ca", 7, temperature=1.0, rng=np.random.default_rng(0))
    assert text == "ca" + "bcabcab"
    flat = _bigram_step(np.zeros((3, 3)))
    a = sample_text(flat, vocab, "a", 50, temperature=1.0, rng=np.random.default_rng(3))
    b = sample_text(flat, vocab, "a", 50, temperature=1.0, rng=np.random.default_rng(3))
    assert a == b and len(a) == 51 and set(a[1:]) == {"a", "b", "c"}
    assert sample_text(flat, vocab, "ab", 0) == "ab"


def test_temperature_changes_the_samples():
    vocab = CharVocab.from_text("ab")
    table = np.array([[1.0, 0.0], [1.0, 0.0]])  # 'a' is e times as likely as 'b'
    cold = sample_text(_bigram_step(table), vocab, "a", 400, temperature=0.2, rng=np.random.default_rng(4))
    hot = sample_text(_bigram_step(table), vocab, "a", 400, temperature=5.0, rng=np.random.default_rng(4))
    assert cold.count("b") < 20 < 150 < hot.count("b")


def test_sample_text_errors():
    vocab = CharVocab.from_text("ab")
    step = _bigram_step(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="step to be a function"):
        sample_text("model", vocab, "a", 3)
    with pytest.raises(TypeError, match="CharVocab"):
        sample_text(step, "ab", "a", 3)
    with pytest.raises(ValueError, match="non-empty prompt"):
        sample_text(step, vocab, "", 3)
    with pytest.raises(ValueError, match="unknown characters"):
        sample_text(step, vocab, "z", 3)
    with pytest.raises(ValueError, match="temperature > 0"):
        sample_text(step, vocab, "a", 3, temperature=0)


# --------------------------------------------------------------------------- exercise 6.1


def _rnn_right(x, h_prev, W_xh, W_hh, b):
    return np.tanh(W_hh @ h_prev + W_xh @ x + b)


def test_rnn_step_check_accepts_the_recurrence_and_the_library():
    assert check_rnn_step(_rnn_right).passed
    from course_lib.scratch.recurrent import rnn_step_forward

    def via_library(x, h_prev, W_xh, W_hh, b):
        return rnn_step_forward(x[None], h_prev[None], W_xh, W_hh, b, np.zeros_like(b))[0][0]

    assert check_rnn_step(via_library).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda x, h, Wx, Wh, b: Wh @ h + Wx @ x + b, "non-linearity is missing", 1),
        (lambda x, h, Wx, Wh, b: np.tanh(Wx @ x + b), "h_prev is missing", 1),
        (lambda x, h, Wx, Wh, b: np.tanh(Wh @ h + Wx @ x), "bias b is missing", 1),
        (lambda x, h, Wx, Wh, b: _sigmoid(Wh @ h + Wx @ x + b), "tanh, not the sigmoid", 1),
        (lambda x, h, Wx, Wh, b: np.tanh(Wh.T @ h + Wx @ x + b), "W_hh is transposed", 1),
        (lambda x, h, Wx, Wh, b: np.tanh(Wh @ h + Wx @ x + b)[None], "shape", None),
        (lambda x, h, Wx, Wh, b: np.tanh(2 * (Wh @ h + Wx @ x + b)), "no common mistake matches", 1),
        (_not_attempted, "not attempted yet", None),
        (lambda x, h, Wx, Wh, b: x @ Wh, "raised ValueError", None),
    ],
)
def test_rnn_step_check_hints(wrong, hint, section):
    _assert_hint(check_rnn_step(wrong), hint, section)


def test_rnn_step_check_says_where_an_unknown_answer_differs():
    def off(x, h, Wx, Wh, b):
        out = _rnn_right(x, h, Wx, Wh, b)
        out[1] += 0.5
        return out

    message = check_rnn_step(off).message
    assert "h[1] is " in message and "(|difference| 0.5; 1 of 4 elements differ)" in message, message


# --------------------------------------------------------------------------- exercise 6.2


def _cell_right(c_prev, i, f, o, g):
    c = f * c_prev + i * g
    return c, o * np.tanh(c)


def test_lstm_cell_check_accepts_the_slides_equations():
    assert check_lstm_cell(_cell_right).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda c, i, f, o, g: _cell_right(c, i, f, o, g)[::-1], "swapped", None),
        (lambda c, i, f, o, g: _cell_right(c, f, i, o, g), "forget and input gates are swapped", 4),
        (lambda c, i, f, o, g: (c + i * g, o * np.tanh(c + i * g)), "forget gate is missing", 4),
        (lambda c, i, f, o, g: (f * c + i * g, o * (f * c + i * g)), "h is missing the tanh", 4),
        (lambda c, i, f, o, g: (f * c + i * g, np.tanh(o * (f * c + i * g))), "in the wrong order", 4),
        (lambda c, i, f, o, g: (f * c + i * g, o + np.tanh(f * c + i * g)), "c is right; h[", 4),
        (lambda c, i, f, o, g: (f * c + 2 * i * g, o * np.tanh(f * c + 2 * i * g)), "no common mistake matches", 4),
        (lambda c, i, f, o, g: (f * c + i * g, "h"), "h should be an array of numbers", 4),
        (lambda c, i, f, o, g: f * c + i * g, "return the pair", None),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_lstm_cell_check_hints(wrong, hint, section):
    _assert_hint(check_lstm_cell(wrong), hint, section)


def test_lstm_cell_check_says_where_an_unknown_cell_differs():
    def off(c_prev, i, f, o, g):
        c = f * c_prev + i * g
        c[1, 3] += 0.25
        return c, o * np.tanh(c)

    message = check_lstm_cell(off).message
    assert "c[1, 3] is " in message and "(|difference| 0.25; 1 of 10 elements differ)" in message, message


# --------------------------------------------------------------------------- exercise 6.3


def test_lstm_params_check_agrees_with_torch():
    def count_with_torch(d, h):
        return sum(p.numel() for p in torch.nn.LSTM(d, h).parameters())

    assert check_lstm_params(count_with_torch).passed
    assert check_lstm_params(lambda d, h: 4 * h * (d + h) + 8 * h).passed


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (lambda d, h: 4 * h * (d + h) + 4 * h, "one bias is missing", 1),
        (lambda d, h: 4 * h * (d + h), "slides' W", "sections 1 and 4"),
        (lambda d, h: h * (d + h) + 2 * h, "vanilla RNN", 4),
        (lambda d, h: 3 * h * (d + h) + 6 * h, "GRU", "sections 4 and 5"),
        (lambda d, h: 4 * d * h + 8 * h, "H squared", 4),
        (lambda d, h: 7, "your count 7 should be 2560 (off by -2553)", 4),
        (lambda d, h: 2560.5, "whole number", None),
        (lambda d, h: "many", "one integer", None),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_lstm_params_check_hints(wrong, hint, section):
    _assert_hint(check_lstm_params(wrong), hint, section)


# --------------------------------------------------------------------------- exercise 6.4


def _softmax_right(logits, temperature):
    z = logits / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def test_temperature_softmax_check_accepts_a_safe_softmax():
    assert check_temperature_softmax(_softmax_right).passed
    assert check_temperature_softmax(softmax_with_temperature).passed


def _naive(logits, temperature):
    e = np.exp(logits / temperature)
    return e / e.sum()


@pytest.mark.parametrize(
    "wrong, hint, section",
    [
        (_naive, "overflowed", 8),
        (lambda z, t: _softmax_right(z * t * t, t), "multiplies the logits instead of dividing", 8),
        (lambda z, t: _softmax_right(z, 1.0), "temperature is ignored", 8),
        (lambda z, t: np.exp(z / t - (z / t).max()), "do not sum to 1", 8),
        (lambda z, t: np.ones_like(z) / z.size, "p[0] is 0.25 but should be", 8),
        (lambda z, t: _softmax_right(z, t)[:2], "one probability per logit", None),
        (_not_attempted, "not attempted yet", None),
    ],
)
def test_temperature_softmax_check_hints(wrong, hint, section):
    _assert_hint(check_temperature_softmax(wrong), hint, section)


# --------------------------------------------------------------------------- figures and widget


def test_drawings_build():
    ax = draw_unrolled(steps=3)
    assert len(ax.patches) > 10 and ax.get_title()
    axes = draw_sequence_shapes()
    assert len(axes) == 5 and "one to many" in axes[1].get_title()
    with pytest.raises(ValueError, match="steps <= 8"):
        draw_unrolled(steps=9)
    _, too_few = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="5 Axes"):
        draw_sequence_shapes(too_few)


def test_plot_next_char_shows_the_tempered_distribution():
    vocab = CharVocab.from_text("ab c")
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    ax = plot_next_char(logits, vocab, 0.5, top=3)
    heights = [p.get_height() for p in ax.patches]
    assert np.allclose(heights, np.sort(softmax_with_temperature(logits, 0.5))[::-1][:3])
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "space"
    with pytest.raises(ValueError, match=r"next_logits of shape \(4,\)"):
        plot_next_char(np.zeros(3), vocab, 1.0)
    with pytest.raises(ValueError, match="temperature > 0"):
        plot_next_char(logits, vocab, -1.0)
    with pytest.raises(TypeError, match="CharVocab"):
        plot_next_char(logits, "ab c", 1.0)
