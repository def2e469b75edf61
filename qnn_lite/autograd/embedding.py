r"""Embedding lookup as a Function: row ``i`` of the table for every index ``i``.

$y[\dots, :] = W[\mathrm{idx}[\dots], :]$;  $\partial W = \sum_{\text{positions with idx}=i} g$
(a scatter-add: ``np.add.at``), the index gets no gradient.

Shapes (PyTorch's ``F.embedding``): ``idx (*)`` integers in ``0..num_embeddings-1``,
``weight (num_embeddings, embedding_dim)`` -> ``(*, embedding_dim)``.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


class Embedding(Function):
    r"$y = W[\mathrm{idx}]$;  $\partial W_i = \sum_{p: \mathrm{idx}_p = i} g_p$"

    @staticmethod
    def forward(ctx, weight, idx):
        ctx.save_for_backward(idx, weight.shape)
        return weight[idx]

    @staticmethod
    def backward(ctx, grad):
        idx, shape = ctx.saved_tensors
        dw = np.zeros(shape, dtype=grad.dtype)
        # scatter-add: rows that share an index add up (np.add.at does not lose repeated indices)
        np.add.at(dw, idx.reshape(-1), grad.reshape(-1, shape[1]))
        return dw, None


def embedding(idx, weight) -> Tensor:
    """``torch.nn.functional.embedding(input, weight)``: look up rows of ``weight`` (V, D) at ``idx`` (*)."""
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"idx must hold integer indices, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= weight.shape[0]):
        raise ValueError(f"idx must be in 0..{weight.shape[0] - 1} (num_embeddings={weight.shape[0]}), "
                         f"got values in {idx.min()}..{idx.max()}")
    return Embedding.apply(weight, idx)
