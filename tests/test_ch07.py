"""Chapter 7: the seq2seq task and models, the tiny GPT, the cost helpers, the exercise checks and the widget."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.chapters.ch06_rnn_lstm.sequences import CharVocab, sample_text
from course_lib.chapters.ch07_attention_transformers.charlm import (
    Block,
    CharLSTM,
    TinyGPT,
    bits_per_char,
    split_corpus,
    train_char_model,
)
from course_lib.chapters.ch07_attention_transformers.exercises import (
    EXERCISES,
    check_attention_backward,
    check_attention_forward,
    check_causal_self_attention,
)
from course_lib.chapters.ch07_attention_transformers.seq2seq import (
    BOS,
    Seq2Seq,
    accuracy_by_length,
    attention_memory_bytes,
    cost_functions,
    count_parameters,
    lstm_memory_bytes,
    reversal_batch,
    train_seq2seq,
)
from course_lib.chapters.ch07_attention_transformers.widgets import (
    attention_widget,
    gpt_attention,
    plot_all_heads,
    plot_attention,
)
from course_lib.scratch.transformer import BLOCK_PARAM_NAMES, init_block_params, transformer_block_forward


def _softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- the task and the encoder-decoders


def test_reversal_batch_reverses_and_shifts_for_teacher_forcing():
    src, tgt_in, tgt = reversal_batch(7, 5, np.random.default_rng(0))
    assert src.shape == tgt.shape == tgt_in.shape == (5, 7) and src.dtype == np.int64
    assert np.array_equal(tgt, src[::-1]) and np.all(tgt_in[0] == BOS) and np.array_equal(tgt_in[1:], tgt[:-1])
    assert src.min() >= 0 and src.max() <= 9
    with pytest.raises(ValueError, match="reversal_batch: expected length >= 1"):
        reversal_batch(3, 0)


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_shapes_and_greedy_decoding(attention):
    torch.manual_seed(0)
    model = Seq2Seq(hidden_size=8, embedding_dim=4, attention=attention)
    src, tgt_in, _ = (torch.from_numpy(a) for a in reversal_batch(3, 6, np.random.default_rng(1)))
    assert model(src, tgt_in).shape == (6, 3, 10)
    digits, weights = model.greedy_decode(src)
    assert digits.shape == (6, 3) and digits.dtype == torch.long
    if attention:
        assert weights.shape == (3, 6, 6) and torch.allclose(weights.sum(-1), torch.ones(3, 6))
    else:
        assert weights is None
    # greedy decoding with teacher forcing on its own answers gives the same logits' argmax
    own_in = torch.cat([torch.full((1, 3), BOS), digits[:-1]])
    assert torch.equal(model(src, own_in).argmax(-1), digits)


def test_training_is_reproducible_and_keeps_the_best_validation_state():
    a = train_seq2seq(True, seed=3, steps=20, max_length=4, hidden_size=8, eval_every=10)
    b = train_seq2seq(True, seed=3, steps=20, max_length=4, hidden_size=8, eval_every=10)
    assert [s for s, _ in a["val_curve"]] == [10, 20] and a["val_curve"] == b["val_curve"]
    assert a["best_step"] in (10, 20) and set(a) == {"state", "val_curve", "best_step"}
    model = Seq2Seq(hidden_size=8, attention=True)
    model.load_state_dict(a["state"])
    acc = accuracy_by_length(model, [1, 4], n=50)
    assert acc["digit"].shape == (2,) and np.all((acc["sequence"] <= acc["digit"]) & (acc["digit"] <= 1))


# --------------------------------------------------------------------------- the tiny GPT


def test_torch_block_equals_the_scratch_block_and_torchs_encoder_layer():
    rng = np.random.default_rng(2)
    params = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in init_block_params(6, 3, 10, rng).items()}
    block = Block(6, 3, 10).double()
    assert set(block.state_dict()) == set(BLOCK_PARAM_NAMES)
    block.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    x = rng.normal(size=(5, 2, 6))
    ref, _ = transformer_block_forward(x, params, 3)
    with torch.no_grad():
        out = block(torch.from_numpy(x))
        layer = torch.nn.TransformerEncoderLayer(6, 3, 10, dropout=0.0, norm_first=True, dtype=torch.float64)
        layer.load_state_dict(block.state_dict())
        mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
        torch_out = layer(torch.from_numpy(x), src_mask=mask, is_causal=True)
    assert np.abs(out.numpy() - ref).max() < 1e-12 and np.abs(torch_out.numpy() - ref).max() < 1e-12


def test_tiny_gpt_is_causal_and_returns_its_attention():
    torch.manual_seed(0)
    gpt = TinyGPT(11, embed_dim=8, num_layers=2, num_heads=2, dim_feedforward=12, context=10)
    ids = torch.randint(0, 11, (7, 2))
    changed = ids.clone()
    changed[5:] = (changed[5:] + 1) % 11
    with torch.no_grad():
        logits, weights = gpt(ids, need_weights=True)
        logits_changed = gpt(changed)
    assert logits.shape == (14, 11) and weights.shape == (2, 2, 2, 7, 7)
    assert torch.allclose(logits[:10], logits_changed[:10]) and not torch.allclose(logits[10:], logits_changed[10:])
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 2, 7)) and torch.all(weights.triu(1) == 0)
    with pytest.raises(ValueError, match="TinyGPT: expected at most context=10 positions, got 11"):
        gpt(torch.zeros(11, 1, dtype=torch.long))


def test_char_models_sample_and_score():
    vocab = CharVocab.from_text("abcab ca")
    ids = vocab.encode("abcab ca" * 40)
    for model in (TinyGPT(len(vocab), embed_dim=8, num_heads=2, dim_feedforward=8, context=16),
                  CharLSTM(len(vocab), 4, 8)):
        text = sample_text(model.step, vocab, "ab", 30, rng=np.random.default_rng(0))
        assert len(text) == 32 and set(text) <= set(vocab.chars)
        assert 0 < bits_per_char(model, ids, length=10) < 6
    run = train_char_model(CharLSTM(len(vocab), 4, 8), ids, ids, steps=20, lr=0.05, seq_len=8, eval_every=10)
    assert [s for s, _, _ in run["log"]] == [10, 20] and run["state"] is not None


def test_bits_per_char_of_a_uniform_model_is_log2_k():
    class Uniform(torch.nn.Module):
        def forward(self, ids):
            return torch.zeros(ids.numel(), 8)

    assert bits_per_char(Uniform(), np.arange(100) % 8, length=9) == pytest.approx(3.0)


def test_bad_inputs_are_explained():
    with pytest.raises(TypeError, match="bits_per_char: expected model to be a torch nn.Module, got str"):
        bits_per_char("gpt", np.arange(10))
    with pytest.raises(ValueError, match="bits_per_char: expected at least length \\+ 1 = 49 ids, got 10"):
        bits_per_char(CharLSTM(10), np.arange(10))
    with pytest.raises(TypeError, match="accuracy_by_length: expected model to be a Seq2Seq"):
        accuracy_by_length(CharLSTM(10), [1])
    with pytest.raises(TypeError, match="train_seq2seq: expected attention to be True or False"):
        train_seq2seq("yes", 0)
    with pytest.raises(ValueError, match="TinyGPT: expected embed_dim >= 1"):
        TinyGPT(10, embed_dim=0)


def test_split_corpus_blocks():
    train, val, test = split_corpus(np.arange(20_000))
    assert train.size == 16_000 and val.size == test.size == 2_000
    assert val[0] == 8_000 and test[0] == 9_000


def test_parameter_counts_match_at_the_chapters_sizes():
    gpt, lstm = TinyGPT(94), CharLSTM(94)
    assert count_parameters(gpt) == 29470 and count_parameters(lstm) == 28606


def test_cost_helpers():
    small, large = attention_memory_bytes(64), attention_memory_bytes(256)
    assert 12 < large / small < 20  # quadratic: 16x
    assert 3 < lstm_memory_bytes(256) / lstm_memory_bytes(64) < 5  # linear: 4x
    run_attention, run_lstm = cost_functions(12)
    assert run_attention().shape == run_lstm().shape == (12, 8, 32)


# --------------------------------------------------------------------------- exercise checks


def _attention(Q, K, V, causal=False):
    s = Q @ K.T / np.sqrt(Q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    return _softmax(s) @ V


def _not_attempted(*args):
    raise NotImplementedError


def test_attention_forward_check_names_the_mistake():
    d = lambda Q: np.sqrt(Q.shape[1])  # noqa: E731
    assert check_attention_forward(lambda Q, K, V: _attention(Q, K, V)).passed
    cases = {
        "not scaled": lambda Q, K, V: _softmax(Q @ K.T) @ V,
        "1/sqrt(d), not 1/d": lambda Q, K, V: _softmax(Q @ K.T / Q.shape[1]) @ V,
        "wrong axis": lambda Q, K, V: _softmax(Q @ K.T / d(Q), axis=0) @ V,
        "K is not transposed": lambda Q, K, V: _softmax(Q @ K / d(Q)) @ V,
        "softmax is missing": lambda Q, K, V: (Q @ K.T / d(Q)) @ V,
        "(|difference| 0.01; 8 of 8 elements differ)": lambda Q, K, V: _attention(Q, K, V) + 0.01,
        "not attempted yet": _not_attempted,
    }
    for words, func in cases.items():
        feedback = check_attention_forward(func)
        assert not feedback.passed and words in feedback.message, (words, feedback)
    assert "not attempted yet" in check_attention_forward(None).message


def _mha(x, w_in, w_out, heads, split="right", scale=None, mask="before", merge="right", out=True):
    """Causal multi-head self-attention of one sequence written the way a student might, mistakes included."""
    t, e = x.shape
    d = e // heads
    q, k, v = np.split(x @ w_in.T, 3, axis=1)
    if split == "right":
        q, k, v = (a.reshape(t, heads, d).transpose(1, 0, 2) for a in (q, k, v))
    else:
        q, k, v = (a.reshape(heads, t, d) for a in (q, k, v))
    s = q @ k.transpose(0, 2, 1) / np.sqrt(scale or d)
    keep = np.tril(np.ones((t, t), dtype=bool))
    if mask == "before":
        w = _softmax(np.where(keep, s, -np.inf))
    elif mask == "after":
        w = _softmax(s) * keep
    elif mask == "zero":
        w = _softmax(np.where(keep, s, 0.0))
    else:
        w = _softmax(s)
    o = w @ v
    o = o.transpose(1, 0, 2).reshape(t, e) if merge == "right" else o.reshape(t, e)
    return o @ w_out.T if out else o


_SOLUTION_CODE = ("np.tril", "-np.inf", "transpose(1, 0, 2)", "reshape(T", "P.T @", "dout @ V.T", "sum(dP",
                  ".sum(axis=1")


def test_causal_self_attention_check_names_the_mistake():
    assert check_causal_self_attention(_mha).passed
    cases = {
        "no mask was applied": lambda x, a, b, h: _mha(x, a, b, h, mask="none"),
        "after the softmax": lambda x, a, b, h: _mha(x, a, b, h, mask="after"),
        "exp(0) = 1": lambda x, a, b, h: _mha(x, a, b, h, mask="zero"),
        "cut out of the wrong axis": lambda x, a, b, h: _mha(x, a, b, h, split="wrong"),
        "model width E": lambda x, a, b, h: _mha(x, a, b, h, scale=x.shape[1]),
        "merged along the wrong axis": lambda x, a, b, h: _mha(x, a, b, h, merge="wrong"),
        "out_proj_weight, is missing": lambda x, a, b, h: _mha(x, a, b, h, out=False),
        "out_proj_weight is used untransposed": lambda x, a, b, h: _mha(x, a, b.T, h),
        "(|difference| 0.01; 30 of 30 elements differ)": lambda x, a, b, h: _mha(x, a, b, h) + 0.01,
        "Check each shape": lambda x, a, b, h: x @ a,
    }
    with np.errstate(all="ignore"):
        for words, func in cases.items():
            feedback = check_causal_self_attention(func)
            assert not feedback.passed and words in feedback.message, (words, feedback)
            assert not any(code in feedback.message for code in _SOLUTION_CODE), feedback.message
    assert "not attempted yet" in check_causal_self_attention(None).message
    assert EXERCISES[1] == "7.2 causal multi-head self-attention"


def _backward(dout, Q, K, V, reduce=np.sum, scale=True, elementwise=False):
    d = np.sqrt(Q.shape[1])
    P = _softmax(Q @ K.T / d)
    dP = dout @ V.T
    dS = P * dP if elementwise else P * (dP - reduce(dP * P, axis=1, keepdims=True))
    s = d if scale else 1.0
    return dS @ K / s, dS.T @ Q / s, P.T @ dout


def test_attention_backward_check_names_the_mistake():
    assert check_attention_backward(_backward).passed
    cases = {
        "*sum*": lambda *a: _backward(*a, reduce=np.mean),
        "1/sqrt(d)": lambda *a: _backward(*a, scale=False),
        "not elementwise": lambda *a: _backward(*a, elementwise=True),
        "return the three gradients": lambda *a: _backward(*a)[:2],
        "dK[": lambda *a: (_backward(*a)[0], 1.1 * _backward(*a)[1], _backward(*a)[2]),
        "dV[": lambda *a: (*_backward(*a)[:2], 0.5 * _backward(*a)[2]),
    }
    cases["untransposed"] = lambda *a: (*_backward(*a)[:2], _softmax(a[1] @ a[2].T / np.sqrt(a[1].shape[1])) @ a[0])
    for words, func in cases.items():
        feedback = check_attention_backward(func)
        assert not feedback.passed and words in feedback.message, (words, feedback)
        assert not any(code in feedback.message for code in _SOLUTION_CODE), feedback.message


def test_unrecognised_answers_get_the_element_the_gap_and_the_section():
    """No common mistake matches: the hint says where the answer differs most and by how much (the course's
    where_differs), points to the section of the exercise, and hands out no solution code."""
    cases = [
        (check_attention_forward, lambda Q, K, V: _attention(Q, K, V) + 0.01, "out[0, 1] is 0.759975 but should be "
         "0.749975 (|difference| 0.01; 8 of 8 elements differ)", "(section 1)"),
        (check_attention_forward, lambda Q, K, V: _attention(Q, K, V) * np.nan, "not a finite number", "(section 1)"),
        (check_causal_self_attention, lambda x, a, b, h: _mha(x, a, b, h) + 0.01, "out[0, 2] is -0.112393 but should "
         "be -0.122393 (|difference| 0.01; 30 of 30 elements differ)", "(sections 4 and 5)"),
        (check_attention_backward, lambda *a: (*_backward(*a)[:2], 0.5 * _backward(*a)[2]), "dV[1, 1] is 0.37915 "
         "but should be 0.7583 (|difference| 0.379; 8 of 8 elements differ)", "(section 6)"),
        (check_attention_backward, lambda *a: (1.1 * _backward(*a)[0], *_backward(*a)[1:]), "dQ[", "(section 6)"),
        (check_attention_backward, lambda *a: (_backward(*a)[0], 1.1 * _backward(*a)[1], _backward(*a)[2]),
         "dK[2, 3] is -0.311104 but should be -0.282822 (|difference| 0.0283; 16 of 16 elements differ)",
         "(section 6)"),
    ]
    with np.errstate(all="ignore"):
        for check, func, words, section in cases:
            feedback = check(func)
            assert not feedback.passed and words in feedback.message and section in feedback.message, feedback
            assert not any(code in feedback.message for code in _SOLUTION_CODE), feedback.message


# --------------------------------------------------------------------------- figures and widget


def test_attention_figures_and_widget():
    vocab = CharVocab.from_text("hello world")
    torch.manual_seed(0)
    gpt = TinyGPT(len(vocab), embed_dim=8, num_layers=2, num_heads=2, dim_feedforward=8, context=16)
    maps = gpt_attention(gpt, vocab, "hello")
    assert maps.shape == (2, 2, 5, 5) and np.allclose(maps.sum(-1), 1) and np.allclose(np.triu(maps, 1), 0)
    fig = plot_all_heads(maps, "hello")
    assert len(fig.axes) == 4
    ax = plot_attention(maps[0, 0], "hello", "hello")
    assert [t.get_text() for t in ax.get_xticklabels()] == list("hello")
    demo = attention_widget(gpt, vocab, "hello world")
    assert isinstance(demo, ipywidgets.interactive)
    dropdowns = [w for w in demo.children if isinstance(w, ipywidgets.Dropdown)]
    assert [d.description for d in dropdowns] == ["layer", "head"]
    dropdowns[0].value = 2  # redraws without error
    plt.close("all")
    with pytest.raises(ValueError, match="plot_attention: expected 5 query labels and 5 key labels"):
        plot_attention(maps[0, 0], "hell", "hello")
    with pytest.raises(ValueError, match="attention_widget: expected a text of at most 16 characters"):
        attention_widget(gpt, vocab, "hello world hello world")


def test_attention_widget_reads_a_typed_line_and_explains_one_it_cannot(monkeypatch, capsys):
    """Typing a line reruns the GPT on it (the new figure is labelled with the new characters); a character
    the model never saw, or a line longer than its context, gets a message instead of a traceback."""
    vocab = CharVocab.from_text("hello world")
    torch.manual_seed(0)
    gpt = TinyGPT(len(vocab), embed_dim=8, num_layers=2, num_heads=2, dim_feedforward=8, context=16)
    drawn = []
    monkeypatch.setattr(plt, "show", lambda: drawn.append(
        "".join(t.get_text() for t in plt.gcf().axes[0].get_xticklabels())))
    demo = attention_widget(gpt, vocab, "hello")
    line = [w for w in demo.children if isinstance(w, ipywidgets.Text)]
    assert len(line) == 1 and line[0].value == "hello" and not line[0].continuous_update
    line[0].value = "old world"
    assert drawn[-1] == "old␣world"
    capsys.readouterr()
    count = len(drawn)
    line[0].value = "Hello"
    assert "never saw the character(s) 'H'" in capsys.readouterr().out and len(drawn) == count
    line[0].value = "hello world hello"
    assert "at most 16 characters (its context); this line has 17" in capsys.readouterr().out
    line[0].value = ""
    assert "Type a line" in capsys.readouterr().out and len(drawn) == count
    plt.close("all")
