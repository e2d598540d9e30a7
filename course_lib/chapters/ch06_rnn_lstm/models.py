"""Chapter 6's models and training helpers, moved out of the notebook.

* ``SequenceModel``: a scratch recurrent cell with a linear head on the last
  step (many-to-one) or on every step (many-to-many);
* ``fit_sampled``: Adam on a fresh batch every step, drawn by a sampler
  (the tasks of section 6 generate their data; ``course_lib.scratch.train.fit``
  serves fixed data sets);
* ``caption_inputs`` and ``greedy_captions``: one-to-many with feedback, the
  previous letter fed back as the next step's input;
* ``EnsembleRecurrent`` and ``train_adding_ensemble``: several independent
  PyTorch RNNs or LSTMs trained side by side on the adding problem (one
  batched matrix product per step serves every seed);
* ``CharLSTM`` (scratch), ``TorchCharLSTM`` (its twin) and ``bits_per_char``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch06_rnn_lstm.sequences import adding_problem, char_batches
from course_lib.checks import _fail, check_array, check_float, check_int, check_rng
from course_lib.scratch.losses import softmax_cross_entropy
from course_lib.scratch.modules import Linear, Module
from course_lib.scratch.optim import Adam
from course_lib.scratch.recurrent import LSTM, RNN, Embedding, clip_grad_norm


class _SequenceModel(Module):
    """A recurrent cell (``RNN`` by default) and a linear head on the last step or on every step.

    ``forward(x)`` returns the head's logits: (N, K) for the last step only
    (``every_step=False``, many-to-one), (T * N, K) time-major for every step.
    ``backward(dout)`` sends the head's gradient to the last state (``dh_n``)
    or to every step (``dh_all``).

    Shapes: x (T, N, D) -> (N, K) or (T * N, K).
    Twin: torch.nn.RNN followed by torch.nn.Linear.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, every_step: bool = False, rng=None,
                 cell=RNN):
        super().__init__()
        func = "SequenceModel"
        for value, name in ((input_size, "input_size"), (hidden_size, "hidden_size"), (output_size, "output_size")):
            check_int(value, name, func, minimum=1)
        if not isinstance(every_step, bool):
            _fail(TypeError, func, "every_step to be True or False", repr(every_step), None)
        if cell not in (RNN, LSTM):
            _fail(TypeError, func, "cell to be course_lib.scratch.recurrent.RNN or LSTM", repr(cell), None)
        rng = check_rng(rng, func)
        self.rnn = cell(input_size, hidden_size, rng=rng)
        self.head = Linear(hidden_size, output_size, rng=rng)
        self.every_step = every_step

    def children(self):
        return [("rnn", self.rnn), ("head", self.head)]

    def forward(self, x):
        h_all = self.rnn(x)
        self.h_shape = h_all.shape
        return self.head(h_all.reshape(-1, h_all.shape[-1])) if self.every_step else self.head(h_all[-1])

    def backward(self, dout):
        dh = self.head.backward(dout)
        if self.every_step:
            return self.rnn.backward(dh.reshape(self.h_shape))
        return self.rnn.backward(None, dh_n=dh)


def fit_sampled(model, sample_batch: Callable, steps: int, lr: float, rng=None, batch_size: int = 64,
                loss: Callable = softmax_cross_entropy) -> list:
    """Adam on ``steps`` fresh batches: ``sample_batch(batch_size, rng) -> (x, targets)``; returns every loss.

    The loop of chapter 3 (sample, forward, backward, update) for tasks that
    generate their data instead of holding a fixed training set.

    Shapes: x and targets as the model and ``loss`` take them -> [float] * steps.
    Twin: a torch loop with torch.optim.Adam.
    """
    func = "fit_sampled"
    if not callable(getattr(model, "backward", None)):
        _fail(TypeError, func, "model to be a course_lib.scratch Module", type(model).__name__, None)
    for value, name in ((sample_batch, "sample_batch"), (loss, "loss")):
        if not callable(value):
            _fail(TypeError, func, f"{name} to be a function", type(value).__name__, None)
    steps = check_int(steps, "steps", func, minimum=0)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    rng = check_rng(rng, func)
    opt, losses = Adam(model, lr=lr), []
    for _ in range(steps):
        x, target = sample_batch(batch_size, rng)
        value, dout = loss(model.forward(x), target)
        model.backward(dout)
        opt.step()
        losses.append(float(value))
    return losses


