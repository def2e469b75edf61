r"""Scaled dot-product attention (Vaswani et al., 2017) as one fused Function, causal mask optional.

$S = Q K^\top \cdot \text{scale}$ (scale $= 1/\sqrt{d}$ by default), masked entries $= -\infty$,
$P = \mathrm{softmax}(S)$ along the last axis, $O = P V$. Backward (softmax's Jacobian in the middle):
$\partial V = P^\top G$, $\partial P = G V^\top$, $\partial S = P \odot (\partial P - \sum_j \partial P \odot P)$,
$\partial Q = \partial S\, K \cdot \text{scale}$, $\partial K = \partial S^\top Q \cdot \text{scale}$.

Shapes (PyTorch's ``F.scaled_dot_product_attention``): ``q (..., L, d)``, ``k (..., S, d)``,
``v (..., S, dv)`` -> ``(..., L, dv)``; ``is_causal`` lets query ``i`` see keys ``0..i`` (top-left
aligned, as in PyTorch); ``attn_mask`` is a bool ``(L, S)`` array, True = may attend.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


def causal_mask(L: int, S: int | None = None) -> np.ndarray:
    """Bool ``(L, S)``: True where query ``i`` may attend to key ``j``, i.e. ``j <= i``."""
    S = L if S is None else S
    return np.tril(np.ones((L, S), dtype=bool))


class Attention(Function):
    r"$O = \mathrm{softmax}(Q K^\top \cdot \text{scale} + M) V$"

    @staticmethod
    def forward(ctx, q, k, v, mask, scale):
        s = np.matmul(q, np.swapaxes(k, -1, -2))
        s *= s.dtype.type(scale)
        if mask is not None:
            s = np.where(mask, s, s.dtype.type(-np.inf))
        s -= s.max(axis=-1, keepdims=True)
        p = np.exp(s, out=s)
        p /= p.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(q, k, v, p, scale)
        return np.matmul(p, v)

    @staticmethod
    def backward(ctx, grad):
        q, k, v, p, scale = ctx.saved_tensors
        nq, nk, nv = ctx.needs_input_grad[:3]
        dv = np.matmul(np.swapaxes(p, -1, -2), grad) if nv else None
        dp = np.matmul(grad, np.swapaxes(v, -1, -2))
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        ds *= ds.dtype.type(scale)
        dq = np.matmul(ds, k) if nq else None
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) if nk else None
        return dq, dk, dv, None, None


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """``torch.nn.functional.scaled_dot_product_attention`` (no dropout): ``(..., L, d) -> (..., L, dv)``."""
    q, k, v = _t(q), _t(k), _t(v)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"q, k, v must have the same rank >= 2, got shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q (..., L, d), k (..., S, d), v (..., S, dv) do not match: "
                         f"{q.shape}, {k.shape}, {v.shape}")
    L, S = q.shape[-2], k.shape[-2]
    if is_causal and attn_mask is not None:
        raise ValueError("give either attn_mask or is_causal=True, not both")
    mask = causal_mask(L, S) if is_causal else None
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        if mask.dtype != bool or mask.shape != (L, S):
            raise ValueError(f"attn_mask must be a bool array of shape ({L}, {S}), got "
                             f"{mask.dtype} {mask.shape}")
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    elif not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"scale must be a number > 0 or None, got {scale!r}")
    return Attention.apply(q, k, v, mask, float(scale))
