"""2-D convolution by im2col + one matrix product, forward and backward side by side.

A convolution slides a ``(C, KH, KW)`` filter over the image. ``im2col`` copies
every window into one row of a matrix, so the whole layer becomes a single GEMM
(Chellapilla et al., 2006, "High performance convolutional neural networks for
document processing"):

    cols = im2col(x)                      # (N*OH*OW, C*KH*KW)
    y    = cols @ weight.reshape(O, -1).T # (N*OH*OW, O)  -> reshape to (N, O, OH, OW)

The backward pass is two more GEMMs and ``col2im``, which adds every row of the
column gradient back onto the window it came from.

Shapes (PyTorch's, NCHW): ``x (N, C, H, W)``, ``weight (O, C, KH, KW)``,
``bias (O,)``, output ``(N, O, OH, OW)`` with ``OH = (H + 2 p - KH) // s + 1``.
Only ``groups=1`` and ``dilation=1``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .function import Function
from .tensor import Tensor


def _pair(value, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3) -> (2, 3)``; anything else is a named error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """$\\lfloor (size + 2 p - k) / s \\rfloor + 1$, the number of window positions along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_geometry(shape, kernel_size, stride, padding, what: str = "kernel_size"):
    """Validate a conv / pool geometry; return (KH, KW), (SH, SW), (PH, PW), (OH, OW)."""
    if len(shape) != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W), got shape {tuple(shape)}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size must be >= 1, got {(kh, kw)}")
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be >= 1, got {(sh, sw)}")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {(ph, pw)}")
    H, W = shape[2], shape[3]
    if kh > H + 2 * ph or kw > W + 2 * pw:
        raise ValueError(f"{what} {(kh, kw)} is larger than the padded input "
                         f"{(H + 2 * ph, W + 2 * pw)} (input {tuple(shape)}, padding {(ph, pw)})")
    oh, ow = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    return (kh, kw), (sh, sw), (ph, pw), (oh, ow)


def pad2d(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` by ``padding = (PH, PW)`` on each side with ``value``."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    out = np.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = x
    return out


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            out_size: tuple[int, int]) -> np.ndarray:
    """A read-only *view* ``(N, C, OH, OW, KH, KW)`` of every window of the padded ``xp``.

    No copy and no Python loop: the two window axes reuse the image's own strides.
    """
    N, C = xp.shape[:2]
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, shape=(N, C, out_size[0], out_size[1], kernel[0], kernel[1]),
                      strides=(sN, sC, sH * stride[0], sW * stride[1], sH, sW), writeable=False)


def im2col(x, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Every conv window of ``x`` as a row: ``(N, C, H, W) -> (N*OH*OW, C*KH*KW)``.

    Rows run over ``(n, oh, ow)`` (C order); columns over ``(c, kh, kw)`` — the same
    order as PyTorch's ``weight.reshape(out_channels, -1)``, so a convolution is
    ``im2col(x, ...) @ weight.reshape(O, -1).T``. Accepts an ``np.ndarray`` or a Tensor
    (its data is used; no gradient is recorded).
    """
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    kernel, stride, padding, out_size = _check_geometry(x.shape, kernel_size, stride, padding)
    win = windows(pad2d(x, padding), kernel, stride, out_size)      # (N, C, OH, OW, KH, KW)
    N, C = x.shape[:2]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * out_size[0] * out_size[1], -1)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of ``im2col``: add each row of ``cols`` back onto its window.

    ``(N*OH*OW, C*KH*KW) -> (N, C, H, W)``; overlapping windows add up. One loop
    over the KH*KW kernel offsets, each a strided slice of the whole batch.
    """
    kernel, stride, padding, (oh, ow) = _check_geometry(x_shape, kernel_size, stride, padding)
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    c6 = cols.reshape(N, oh, ow, C, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, OH, OW)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += c6[:, :, i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W]


class Conv2d(Function):
    """$y[n, o] = b[o] + \\sum_{c, i, j} w[o, c, i, j] \\, x_p[n, c, s h + i, s w + j]$ (im2col + GEMM)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=(1, 1), padding=(0, 0)):
        O = weight.shape[0]
        kernel = weight.shape[2:]
        _, _, _, (oh, ow) = _check_geometry(x.shape, kernel, stride, padding)
        cols = im2col(x, kernel, stride, padding)               # (N*OH*OW, C*KH*KW)
        w2 = weight.reshape(O, -1)                              # (O, C*KH*KW)
        y = cols @ w2.T                                         # (N*OH*OW, O)
        if bias is not None:
            y += bias
        ctx.save_for_backward(cols, w2, x.shape, weight.shape, stride, padding)
        N = x.shape[0]
        return np.ascontiguousarray(y.reshape(N, oh, ow, O).transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        cols, w2, x_shape, w_shape, stride, padding = ctx.saved_tensors
        O = w_shape[0]
        g = grad.transpose(0, 2, 3, 1).reshape(-1, O)          # (N*OH*OW, O)
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = col2im(g @ w2, x_shape, w_shape[2:], stride, padding) if need_x else None
        dw = (g.T @ cols).reshape(w_shape) if need_w else None
        db = g.sum(axis=0) if need_b else None
        return dx, dw, db


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution, ``torch.nn.functional.conv2d`` with ``groups=1``.

    ``x (N, C, H, W)``, ``weight (O, C, KH, KW)``, ``bias (O,)`` or None
    -> ``(N, O, OH, OW)``, ``OH = (H + 2 padding - KH) // stride + 1``.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"weight must be 4-D (out_channels, in_channels, KH, KW), got shape {weight.shape}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight expects {weight.shape[1]} input channels but input has "
                         f"{x.shape[1]}: weight shape {weight.shape}, input shape {x.shape}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) to match weight "
                             f"{weight.shape}, got {bias.shape}")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    _check_geometry(x.shape, weight.shape[2:], stride, padding)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding)
