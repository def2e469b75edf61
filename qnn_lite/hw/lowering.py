"""Lowering a convolution to the GEMM a systolic array runs (SCALE-Sim's im2col, no padding).

``im2col(x, w, stride)`` returns ``A (batch*E_h*E_w, R*S*C_in)`` and ``B (R*S*C_in, C_out)``
with the taps ordered (R, S, C) as SCALE-Sim's address generator walks them.
"""
from __future__ import annotations

import numpy as np

from .estimate import check_positive_int, conv_output_size


def im2col(x, w, stride: int = 1):
    """(A, B, (batch, E_h, E_w)): the GEMM operands of a no-padding convolution."""
    stride = check_positive_int("stride", stride)
    x, w = np.asarray(x), np.asarray(w)
    for name, arr in (("x", x), ("w", w)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x must be (C_in, H, W) or (batch, C_in, H, W) and w (C_out, C_in, "
                         f"R, S); got x shape {np.shape(x)} and w shape {w.shape}")
    batch, C_in, H, W = x.shape
    C_out, C_w, R, S = w.shape
    if C_w != C_in:
        raise ValueError(f"w has {C_w} input channels but x has {C_in} (w.shape[1] must "
                         f"equal x's channel axis)")
    if R > H or S > W or min(x.shape + w.shape) == 0:
        raise ValueError(f"w's kernel {R}x{S} must fit in x's {H}x{W} image and no axis "
                         f"may be empty; got x {x.shape}, w {w.shape}")
    E_h, E_w = conv_output_size(H, R, stride), conv_output_size(W, S, stride)
    # ceil() can give one more output row/column than fits when (H - R) % stride != 0;
    # SCALE-Sim marks the addresses past the edge invalid: we read zeros there
    pad_h, pad_w = (E_h - 1) * stride + R - H, (E_w - 1) * stride + S - W
    x = np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)))
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(np.int64)  # NHWC
    win = np.lib.stride_tricks.sliding_window_view(xh, (R, S), axis=(1, 2))
    win = win[:, ::stride, ::stride][:, :E_h, :E_w]           # (batch, E_h, E_w, C, R, S)
    A = win.transpose(0, 1, 2, 4, 5, 3).reshape(batch * E_h * E_w, R * S * C_in)
    B = w.astype(np.int64).transpose(2, 3, 1, 0).reshape(R * S * C_in, C_out)
    return A, B, (batch, E_h, E_w)
