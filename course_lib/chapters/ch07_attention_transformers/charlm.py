"""Chapter 7's character models in PyTorch: a tiny GPT against chapter 6's LSTM.

* ``TinyGPT`` stacks pre-norm causal blocks (``Block``, the same maths and
  parameter names as ``course_lib.scratch.transformer`` and
  ``torch.nn.TransformerEncoderLayer(norm_first=True)``) over token plus
  learned position embeddings.
* ``CharLSTM`` is chapter 6's character model in torch, for the comparison;
  ``bits_per_char`` scores either on held-out text, ``train_char_model``
  trains either, ``char_lr_sweep`` chooses their learning rates on the
  validation split.

Everything here is torch, except the data helpers, which return NumPy arrays.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.chapters.ch06_rnn_lstm.sequences import char_batches
from course_lib.chapters.ch07_attention_transformers.seq2seq import (
    _check_ids,
    _check_model,
    _check_step_ids,
    _check_tensor,
)
from course_lib.checks import _fail, check_array, check_float, check_int
from course_lib.progress import progress

# Learning rates, each model's best on the validation split when the chapter was written, and what the
# sweep measured (seed 0): ``char_lr_sweep`` runs it again (a few minutes).
CHAR_LR = {"gpt": 2e-2, "lstm": 2e-2}
CHAR_STEPS = {"gpt": 250, "lstm": 500}  # about the same training time on a CPU
CHAR_LR_SWEEP = {  # best validation bits per character, measured by char_lr_sweep at CHAR_STEPS (one thread)
    "gpt": {3e-3: 3.959, 1e-2: 3.765, 2e-2: 3.628, 4e-2: 3.714},
    "lstm": {3e-3: 3.344, 1e-2: 2.929, 2e-2: 2.867, 4e-2: 2.907},
}


# ----------------------------------------------------------------------------
# A tiny GPT and chapter 6's LSTM, in torch
# ----------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with nn.MultiheadAttention's parameter names.

    The scores are computed explicitly (not with F.scaled_dot_product_attention,
    whose fused CPU kernel is slow for head sizes this small), which also
    makes the weights available: ``forward(x, need_weights=True)``.
    Shapes: x (T, N, E) -> out (T, N, E) (and weights (N, heads, T, T)).
    Twin: course_lib.scratch.attention.multi_head_attention_forward(is_causal=True)
    """

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        embed_dim = check_int(embed_dim, "embed_dim", "CausalSelfAttention", minimum=1)
        num_heads = check_int(num_heads, "num_heads", "CausalSelfAttention", minimum=1)
        if embed_dim % num_heads:
            _fail(ValueError, "CausalSelfAttention", f"embed_dim ({embed_dim}) divisible by num_heads",
                  f"num_heads={num_heads}", None)
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, need_weights: bool = False):
        width = self.in_proj_weight.shape[1]
        _check_tensor("CausalSelfAttention.forward", x, "x", f"(T, N, {width})", 3, width=width)
        t, n, e = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.reshape(t, n, 3, self.num_heads, e // self.num_heads).permute(2, 1, 3, 0, 4)
        scores = (q @ k.transpose(-1, -2)) * (e // self.num_heads) ** -0.5
        blocked = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        weights = scores.masked_fill(blocked, float("-inf")).softmax(dim=-1)
        out = self.out_proj((weights @ v).permute(2, 0, 1, 3).reshape(t, n, e))
        return (out, weights) if need_weights else out


class Block(nn.Module):
    """A pre-norm transformer block: x + attn(norm1(x)), then + linear2(relu(linear1(norm2(.)))).

    Shapes: x (T, N, E) -> (T, N, E).
    Twin: course_lib.scratch.transformer.transformer_block_forward; torch.nn.TransformerEncoderLayer(
    norm_first=True, dropout=0) with a causal mask (the same state_dict names)
    """

    def __init__(self, embed_dim: int, num_heads: int, dim_feedforward: int):
        super().__init__()
        dim_feedforward = check_int(dim_feedforward, "dim_feedforward", "Block", minimum=1)
        self.self_attn = CausalSelfAttention(embed_dim, num_heads)
        self.linear1 = nn.Linear(embed_dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(self, x, need_weights: bool = False):
        width = self.norm1.normalized_shape[0]
        _check_tensor("Block.forward", x, "x", f"(T, N, {width})", 3, width=width)
        attn = self.self_attn(self.norm1(x), need_weights)
        attn, weights = attn if need_weights else (attn, None)
        x = x + attn
        x = x + self.linear2(F.relu(self.linear1(self.norm2(x))))
        return (x, weights) if need_weights else x


class TinyGPT(nn.Module):
    """A character-level decoder-only transformer: embeddings, causal blocks, a final norm, a head.

    Shapes: ids (T, N) int64 with T <= context -> logits (T * N, K).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, num_layers: int = 2, num_heads: int = 2,
                 dim_feedforward: int = 96, context: int = 64):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("num_layers", num_layers),
                            ("context", context)):
            check_int(value, name, "TinyGPT", minimum=1)
        self.context = context
        self.tok_embedding = nn.Embedding(vocab_size, embed_dim)
        self.pos_embedding = nn.Embedding(context, embed_dim)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, dim_feedforward) for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, vocab_size)

    def forward(self, ids, need_weights: bool = False):
        _check_tensor("TinyGPT.forward", ids, "ids", "(T, N)", 2, integer=True)
        t = ids.shape[0]
        if t > self.context:
            _fail(ValueError, "TinyGPT", f"at most context={self.context} positions", f"{t}",
                  "feed the last `context` characters")
        x = self.tok_embedding(ids) + self.pos_embedding.weight[:t, None]
        weights = []
        for block in self.blocks:
            x = block(x, need_weights)
            if need_weights:
                x, w = x
                weights.append(w)
        logits = self.head(self.norm(x)).reshape(-1, self.head.out_features)
        return (logits, torch.stack(weights, dim=1)) if need_weights else logits

    def step(self, ids, state):
        """One character for chapter 6's ``sequences.sample_text``: the state is the text so far."""
        _check_step_ids("TinyGPT.step", ids)
        if state is not None:
            check_array(state, "state", "TinyGPT.step", ndim=1, shape_doc="(L,)", dtype_kind="iu",
                        fix="pass the state this method returned, or None to start")
        history = ids if state is None else np.concatenate([state, ids])[-self.context:]
        with torch.no_grad():
            logits = self(torch.from_numpy(history)[:, None])[-1:]
        return logits.numpy().astype(np.float64), history


class CharLSTM(nn.Module):
    """Chapter 6's character model in torch: Embedding -> LSTM -> Linear.

    Shapes: ids (T, N) int64 -> logits (T * N, K).
    Twin: the NumPy CharLSTM of chapter 6 (same state_dict names).
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 16, hidden_size: int = 64):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size)):
            check_int(value, name, "CharLSTM", minimum=1)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids):
        _check_tensor("CharLSTM.forward", ids, "ids", "(T, N)", 2, integer=True)
        h_all = self.lstm(self.embedding(ids))[0]
        return self.head(h_all.reshape(-1, h_all.shape[-1]))

    def step(self, ids, state):
        """One character for ``course_lib.chapters.ch06_rnn_lstm.sequences.sample_text``, carrying the LSTM state."""
        _check_step_ids("CharLSTM.step", ids)
        if state is not None and not (isinstance(state, tuple) and len(state) == 2
                                      and all(isinstance(s, torch.Tensor) for s in state)):
            _fail(TypeError, "CharLSTM.step", "state as the (h, c) tensors this method returned, or None",
                  type(state).__name__, "pass the state from the previous step")
        with torch.no_grad():
            h_all, state = self.lstm(self.embedding(torch.from_numpy(ids)[None]), state)
            return self.head(h_all[0]).numpy().astype(np.float64), state


def split_corpus(ids, block: int = 1000):
    """Cut the ids into blocks of ``block`` characters: 8 in 10 train, the 9th validation, the 10th test.

    Shapes: ids (L,) -> train, val, test 1-D int arrays.
    """
    check_array(ids, "ids", "split_corpus", ndim=1, shape_doc="(L,)", dtype_kind="iu")
    which = (np.arange(ids.size) // block) % 10
    return ids[which < 8], ids[which == 8], ids[which == 9]


def bits_per_char(model: nn.Module, ids, length: int = 48) -> float:
    """Held-out bits per character: ``ids`` cut into columns of ``length`` + 1 characters, each read from scratch.

    Every character except each column's first is predicted from the ones
    before it in its column; the mean cross-entropy is converted to bits.
    Shapes: ids (L,) ints -> float.
    """
    func = "bits_per_char"
    _check_model(func, model)
    _check_ids(func, ids)
    length = check_int(length, "length", func, minimum=1)
    cols = ids.size // (length + 1)
    if cols == 0:
        _fail(ValueError, func, f"at least length + 1 = {length + 1} ids", f"{ids.size}", "use a shorter length")
    chunk = torch.from_numpy(ids[: cols * (length + 1)].reshape(cols, length + 1).T.copy())
    model.eval()
    with torch.no_grad():
        loss = F.cross_entropy(model(chunk[:-1]), chunk[1:].reshape(-1)).item()
    model.train()
    return loss / math.log(2)


def train_char_model(model: nn.Module, train_ids, val_ids, steps: int, lr: float, seq_len: int = 48,
                     batch_size: int = 32, seed: int = 1, eval_every: int = 100) -> dict:
    """Adam on random windows (``char_batches``), gradient norm clipped to 1; keep the best validation state.

    Returns {"state", "log" (list of (step, train bpc, validation bpc)), "best_step"}; time it with
    ``seconds_per_step``.
    Shapes: train_ids, val_ids (L,) ints -> a dict of plain data.
    """
    func = "train_char_model"
    _check_model(func, model)
    _check_ids(func, train_ids, "train_ids")
    _check_ids(func, val_ids, "val_ids")
    steps = check_int(steps, "steps", func, minimum=1)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    log, best, best_state, best_step = [], math.inf, None, 0
    for step in progress(range(steps), desc=type(model).__name__):
        x, y = char_batches(train_ids, seq_len, batch_size, rng)
        loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % eval_every == 0:
            val = bits_per_char(model, val_ids, seq_len)
            log.append((step + 1, loss.item() / math.log(2), val))
            if val < best:
                best, best_step = val, step + 1
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    return {"state": best_state, "log": log, "best_step": best_step}


def seconds_per_step(model: nn.Module, train_ids, lr: float, steps: int = 30, seq_len: int = 48,
                     batch_size: int = 32) -> float:
    """CPU seconds (this process) per training step of ``train_char_model``, timed on a copy of ``model``.

    Shapes: -> float.
    """
    import copy

    _check_model("seconds_per_step", model)
    _check_ids("seconds_per_step", train_ids, "train_ids")
    steps = check_int(steps, "steps", "seconds_per_step", minimum=1)
    trial = copy.deepcopy(model)
    train_char_model(trial, train_ids, train_ids[:2000], steps=3, lr=lr, eval_every=10**9)  # warm-up
    start = time.process_time()
    train_char_model(trial, train_ids, train_ids[:2000], steps=steps, lr=lr, seq_len=seq_len,
                     batch_size=batch_size, eval_every=10**9)
    return (time.process_time() - start) / steps


def char_lr_sweep(train_ids, val_ids, vocab_size: int, lrs=None) -> dict:
    """How ``CHAR_LR_SWEEP`` was measured: each model at each learning rate, best validation bpc.

    Shapes: -> {"gpt": {lr: bpc}, "lstm": {lr: bpc}}.
    """
    _check_ids("char_lr_sweep", train_ids, "train_ids")
    _check_ids("char_lr_sweep", val_ids, "val_ids")
    vocab_size = check_int(vocab_size, "vocab_size", "char_lr_sweep", minimum=1)
    lrs = lrs or {"gpt": (3e-3, 1e-2, 2e-2, 4e-2), "lstm": (3e-3, 1e-2, 2e-2, 4e-2)}
    out = {}
    for kind, build in (("gpt", TinyGPT), ("lstm", CharLSTM)):
        out[kind] = {}
        for lr in lrs[kind]:
            torch.manual_seed(0)
            run = train_char_model(build(vocab_size), train_ids, val_ids, CHAR_STEPS[kind], lr)
            out[kind][lr] = min(val for _, _, val in run["log"])
    return out
