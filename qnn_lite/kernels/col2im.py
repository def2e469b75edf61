"""The input gradient of a convolution, as one GEMM plus a compiled col2im.

``Conv2d.backward`` needs ``dx = col2im(g @ W)``: a GEMM gives, for every output
position, what each kernel tap ``(i, j)`` sends back to the input pixel it read;
col2im adds those pieces onto the image. numpy can only do the adds as 9
strided slices with runs of ``C`` numbers (slow for small ``C``), so the add is
written here as a loop numba compiles (imported lazily, on the first backward).

The order of the adds is part of the result. Every pixel starts at 0 and
receives its taps in ``(i, j)`` order, exactly as ``conv.col2im`` (numpy, the
readable version, the reference) adds its slices, so the two agree bit for bit
(a test checks). ``kernels/dispatch.py`` is where the convolution reaches it.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _col2im_nchw(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, oh, ow):  # pragma: no cover - compiled
    """``cols (N*OH*OW, KH*KW*C)``, columns in ``(i, j, c)`` order -> C-contiguous ``(N, C, H, W)``."""
    dx = np.empty((N, C, H, W), dtype=cols.dtype)
    buf = np.empty((H + 2 * ph, W + 2 * pw, C), dtype=cols.dtype)   # one padded image, channels last
    for n in range(N):
        buf[:] = 0
        r0 = n * oh * ow
        for i in range(kh):
            for j in range(kw):
                k0 = (i * kw + j) * C
                for a in range(oh):
                    for b in range(ow):
                        row = r0 + a * ow + b
                        h, w = a * sh + i, b * sw + j
                        for c in range(C):
                            buf[h, w, c] += cols[row, k0 + c]
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    dx[n, c, h, w] = buf[h + ph, w + pw, c]
    return dx


def col2im_nchw(cols: np.ndarray, x_shape, kernel, stride, padding, out_size) -> np.ndarray:
    """Add the rows of ``cols`` (``(N*OH*OW, KH*KW*C)``, column order ``(kh, kw, c)``) back onto
    their windows; return the C-contiguous ``(N, C, H, W)`` image gradient (padding dropped)."""
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_size
    return _col2im_nchw(np.ascontiguousarray(cols), N, C, H, W, kh, kw, sh, sw, ph, pw, oh, ow)