# ----------------------------------------------------------------------------- one to many, with feedback


def caption_inputs(images: np.ndarray, previous: np.ndarray, vocab_size: int) -> np.ndarray:
    """The inputs of a captioner that feeds back its previous letter.

    Step 0 gets the image (and no letter); step t > 0 gets no image and the
    one-hot letter ``previous[t]``, the letter written at step t - 1 (the
    true one while training, "teacher forcing"; the model's own when
    generating). ``previous[0]`` is ignored.

    Shapes: images (N, P), previous (T, N) ints in [0, K) -> x (T, N, P + K).
    """
    func = "caption_inputs"
    check_array(images, "images", func, ndim=2, shape_doc="(N, P)", dtype_kind="f")
    check_array(previous, "previous", func, ndim=2, shape_doc="(T, N)", dtype_kind="iu")
    vocab_size = check_int(vocab_size, "vocab_size", func, minimum=1)
    if previous.shape[1] != len(images):
        _fail(ValueError, func, "one column of previous per image", f"{previous.shape[1]} and {len(images)}", None)
    steps, n, p = previous.shape[0], len(images), images.shape[1]
    x = np.zeros((steps, n, p + vocab_size))
    x[0, :, :p] = images
    x[1:, :, p:] = np.eye(vocab_size)[previous[1:]]
    return x


def greedy_captions(model, images: np.ndarray, steps: int, vocab_size: int) -> np.ndarray:
    """Letters generated one step at a time, each step's most likely letter fed back as the next input.

    Shapes: images (N, P) -> letter ids (T, N).
    """
    func = "greedy_captions"
    if not isinstance(model, _SequenceModel):
        _fail(TypeError, func, "a SequenceModel", type(model).__name__, None)
    check_array(images, "images", func, ndim=2, shape_doc="(N, P)", dtype_kind="f")
    steps = check_int(steps, "steps", func, minimum=1)
    vocab_size = check_int(vocab_size, "vocab_size", func, minimum=1)
    letters = np.zeros((steps, len(images)), dtype=np.int64)
    h = None
    for t in range(steps):
        previous = np.roll(letters[: t + 1], 1, axis=0)  # previous[t]: the letter written at step t - 1
        x_t = caption_inputs(images, previous, vocab_size)[t : t + 1]
        h = model.rnn(x_t, h)[-1]
        letters[t] = model.head(h).argmax(axis=1)
    return letters


# ----------------------------------------------------------------------------- the adding problem, many seeds


