"""Sequence data for chapter 6: the adding problem, a character corpus, and sampling.

* ``adding_problem`` generates the long-range task of Hochreiter and
  Schmidhuber (1997) in the form of Le, Jaitly and Hinton (2015): a
  sequence of random numbers, two of them marked, and the target is the sum
  of the two marked numbers.
* ``stdlib_corpus`` builds an offline text corpus from the docstrings of a
  fixed list of Python standard-library modules (``STDLIB_MODULES``). Those
  docstrings were checked to be identical on Python 3.10, 3.11, 3.12 and
  3.13; ``is_reference_corpus`` says whether this Python produced exactly
  that text (SHA-256 ``STDLIB_CORPUS_SHA256``).
* ``CharVocab`` maps characters to integer ids and back; ``char_batches``
  cuts random training windows (input, next-character target) from the ids;
  ``unigram_entropy_bits`` is the baseline a character model must beat.
* ``softmax_with_temperature`` and ``sample_text`` generate text from any
  model that exposes one step ``step(ids, state) -> (logits, state)``.

Everything is NumPy and standard library (no torch), time-major like
``course_lib.scratch.recurrent``: a batch of sequences is (T, N, ...).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable

import numpy as np

from course_lib.checks import _fail, check_array, check_float, check_int, check_rng

# Standard-library modules that print, open a browser or start something on import.
_NOISY_MODULES = frozenset({"this", "antigravity", "__hello__", "__phello__", "idlelib", "turtledemo", "__main__"})

# ----------------------------------------------------------------------------
# The adding problem
# ----------------------------------------------------------------------------

ADDING_BASELINE_MSE = 1.0 / 6.0  # Var(u1 + u2) for two independent U(0, 1): the best constant guess's MSE


def adding_problem(n: int, seq_len: int, rng=None):
    """A batch of the adding problem: add the two marked numbers of a long sequence.

    Each sequence has ``seq_len`` steps with two input features: a number
    drawn from U(0, 1) and a marker, 1 at exactly two steps and 0 elsewhere.
    One marked step lies in the first half of the sequence, the other in the
    second half. The target is the sum of the two marked numbers, read after
    the last step (a many-to-one task). Predicting the mean, 1, whatever
    the input gives a mean squared error of Var(u1 + u2) = 1/6
    (``ADDING_BASELINE_MSE``): a model must beat that to have learned anything.

    Shapes: -> x (T, N, 2) float64 (T = seq_len; feature 0 the numbers,
    feature 1 the markers), y (N,) float64.
    """
    func = "adding_problem"
    n = check_int(n, "n", func, minimum=1)
    seq_len = check_int(seq_len, "seq_len", func, minimum=2)
    rng = check_rng(rng, func)
    half = seq_len // 2
    values = rng.uniform(0.0, 1.0, size=(seq_len, n))
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, seq_len, size=n)
    cols = np.arange(n)
    markers = np.zeros((seq_len, n))
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = values[first, cols] + values[second, cols]
    return x, y


# ----------------------------------------------------------------------------
# A character corpus from the standard library's docstrings
# ----------------------------------------------------------------------------

STDLIB_MODULES = (
    "argparse",
    "cmd",
    "codecs",
    "difflib",
    "getopt",
    "io",
    "json",
    "optparse",
    "shelve",
    "textwrap",
    "timeit",
)
STDLIB_CORPUS_SHA256 = "3cd288932e11639a5e18b1a93fed2ed2ab87846abd717cd6f7e9801eebf76f9a"


def module_docs(name: str) -> str:
    """The docstrings of one standard-library module, as one text.

    The module's own docstring, then those of its public functions and
    classes defined in that module (names from ``__all__`` when it exists,
    else every name without a leading underscore), in sorted order, each
    cleaned with ``inspect.cleandoc`` (which makes the text independent of
    Python 3.13's new docstring indentation stripping) and separated by a
    blank line. Methods are not included.

    Shapes: a module name -> str.
    """
    func = "module_docs"
    if not isinstance(name, str):
        _fail(TypeError, func, "a module name (str)", type(name).__name__, "e.g. module_docs('json')")
    if name.split(".")[0] not in sys.stdlib_module_names or name.split(".")[0] in _NOISY_MODULES:
        _fail(ValueError, func, "the name of a standard-library module", repr(name), "e.g. 'json' or 'textwrap'")
    try:
        module = importlib.import_module(name)
    except ImportError:
        _fail(ValueError, func, "the name of an importable module", repr(name), "e.g. 'json' or 'textwrap'")
    parts = [inspect.cleandoc(module.__doc__)] if module.__doc__ else []
    names = getattr(module, "__all__", None)
    if names is None:
        names = [key for key in dir(module) if not key.startswith("_")]
    for key in sorted(names):
        obj = getattr(module, key, None)
        defined_here = getattr(obj, "__module__", None) == name
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and defined_here and obj.__doc__:
            parts.append(inspect.cleandoc(obj.__doc__))
    return "\n\n".join(parts)


def stdlib_corpus(modules=STDLIB_MODULES) -> str:
    """An offline English-and-Python text corpus: the docstrings of ``modules``.

    With the default ``STDLIB_MODULES`` the text is about 62 000 characters
    and identical on Python 3.10 to 3.13 (checked when it was chosen; see
    ``is_reference_corpus``). Modules are joined by a blank line.

    Shapes: a sequence of module names -> str.
    """
    func = "stdlib_corpus"
    if isinstance(modules, str) or not hasattr(modules, "__iter__"):
        _fail(TypeError, func, "a list of module names", type(modules).__name__, "e.g. ['json', 'textwrap']")
    modules = list(modules)
    if not modules:
        _fail(ValueError, func, "at least one module name", "an empty list", "e.g. ['json', 'textwrap']")
    return "\n\n".join(module_docs(name) for name in modules)


def is_reference_corpus(text: str) -> bool:
    """True when ``text`` is exactly the corpus this chapter's outputs were saved with.

    Shapes: str -> bool.
    """
    if not isinstance(text, str):
        _fail(TypeError, "is_reference_corpus", "the corpus text (str)", type(text).__name__, None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest() == STDLIB_CORPUS_SHA256


# ----------------------------------------------------------------------------
# Characters <-> ids
# ----------------------------------------------------------------------------


class CharVocab:
    """The characters of a text, each mapped to an integer id (in sorted order).

    ``encode(text)`` gives an int64 array of ids, ``decode(ids)`` the text
    back; ``len(vocab)`` is the number of distinct characters K.
    Shapes: encode: str of length T -> (T,) int64; decode: (T,) ints -> str.
    """

    def __init__(self, chars):
        if isinstance(chars, str):
            chars = list(chars)
        if not isinstance(chars, Iterable):
            _fail(TypeError, "CharVocab", "a non-empty list of single characters", type(chars).__name__,
                  "build it from a text: CharVocab.from_text(text)")
        chars = list(chars)
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            _fail(TypeError, "CharVocab", "a non-empty list of single characters", repr(chars)[:60],
                  "build it from a text: CharVocab.from_text(text)")
        if len(set(chars)) != len(chars):
            _fail(ValueError, "CharVocab", "distinct characters", "duplicates", "CharVocab.from_text removes them")
        self.chars = tuple(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of every distinct character in ``text``, sorted."""
        if not isinstance(text, str) or not text:
            _fail(TypeError, "CharVocab.from_text", "a non-empty str", type(text).__name__, None)
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of ``text``; an unknown character is an error."""
        if not isinstance(text, str):
            _fail(TypeError, "CharVocab.encode", "a str", type(text).__name__, None)
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            _fail(ValueError, "CharVocab.encode", "characters of the vocabulary",
                  f"unknown characters {unknown[:5]!r}", "build the vocabulary from a text that contains them")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """The text of a sequence of ids."""
        ids = np.asarray(ids)
        check_array(ids, "ids", "CharVocab.decode", ndim=1, shape_doc="(T,)", dtype_kind="iu", allow_empty=True)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            _fail(ValueError, "CharVocab.decode", f"ids in [0, {len(self)})",
                  f"values from {int(ids.min())} to {int(ids.max())}", None)
        return "".join(self.chars[i] for i in ids)


def unigram_entropy_bits(ids, vocab_size: int) -> float:
    """Entropy, in bits per character, of the characters' frequencies in ``ids``.

    The cross-entropy of the best model that ignores context (it predicts
    every character with its overall frequency): a language model must go
    below it to have learned anything about sequences.
    Shapes: ids (T,) ints in [0, K) -> float.
    """
    func = "unigram_entropy_bits"
    vocab_size = check_int(vocab_size, "vocab_size", func, minimum=1)
    check_array(ids, "ids", func, ndim=1, shape_doc="(T,)", dtype_kind="iu")
    if ids.min() < 0 or ids.max() >= vocab_size:
        _fail(ValueError, func, f"ids in [0, {vocab_size})", f"values from {ids.min()} to {ids.max()}", None)
    p = np.bincount(ids, minlength=vocab_size) / ids.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def char_batches(ids, seq_len: int, batch_size: int, rng=None):
    """Random training windows for a character model: inputs and next-character targets.

    Picks ``batch_size`` random start positions s and returns
    x[t, n] = ids[s_n + t] and y[t, n] = ids[s_n + t + 1] for t < seq_len:
    at every step the target is the character that comes next.
    Shapes: ids (L,) ints -> x (T, N) int64, y (T, N) int64 with T = seq_len, N = batch_size.
    """
    func = "char_batches"
    check_array(ids, "ids", func, ndim=1, shape_doc="(L,)", dtype_kind="iu")
    seq_len = check_int(seq_len, "seq_len", func, minimum=1)
    batch_size = check_int(batch_size, "batch_size", func, minimum=1)
    if ids.size < seq_len + 1:
        _fail(ValueError, func, f"at least seq_len + 1 = {seq_len + 1} ids", f"{ids.size}", "use a shorter seq_len")
    rng = check_rng(rng, func)
    starts = rng.integers(0, ids.size - seq_len, size=batch_size)
    window = starts[None, :] + np.arange(seq_len)[:, None]
    return ids[window].astype(np.int64), ids[window + 1].astype(np.int64)


# ----------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------


def softmax_with_temperature(logits, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / temperature) along the last axis.

    temperature 1 is the model's own distribution; below 1 it sharpens
    towards the most likely character (0 is not allowed: use argmax), above
    1 it flattens towards uniform.
    Shapes: logits (..., K) -> probabilities (..., K).
    Twin: torch.softmax(logits / temperature, dim=-1).
    """
    func = "softmax_with_temperature"
    check_array(logits, "logits", func, dtype_kind="f")
    temperature = check_float(temperature, "temperature", func, minimum=0.0, strict_min=True)
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample_text(
    step: Callable,
    vocab: CharVocab,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    rng=None,
) -> str:
    """Generate ``length`` characters after ``prompt`` from a character model.

    ``step(ids, state) -> (logits, state)`` advances the model by one
    character for a batch of one: ids (1,) int64, logits (1, K); ``state``
    is None at the start and whatever the model returned afterwards. The
    prompt is fed first; then each new character is drawn from
    ``softmax_with_temperature(logits, temperature)`` and fed back in.
    Returns the prompt followed by the generated text.
    Shapes: -> str of len(prompt) + length characters.
    """
    func = "sample_text"
    if not callable(step):
        _fail(TypeError, func, "step to be a function (ids, state) -> (logits, state)", type(step).__name__, None)
    if not isinstance(vocab, CharVocab):
        _fail(TypeError, func, "vocab to be a CharVocab", type(vocab).__name__, None)
    if not isinstance(prompt, str) or not prompt:
        _fail(ValueError, func, "a non-empty prompt (str)", repr(prompt), "e.g. prompt='The '")
    length = check_int(length, "length", func, minimum=0)
    temperature = check_float(temperature, "temperature", func, minimum=0.0, strict_min=True)
    rng = check_rng(rng, func)
    state, logits = None, None
    for i in vocab.encode(prompt):
        logits, state = step(np.array([i]), state)
    out = []
    for _ in range(length):
        p = softmax_with_temperature(np.asarray(logits, dtype=np.float64)[0], temperature)
        nxt = int(rng.choice(len(vocab), p=p))
        out.append(vocab.chars[nxt])
        logits, state = step(np.array([nxt]), state)
    return prompt + "".join(out)


def bigram_bits(train_ids, eval_ids, vocab_size: int, alpha: float = 0.1) -> float:
    """Bits per character of a bigram model on ``eval_ids``: P(next | current) counted on ``train_ids``.

    The counts of every (current, next) pair in the training text, plus
    ``alpha`` for every pair (add-alpha smoothing, so an unseen pair keeps a
    small probability), normalised per current character. The baseline a
    recurrent model must beat to show that it uses more than the last character.

    Shapes: train_ids (L,), eval_ids (M,) ints in [0, K) -> float.
    """
    func = "bigram_bits"
    vocab_size = check_int(vocab_size, "vocab_size", func, minimum=1)
    alpha = check_float(alpha, "alpha", func, minimum=0.0, strict_min=True)
    for ids, name in ((train_ids, "train_ids"), (eval_ids, "eval_ids")):
        check_array(ids, name, func, ndim=1, shape_doc="(L,)", dtype_kind="iu")
        if ids.size < 2 or ids.min() < 0 or ids.max() >= vocab_size:
            _fail(ValueError, func, f"{name}: at least 2 ids in [0, {vocab_size})",
                  f"{ids.size} ids from {ids.min()} to {ids.max()}", None)
    counts = np.full((vocab_size, vocab_size), alpha)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    log_p = np.log2(counts / counts.sum(axis=1, keepdims=True))
    return float(-log_p[eval_ids[:-1], eval_ids[1:]].mean())
