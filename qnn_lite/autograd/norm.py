"""Batch normalization (Ioffe & Szegedy, 2015), forward and analytic backward side by side.

Per channel ``c`` over the batch (and spatial) axes:

    x_hat = (x - mu) / sqrt(var + eps),    y = weight * x_hat + bias

* training: ``mu``, ``var`` are the batch mean and *biased* variance; the
  running buffers are updated in place exactly like PyTorch:
  ``running = (1 - momentum) * running + momentum * stat`` with the *unbiased*
  variance ``var * n / (n - 1)`` (``n`` values per channel).
* eval: ``mu``, ``var`` are the running buffers (the layer is a fixed affine map).

Backward in training (the batch statistics depend on x), with ``g = dL/dy * weight``:

    dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)

Shapes: ``x (N, C)`` or ``(N, C, H, W)``; ``running_mean``, ``running_var``,
``weight``, ``bias``: ``(C,)``.
"""
from __future__ import annotations

import numpy as np

from ..validate import check_fraction, check_positive

from .function import Function
from .tensor import Tensor


class BatchNorm(Function):
    """$y = \\gamma (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon} + \\beta$ (batch or running statistics)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None,
                training=True, momentum=0.1, eps=1e-5):
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        use_batch = training or running_mean is None
        if use_batch:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)                                  # biased, for normalising
            if training and running_mean is not None:
                n = x.size // x.shape[1]
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * var * (n / (n - 1))       # unbiased, for the buffer
        else:
            mean, var = running_mean, running_var
        inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        x_hat = (x - mean.reshape(shape).astype(x.dtype)) * inv_std.reshape(shape)
        y = x_hat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        ctx.save_for_backward(x_hat, inv_std, weight, axes, shape, use_batch)
        return y

    @staticmethod
    def backward(ctx, grad):
        x_hat, inv_std, weight, axes, shape, use_batch = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dw = (grad * x_hat).sum(axis=axes) if need_w else None
        db = grad.sum(axis=axes) if need_b else None
        dx = None
        if need_x:
            g = grad if weight is None else grad * weight.reshape(shape)
            if use_batch:
                g = (g - g.mean(axis=axes, keepdims=True)
                     - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))
            dx = g * inv_std.reshape(shape)
        return dx, dw, db


def batch_norm(x: Tensor, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """``torch.nn.functional.batch_norm``: normalise per channel, update the running buffers in place.

    ``x (N, C)`` or ``(N, C, H, W)``; buffers and ``weight``/``bias`` ``(C,)`` (or None).
    With ``training=False`` and buffers given, the running statistics are used.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (2, 4):
        raise ValueError(f"input must be 2-D (N, C) or 4-D (N, C, H, W), got shape {x.shape}")
    C = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and tuple(v.shape) != (C,):
            raise ValueError(f"{name} must have shape ({C},) for input {x.shape}, got {tuple(v.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both be None")
    if running_mean is not None:
        running_mean = running_mean.data if isinstance(running_mean, Tensor) else running_mean
        running_var = running_var.data if isinstance(running_var, Tensor) else running_var
    if (training or running_mean is None) and x.size // max(C, 1) <= 1:
        raise ValueError(f"batch_norm needs more than 1 value per channel when training, "
                         f"got input shape {x.shape}")
    check_fraction(momentum, "momentum")
    check_positive(eps, "eps")
    return BatchNorm.apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                           training=bool(training), momentum=float(momentum), eps=float(eps))
