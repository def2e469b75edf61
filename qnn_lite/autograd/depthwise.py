"""Depthwise 2-D convolution (``groups = in_channels``), tap by tap, forward and backward side by side.

Each channel has its own ``KH x KW`` filter, so there is no sum over channels for
a GEMM to do: im2col would copy every window only to multiply it by 9 numbers.
Instead the convolution is a sum of ``KH * KW`` shifted, scaled copies of the
image (the loop is over the kernel taps, never over channels):

    y[n, c] = sum_{i, j} w[c, i, j] * x_p[n, c, i d + s h, j d + s w]

With a channel multiplier ``m = O / C > 1`` each input channel is first repeated
``m`` times (output channel ``o`` reads input channel ``o // m``, as in PyTorch).
Backward: the input gradient adds ``w[c, i, j] * grad`` back onto each tap's
slice; the weight gradient of tap ``(i, j)`` is ``sum_{n, h, w} grad * slice``.
Shapes: ``x (N, C, H, W)``, ``weight (C m, 1, KH, KW)`` -> ``(N, C m, OH, OW)``.
"""
from __future__ import annotations

import numpy as np

from .function import Function


def _tap(xp, i, j, stride, dilation, out_size):
    """The slice of the padded channels-last image ``(N, H, W, C)`` that tap ``(i, j)`` reads."""
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out_size
    return xp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw, :]


class DepthwiseConv2d(Function):
    """$y[n, o] = b[o] + \\sum_{i, j} w[o, 0, i, j] \\, x_p[n, o // m, s h + d i, s w + d j]$

    Computed channels-last, so every multiply-add runs over rows of C (or OW*C) contiguous
    numbers; NCHW in, C-contiguous NCHW out.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, out_size):
        O, _, kh, kw = weight.shape
        mult = O // x.shape[1]
        xr = x if mult == 1 else np.repeat(x, mult, axis=1)
        ph, pw = padding                                                         # zero-pad, channels last
        xp = np.ascontiguousarray(np.pad(xr, ((0, 0), (0, 0), (ph, ph), (pw, pw))).transpose(0, 2, 3, 1))
        w = weight[:, 0].transpose(1, 2, 0)                                      # (KH, KW, O)
        y = np.zeros((x.shape[0], *out_size, O), dtype=np.result_type(x, weight))
        tmp = np.empty_like(y)
        for i in range(kh):
            for j in range(kw):
                y += np.multiply(_tap(xp, i, j, stride, dilation, out_size), w[i, j], out=tmp)
        if bias is not None:
            y += bias
        ctx.save_for_backward(xp, w, x.shape, stride, padding, dilation, out_size)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        xp, w, x_shape, stride, padding, dilation, out_size = ctx.saved_tensors
        kh, kw, O = w.shape
        N, C, H, W = x_shape
        need_x, need_w, need_b = ctx.needs_input_grad
        g = np.ascontiguousarray(grad.transpose(0, 2, 3, 1))                     # (N, OH, OW, O)
        dx = dw = db = None
        if need_x:
            dxp = np.zeros(xp.shape, dtype=g.dtype)
            tmp = np.empty_like(g)
            for i in range(kh):
                for j in range(kw):
                    _tap(dxp, i, j, stride, dilation, out_size)[...] += np.multiply(g, w[i, j], out=tmp)
            ph, pw = padding
            dx = dxp[:, ph:ph + H, pw:pw + W, :]
            if O != C:                                           # channel multiplier: sum the m copies
                dx = dx.reshape(N, H, W, C, O // C).sum(axis=4)
            dx = np.ascontiguousarray(dx.transpose(0, 3, 1, 2))
        if need_w:
            dw = np.empty((O, 1, kh, kw), dtype=g.dtype)
            for i in range(kh):
                for j in range(kw):
                    dw[:, 0, i, j] = np.einsum("nhwc,nhwc->c", g, _tap(xp, i, j, stride, dilation, out_size))
        if need_b:
            db = g.reshape(-1, O).sum(axis=0)
        return dx, dw, db
