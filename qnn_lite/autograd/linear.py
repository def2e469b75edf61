"""The fully connected layer as one fused Function: ``y = x W^T + b``.

Fusing the matrix product and the bias add into one node keeps the graph small
(one Context instead of three) and lets backward skip what nobody needs — e.g.
the input gradient of the first layer, whose input is data.

Shapes (PyTorch's): ``x (*, in)``, ``weight (out, in)``, ``bias (out,)`` -> ``(*, out)``.
Backward, with ``g = dL/dy`` flattened to ``(M, out)``:
``dx = g W``, ``dW = g^T x``, ``db = sum_rows g``.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


class Linear(Function):
    """$y = x W^\\top + b$"""

    @staticmethod
    def forward(ctx, x, weight, bias):
        y = x @ weight.T
        if bias is not None:
            y += bias
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = grad @ weight if need_x else None
        g2 = grad if grad.ndim == 2 else grad.reshape(-1, grad.shape[-1])
        dw = g2.T @ (x if x.ndim == 2 else x.reshape(-1, x.shape[-1])) if need_w else None
        db = np.add.reduce(g2, axis=0) if need_b else None   # = g2.sum(axis=0)
        return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``torch.nn.functional.linear``: ``x (*, in) @ weight(out, in)^T + bias(out,) -> (*, out)``."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input's last axis must equal weight's in_features {weight.shape[1]}: "
                         f"input shape {x.shape}, weight shape {weight.shape}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) to match weight "
                             f"{weight.shape}, got {bias.shape}")
    return Linear.apply(x, weight, bias)
