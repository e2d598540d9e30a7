"""Recurrent networks from scratch: RNN, LSTM and GRU cells, BPTT, embeddings.

Chapter 6's code lives in one module per idea; this module gathers every
public name, so ``from course_lib.scratch.recurrent import LSTM`` works as
it always did:

* ``course_lib.scratch.rnn``: the layout shared by the three cells, their
  input checks, the tanh RNN (``rnn_step_*``, ``rnn_*``, ``RNN``),
  ``clip_grad_norm`` and ``PARAM_NAMES``;
* ``course_lib.scratch.lstm``: the LSTM in torch's layout (``lstm_step_*``,
  ``lstm_*``, ``LSTM``) and in the slides' (``lstm_weights_to_slides``,
  ``lstm_weights_from_slides``, ``lstm_step_forward_slides``);
* ``course_lib.scratch.gru``: the GRU (``gru_step_*``, ``gru_*``, ``GRU``);
* ``course_lib.scratch.embedding``: ``embedding_forward`` /
  ``embedding_backward`` and ``Embedding``.
"""

from __future__ import annotations

from course_lib.scratch.embedding import Embedding, embedding_backward, embedding_forward
from course_lib.scratch.gru import GRU, gru_backward, gru_forward, gru_step_backward, gru_step_forward
from course_lib.scratch.lstm import (
    LSTM,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    lstm_step_forward_slides,
    lstm_weights_from_slides,
    lstm_weights_to_slides,
)
from course_lib.scratch.rnn import (
    PARAM_NAMES,
    RNN,
    clip_grad_norm,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

__all__ = [
    "GRU",
    "LSTM",
    "PARAM_NAMES",
    "RNN",
    "Embedding",
    "clip_grad_norm",
    "embedding_backward",
    "embedding_forward",
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "lstm_step_forward_slides",
    "lstm_weights_from_slides",
    "lstm_weights_to_slides",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]
