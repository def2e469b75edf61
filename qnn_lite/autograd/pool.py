"""2-D max and average pooling over stride-trick windows, forward and backward side by side.

``windows`` (from ``conv.py``) views the padded input as ``(N, C, OH, OW, KH, KW)``
without copying; pooling reduces the last two axes.

* max pool: ``y = max over the window``; the gradient goes to the position of the
  maximum. On ties the *first* maximum in row-major window order gets it all
  (``np.argmax``'s rule). Padding uses ``-inf``, so it is never the maximum.
* average pool: ``y = mean over the window``, zero padding counted in the
  divisor (PyTorch's default ``count_include_pad=True``); each input in a window
  receives ``grad / (KH * KW)``.

Shapes: ``x (N, C, H, W) -> (N, C, OH, OW)``, ``OH = (H + 2 p - KH) // s + 1``;
``stride`` defaults to ``kernel_size`` and ``padding`` must be at most half the
kernel (as in PyTorch).
"""
from __future__ import annotations

import numpy as np

from .conv import _check_geometry, _pair, pad2d, windows
from .function import Function
from .tensor import Tensor


def _add_at_offsets(dxp, per_offset, kernel, stride, out_size):
    """``dxp[window (i, j) of every output] += per_offset(i, j)``: one loop over kernel offsets."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += per_offset(i, j)


class MaxPool2d(Function):
    """$y[n, c, h, w] = \\max_{i, j} x_p[n, c, s h + i, s w + j]$; gradient to the (first) argmax."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0)):
        _, _, _, out_size = _check_geometry(x.shape, kernel, stride, padding)
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        win = windows(pad2d(x, padding, fill), kernel, stride, out_size)
        flat = win.reshape(*win.shape[:4], -1)                  # (N, C, OH, OW, KH*KW), a copy
        arg = flat.argmax(axis=-1)                              # first maximum on ties
        y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        ctx.save_for_backward(arg, x.shape, kernel, stride, padding, out_size)
        return y

    @staticmethod
    def backward(ctx, grad):
        arg, x_shape, kernel, stride, padding, out_size = ctx.saved_tensors
        N, C, H, W = x_shape
        (ph, pw), kw = padding, kernel[1]
        dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=grad.dtype)
        _add_at_offsets(dxp, lambda i, j: np.where(arg == i * kw + j, grad, 0),
                        kernel, stride, out_size)
        return dxp[:, :, ph:ph + H, pw:pw + W]


class AvgPool2d(Function):
    """$y[n, c, h, w] = \\frac{1}{K_H K_W} \\sum_{i, j} x_p[n, c, s h + i, s w + j]$ (zero padding counted)."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0)):
        _, _, _, out_size = _check_geometry(x.shape, kernel, stride, padding)
        win = windows(pad2d(x, padding), kernel, stride, out_size)
        ctx.save_for_backward(x.shape, kernel, stride, padding, out_size)
        return win.mean(axis=(4, 5), dtype=x.dtype if x.dtype.kind == "f" else np.float32)

    @staticmethod
    def backward(ctx, grad):
        x_shape, kernel, stride, padding, out_size = ctx.saved_tensors
        N, C, H, W = x_shape
        (ph, pw) = padding
        share = grad / (kernel[0] * kernel[1])
        dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=grad.dtype)
        _add_at_offsets(dxp, lambda i, j: share, kernel, stride, out_size)
        return dxp[:, :, ph:ph + H, pw:pw + W]


def _pool_args(x, kernel_size, stride, padding):
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    _check_geometry(x.shape, kernel, stride, padding)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding must be at most half of kernel_size {kernel}, got {padding}")
    return x, kernel, stride, padding


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max pooling, ``torch.nn.functional.max_pool2d``: ``(N, C, H, W) -> (N, C, OH, OW)``."""
    x, kernel, stride, padding = _pool_args(x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Average pooling, ``torch.nn.functional.avg_pool2d`` (``count_include_pad=True``)."""
    x, kernel, stride, padding = _pool_args(x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)
