"""Chapter 7's encoder-decoders in PyTorch, with and without attention, and the cost of attention.

* **The task**: reverse a string of digits (``reversal_batch``). The answer
  is known, every length is equally easy for a person, and the whole input
  must be remembered before the first output digit can be written, which is
  what makes a fixed-size summary of the input a bottleneck.
* **The encoder-decoder** (``Seq2Seq``, Sutskever et al., 2014): an LSTM
  reads the digits; its final state starts a second LSTM that writes the
  answer one digit at a time. Training uses *teacher forcing* (the decoder
  reads the true previous digit); at test time ``greedy_decode`` feeds back
  its own most likely digit. With ``attention=True`` the decoder also looks
  back at every encoder state (Luong et al., 2015, "general" scores):
  ``scores = (W_a d_t) . e_s``, weights = softmax over s, and the context
  sum_s weights_s e_s joins d_t before the output layer.
* **A tiny GPT** and chapter 6's LSTM, compared as character models, are in
  ``course_lib.chapters.ch07_attention_transformers.charlm``.
* **Cost**: ``attention_cost`` and ``lstm_cost`` measure time and memory
  against the sequence length.

Everything here is torch (time-major tensors, (T, N, ...)), except the data
helpers, which return NumPy arrays.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import _fail, check_array, check_float, check_int, check_rng
from course_lib.progress import progress

DIGITS = 10
BOS = 10  # the decoder's start symbol
VAL_SEED, TEST_SEED = 10_000, 20_000  # strings of length L come from default_rng(seed + L)

# Learning rates, each model's best on the validation split when the chapter was written, and what the
# sweep measured (seed 0): ``seq2seq_lr_sweep`` runs it again (a few minutes).
SEQ2SEQ_LR = {"plain": 1e-2, "attention": 5e-3}
SEQ2SEQ_LR_SWEEP = {  # best mean validation digit accuracy over lengths 1-12, 250 steps
    "plain": {2e-3: 0.691, 5e-3: 0.786, 1e-2: 0.847},
    "attention": {2e-3: 0.883, 5e-3: 0.900, 1e-2: 0.897},
}


# ----------------------------------------------------------------------------
# The task: reverse a digit string
# ----------------------------------------------------------------------------


def reversal_batch(n: int, length: int, rng=None):
    """``n`` random digit strings of ``length`` digits, their reversals, and the teacher-forcing input.

    The decoder's input at step t is the true output of step t - 1, with
    ``BOS`` at step 0 (teacher forcing).
    Shapes: -> src (L, N), tgt_in (L, N), tgt (L, N), all int64 in [0, 10] (BOS = 10 only in tgt_in).
    """
    func = "reversal_batch"
    n = check_int(n, "n", func, minimum=1)
    length = check_int(length, "length", func, minimum=1)
    rng = check_rng(rng, func)
    src = rng.integers(0, DIGITS, size=(length, n))
    tgt = src[::-1].copy()
    tgt_in = np.concatenate([np.full((1, n), BOS), tgt[:-1]])
    return src, tgt_in, tgt


def _check_model(func, model, kind=nn.Module, what="a torch nn.Module"):
    if not isinstance(model, kind):
        _fail(TypeError, func, f"model to be {what}", type(model).__name__, None)
    return model


def _check_ids(func, ids, name="ids"):
    return check_array(ids, name, func, ndim=1, shape_doc="(L,)", dtype_kind="iu")


def _check_tensor(func, x, name, shape_doc, ndim, integer=False, width=None, fix=None):
    """A torch tensor of rank ``ndim`` (token ids when ``integer``, else floats), last axis ``width``; O(1)."""
    if not isinstance(x, torch.Tensor):
        hint = fix or (f"convert it, e.g. torch.from_numpy({name})" if isinstance(x, np.ndarray) else None)
        _fail(TypeError, func, f"{name} as a torch tensor of shape {shape_doc}", type(x).__name__, hint)
    if x.ndim != ndim or (width is not None and x.shape[-1] != width):
        _fail(ValueError, func, f"{name} of shape {shape_doc}", f"shape {tuple(x.shape)}", fix)
    if integer and (x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool):
        _fail(TypeError, func, f"{name} as integer token ids", f"dtype {x.dtype}", f"cast it, e.g. {name}.long()")
    if not integer and not x.dtype.is_floating_point:
        _fail(TypeError, func, f"{name} with a floating dtype", f"dtype {x.dtype}", f"cast it, e.g. {name}.float()")
    return x


def _check_step_ids(func, ids):
    check_array(ids, "ids", func, ndim=1, shape_doc="(1,)", dtype_kind="iu",
                fix="pass the last character's id, e.g. np.array([i])")


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in a torch model.

    Shapes: a module -> int.
    """
    _check_model("count_parameters", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------
# The encoder-decoder
# ----------------------------------------------------------------------------


class Seq2Seq(nn.Module):
    """An LSTM encoder and an LSTM decoder, optionally with attention over the encoder states.

    Shapes: src (S, N), tgt_in (T, N) int64 -> logits (T, N, 10).
    """

    def __init__(self, hidden_size: int = 64, embedding_dim: int = 16, attention: bool = False):
        super().__init__()
        hidden_size = check_int(hidden_size, "hidden_size", "Seq2Seq", minimum=1)
        embedding_dim = check_int(embedding_dim, "embedding_dim", "Seq2Seq", minimum=1)
        self.src_embedding = nn.Embedding(DIGITS, embedding_dim)
        self.tgt_embedding = nn.Embedding(DIGITS + 1, embedding_dim)
        self.encoder = nn.LSTM(embedding_dim, hidden_size)
        self.decoder = nn.LSTM(embedding_dim, hidden_size)
        self.attention = bool(attention)
        if self.attention:
            self.query = nn.Linear(hidden_size, hidden_size, bias=False)  # W_a of the "general" score
        self.head = nn.Linear(2 * hidden_size if self.attention else hidden_size, DIGITS)

    def readout(self, dec, enc):
        """Logits from the decoder states (and, with attention, a context of the encoder states).

        Returns (logits (T, N, 10), weights (N, T, S) or None).
        """
        func, width = "Seq2Seq.readout", self.decoder.hidden_size
        _check_tensor(func, dec, "dec", f"(T, N, {width})", 3, width=width)
        _check_tensor(func, enc, "enc", f"(S, N, {width})", 3, width=width)
        if not self.attention:
            return self.head(dec), None
        scores = torch.einsum("tnh,snh->nts", self.query(dec), enc)
        weights = scores.softmax(dim=-1)  # over the source positions s
        context = torch.einsum("nts,snh->tnh", weights, enc)
        return self.head(torch.cat([dec, context], dim=-1)), weights

    def forward(self, src, tgt_in):
        func = "Seq2Seq.forward"
        _check_tensor(func, src, "src", "(S, N)", 2, integer=True)
        _check_tensor(func, tgt_in, "tgt_in", "(T, N)", 2, integer=True)
        if src.shape[1] != tgt_in.shape[1]:
            _fail(ValueError, func, "src and tgt_in with the same batch size N (axis 1)",
                  f"{src.shape[1]} and {tgt_in.shape[1]}", "both are time-major: (length, batch)")
        enc, state = self.encoder(self.src_embedding(src))
        dec, _ = self.decoder(self.tgt_embedding(tgt_in), state)
        return self.readout(dec, enc)[0]

    @torch.no_grad()
    def greedy_decode(self, src, length: int | None = None):
        """Write ``length`` digits (default: as many as src has), each fed back as the next input.

        Returns (digits (T, N) int64, attention weights (N, T, S) or None).
        """
        func = "Seq2Seq.greedy_decode"
        _check_tensor(func, src, "src", "(S, N)", 2, integer=True)
        length = src.shape[0] if length is None else check_int(length, "length", func, minimum=1)
        enc, state = self.encoder(self.src_embedding(src))
        token = torch.full((src.shape[1],), BOS, dtype=torch.long, device=src.device)
        digits, weights = [], []
        for _ in range(length):
            dec, state = self.decoder(self.tgt_embedding(token)[None], state)
            logits, w = self.readout(dec, enc)
            token = logits[0].argmax(dim=-1)
            digits.append(token)
            weights.append(w)
        return torch.stack(digits), (torch.cat(weights, dim=1) if self.attention else None)


def accuracy_by_length(model: Seq2Seq, lengths, n: int = 500, seed: int = 0, device="cpu") -> dict:
    """Greedy-decoding accuracy per length: the fraction of digits right, and of whole strings right.

    Every length gets ``n`` fresh strings from ``np.random.default_rng(seed + length)``.
    Shapes: -> {"digit": (len(lengths),), "sequence": (len(lengths),)} float arrays.
    """
    func = "accuracy_by_length"
    _check_model(func, model, Seq2Seq, "a Seq2Seq")
    if not hasattr(lengths, "__iter__"):
        _fail(TypeError, func, "lengths as a list or array of ints", type(lengths).__name__, "e.g. range(1, 13)")
    lengths = [check_int(length, "each length", func, minimum=1) for length in lengths]
    n = check_int(n, "n", func, minimum=1)
    digit, whole = [], []
    model.eval()
    for length in lengths:
        src, _, tgt = reversal_batch(n, int(length), np.random.default_rng(seed + int(length)))
        pred, _ = model.greedy_decode(torch.from_numpy(src).to(device))
        right = pred.cpu().numpy() == tgt
        digit.append(right.mean())
        whole.append(right.all(axis=0).mean())
    model.train()
    return {"digit": np.array(digit), "sequence": np.array(whole)}


def train_seq2seq(attention: bool, seed: int, steps: int = 250, max_length: int = 12, batch_size: int = 64,
                  lr: float = 5e-3, hidden_size: int = 64, eval_every: int = 50, val_seed: int = VAL_SEED) -> dict:
    """Train one encoder-decoder with teacher forcing; keep the weights that did best on validation.

    Each step draws a length uniformly from 1..max_length and a batch of
    strings of that length (stream seeded by ``seed``, the same for both
    kinds of model). Every ``eval_every`` steps the mean digit accuracy over
    lengths 1..max_length on a fixed validation set (``val_seed``, 100
    strings per length) is measured; the best state is returned. Float32 on
    the CPU.
    Returns {"state", "val_curve" (list of (step, accuracy)), "best_step"}: nothing that depends on the
    clock, so that recording the run twice gives the same bytes (``course_lib.shipped``).
    Shapes: -> a dict of plain data.
    """
    func = "train_seq2seq"
    if not isinstance(attention, bool):
        _fail(TypeError, func, "attention to be True or False", type(attention).__name__, None)
    seed = check_int(seed, "seed", func, minimum=0)
    steps = check_int(steps, "steps", func, minimum=1)
    max_length = check_int(max_length, "max_length", func, minimum=1)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Seq2Seq(hidden_size, attention=attention)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lengths = range(1, max_length + 1)
    curve, best, best_state, best_step = [], -1.0, None, 0
    for step in progress(range(steps), desc="attention" if attention else "plain"):
        length = int(rng.integers(1, max_length + 1))
        src, tgt_in, tgt = (torch.from_numpy(a) for a in reversal_batch(batch_size, length, rng))
        loss = F.cross_entropy(model(src, tgt_in).reshape(-1, DIGITS), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % eval_every == 0:
            val = float(accuracy_by_length(model, lengths, n=100, seed=val_seed)["digit"].mean())
            curve.append((step + 1, val))
            if val > best:
                best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
                best_step = step + 1
    return {"state": best_state, "val_curve": curve, "best_step": best_step}


def seq2seq_lr_sweep(lrs=(2e-3, 5e-3, 1e-2), seed: int = 0) -> dict:
    """How ``SEQ2SEQ_LR_SWEEP`` was measured: each model at each learning rate, best validation accuracy.

    Shapes: -> {"plain": {lr: accuracy}, "attention": {lr: accuracy}}.
    """
    func = "seq2seq_lr_sweep"
    if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__iter__"):
        _fail(TypeError, func, "lrs as a list of learning rates", type(lrs).__name__, "e.g. (2e-3, 5e-3, 1e-2)")
    lrs = [check_float(lr, f"lrs[{i}]", func, minimum=0.0, strict_min=True) for i, lr in enumerate(lrs)]
    if not lrs:
        _fail(ValueError, func, "at least one learning rate", "an empty list", "e.g. (2e-3, 5e-3, 1e-2)")
    seed = check_int(seed, "seed", func, minimum=0)
    return {kind: {lr: max(acc for _, acc in train_seq2seq(kind == "attention", seed, lr=lr)["val_curve"])
                   for lr in lrs} for kind in ("plain", "attention")}


# ----------------------------------------------------------------------------
# Cost against the sequence length
# ----------------------------------------------------------------------------


def attention_memory_bytes(length: int, embed_dim: int = 32, batch: int = 1) -> int:
    """Peak bytes NumPy allocates in one scratch causal attention forward (tracemalloc).

    Shapes: -> int.
    """
    from course_lib.scratch.attention import scaled_dot_product_attention_forward

    length, embed_dim, batch = _check_cost_sizes("attention_memory_bytes", length, embed_dim, batch)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((batch, length, embed_dim))
    return _peak_bytes(lambda: scaled_dot_product_attention_forward(q, q, q, is_causal=True))


def lstm_memory_bytes(length: int, embed_dim: int = 32, batch: int = 1) -> int:
    """Peak bytes NumPy allocates in one scratch LSTM forward over ``length`` steps (tracemalloc).

    Shapes: -> int.
    """
    from course_lib.scratch.recurrent import lstm_forward

    length, embed_dim, batch = _check_cost_sizes("lstm_memory_bytes", length, embed_dim, batch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((length, batch, embed_dim))
    weights = [rng.standard_normal(s) * 0.1 for s in ((4 * embed_dim, embed_dim), (4 * embed_dim, embed_dim),
                                                       (4 * embed_dim,), (4 * embed_dim,))]
    h0 = np.zeros((batch, embed_dim))
    return _peak_bytes(lambda: lstm_forward(x, h0, h0, *weights))


def _check_cost_sizes(func, length, embed_dim, batch):
    return tuple(check_int(value, name, func, minimum=1)
                 for name, value in (("length", length), ("embed_dim", embed_dim), ("batch", batch)))


def _peak_bytes(call) -> int:
    """The most bytes Python held at once while ``call()`` ran, over what it held before (tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def cost_functions(length: int, embed_dim: int = 32, batch: int = 8, device="cpu"):
    """Two functions of no arguments: torch causal self-attention and a torch LSTM over ``length`` steps.

    Both read the same (T, N, E) float32 input on ``device``, forward only,
    without gradients; time them with ``course_lib.timing.time_call``.
    Shapes: -> (attention_fn, lstm_fn).
    """
    from course_lib.chapters.ch07_attention_transformers.charlm import (
        CausalSelfAttention,  # charlm builds on this module's checks
    )

    length = check_int(length, "length", "cost_functions", minimum=1)
    torch.manual_seed(0)
    x = torch.randn(length, batch, embed_dim, device=device)
    attention = CausalSelfAttention(embed_dim, 1).to(device)
    lstm = nn.LSTM(embed_dim, embed_dim).to(device)

    def run_attention():
        with torch.no_grad():
            return attention(x)

    def run_lstm():
        with torch.no_grad():
            return lstm(x)[0]

    return run_attention, run_lstm


def time_by_length(lengths, device="cpu", repeats: int = 5) -> dict:
    """Median seconds of one forward pass of ``cost_functions``' attention and LSTM at each length.

    Shapes: lengths (K,) ints -> {"attention": (K,), "LSTM": (K,)} float arrays of seconds.
    """
    from course_lib.timing import time_call

    if not hasattr(lengths, "__iter__"):
        _fail(TypeError, "time_by_length", "lengths as a list or array of ints", type(lengths).__name__, None)
    times = {"attention": [], "LSTM": []}
    for length in lengths:
        run_attention, run_lstm = cost_functions(int(length), device=device)
        times["attention"].append(time_call(run_attention, repeats=repeats, device=device))
        times["LSTM"].append(time_call(run_lstm, repeats=repeats, device=device))
    return {name: np.array(values) for name, values in times.items()}
