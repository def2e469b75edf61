r"""Layer normalisation (Ba, Kiros & Hinton, 2016) and RMSNorm (Zhang & Sennrich, 2019), fused.

LayerNorm over the last axis of ``x (*, D)``:
$\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}$, $y = \gamma \hat x + \beta$
($\sigma^2$ the biased variance, as in PyTorch). Backward, with $g' = g \gamma$:
$\partial x = (g' - \overline{g'} - \hat x \, \overline{g' \hat x}) / \sqrt{\sigma^2 + \epsilon}$,
$\partial \gamma = \sum g \hat x$, $\partial \beta = \sum g$ (sums over all leading axes).

RMSNorm: $y = \gamma x / \sqrt{\overline{x^2} + \epsilon}$;
$\partial x = (g' - \hat x \, \overline{g' \hat x}) / \mathrm{rms}$.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


def _sum_leading(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


class LayerNorm(Function):
    r"$y = \gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ over the last axis"

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=-1, keepdims=True)
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = xc * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        y = xhat if weight is None else xhat * weight
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        gx = grad if weight is None else grad * weight
        dx = None
        if nx:
            dx = (gx - gx.mean(axis=-1, keepdims=True)
                  - xhat * (gx * xhat).mean(axis=-1, keepdims=True)) * rstd
        dw = _sum_leading(grad * xhat) if nw else None
        db = _sum_leading(grad) if nb else None
        return dx, dw, db, None


class RMSNorm(Function):
    r"$y = \gamma x / \sqrt{\overline{x^2} + \epsilon}$ over the last axis"

    @staticmethod
    def forward(ctx, x, weight, eps):
        rstd = (1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)).astype(x.dtype)
        xhat = x * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat if weight is None else xhat * weight

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        gx = grad if weight is None else grad * weight
        dx = (gx - xhat * (gx * xhat).mean(axis=-1, keepdims=True)) * rstd if nx else None
        dw = _sum_leading(grad * xhat) if nw else None
        return dx, dw, None


def _check(x, weight, normalized_shape, eps, name):
    if len(normalized_shape) != 1:
        raise ValueError(f"{name}: normalized_shape must be one int (the last axis), got {normalized_shape!r}")
    d = normalized_shape[0]
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"{name}: input's last axis must be normalized_shape={d}, got input shape {x.shape}")
    if weight is not None and weight.shape != (d,):
        raise ValueError(f"{name}: weight must have shape ({d},), got {weight.shape}")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
        raise ValueError(f"{name}: eps must be a number > 0, got {eps!r}")


def _shape(normalized_shape):
    return (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)


def _t(x):
    return x if isinstance(x, Tensor) or x is None else Tensor(x)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """``torch.nn.functional.layer_norm`` over the last axis: ``x (*, D)``, ``weight, bias (D,)``."""
    x, weight, bias = _t(x), _t(weight), _t(bias)
    shape = _shape(normalized_shape)
    _check(x, weight, shape, eps, "layer_norm")
    if bias is not None and bias.shape != shape:
        raise ValueError(f"layer_norm: bias must have shape {shape}, got {bias.shape}")
    return LayerNorm.apply(x, weight, bias, float(eps))


def rms_norm(x, normalized_shape, weight=None, eps: float = 1e-6) -> Tensor:
    """``torch.nn.functional.rms_norm`` over the last axis: ``x (*, D)``, ``weight (D,)``.

    PyTorch's default ``eps=None`` means the dtype's machine epsilon; we take an explicit 1e-6.
    """
    x, weight = _t(x), _t(weight)
    shape = _shape(normalized_shape)
    _check(x, weight, shape, eps, "rms_norm")
    return RMSNorm.apply(x, weight, float(eps))
