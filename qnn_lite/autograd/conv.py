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

Groups split the channels into ``G`` independent convolutions (Krizhevsky et al.,
2012): input channels ``g*C/G .. (g+1)*C/G`` feed only output channels
``g*O/G .. (g+1)*O/G``, so the one GEMM becomes ``G`` GEMMs done as one batched
``np.matmul``. Depthwise convolution (MobileNets, Howard et al., 2017) is
``groups = C``: every channel has its own ``KH x KW`` filter; ``conv2d`` sends it
to ``depthwise.py``, a multiply-and-add over the kernel taps without im2col. Dilation ``d`` spaces the taps ``d`` pixels
apart (Yu & Koltun, 2016); the window view just uses ``d`` times the image's strides.

Shapes (PyTorch's, NCHW): ``x (N, C, H, W)``, ``weight (O, C/G, KH, KW)``,
``bias (O,)``, output ``(N, O, OH, OW)`` with
``OH = (H + 2 p - d (KH - 1) - 1) // s + 1``.
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


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """$\\lfloor (size + 2 p - d (k - 1) - 1) / s \\rfloor + 1$, the number of window positions along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_geometry(shape, kernel_size, stride, padding, what: str = "kernel_size", dilation=(1, 1)):
    """Validate a conv / pool geometry; return (KH, KW), (SH, SW), (PH, PW), (OH, OW).

    With ``dilation`` a window spans ``d (k - 1) + 1`` pixels; the size check uses that span."""
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
    dh, dw = _pair(dilation, "dilation")
    if dh < 1 or dw < 1:
        raise ValueError(f"dilation must be >= 1, got {(dh, dw)}")
    H, W = shape[2], shape[3]
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if span[0] > H + 2 * ph or span[1] > W + 2 * pw:
        dil = "" if (dh, dw) == (1, 1) else f" with dilation {(dh, dw)} (span {span})"
        raise ValueError(f"{what} {(kh, kw)}{dil} is larger than the padded input "
                         f"{(H + 2 * ph, W + 2 * pw)} (input {tuple(shape)}, padding {(ph, pw)})")
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
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


def _windows_hwc(xp: np.ndarray, kernel, stride, out_size, order: str = "hwc", dilation=(1, 1)) -> np.ndarray:
    """View of the channels-last ``xp`` as ``(N, OH, OW, KH, KW, C)`` (``order="hwc"``)
    or ``(N, OH, OW, C, KH, KW)`` (``order="chw"``); the taps ``dilation`` pixels apart."""
    N, C = xp.shape[0], xp.shape[3]
    sN, sH, sW, sC = xp.strides
    (kh, kw), (sth, stw), (oh, ow), (dh, dw) = kernel, stride, out_size, dilation
    if order == "hwc":
        return as_strided(xp, (N, oh, ow, kh, kw, C), (sN, sH * sth, sW * stw, sH * dh, sW * dw, sC),
                          writeable=False)
    return as_strided(xp, (N, oh, ow, C, kh, kw), (sN, sH * sth, sW * stw, sC, sH * dh, sW * dw),
                      writeable=False)


def _im2col_hwc(xp: np.ndarray, kernel, stride, out_size, dilation=(1, 1)) -> np.ndarray:
    """``(N, OH, OW, KH, KW, C)`` copy of the windows of the channels-last ``xp`` (C-contiguous).

    One copy of the strided view, except for one channel, where copying tap by tap
    (KH*KW slices of the whole batch) is ~2x faster than numpy's copy of runs of length 1.
    """
    if xp.shape[3] != 1:
        return np.ascontiguousarray(_windows_hwc(xp, kernel, stride, out_size, dilation=dilation))
    (kh, kw), (sh, sw), (oh, ow), (dh, dw) = kernel, stride, out_size, dilation
    cols = np.empty((xp.shape[0], oh, ow, kh, kw, 1), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = xp[:, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw, :]
    return cols


def im2col(x, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Every conv window of ``x`` as a row: ``(N, C, H, W) -> (N*OH*OW, C*KH*KW)``.

    Rows run over ``(n, oh, ow)`` (C order); columns over ``(c, kh, kw)`` — the same
    order as PyTorch's ``weight.reshape(out_channels, -1)``, so a convolution is
    ``im2col(x, ...) @ weight.reshape(O, -1).T``. Accepts an ``np.ndarray`` or a Tensor
    (its data is used; no gradient is recorded). Built from a strided view of the
    padded image; the only loop is numpy's copy.
    """
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    dilation = _pair(dilation, "dilation")
    kernel, stride, padding, out_size = _check_geometry(x.shape, kernel_size, stride, padding,
                                                        dilation=dilation)
    win = _windows_hwc(_pad_hwc(x, padding), kernel, stride, out_size, order="chw", dilation=dilation)
    return win.reshape(x.shape[0] * out_size[0] * out_size[1], -1)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """The adjoint of ``im2col``: add each row of ``cols`` back onto its window.

    ``(N*OH*OW, C*KH*KW) -> (N, C, H, W)``; overlapping windows add up. One loop
    over the KH*KW kernel offsets, each a strided slice of the whole batch.
    """
    dilation = _pair(dilation, "dilation")
    kernel, stride, padding, (oh, ow) = _check_geometry(x_shape, kernel_size, stride, padding,
                                                        dilation=dilation)
    N, C, H, W = x_shape
    kh, kw = kernel
    c6 = cols.reshape(N, oh, ow, C, kh, kw).transpose(0, 1, 2, 4, 5, 3)   # -> (N, OH, OW, KH, KW, C)
    return _col2im_hwc(c6, x_shape, kernel, stride, padding, (oh, ow), dilation)


def _col2im_hwc(c6, x_shape, kernel, stride, padding, out_size, dilation=(1, 1)) -> np.ndarray:
    """``c6 (N, OH, OW, KH, KW, C)`` added onto a channels-last image; returned as an NCHW view."""
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw) = kernel, stride, padding, out_size, dilation
    dxp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=c6.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw, :] += c6[:, :, :, i, j, :]
    return dxp[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2)