class _EnsembleRecurrent(nn.Module):
    """``members`` independent one-layer RNNs or LSTMs, each with a linear read-out of its last state.

    They are stored as ONE ``nn.RNN`` / ``nn.LSTM`` of ``members * hidden_size``
    units whose weights are block-diagonal: member s reads only its own
    input features and its own units, and its read-out reads only its own
    units. The blocks outside the diagonal are zero and stay zero (their
    gradients are masked), so member s computes exactly what its own
    ``nn.LSTM(input_size, hidden_size)`` and ``nn.Linear(hidden_size, 1)``
    would, while one fast C++ loop over time serves every member.
    Initialised like torch with each member's own size, U(-1/sqrt(H), 1/sqrt(H)),
    from ``seed``, plus ``forget_bias`` on the LSTM's forget-gate bias.

    Shapes: x (S, T, N, D) -> (S, N).
    Twin: S copies of torch.nn.RNN / torch.nn.LSTM and torch.nn.Linear (see ``member``).
    """

    def __init__(self, kind: str, members: int, input_size: int = 2, hidden_size: int = 32,
                 forget_bias: float = 0.0, seed: int = 0):
        super().__init__()
        func = "EnsembleRecurrent"
        if kind not in ("RNN", "LSTM"):
            _fail(ValueError, func, "kind 'RNN' or 'LSTM'", repr(kind), None)
        s = self.members = check_int(members, "members", func, minimum=1)
        d = self.input_size = check_int(input_size, "input_size", func, minimum=1)
        h = self.hidden_size = check_int(hidden_size, "hidden_size", func, minimum=1)
        forget_bias = check_float(forget_bias, "forget_bias", func)
        seed = check_int(seed, "seed", func, minimum=0)
        self.kind, gates = kind, (4 if kind == "LSTM" else 1)
        self.rnn = (nn.LSTM if kind == "LSTM" else nn.RNN)(s * d, s * h)
        self.head = nn.Linear(s * h, s)
        unit_member = np.tile(np.repeat(np.arange(s), h), gates)  # the member of every gate row
        self.row_member = {"rnn.weight_ih_l0": unit_member, "rnn.weight_hh_l0": unit_member,
                           "rnn.bias_ih_l0": unit_member, "rnn.bias_hh_l0": unit_member,
                           "head.weight": np.arange(s), "head.bias": np.arange(s)}
        col_member = {"rnn.weight_ih_l0": np.repeat(np.arange(s), d), "rnn.weight_hh_l0": np.repeat(np.arange(s), h),
                      "head.weight": np.repeat(np.arange(s), h)}
        self.masks = {name: torch.tensor(self.row_member[name][:, None] == cols[None, :], dtype=torch.float32)
                      for name, cols in col_member.items()}
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * h**-0.5)
                if name in self.masks:
                    p.mul_(self.masks[name])
            if kind == "LSTM":
                self.rnn.bias_ih_l0[s * h : 2 * s * h] += forget_bias  # the forget gate: torch's 2nd block

    def forward(self, x):
        s, t_steps, n, d = x.shape
        h_all = self.rnn(x.permute(1, 2, 0, 3).reshape(t_steps, n, s * d))[0]
        return self.head(h_all[-1]).T

    def clip_members_(self, max_norm: float = 1.0) -> torch.Tensor:
        """Mask the gradients to the blocks, then scale each member's gradient to norm at most ``max_norm``."""
        norms = torch.zeros(self.members)
        for name, p in self.named_parameters():
            if name in self.masks:
                p.grad.mul_(self.masks[name])
            rows = torch.from_numpy(self.row_member[name])
            norms.index_add_(0, rows, (p.grad**2).reshape(len(rows), -1).sum(dim=1))
        norms = norms.sqrt()
        scale = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for name, p in self.named_parameters():
            p.grad.mul_(scale[torch.from_numpy(self.row_member[name])].reshape(-1, *[1] * (p.dim() - 1)))
        return norms

    def member(self, k: int):
        """Member k as its own (nn.RNN or nn.LSTM, nn.Linear) pair with copied weights."""
        k = check_int(k, "k", "EnsembleRecurrent.member", minimum=0, maximum=self.members - 1)
        d, h = self.input_size, self.hidden_size
        cell = (nn.LSTM if self.kind == "LSTM" else nn.RNN)(d, h)
        head = nn.Linear(h, 1)
        rows = np.flatnonzero(self.row_member["rnn.weight_ih_l0"] == k)
        with torch.no_grad():
            cell.weight_ih_l0.copy_(self.rnn.weight_ih_l0[rows][:, k * d : (k + 1) * d])
            cell.weight_hh_l0.copy_(self.rnn.weight_hh_l0[rows][:, k * h : (k + 1) * h])
            cell.bias_ih_l0.copy_(self.rnn.bias_ih_l0[rows])
            cell.bias_hh_l0.copy_(self.rnn.bias_hh_l0[rows])
            head.weight.copy_(self.head.weight[k : k + 1, k * h : (k + 1) * h])
            head.bias.copy_(self.head.bias[k : k + 1])
        return cell, head


