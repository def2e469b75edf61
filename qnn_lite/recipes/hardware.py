"""Chapter 10's integer layers on simulated hardware: ``convert_to_integer``'s GEMMs run on an array.

:func:`integer_layer_on` runs one ``IntegerLinear`` / ``IntegerConv2d`` with its GEMM on a
``SystolicArray`` (Kung, 1982; SCALE-Sim) or a ``BitFusionArray`` (Sharma et al., 2018), using
gemmlowp's zero-point expansion, and checks nothing itself: its ``out`` equals ``layer(q)``.
A grouped conv (depthwise: one group per channel) is lowered to one small GEMM per group.
:func:`zoo_layers_on` runs chosen layers of an integer zoo model on an array and tabulates
cycles, utilisation and operand traffic (depthwise: the famous low-utilisation case).
"""
from __future__ import annotations

import numpy as np

from ..hw import BitFusionArray, SystolicArray
from ..nn.functional import im2col
from ..transforms.integer_layers import IntegerConv2d, IntegerLinear
from ..transforms.requant import requantize

__all__ = ["integer_layer_on", "zoo_layers_on"]


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
        out = requantize(acc, layer.M0, layer.shift, layer.out_qp.zero_point, layer.quant_min, layer.quant_max)
        return {"acc": acc, "out": out, "report": report}
    if not isinstance(layer, IntegerConv2d):
        raise TypeError(f"layer must be an IntegerLinear or IntegerConv2d, got {type(layer).__name__}")
    if layer.groups != 1:
        return _grouped_conv_on(layer, q, W, hw, a_signed)
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
    return {"acc": acc, "out": _requantize_nchw(layer, acc), "report": report}


def _requantize_nchw(layer, acc):
    out = requantize(acc.transpose(0, 2, 3, 1), layer.M0, layer.shift, layer.out_qp.zero_point,
                     layer.quant_min, layer.quant_max).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out)


def _grouped_conv_on(layer, q, W, hw, a_signed) -> dict:
    """A grouped conv as ``groups`` GEMMs ``(B*OH*OW, C/G*KH*KW) @ (C/G*KH*KW, O/G)`` on ``hw``
    (depthwise: K = KH*KW and one output column each). ``report`` is the list of per-GEMM reports."""
    if layer.dilation != (1, 1):
        raise ValueError(f"layer.dilation must be (1, 1) for the hardware lowering, got {layer.dilation}")
    z_x, G = layer.in_qp.zero_point, layer.groups
    (ph, pw) = layer.padding
    x = np.pad(q.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=z_x)
    cols = im2col(x, layer.kernel_size, layer.stride, 0)             # (B*OH*OW, C*KH*KW), raw codes
    n, oh, ow = q.shape[0], (x.shape[2] - layer.kernel_size[0]) // layer.stride[0] + 1, \
        (x.shape[3] - layer.kernel_size[1]) // layer.stride[1] + 1
    Kg, Og = W.shape                                                    # W: (C/G*KH*KW, O)
    Og //= G
    raw, reports = np.zeros((cols.shape[0], W.shape[1]), np.int64), []
    for g in range(G):
        A, B = cols[:, g * Kg:(g + 1) * Kg], W[:, g * Og:(g + 1) * Og]
        if isinstance(hw, SystolicArray):
            raw[:, g * Og:(g + 1) * Og], rep = hw.run_gemm(A, B)
        else:
            raw[:, g * Og:(g + 1) * Og], rep = hw.gemm(A, B, a_bits=8, w_bits=8, a_signed=a_signed, w_signed=True)
        reports.append(rep)
    acc = (raw - z_x * W.sum(axis=0) + layer.bias_q).reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    return {"acc": acc, "out": _requantize_nchw(layer, acc), "report": reports}


def _cost(layer, q, result, hw) -> dict:
    reports = result["report"] if isinstance(result["report"], list) else [result["report"]]
    cycles = sum(r.cycles for r in reports)
    macs = int(sum(r.macs for r in reports)) if hasattr(reports[0], "macs") else None
    traffic = sum(r.a_reads + r.b_reads + r.c_writes for r in reports) if hasattr(reports[0], "a_reads") else None
    A = reports[0]
    return {"gemms": len(reports), "gemm (M, K, N)": (A.M, A.K, A.N) if hasattr(A, "M") else None,
            "macs": macs, "cycles": cycles,
            "utilization": None if macs is None else macs / (hw.rows * hw.cols * cycles),
            "macs/cycle": None if macs is None else macs / cycles,
            "reads+writes per mac": None if traffic is None else traffic / macs}


def zoo_layers_on(model, x, hw, names) -> list[dict]:
    """Run the layers ``names`` of an ``IntegerModel`` on ``hw`` for the float input batch ``x``.

    Each layer gets the codes it reads in ``model.forward_int``; the row reports its kind,
    ``groups``, the per-GEMM shape, MACs, cycles, utilisation ``MACs / (rows cols cycles)``,
    MACs per cycle, SRAM reads + writes per MAC, and ``exact``: whether the array's output
    codes equal the integer layer's (``integer_layer_on``). ``hw``: a ``SystolicArray``.
    """
    if not isinstance(hw, SystolicArray):
        raise TypeError(f"hw must be a SystolicArray, got {type(hw).__name__}")
    index = {n: i for i, (n, _) in enumerate(model.layers)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"names must be layers of the model, got {missing}; layers: {list(index)}")
    values = model.forward_values(model.quantize_input(x))
    rows = []
    for n in names:
        i = index[n]
        layer = model.layers[i][1]
        q = values[model.inputs[i][0]]
        result = integer_layer_on(layer, q, hw)
        groups = getattr(layer, "groups", 1)
        k = getattr(layer, "kernel_size", None)
        kind = "linear" if k is None else ("depthwise" if groups > 1 and groups == q.shape[1] else
                                          "pointwise" if k == (1, 1) else f"{k[0]}x{k[1]} conv")
        rows.append({"layer": n, "kind": kind, "groups": groups, **_cost(layer, q, result, hw),
                     "exact": bool(np.array_equal(result["out"], values[i + 1]))})
    return rows
