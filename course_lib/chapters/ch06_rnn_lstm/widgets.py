"""Chapter 6 figures and demo: the unrolled recurrence, the shapes of sequence problems, temperature.

* ``draw_unrolled`` draws a recurrent network folded (one cell with a loop)
  and unrolled over T steps, with boxes and arrows.
* ``draw_sequence_shapes`` draws the slides' one-to-one, one-to-many,
  many-to-one and the two many-to-many wirings side by side.
* ``plot_next_char`` draws a character model's next-character distribution
  at a given sampling temperature; ``sampling_widget`` samples live from
  a model at the temperature and seed the sliders set.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_lib.chapters.ch06_rnn_lstm.sequences import CharVocab, sample_text, softmax_with_temperature
from course_lib.checks import _fail, check_array, check_float, check_int

COLOURS = {"x": "#cfe2f3", "h": "#fce5cd", "y": "#d9ead3"}


def _box(ax, xy, text, kind, w=0.7, h=0.5):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                                fc=COLOURS[kind], ec="black", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(ax, start, end, text=None, rad=0.0, colour="black"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2, color=colour,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", fontsize=8,
                color=colour)


def draw_unrolled(steps: int = 4, ax=None):
    """The RNN folded (left: one cell whose output feeds back) and unrolled over ``steps`` steps (right).

    Every unrolled cell applies the same weights W_xh, W_hh (and W_hy for
    the outputs); gradients flow back along the h arrows (back-propagation
    through time). Returns the Axes.
    Shapes: steps an int from 1 to 8.
    """
    steps = check_int(steps, "steps", "draw_unrolled", minimum=1, maximum=8)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.0 + 1.5 * steps, 3.2))
    # folded
    _box(ax, (0, 0), "$x_t$", "x")
    _box(ax, (0, 1.2), "$h_t$", "h")
    _box(ax, (0, 2.4), "$y_t$", "y")
    _arrow(ax, (0, 0.25), (0, 0.95), None)
    _arrow(ax, (0, 1.45), (0, 2.15), None)
    ax.add_patch(FancyArrowPatch((0.35, 1.3), (0.35, 1.1), arrowstyle="-|>", mutation_scale=12, lw=1.2,
                                 connectionstyle="arc3,rad=-2.2"))
    ax.text(0.75, 1.2, "$W_{hh}$", fontsize=8, va="center")
    ax.text(1.55, 1.2, "=", fontsize=18, va="center", ha="center")
    # unrolled
    x0 = 3.4
    _box(ax, (x0 - 1.2, 1.2), "$h_0$", "h", w=0.55)
    for t in range(steps):
        cx = x0 + 1.5 * t
        _box(ax, (cx, 0), f"$x_{t + 1}$", "x")
        _box(ax, (cx, 1.2), f"$h_{t + 1}$", "h")
        _box(ax, (cx, 2.4), f"$y_{t + 1}$", "y")
        _arrow(ax, (cx, 0.25), (cx, 0.95), None)
        _arrow(ax, (cx, 1.45), (cx, 2.15), None)
        start = (cx - 1.5 + 0.35, 1.2) if t else (x0 - 1.2 + 0.3, 1.2)
        _arrow(ax, start, (cx - 0.35, 1.2), "$W_{hh}$" if t == 0 else None)
    ax.text(x0 + 0.15, 0.55, "$W_{xh}$", fontsize=8)
    ax.text(x0 + 0.15, 1.75, "$W_{hy}$", fontsize=8)
    ax.set_xlim(-0.6, x0 + 1.5 * (steps - 1) + 0.6)
    ax.set_ylim(-0.5, 2.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("one cell, applied at every step with the same weights", fontsize=10)
    return ax


_SHAPES = {
    "one to one": ([1], [1], "feed-forward net"),
    "one to many": ([1, 0, 0], [1, 1, 1], "image captioning"),
    "many to one": ([1, 1, 1], [0, 0, 1], "sentiment classification"),
    "many to many\n(read, then write)": ([1, 1, 1, 0, 0], [0, 0, 0, 1, 1], "machine translation"),
    "many to many\n(in step)": ([1, 1, 1], [1, 1, 1], "video frame labelling"),
}


def draw_sequence_shapes(axes=None):
    """The five wirings of the slides: which steps take an input and which give an output.

    Returns the array of Axes (one per shape).
    Shapes: -> 5 Axes.
    """
    if axes is None:
        _, axes = plt.subplots(1, len(_SHAPES), figsize=(13, 2.4), gridspec_kw={"width_ratios": [1, 3, 3, 5, 3]})
    axes = np.asarray(axes).ravel()
    if axes.size != len(_SHAPES):
        _fail(ValueError, "draw_sequence_shapes", f"{len(_SHAPES)} Axes", f"{axes.size}", None)
    for ax, (title, (ins, outs, example)) in zip(axes, _SHAPES.items()):
        for t, (has_in, has_out) in enumerate(zip(ins, outs)):
            if has_in:
                _box(ax, (t, 0), "", "x", w=0.5, h=0.4)
                _arrow(ax, (t, 0.2), (t, 0.8))
            _box(ax, (t, 1.0), "", "h", w=0.5, h=0.4)
            if has_out:
                _box(ax, (t, 2.0), "", "y", w=0.5, h=0.4)
                _arrow(ax, (t, 1.2), (t, 1.8))
            if t:
                _arrow(ax, (t - 0.75, 1.0), (t - 0.25, 1.0))
        ax.set_xlim(-0.5, len(ins) - 0.5)
        ax.set_ylim(-0.4, 2.4)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{title}\ne.g. {example}", fontsize=9)
    return axes


def _check_logits(next_logits, vocab, func):
    if not isinstance(vocab, CharVocab):
        _fail(TypeError, func, "vocab to be a CharVocab", type(vocab).__name__, None)
    check_array(next_logits, "next_logits", func, ndim=1, shape_doc="(K,)", dtype_kind="f")
    if next_logits.shape != (len(vocab),):
        _fail(ValueError, func, f"next_logits of shape ({len(vocab)},), one per character",
              f"shape {next_logits.shape}", None)


def plot_next_char(next_logits, vocab: CharVocab, temperature: float, top: int = 12, ax=None):
    """Bar chart of the ``top`` most likely next characters at ``temperature``; returns the Axes.

    Shapes: next_logits (K,) for a vocabulary of K characters.
    """
    func = "plot_next_char"
    _check_logits(next_logits, vocab, func)
    temperature = check_float(temperature, "temperature", func, minimum=0.0, strict_min=True)
    top = check_int(top, "top", func, minimum=1)
    p = softmax_with_temperature(next_logits, temperature)
    order = np.argsort(-next_logits, kind="stable")[:top]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.8))
    labels = [repr(vocab.chars[i])[1:-1] or " " for i in order]
    labels = ["space" if lab == " " else lab for lab in labels]
    ax.bar(range(len(order)), p[order], color="tab:blue")
    ax.set_xticks(range(len(order)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(f"temperature {temperature:g}: top {len(order)} hold {p[order].sum():.0%}", fontsize=10)
    return ax


def sampling_widget(step, vocab: CharVocab, prompt: str, length: int = 200, temperature: float = 1.0, seed: int = 0):
    """Sliders for the temperature and the sampling seed; every change samples a new text from the model, live.

    ``step(ids, state) -> (logits, state)`` is the model's one-character step
    (e.g. ``CharLSTM.step``); the figure shows the distribution of the
    character after ``prompt`` at the chosen temperature, and below it a
    text of ``length`` characters drawn with ``sample_text`` from that seed.
    A change costs ``length`` model steps (well under a second for the
    chapter's model).
    Shapes: none.
    """
    func = "sampling_widget"
    if not callable(step):
        _fail(TypeError, func, "step to be a function (ids, state) -> (logits, state)", type(step).__name__,
              "pass the model's step, e.g. lm.step")
    if not isinstance(vocab, CharVocab):
        _fail(TypeError, func, "vocab to be a CharVocab", type(vocab).__name__, None)
    if not isinstance(prompt, str) or not prompt:
        _fail(ValueError, func, "a non-empty prompt (str)", repr(prompt), "e.g. prompt='Return the '")
    length = check_int(length, "length", func, minimum=1, maximum=2000)
    temperature = check_float(temperature, "temperature", func, minimum=0.1, maximum=3.0)
    seed = check_int(seed, "seed", func, minimum=0, maximum=99)
    state, logits = None, None
    for i in vocab.encode(prompt):
        logits, state = step(np.array([i]), state)
    next_logits = np.asarray(logits, dtype=np.float64)[0]

    def draw(temperature, seed):
        fig, ax = plt.subplots(figsize=(6, 2.8))
        plot_next_char(next_logits, vocab, temperature, ax=ax)
        ax.set_title(f"after {prompt!r}, " + ax.get_title(), fontsize=10)
        plt.show()
        print(sample_text(step, vocab, prompt, length, temperature=temperature, rng=np.random.default_rng(seed)))

    full = {"description_width": "initial"}
    return widgets.interactive(
        draw,
        temperature=widgets.FloatSlider(value=temperature, min=0.1, max=3.0, step=0.1, description="temperature",
                                        continuous_update=False, style=full),
        seed=widgets.IntSlider(value=seed, min=0, max=99, description="sampling seed", continuous_update=False,
                               style=full),
    )