def train_adding_ensemble(kind: str, seeds, seq_len: int = 50, steps: int = 600, batch_size: int = 128,
                          hidden_size: int = 32, forget_bias: float = 1.0, val=None, every: int = 50) -> dict:
    """Train one network per seed on the adding problem (Adam 0.01, each network's gradient norm clipped to 1).

    Each seed draws its own batches (``adding_problem``) and its own initial
    weights. Every ``every`` steps the mean squared error of every network
    on ``val = (x, y)`` is recorded. Returns ``{"state": the ensemble's
    state dict, "curves": (S, steps // every) held-out MSE}``.

    Shapes: val x (T, N, 2), y (N,) -> curves (S, steps // every).
    """
    func = "train_adding_ensemble"
    if isinstance(seeds, str) or not isinstance(seeds, list | tuple) or not seeds:
        _fail(TypeError, func, "seeds as a non-empty list of ints", type(seeds).__name__, "e.g. [10, 11, 12]")
    seeds = [check_int(s, "seed", func, minimum=0) for s in seeds]
    steps = check_int(steps, "steps", func, minimum=1)
    every = check_int(every, "every", func, minimum=1)
    seq_len, batch_size = check_int(seq_len, "seq_len", func, minimum=2), check_int(batch_size, "batch_size", func,
                                                                                    minimum=1)
    if not isinstance(val, tuple) or len(val) != 2:
        _fail(TypeError, func, "val as a pair (x, y) from adding_problem", type(val).__name__, None)
    model = EnsembleRecurrent(kind, len(seeds), 2, hidden_size, forget_bias if kind == "LSTM" else 0.0, seeds[0])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gens = [np.random.default_rng(s) for s in seeds]
    x_val = torch.tensor(val[0], dtype=torch.float32).expand(len(seeds), *val[0].shape)
    y_val = torch.tensor(val[1], dtype=torch.float32)
    curves = []
    for step in range(steps):
        pairs = [adding_problem(batch_size, seq_len, g) for g in gens]
        x = torch.tensor(np.stack([p[0] for p in pairs]), dtype=torch.float32)
        y = torch.tensor(np.stack([p[1] for p in pairs]), dtype=torch.float32)
        opt.zero_grad()
        ((model(x) - y) ** 2).mean(dim=1).sum().backward()  # member s's loss reaches member s's weights only
        model.clip_members_(1.0)  # clip_grad_norm_(1.0), network by network
        opt.step()
        if (step + 1) % every == 0:
            with torch.no_grad():
                curves.append(((model(x_val) - y_val) ** 2).mean(dim=1).numpy())
    return {"state": model.state_dict(), "curves": np.stack(curves, axis=1)}


# ----------------------------------------------------------------------------- the character model