class Conv2d(Function):
    """$y[n, o] = b[o] + \\sum_{c, i, j} w[o, c, i, j] \\, x_p[n, g C_g + c, s h + d i, s w + d j]$
    with $g = o // O_g$ (im2col + GEMM; one batched GEMM over the groups).

    Internally the image is made channels-last, so each window row is copied in
    runs of C contiguous numbers, and the columns come in ``(kh, kw, c)`` order;
    the weight is permuted to match (``(O, KH, KW, C)``, a tiny copy). Output and
    input gradient are returned C-contiguous NCHW, so elementwise ops after the
    layer never mix memory layouts (which makes numpy several times slower).
    With ``groups = G > 1`` the columns are regrouped to ``(G, M, KH*KW*C/G)`` and
    multiplied by ``(G, KH*KW*C/G, O/G)`` in one ``np.matmul`` (no loop over channels).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        O, Cg, kh, kw = weight.shape
        N = x.shape[0]
        _, _, _, out_size = _check_geometry(x.shape, (kh, kw), stride, padding, dilation=dilation)
        M = N * out_size[0] * out_size[1]
        cols = _im2col_hwc(_pad_hwc(x, padding), (kh, kw), stride, out_size, dilation).reshape(M, -1)
        if groups == 1:
            w2 = weight.transpose(0, 2, 3, 1).reshape(O, -1)        # (O, KH*KW*C), matches cols
            y2 = cols @ w2.T                                         # (M, O)
        else:                                                        # (G, M, KH*KW*Cg) @ (G, KH*KW*Cg, Og)
            cols = _group_cols(cols, groups, Cg)
            w2 = weight.reshape(groups, O // groups, Cg, kh, kw).transpose(0, 3, 4, 2, 1)
            w2 = w2.reshape(groups, kh * kw * Cg, O // groups)
            y2 = (cols @ w2).transpose(1, 0, 2).reshape(M, O)
        y = y2.reshape(N, out_size[0], out_size[1], O).transpose(0, 3, 1, 2)
        ctx.save_for_backward(cols, w2, x.shape, weight.shape, stride, padding, out_size, dilation, groups)
        if bias is None:
            return np.ascontiguousarray(y)
        out = np.empty(y.shape, dtype=np.result_type(y, bias))  # C-contiguous NCHW; the bias add
        return np.add(y, bias[:, None, None], out=out)         # and the layout change in one pass

    @staticmethod
    def backward(ctx, grad):
        cols, w2, x_shape, w_shape, stride, padding, out_size, dilation, groups = ctx.saved_tensors
        O, Cg, kh, kw = w_shape
        g = grad.transpose(0, 2, 3, 1).reshape(-1, O)          # (N*OH*OW, O)
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = dw = db = None
        if groups == 1:
            if need_x:  # one GEMM for every tap at once, then col2im adds the taps back
                dx = _col2im_taps(g @ w2, x_shape, (kh, kw), stride, padding, out_size, dilation)
            if need_w:  # (cols^T g)^T: the same sums as g^T cols, but BLAS splits its 144 rows over threads
                dw = (cols.T @ g).T.reshape(O, kh, kw, Cg).transpose(0, 3, 1, 2)
        else:
            gg = g.reshape(len(g), groups, O // groups).transpose(1, 0, 2)   # (G, M, Og)
            if need_x:  # per group: g_g W_g^T, back to (M, KH*KW*C) columns, then col2im
                dcols = (gg @ w2.transpose(0, 2, 1)).reshape(groups, len(g), kh * kw, Cg)
                dcols = dcols.transpose(1, 2, 0, 3).reshape(len(g), -1)
                dx = _col2im_taps(dcols, x_shape, (kh, kw), stride, padding, out_size, dilation)
            if need_w:  # per group: cols_g^T g_g, (G, KH*KW*Cg, Og) -> (O, Cg, KH, KW)
                dw = (cols.transpose(0, 2, 1) @ gg).reshape(groups, kh, kw, Cg, O // groups)
                dw = dw.transpose(0, 4, 3, 1, 2).reshape(O, Cg, kh, kw)
        if need_b:  # column sums as a GEMV: numpy's axis-0 sum of a tall, narrow matrix is ~50x slower
            db = np.ones(len(g), dtype=g.dtype) @ g
        return dx, dw, db


def _group_cols(cols: np.ndarray, groups: int, cg: int) -> np.ndarray:
    """``(M, KH*KW*C)`` columns in ``(kh, kw, c)`` order -> ``(G, M, KH*KW*C/G)``: group ``g``'s taps only."""
    M = len(cols)
    taps = cols.shape[1] // (groups * cg)
    return np.ascontiguousarray(cols.reshape(M, taps, groups, cg).transpose(2, 0, 1, 3)).reshape(groups, M, -1)


