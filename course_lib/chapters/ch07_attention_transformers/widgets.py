"""Chapter 7 figures and demo: attention matrices, and where each character of a text attends.

* ``plot_attention`` draws one attention matrix (queries down, keys
  across) with the tokens as tick labels.
* ``gpt_attention`` runs a ``course_lib.chapters.ch07_attention_transformers.charlm.TinyGPT`` on a text and
  returns every layer's and head's weights.
* ``attention_widget`` lets you pick a layer and a head of a trained GPT,
  or type a line, and redraws that head's matrix for it, computing it live;
  ``plot_all_heads`` is the static figure of every layer and head.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib.chapters.ch06_rnn_lstm.sequences import CharVocab
from course_lib.checks import _fail, check_array


def _label(token) -> str:
    text = str(token)
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(text, text)


def plot_attention(weights, queries, keys, ax=None, title: str = ""):
    """One attention matrix as an image: row t is how query t spreads its attention over the keys.

    Shapes: weights (L, S) with rows summing to 1; queries L labels, keys S labels.
    """
    func = "plot_attention"
    check_array(weights, "weights", func, ndim=2, shape_doc="(L, S)", dtype_kind="f")
    if len(queries) != weights.shape[0] or len(keys) != weights.shape[1]:
        _fail(ValueError, func, f"{weights.shape[0]} query labels and {weights.shape[1]} key labels",
              f"{len(queries)} and {len(keys)}", "one label per row and per column")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.3 * weights.shape[1] + 1.5, 0.3 * weights.shape[0] + 1.0))
    ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(keys)), [_label(k) for k in keys], fontsize=7)
    ax.set_yticks(range(len(queries)), [_label(q) for q in queries], fontsize=7)
    ax.set_xlabel("key (attended to)", fontsize=8)
    ax.set_ylabel("query", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def gpt_attention(model, vocab: CharVocab, text: str) -> np.ndarray:
    """Every attention weight of a TinyGPT reading ``text`` (computed now, no gradients).

    Shapes: text of T characters -> weights (layers, heads, T, T) float64.
    """
    func = "gpt_attention"
    if not hasattr(model, "blocks") or not hasattr(model, "context"):
        _fail(TypeError, func, "model to be a TinyGPT (chapter 7's charlm)", type(model).__name__, None)
    if not isinstance(vocab, CharVocab):
        _fail(TypeError, func, "vocab to be a CharVocab", type(vocab).__name__, None)
    if not isinstance(text, str) or not text:
        _fail(ValueError, func, "a non-empty text (str)", repr(text), None)
    ids = torch.from_numpy(vocab.encode(text))[:, None]
    model.eval()
    with torch.no_grad():
        _, weights = model(ids, need_weights=True)  # (N=1, layers, heads, T, T)
    model.train()
    return weights[0].double().numpy()


def plot_all_heads(weights, text: str, size: float = 3.2):
    """The static figure: one attention matrix per layer (rows) and head (columns).

    Shapes: weights (layers, heads, T, T), text of T characters.
    """
    check_array(weights, "weights", "plot_all_heads", ndim=4, shape_doc="(layers, heads, T, T)", dtype_kind="f")
    layers, heads = weights.shape[:2]
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads, size * layers), squeeze=False)
    for layer in range(layers):
        for head in range(heads):
            plot_attention(weights[layer, head], text, text, ax=axes[layer, head],
                           title=f"layer {layer + 1}, head {head + 1}")
    fig.tight_layout()
    return fig


def attention_widget(model, vocab: CharVocab, text: str):
    """Pick a layer and a head, or type a line: the GPT reads the text and shows where each character attends.

    Every redraw runs the model on the text in the box (``gpt_attention``), so
    after training further, or on a line you type, the widget shows the new
    weights. A line the model cannot read (a character outside its
    vocabulary, more characters than its context) gets a message, not a
    traceback.
    Shapes: text of T <= model.context characters.
    """
    func = "attention_widget"
    if not hasattr(model, "blocks") or not hasattr(model, "context"):
        _fail(TypeError, func, "model to be a TinyGPT (chapter 7's charlm)", type(model).__name__, None)
    num_layers = len(model.blocks)
    num_heads = model.blocks[0].self_attn.num_heads
    if len(text) > model.context:
        _fail(ValueError, func, f"a text of at most {model.context} characters", f"{len(text)}", None)
    gpt_attention(model, vocab, text)  # fail early on characters outside the vocabulary

    def draw(layer, head, line):
        problem = _unreadable(line, vocab, model.context)
        if problem:
            print(problem)
            return
        weights = gpt_attention(model, vocab, line)[layer - 1, head - 1]
        fig, ax = plt.subplots(figsize=(6.5, 6.0))
        plot_attention(weights, line, line, ax=ax, title=f"layer {layer}, head {head}: row t is where "
                                                          "character t looks")
        plt.show()

    style = {"description_width": "initial"}
    layer = widgets.Dropdown(options=list(range(1, num_layers + 1)), value=1, description="layer", style=style)
    head = widgets.Dropdown(options=list(range(1, num_heads + 1)), value=1, description="head", style=style)
    line = widgets.Text(value=text, description="text (Enter to run)", continuous_update=False, style=style,
                        layout=widgets.Layout(width="32em"))
    return widgets.interactive(draw, layer=layer, head=head, line=line)


def _unreadable(line: str, vocab: CharVocab, context: int) -> str | None:
    """Why the GPT cannot read ``line``, in words, or None when it can."""
    if not line:
        return "Type a line for the model to read."
    unknown = sorted(set(line) - set(vocab.index))
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5])
        return (f"The model never saw the character(s) {shown} in its training text, so it has no embedding for "
                "them: use only characters of that text.")
    if len(line) > context:
        return (f"The model reads at most {context} characters (its context); this line has {len(line)}. "
                "Shorten it.")
    return None