class _CharLSTM(Module):
    """Embedding -> LSTM -> Linear over a (T, N) batch of character ids; ``step`` runs one character.

    Shapes: ids (T, N) -> logits (T * N, K).
    Twin: ``TorchCharLSTM`` (same parameter names).
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, rng=None):
        super().__init__()
        func = "CharLSTM"
        for value, name in ((vocab_size, "vocab_size"), (embedding_dim, "embedding_dim"),
                            (hidden_size, "hidden_size")):
            check_int(value, name, func, minimum=1)
        rng = check_rng(rng, func)
        self.embedding = Embedding(vocab_size, embedding_dim, rng=rng)
        self.lstm = LSTM(embedding_dim, hidden_size, rng=rng)
        self.head = Linear(hidden_size, vocab_size, rng=rng)

    def children(self):
        return [("embedding", self.embedding), ("lstm", self.lstm), ("head", self.head)]

    def forward(self, ids, h0=None, c0=None):
        self.ids_shape = ids.shape
        h_all = self.lstm(self.embedding(ids), h0, c0)
        return self.head(h_all.reshape(-1, h_all.shape[-1]))

    def backward(self, dlogits):
        dh_all = self.head.backward(dlogits).reshape(*self.ids_shape, -1)
        self.embedding.backward(self.lstm.backward(dh_all))

    def step(self, ids, state):
        """One character for a batch: ids (N,) -> logits (N, K) and the new (h, c) state."""
        h0, c0 = state if state is not None else (None, None)
        logits = self.forward(ids[None], h0, c0)
        return logits, (self.lstm.h_n, self.lstm.c_n)


def train_char_model(model, train_ids: np.ndarray, val_ids: np.ndarray, steps: int, lr: float,
                     seq_len: int, batch_size: int, rng=None, every: int = 50) -> list:
    """Truncated BPTT on random windows, gradient norm clipped to 1; logs (step, train bpc, held-out bpc).

    Shapes: ids (L,) ints -> [(int, float, float)] every ``every`` steps.
    Twin: the same loop with torch.optim.Adam and torch.nn.utils.clip_grad_norm_.
    """
    func = "train_char_model"
    if not isinstance(model, _CharLSTM):
        _fail(TypeError, func, "a CharLSTM", type(model).__name__, None)
    steps, every = check_int(steps, "steps", func, minimum=1), check_int(every, "every", func, minimum=1)
    lr = check_float(lr, "lr", func, minimum=0.0, strict_min=True)
    opt, rng, log = Adam(model, lr=lr), check_rng(rng, func), []
    for step in range(steps):
        x, y = char_batches(train_ids, seq_len, batch_size, rng)  # y: the next character
        loss, dlogits = softmax_cross_entropy(model.forward(x), y.reshape(-1))
        model.backward(dlogits)
        clip_grad_norm(model, 1.0)
        opt.step()
        if (step + 1) % every == 0:
            log.append((step + 1, loss / np.log(2), bits_per_char(model, val_ids)))
    return log


def eval_columns(ids: np.ndarray, length: int = 100) -> np.ndarray:
    """Held-out text cut into columns of ``length`` + 1 characters (each read from a zero state).

    Shapes: ids (L,) -> (length + 1, L // (length + 1)).
    """
    check_array(ids, "ids", "eval_columns", ndim=1, shape_doc="(L,)", dtype_kind="iu")
    length = check_int(length, "length", "eval_columns", minimum=1)
    cols = ids.size // (length + 1)
    if cols == 0:
        _fail(ValueError, "eval_columns", f"at least {length + 1} ids", str(ids.size), "use a shorter length")
    return ids[: cols * (length + 1)].reshape(cols, length + 1).T


def bits_per_char(model, ids_eval: np.ndarray, length: int = 100) -> float:
    """Held-out bits per character of a scratch character model (``eval_columns``, next-character targets).

    Shapes: ids_eval (L,) -> float.
    """
    if not callable(getattr(model, "forward", None)):
        _fail(TypeError, "bits_per_char", "a character model with forward(ids)", type(model).__name__, None)
    chunk = eval_columns(ids_eval, length)
    loss, _ = softmax_cross_entropy(model.forward(chunk[:-1]), chunk[1:].reshape(-1))
    return float(loss / np.log(2))


class _TorchCharLSTM(nn.Module):
    """The PyTorch twin of ``CharLSTM``: nn.Embedding, nn.LSTM, nn.Linear under the same names.

    Shapes: ids (T, N) -> logits (T * N, K).
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, dtype=None):
        super().__init__()
        func = "TorchCharLSTM"
        for value, name in ((vocab_size, "vocab_size"), (embedding_dim, "embedding_dim"),
                            (hidden_size, "hidden_size")):
            check_int(value, name, func, minimum=1)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            _fail(TypeError, func, "dtype to be a torch dtype or None", type(dtype).__name__,
                  "e.g. twin_dtype(device)")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, dtype=dtype)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype)

    def forward(self, ids):
        h_all = self.lstm(self.embedding(ids))[0]
        return self.head(h_all.reshape(-1, h_all.shape[-1]))


