"""Chapter 10's integer layer on simulated hardware: ``convert_to_integer``'s GEMM run on an array.

:func:`integer_layer_on` runs one ``IntegerLinear`` / ``IntegerConv2d`` with its GEMM on a
``SystolicArray`` (Kung, 1982; SCALE-Sim) or a ``BitFusionArray`` (Sharma et al., 2018), using
gemmlowp's zero-point expansion, and checks nothing itself: its ``out`` equals ``layer(q)``.
"""
from __future__ import annotations

import numpy as np

from ..hw import BitFusionArray, SystolicArray
from ..transforms.integer import IntegerConv2d, IntegerLinear
from ..transforms.requant import requantize

__all__ = ["integer_layer_on"]


def integer_layer_on(layer, q, hw) -> dict:
    """Run an ``IntegerLinear`` / ``IntegerConv2d`` (``convert_to_integer``) with its GEMM on ``hw``.

    ``hw``: a ``SystolicArray`` or a ``BitFusionArray``. The array multiplies the *raw* input codes
    (uint8 or int8, no subtraction, gemmlowp's form) by the int8 weights ``w_q - z_w``; the zero
    point enters afterwards as a per-channel constant:
    ``acc = q_x @ W - z_x * sum_k W + q_b`` (int32), then ``requantize(acc, M0, shift, ...)``.
    A conv's padding is the code of the real 0 (``z_x``), so padded windows add ``z_x * w``
    and the correction removes it again. Returns ``{"acc", "out", "report"}``; ``out`` equals
    ``layer(q)`` and ``acc`` is laid out like it (``(M, O)`` or ``(B, O, OH, OW)``).
    """
    if not isinstance(hw, (SystolicArray, BitFusionArray)):
        raise TypeError(f"hw must be a SystolicArray or a BitFusionArray, got {type(hw).__name__}")
    q = np.asarray(q)
    z_x = layer.in_qp.zero_point
    W = (layer.w_q.astype(np.int64) - layer.w_z[:, None]).T          # (K, O), int8 constants
    a_signed = layer.in_qp.quant_min < 0
    if isinstance(layer, IntegerLinear):
        if isinstance(hw, SystolicArray):
            raw, report = hw.run_gemm(q.astype(np.int64), W)
        else:
            raw, report = hw.gemm(q, W, a_bits=8, w_bits=8, a_signed=a_signed, w_signed=True)
        acc = raw - z_x * W.sum(axis=0) + layer.bias_q
        out = requantize(acc, layer.M0, layer.shift, layer.out_qp.zero_point, layer.quant_min, layer.out_qp.quant_max)
        return {"acc": acc, "out": out, "report": report}
    if not isinstance(layer, IntegerConv2d):
        raise TypeError(f"layer must be an IntegerLinear or IntegerConv2d, got {type(layer).__name__}")
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    if sh != sw:
        raise ValueError(f"layer.stride must be square for the systolic lowering, got {layer.stride}")
    x = np.pad(q.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=z_x)
    w4 = W.T.reshape(-1, q.shape[1], kh, kw)                          # (O, C, KH, KW)
    OH, OW = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    if isinstance(hw, SystolicArray):
        raw, report = hw.run_conv2d(x, w4, sh)
        raw = raw[:, :, :OH, :OW]          # SCALE-Sim's ceil() may add a partial window: drop it
    else:
        raw, report = hw.conv2d(x, w4, sh, a_bits=8, w_bits=8, a_signed=a_signed, w_signed=True)
    acc = raw - (z_x * W.sum(axis=0) - layer.bias_q)[None, :, None, None]
    out = requantize(acc.transpose(0, 2, 3, 1), layer.M0, layer.shift, layer.out_qp.zero_point,
                     layer.quant_min, layer.out_qp.quant_max).transpose(0, 3, 1, 2)
    return {"acc": acc, "out": np.ascontiguousarray(out), "report": report}
