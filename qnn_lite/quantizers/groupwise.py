r"""Group-wise weight quantization: one scale and zero point per ``group_size`` inputs of each output row.

A weight ``W (out, in)`` is cut along its input axis into groups of ``group_size`` columns; group
``g`` of row ``o`` gets its own affine qparams from its min/max (zero kept representable, as in
PyTorch's observers and GPTQ's quantizer):
$s = \max(w_{max}' - w_{min}', \epsilon) / (2^b - 1)$, $z = \mathrm{clip}(-\mathrm{rint}(w_{min}'/s), 0, 2^b - 1)$,
$q = \mathrm{clip}(\mathrm{rint}(w/s) + z, 0, 2^b - 1)$, $\hat w = (q - z)\,s$.
``symmetric=True`` uses signed codes and $z = 0$. ``group_size=None`` means one group per row
(per-channel). This is the layout of llama.cpp's Q4_1-style blocks and of GPTQ/AWQ checkpoints
(Frantar et al., 2023; Lin et al., 2024).

Storage cost, per weight: $b + (b_s + b_z) / \text{group\_size}$ bits (:func:`bits_per_weight`).
Shapes: ``w (out, in)``; ``scale, zero_point (out, in // group_size)``; codes like ``w``.
"""
from __future__ import annotations

import numpy as np

from .uniform import calc_qparams, qrange
from ..validate import as_float, check_bits, check_bool, check_int, check_shape


def _groups(w, group_size) -> tuple[np.ndarray, int]:
    w = check_shape(as_float(w, "w"), "w", 2, "(out_features, in_features)")
    n_in = w.shape[1]
    if group_size is None:
        return w, n_in
    group_size = check_int(group_size, "group_size", 1)
    if n_in % group_size:
        raise ValueError(f"group_size must divide in_features={n_in} (the weight's axis 1), "
                         f"got group_size={group_size}; try one of "
                         f"{[g for g in (32, 64, 128, 256) if n_in % g == 0] or [n_in]}")
    return w, group_size


def _range(bits: int, symmetric: bool) -> tuple[int, int]:
    return qrange(bits, signed=True) if symmetric else qrange(bits, signed=False)


def groupwise_qparams(w, bits: int = 4, group_size: int | None = 128, symmetric: bool = False):
    """``(scale, zero_point)``, each ``(out, in // group_size)``: per-group min/max qparams."""
    bits = check_bits(bits, "bits", 2, 8)
    symmetric = check_bool(symmetric, "symmetric")
    w, gs = _groups(w, group_size)
    out, n_in = w.shape
    g = w.reshape(out, n_in // gs, gs)
    quant_min, quant_max = _range(bits, symmetric)
    s, z = calc_qparams(g.min(axis=2).reshape(-1), g.max(axis=2).reshape(-1), quant_min, quant_max, symmetric)
    return s.reshape(out, -1), z.reshape(out, -1)


def quantize_groupwise(w, bits: int = 4, group_size: int | None = 128, symmetric: bool = False):
    """Integer codes ``q (out, in)`` (int64), ``scale``, ``zero_point`` (``(out, in // group_size)``)."""
    s, z = groupwise_qparams(w, bits, group_size, symmetric)
    w = as_float(w, "w").astype(np.float32, copy=False)
    gs = w.shape[1] // s.shape[1]
    quant_min, quant_max = _range(bits, symmetric)
    se, ze = np.repeat(s, gs, axis=1), np.repeat(z, gs, axis=1)
    q = np.clip(np.rint(w * (np.float32(1) / se)) + ze, quant_min, quant_max).astype(np.int64)
    return q, s, z


def dequantize_groupwise(q, scale, zero_point) -> np.ndarray:
    """$\\hat w = (q - z) s$ with each group's ``scale``/``zero_point`` repeated over its columns."""
    q = np.asarray(q)
    scale, zero_point = np.asarray(scale, np.float32), np.asarray(zero_point)
    if q.ndim != 2 or scale.shape != zero_point.shape or scale.ndim != 2 or scale.shape[0] != q.shape[0] \
            or q.shape[1] % scale.shape[1]:
        raise ValueError(f"q (out, in), scale and zero_point (out, in // group_size) do not match: "
                         f"{q.shape}, {scale.shape}, {zero_point.shape}")
    gs = q.shape[1] // scale.shape[1]
    return ((q - np.repeat(zero_point, gs, axis=1)) * np.repeat(scale, gs, axis=1)).astype(np.float32)


def fake_quantize_groupwise(w, bits: int = 4, group_size: int | None = 128, symmetric: bool = False) -> np.ndarray:
    """Quantize then dequantize: the float32 weight a group-wise int``bits`` checkpoint really holds."""
    return dequantize_groupwise(*quantize_groupwise(w, bits, group_size, symmetric))


def bits_per_weight(bits: int, group_size: int | None, in_features: int | None = None,
                    scale_bits: int = 16, zero_bits: int | None = None, symmetric: bool = False) -> float:
    """Storage per weight: $b + (b_s + b_z) / \\text{group\\_size}$.

    Defaults follow GPTQ checkpoints: an fp16 scale and a zero point packed in ``bits`` bits
    (``zero_bits=None``); ``symmetric=True`` stores no zero point (llama.cpp Q4_0: 4 + 16/32 = 4.5).
    ``group_size=None`` (per-channel) needs ``in_features``.
    """
    bits = check_bits(bits, "bits", 1, 16)
    if group_size is None:
        if in_features is None:
            raise ValueError("group_size=None (one group per row) needs in_features")
        group_size = check_int(in_features, "in_features", 1)
    group_size = check_int(group_size, "group_size", 1)
    zb = 0 if symmetric else (bits if zero_bits is None else check_int(zero_bits, "zero_bits", 0))
    return bits + (check_int(scale_bits, "scale_bits", 0) + zb) / group_size