def train_torch_char_model(seed: int, train_ids: np.ndarray, eval_ids: np.ndarray, config: dict,
                           device=None) -> float:
    """Train a ``TorchCharLSTM`` (float32) with ``config``'s recipe from ``seed``; return its bpc on ``eval_ids``.

    ``config`` holds embedding_dim, hidden_size, seq_len, batch_size, steps, lr.
    Shapes: ids (L,) -> float.
    """
    func = "train_torch_char_model"
    seed = check_int(seed, "seed", func, minimum=0)
    keys = ("embedding_dim", "hidden_size", "seq_len", "batch_size", "steps", "lr")
    if not isinstance(config, dict) or any(k not in config for k in keys):
        _fail(TypeError, func, f"config as a dict with {keys}", type(config).__name__, None)
    device = torch.device("cpu") if device is None else torch.device(device)
    vocab_size = int(max(train_ids.max(), eval_ids.max())) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TorchCharLSTM(vocab_size, config["embedding_dim"], config["hidden_size"]).to(device)
    opt, rng = torch.optim.Adam(model.parameters(), lr=config["lr"]), np.random.default_rng(seed)
    for _ in range(config["steps"]):
        x, y = char_batches(train_ids, config["seq_len"], config["batch_size"], rng)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x).to(device)),
                                                 torch.from_numpy(y.reshape(-1)).to(device))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    chunk = torch.from_numpy(eval_columns(eval_ids)).to(device)
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(chunk[:-1]), chunk[1:].reshape(-1)).item() / np.log(2)


def gradient_profile(dx: np.ndarray) -> np.ndarray:
    """Mean norm of the gradient reaching the input k steps before the last, for k = 0, 1, ..., relative to k = 0.

    Shapes: dx (T, N, D) -> (T,).
    """
    check_array(dx, "dx", "gradient_profile", ndim=3, shape_doc="(T, N, D)", dtype_kind="f")
    norms = np.linalg.norm(dx, axis=2).mean(axis=1)[::-1]
    if norms[0] == 0:
        _fail(ValueError, "gradient_profile", "a non-zero gradient at the last step", "0", None)
    return norms / norms[0]


# ----------------------------------------------------------------------------- public constructors
# The classes above are built through these functions, which check their arguments first.


def SequenceModel(input_size: int, hidden_size: int, output_size: int, every_step: bool = False,  # noqa: N802
                  rng=None, cell=RNN):
    """A recurrent cell (``RNN`` by default) and a linear head on the last step or on every step.

    ``forward(x)`` returns the head's logits: (N, K) for the last step only
    (``every_step=False``, many-to-one), (T * N, K) time-major for every step.
    ``backward(dout)`` sends the head's gradient to the last state or to every step.

    Shapes: x (T, N, D) -> (N, K) or (T * N, K).
    Twin: torch.nn.RNN followed by torch.nn.Linear.
    """
    return _SequenceModel(input_size, hidden_size, output_size, every_step, rng, cell)


def EnsembleRecurrent(kind: str, members: int, input_size: int = 2, hidden_size: int = 32,  # noqa: N802
                      forget_bias: float = 0.0, seed: int = 0):
    """``members`` independent one-layer RNNs or LSTMs with linear read-outs, as one block-diagonal network.

    See ``_EnsembleRecurrent``; ``member(k)`` returns network k as its own
    (nn.RNN or nn.LSTM, nn.Linear) pair.

    Shapes: x (S, T, N, D) -> (S, N).
    Twin: S copies of torch.nn.RNN / torch.nn.LSTM and torch.nn.Linear.
    """
    return _EnsembleRecurrent(kind, members, input_size, hidden_size, forget_bias, seed)


def CharLSTM(vocab_size: int, embedding_dim: int, hidden_size: int, rng=None):  # noqa: N802
    """Embedding -> LSTM -> Linear over a (T, N) batch of character ids; ``step`` runs one character.

    Shapes: ids (T, N) -> logits (T * N, K).
    Twin: ``TorchCharLSTM`` (same parameter names).
    """
    return _CharLSTM(vocab_size, embedding_dim, hidden_size, rng)


def TorchCharLSTM(vocab_size: int, embedding_dim: int, hidden_size: int, dtype=None):  # noqa: N802
    """The PyTorch twin of ``CharLSTM``: nn.Embedding, nn.LSTM, nn.Linear under the same names.

    Shapes: ids (T, N) -> logits (T * N, K).
    """
    return _TorchCharLSTM(vocab_size, embedding_dim, hidden_size, dtype)
