"""Loss functions as fused Functions: cross-entropy on logits, mean squared error.

Cross-entropy is computed from logits in one stable step (log-sum-exp with the
row maximum subtracted), never as ``log(softmax(z))``, which overflows:

    loss_i = logsumexp(z_i) - z_i[y_i],    dloss_i / dz_i = softmax(z_i) - onehot(y_i)

Shapes (PyTorch's): ``logits (N, C)``, ``target (N,)`` integer class labels in
``0..C-1``; ``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'`` (``(N,)``).
"""
from __future__ import annotations

import numpy as np

from ..validate import check_choice

from .function import Function
from .tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        if values.dtype in (np.float32, np.float64) and values.size:
            # exactly what ``values.mean()`` computes (numpy divides the float32 sum by an intp count,
            # i.e. in float64, then rounds back), without the Python layers of ``np.mean``
            total = np.add.reduce(values, axis=None)
            return np.asarray(total.dtype.type(total / np.intp(values.size)), dtype=values.dtype)
        return np.asarray(values.mean(), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    return values


class CrossEntropy(Function):
    """$\\ell_i = \\log \\sum_j e^{z_{ij}} - z_{i y_i}$; gradient $\\mathrm{softmax}(z_i) - \\mathrm{onehot}(y_i)$."""

    @staticmethod
    def forward(ctx, logits, target, reduction="mean"):
        rows = np.arange(len(target))
        shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)   # = logits.max(axis=1, ...)
        picked = shifted[rows, target]
        exp = np.exp(shifted, out=shifted if shifted.dtype.kind == "f" else None)  # shifted not needed after
        sum_exp = np.add.reduce(exp, axis=1)                                # = exp.sum(axis=1)
        losses = np.log(sum_exp)
        losses -= picked
        ctx.save_for_backward(exp, sum_exp, target, reduction, rows)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        exp, sum_exp, target, reduction, rows = ctx.saved_tensors
        probs = exp / sum_exp[:, None]                      # softmax, reusing forward's exp
        probs[rows, target] -= 1
        if reduction == "mean":
            probs *= grad / len(target)
        elif reduction == "sum":
            probs *= grad
        else:
            probs *= grad[:, None]
        return probs, None


class MSELoss(Function):
    """$\\ell = (x - y)^2$ per element, then reduced; gradient $2 (x - y)$."""

    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        diff = x - y
        ctx.save_for_backward(diff, reduction)
        return _reduce(diff * diff, reduction)

    @staticmethod
    def backward(ctx, grad):
        diff, reduction = ctx.saved_tensors
        scale = 2.0 / diff.size if reduction == "mean" else 2.0
        g = diff * (grad * scale).astype(diff.dtype)
        return g, -g


def cross_entropy(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """``torch.nn.functional.cross_entropy`` for ``logits (N, C)`` and int labels ``target (N,)``."""
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    check_choice(reduction, "reduction", _REDUCTIONS)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, C), got shape {logits.shape}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class labels, got dtype {t.dtype}")
    if t.shape != (logits.shape[0],):
        raise ValueError(f"target must have shape ({logits.shape[0]},) to match logits "
                         f"{logits.shape}, got {t.shape}")
    if t.size and (np.minimum.reduce(t) < 0 or np.maximum.reduce(t) >= logits.shape[1]):
        raise ValueError(f"target labels must be in 0..{logits.shape[1] - 1}, "
                         f"got values in {t.min()}..{t.max()}")
    if logits.shape[0] == 0:
        raise ValueError("logits must have at least one row, got shape (0, C)")
    if not np.logical_and.reduce(np.isfinite(logits.data), axis=None):
        raise ValueError("logits must be finite, got NaN or inf (often a sign that lr is too large)")
    return CrossEntropy.apply(logits, t, reduction=reduction)


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """``torch.nn.functional.mse_loss``: squared error, averaged (or summed / kept)."""
    input = input if isinstance(input, Tensor) else Tensor(input)
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=input.dtype))
    check_choice(reduction, "reduction", _REDUCTIONS)
    if input.shape != target.shape:
        raise ValueError(f"target shape {target.shape} must equal input shape {input.shape}")
    return MSELoss.apply(input, target, reduction=reduction)