def _col2im_taps(dcols, x_shape, kernel, stride, padding, out_size, dilation) -> np.ndarray:
    """col2im of ``(M, KH*KW*C)`` columns in ``(kh, kw, c)`` order -> C-contiguous ``(N, C, H, W)``.

    Compiled adds (``kernels/col2im.py`` via ``kernels/dispatch.py``) for ``dilation=1``; the readable numpy slices otherwise."""
    if dilation == (1, 1):
        from ..kernels.dispatch import col2im_nchw  # compiled; bit-identical to col2im
        return col2im_nchw(dcols, x_shape, kernel, stride, padding, out_size)
    N, C = x_shape[:2]
    c6 = dcols.reshape(N, out_size[0], out_size[1], kernel[0], kernel[1], C)
    return np.ascontiguousarray(_col2im_hwc(c6, x_shape, kernel, stride, padding, out_size, dilation))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution, ``torch.nn.functional.conv2d``.

    ``x (N, C, H, W)``, ``weight (O, C/groups, KH, KW)``, ``bias (O,)`` or None
    -> ``(N, O, OH, OW)``, ``OH = (H + 2 padding - dilation (KH - 1) - 1) // stride + 1``.
    ``groups`` must divide both C and O; ``groups = C`` is a depthwise convolution.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight)
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"weight must be 4-D (out_channels, in_channels / groups, KH, KW), "
                         f"got shape {weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    groups = int(groups)
    if x.shape[1] % groups or weight.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({x.shape[1]}) and the "
                         f"output channels ({weight.shape[0]})")
    if weight.shape[1] * groups != x.shape[1]:
        per_group = "" if groups == 1 else f" per group x groups={groups}"
        raise ValueError(f"weight expects {weight.shape[1]} input channels{per_group} but input has "
                         f"{x.shape[1]}: weight shape {weight.shape}, input shape {x.shape}")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) to match weight "
                             f"{weight.shape}, got {bias.shape}")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    dilation = _pair(dilation, "dilation")
    _, _, _, out_size = _check_geometry(x.shape, weight.shape[2:], stride, padding, dilation=dilation)
    if groups > 1 and weight.shape[1] == 1:   # depthwise: a sum over the taps, no im2col (depthwise.py)
        from .depthwise import DepthwiseConv2d
        return DepthwiseConv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                                     out_size=out_size)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
