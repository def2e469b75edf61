"""Activations: relu, relu6, hardswish, sigmoid, tanh, softmax and log_softmax (numerically stable)."""
from __future__ import annotations

import numpy as np

from .function import Function
from .ops import _array_arg
from .reduce import _axis
from .tensor import Tensor


_ZEROS: dict = {}  # (shape, dtype) -> a read-only array of zeros; a few recent shapes only


def _zeros_like(x: np.ndarray) -> np.ndarray:
    """Zeros of ``x``'s shape and dtype, cached: ``np.maximum(x, zeros)`` runs numpy's vectorised
    loop (~3x faster than with the scalar 0, which takes a non-SIMD broadcast path), same values."""
    key = (x.shape, x.dtype)
    z = _ZEROS.get(key)
    if z is None:
        if len(_ZEROS) >= 8:
            _ZEROS.pop(next(iter(_ZEROS)))
        z = _ZEROS[key] = np.zeros(x.shape, x.dtype)
        z.flags.writeable = False
    return z


class ReLU(Function):
    r"$f(x) = \max(x, 0)$,  $f' = [x > 0]$ (0 at x = 0, like PyTorch)"
    @staticmethod
    def forward(ctx, x):
        fast = x.dtype.kind == "f" and x.flags.c_contiguous and x.ndim  # (same output layout as below)
        out = np.maximum(x, _zeros_like(x)) if fast else np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * (ctx.saved_tensors[0] > 0)


class ReLU6(Function):
    r"$f(x) = \min(\max(x, 0), 6)$,  $f' = [0 < x < 6]$ (0 at both kinks, like PyTorch's hardtanh)"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.clip(x, 0, 6)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved_tensors[0]
        return grad * ((x > 0) & (x < 6))


class Hardswish(Function):
    r"""$f(x) = x \, \mathrm{ReLU6}(x + 3) / 6$ (Howard et al., 2019, MobileNetV3);
    $f' = 0$ for $x < -3$, $(2x + 3)/6$ for $-3 \le x \le 3$, 1 above (PyTorch's rule)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * np.clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved_tensors[0]
        return grad * np.where(x < -3, 0, np.where(x <= 3, (2 * x + 3) / 6, 1)).astype(x.dtype)


class Sigmoid(Function):
    r"$\sigma(x) = 1 / (1 + e^{-x})$,  $\sigma' = \sigma (1 - \sigma)$"
    @staticmethod
    def forward(ctx, x):
        # e^{-|x|} never overflows: sigma = 1/(1+e) for x >= 0 and e/(1+e) for x < 0
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1, e) / (1 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        s = ctx.saved_tensors[0]
        return grad * s * (1 - s)


class Tanh(Function):
    r"$f(x) = \tanh x$,  $f' = 1 - \tanh^2 x$"
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        t = ctx.saved_tensors[0]
        return grad * (1 - t * t)


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x, axis)``: the largest entry becomes 0, so exp never overflows."""
    m = x.max(axis=axis, keepdims=True)
    if not np.isfinite(m).all():  # rows of all -inf stay NaN, as in PyTorch; never inf - inf from m
        m = np.where(np.isfinite(m), m, 0)
    return x - m


class LogSoftmax(Function):
    r"$y_i = x_i - \log \sum_j e^{x_j}$ (max subtracted first);  $\partial x = g - e^{y} \sum_j g_j$"
    @staticmethod
    def forward(ctx, x, axis):
        s = _shifted(x, axis)
        out = s - np.log(np.exp(s).sum(axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True), None


class Softmax(Function):
    r"$y_i = e^{x_i} / \sum_j e^{x_j}$ (max subtracted first);  $\partial x = y (g - \sum_j g_j y_j)$"
    @staticmethod
    def forward(ctx, x, axis):
        e = np.exp(_shifted(x, axis))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        y = ctx.saved_tensors[0]
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True)), None


def relu(x) -> Tensor:
    """$\\max(x, 0)$ elementwise."""
    return ReLU.apply(_array_arg(x))


def relu6(x) -> Tensor:
    """$\\min(\\max(x, 0), 6)$ elementwise (MobileNetV2's activation)."""
    return ReLU6.apply(_array_arg(x))


def hardswish(x) -> Tensor:
    """$x \\, \\mathrm{ReLU6}(x + 3) / 6$ elementwise (MobileNetV3's activation)."""
    return Hardswish.apply(_array_arg(x))


def sigmoid(x) -> Tensor:
    """Logistic sigmoid $1/(1+e^{-x})$, stable for large |x|."""
    return Sigmoid.apply(_array_arg(x))


def tanh(x) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return Tanh.apply(_array_arg(x))


def _softmax_axis(x, axis, dim) -> int:
    axis = _axis(axis if dim is None else dim, None)  # dim= (PyTorch) replaces the default axis
    nd = x.ndim
    if not isinstance(axis, (int, np.integer)) or not -max(nd, 1) <= axis < max(nd, 1):
        raise ValueError(f"axis must be one int in {-max(nd, 1)}..{max(nd, 1) - 1} for a {nd}-D "
                         f"tensor, got {axis!r}")
    return int(axis)


def log_softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    """$\\log \\mathrm{softmax}(x)$ along ``axis``, computed stably (Goodfellow et al., 2016, §4.1)."""
    x = _array_arg(x)
    return LogSoftmax.apply(x, _softmax_axis(x, axis, dim))


def softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    """$e^{x_i} / \\sum_j e^{x_j}$ along ``axis``, computed stably."""
    x = _array_arg(x)
    return Softmax.apply(x, _softmax_axis(x, axis, dim))
