"""2-D convolution by im2col + one matrix product, forward and backward side by side.

A convolution slides a ``(C, KH, KW)`` filter over the image. ``im2col`` copies
every window into one row of a matrix, so the whole layer becomes a single GEMM
(Chellapilla et al., 2006, "High performance convolutional neural networks for
document processing"):

    cols = im2col(x)                      # (N*OH*OW, C*KH*KW)
    y    = cols @ weight.reshape(O, -1).T # (N*OH*OW, O)  -> reshape to (N, O, OH, OW)

The backward pass is ``dW = g^T cols`` and the input gradient, which is
``col2im(g @ W)``: every row of the column gradient added back onto the window
it came from. The GEMM is one call for all kernel taps; the adds run in a small
compiled loop (``kernels/col2im.py``, reached through ``kernels/dispatch.py``) in the
same order as ``col2im`` below, its numpy reference.

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


def _pad_hwc(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """``(N, C, H, W) -> (N, H + 2 PH, W + 2 PW, C)``: zero-padded and channels-last, one copy."""
    N, C, H, W = x.shape
    ph, pw = padding
    xp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=x.dtype)
    xp[:, ph:ph + H, pw:pw + W, :] = x.transpose(0, 2, 3, 1)
    return xp


def _windows_hwc(xp: np.ndarray, kernel, stride, out_size, order: str = "hwc") -> np.ndarray:
    """View of the channels-last ``xp`` as ``(N, OH, OW, KH, KW, C)`` (``order="hwc"``)
    or ``(N, OH, OW, C, KH, KW)`` (``order="chw"``)."""
    N, C = xp.shape[0], xp.shape[3]
    sN, sH, sW, sC = xp.strides
    (kh, kw), (sth, stw), (oh, ow) = kernel, stride, out_size
    if order == "hwc":
        return as_strided(xp, (N, oh, ow, kh, kw, C), (sN, sH * sth, sW * stw, sH, sW, sC), writeable=False)
    return as_strided(xp, (N, oh, ow, C, kh, kw), (sN, sH * sth, sW * stw, sC, sH, sW), writeable=False)


def _im2col_hwc(xp: np.ndarray, kernel, stride, out_size) -> np.ndarray:
    """``(N, OH, OW, KH, KW, C)`` copy of the windows of the channels-last ``xp`` (C-contiguous).

    One copy of the strided view, except for one channel, where copying tap by tap
    (KH*KW slices of the whole batch) is ~2x faster than numpy's copy of runs of length 1.
    """
    if xp.shape[3] != 1:
        return np.ascontiguousarray(_windows_hwc(xp, kernel, stride, out_size))
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_size
    cols = np.empty((xp.shape[0], oh, ow, kh, kw, 1), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = xp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :]
    return cols


def im2col(x, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Every conv window of ``x`` as a row: ``(N, C, H, W) -> (N*OH*OW, C*KH*KW)``.

    Rows run over ``(n, oh, ow)`` (C order); columns over ``(c, kh, kw)`` — the same
    order as PyTorch's ``weight.reshape(out_channels, -1)``, so a convolution is
    ``im2col(x, ...) @ weight.reshape(O, -1).T``. Accepts an ``np.ndarray`` or a Tensor
    (its data is used; no gradient is recorded). Built from a strided view of the
    padded image; the only loop is numpy's copy.
    """
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    kernel, stride, padding, out_size = _check_geometry(x.shape, kernel_size, stride, padding)
    win = _windows_hwc(_pad_hwc(x, padding), kernel, stride, out_size, order="chw")
    return win.reshape(x.shape[0] * out_size[0] * out_size[1], -1)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of ``im2col``: add each row of ``cols`` back onto its window.

    ``(N*OH*OW, C*KH*KW) -> (N, C, H, W)``; overlapping windows add up. One loop
    over the KH*KW kernel offsets, each a strided slice of the whole batch.
    """
    kernel, stride, padding, (oh, ow) = _check_geometry(x_shape, kernel_size, stride, padding)
    N, C, H, W = x_shape
    kh, kw = kernel
    c6 = cols.reshape(N, oh, ow, C, kh, kw).transpose(0, 1, 2, 4, 5, 3)   # -> (N, OH, OW, KH, KW, C)
    return _col2im_hwc(c6, x_shape, kernel, stride, padding, (oh, ow))


def _col2im_hwc(c6, x_shape, kernel, stride, padding, out_size) -> np.ndarray:
    """``c6 (N, OH, OW, KH, KW, C)`` added onto a channels-last image; returned as an NCHW view."""
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_size
    dxp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=c6.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += c6[:, :, :, i, j, :]
    return dxp[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2)


class Conv2d(Function):
    """$y[n, o] = b[o] + \\sum_{c, i, j} w[o, c, i, j] \\, x_p[n, c, s h + i, s w + j]$ (im2col + GEMM).

    Internally the image is made channels-last, so each window row is copied in
    runs of C contiguous numbers, and the columns come in ``(kh, kw, c)`` order;
    the weight is permuted to match (``(O, KH, KW, C)``, a tiny copy). Output and
    input gradient are returned C-contiguous NCHW, so elementwise ops after the
    layer never mix memory layouts (which makes numpy several times slower).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride=(1, 1), padding=(0, 0)):
        O, C, kh, kw = weight.shape
        N = x.shape[0]
        _, _, _, out_size = _check_geometry(x.shape, (kh, kw), stride, padding)
        M = N * out_size[0] * out_size[1]
        cols = _im2col_hwc(_pad_hwc(x, padding), (kh, kw), stride, out_size).reshape(M, -1)
        w2 = weight.transpose(0, 2, 3, 1).reshape(O, -1)        # (O, KH*KW*C), matches cols
        y = (cols @ w2.T).reshape(N, out_size[0], out_size[1], O).transpose(0, 3, 1, 2)
        ctx.save_for_backward(cols, w2, x.shape, weight.shape, stride, padding, out_size)
        if bias is None:
            return np.ascontiguousarray(y)
        out = np.empty(y.shape, dtype=np.result_type(y, bias))  # C-contiguous NCHW; the bias add
        return np.add(y, bias[:, None, None], out=out)         # and the layout change in one pass

    @staticmethod
    def backward(ctx, grad):
        cols, w2, x_shape, w_shape, stride, padding, out_size = ctx.saved_tensors
        O, C, kh, kw = w_shape
        g = grad.transpose(0, 2, 3, 1).reshape(-1, O)          # (N*OH*OW, O)
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = dw = db = None
        if need_x:  # one GEMM for every tap at once, then col2im adds the taps back (numba)
            from ..kernels.dispatch import col2im_nchw  # compiled; bit-identical to col2im below
            dx = col2im_nchw(g @ w2, x_shape, (kh, kw), stride, padding, out_size)
        if need_w:  # (cols^T g)^T: the same sums as g^T cols, but BLAS splits its 144 rows over threads
            dw = (cols.T @ g).T.reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
        if need_b:  # column sums as a GEMV: numpy's axis-0 sum of a tall, narrow matrix is ~50x slower
            db = np.ones(len(g), dtype=g.dtype) @ g
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
