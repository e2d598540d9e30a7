"""Embeddings from scratch: a lookup table of learned vectors, and its gradient.

Token ids go in, rows of the table come out; the gradient of a row is the
sum of the gradients of every place it was looked up.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks import _fail, check_array, check_cache, check_int, check_rng, check_shape, named_errors
from course_lib.scratch.modules import Module


def embedding_forward(indices, weight):
    """Look up rows of ``weight``: out[...] = weight[indices[...]].

    Returns (out, cache). Indices may have any shape, e.g. (T, N) token ids.
    Shapes: indices (...) integers in [0, num_embeddings),
    weight (num_embeddings, embedding_dim) -> out (..., embedding_dim).
    Twin: torch.nn.functional.embedding (torch.nn.Embedding).
    """
    func = "embedding_forward"
    check_array(weight, "weight", func, ndim=2, shape_doc="(num_embeddings, embedding_dim)", dtype_kind="f")
    check_array(
        indices,
        "indices",
        func,
        dtype_kind="iu",
        fix="indices are token ids; cast them, e.g. indices.astype(np.int64)",
    )
    num = weight.shape[0]
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= num:
        _fail(
            ValueError,
            func,
            f"indices in [0, {num}) for a weight with num_embeddings={num}",
            f"values from {low} to {high}",
            "map tokens to ids 0..num_embeddings-1 or make the table bigger",
        )
    return weight[indices], (indices, weight.shape)


def embedding_backward(dout, cache):
    """Gradient of the table: rows looked up several times add up.

    Returns dweight (there is no gradient with respect to integer indices).
    Shapes: dout (..., embedding_dim) -> dweight (num_embeddings, embedding_dim).
    Twin: torch.autograd through torch.nn.functional.embedding.
    """
    func = "embedding_backward"
    indices, weight_shape = check_cache(cache, func, "embedding_forward", 2, {0: np.ndarray, 1: tuple})
    shape = indices.shape + (weight_shape[1],)
    check_array(dout, "dout", func, ndim=len(shape), shape_doc=str(shape))  # the one full scan of the call
    check_shape(dout, shape, "dout", func, "dout matches the forward output")
    dweight = np.zeros(weight_shape, dtype=dout.dtype)
    np.add.at(dweight, indices.ravel(), dout.reshape(-1, weight_shape[1]))
    return dweight


class Embedding(Module):
    """A lookup table of learned vectors, like torch.nn.Embedding.

    The parameter is ``weight`` (num_embeddings, embedding_dim), initialised
    N(0, 1) as in torch. ``backward(dout)`` fills ``grads["weight"]`` and
    returns None: integer indices have no gradient.
    Shapes: indices (...) integers -> (..., embedding_dim).
    Twin: torch.nn.Embedding(num_embeddings, embedding_dim)
    (course_lib.twins.recurrent.torch_embedding_like).
    """

    def __init__(self, num_embeddings, embedding_dim, *, rng=None, dtype=np.float64):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", "Embedding", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", "Embedding", minimum=1)
        rng = check_rng(rng, "Embedding")
        shape = (self.num_embeddings, self.embedding_dim)
        self.params["weight"] = rng.standard_normal(shape).astype(dtype)
        self.grads["weight"] = np.zeros(shape, dtype=dtype)
        self._cache = None

    def forward(self, indices):
        with named_errors("Embedding.forward"):
            out, self._cache = embedding_forward(indices, self.params["weight"])
        return out

    def backward(self, dout):
        if not isinstance(dout, np.ndarray):
            _fail(TypeError, "Embedding.backward", "dout to be a numpy.ndarray", type(dout).__name__,
                  "pass the gradient of the loss with respect to the looked-up vectors")
        if self._cache is None:
            _fail(
                RuntimeError,
                "Embedding.backward",
                "a forward pass first",
                "backward with no cache",
                "call forward(indices)",
            )
        with named_errors("Embedding.backward"):
            self.grads["weight"][...] = embedding_backward(dout, self._cache)
        return None
