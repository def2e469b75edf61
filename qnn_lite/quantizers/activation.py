r"""Dynamic fake quantization of activations: per-tensor, per-token, per-channel; int or FP8.

Symmetric int (SmoothQuant's W8A8; Xiao et al., 2023): $s = \max|x| / (2^{b-1} - 1)$ over the
reduced axes, $\hat x = \mathrm{clip}(\mathrm{rint}(x/s), -(2^{b-1}-1), 2^{b-1}-1)\,s$.
``granularity``: ``'tensor'`` (one scale), ``'token'`` (one per row: reduce the last axis only),
``'channel'`` (one per feature: reduce every axis but the last). A given ``scale`` (static
calibration) replaces the dynamic max. Asymmetric int (min/max, zero point), the common choice for
KV caches (Liu et al., 2024, "KIVI": keys per channel, values per token), is :func:`fake_quantize_minmax`.
FP8: $s = \max|x| / \text{fmt.max}$, then round to the format (:mod:`qnn_lite.quantizers.formats`).
Shapes: ``x (..., C)``; the output has ``x``'s shape, float32.
"""
from __future__ import annotations

import numpy as np

from .formats import get_format, round_minifloat
from ..validate import as_float, check_bits, check_choice

GRANULARITIES = ("tensor", "token", "channel")


def _reduce_axes(x: np.ndarray, granularity: str):
    granularity = check_choice(granularity, "granularity", GRANULARITIES)
    if granularity == "tensor":
        return None
    if x.ndim < 2:
        raise ValueError(f"granularity={granularity!r} needs x with >= 2 axes (..., C), got shape {x.shape}")
    return -1 if granularity == "token" else tuple(range(x.ndim - 1))


def _amax(x, axes):
    return np.abs(x).max(axis=axes, keepdims=axes is not None)


def fake_quantize_absmax(x, bits: int = 8, granularity: str = "token", scale=None) -> np.ndarray:
    """Symmetric int``bits`` fake quant with a max-abs scale per tensor / token / channel."""
    x = as_float(x, "x").astype(np.float32, copy=False)
    bits = check_bits(bits, "bits", 2, 16)
    quant_max = 2 ** (bits - 1) - 1
    if scale is None:
        scale = np.maximum(_amax(x, _reduce_axes(x, granularity)), np.float32(1e-8)) / np.float32(quant_max)
    else:
        scale = np.asarray(scale, np.float32)
        if not np.all(scale > 0):
            raise ValueError(f"scale must be > 0, got min {scale.min()}")
    return (np.clip(np.rint(x / scale), -quant_max, quant_max) * scale).astype(np.float32)


def fake_quantize_minmax(x, bits: int = 8, granularity: str = "token") -> np.ndarray:
    """Asymmetric int``bits`` fake quant: $s = (\\max - \\min)/(2^b - 1)$, $z = \\mathrm{rint}(-\\min/s)$."""
    x = as_float(x, "x").astype(np.float32, copy=False)
    bits = check_bits(bits, "bits", 2, 16)
    axes = _reduce_axes(x, granularity)
    lo = np.minimum(x.min(axis=axes, keepdims=axes is not None), 0)
    hi = np.maximum(x.max(axis=axes, keepdims=axes is not None), 0)
    quant_max = 2 ** bits - 1
    s = np.maximum((hi - lo) / np.float32(quant_max), np.float32(1e-8))
    z = np.rint(-lo / s)
    return ((np.clip(np.rint(x / s) + z, 0, quant_max) - z) * s).astype(np.float32)


def fake_quantize_fp8(x, fmt: str = "fp8_e4m3", granularity: str = "tensor") -> np.ndarray:
    """Scale so the max maps to the format's largest value, round to the FP8 format, scale back."""
    x = as_float(x, "x").astype(np.float32, copy=False)
    f = get_format(fmt)
    if f.kind != "float":
        raise ValueError(f"fmt must be a float format such as 'fp8_e4m3', got {fmt!r}")
    s = np.maximum(_amax(x, _reduce_axes(x, granularity)), np.float32(1e-30)) / np.float32(f.max)
    return (round_minifloat(x / s, f, saturate=True) * s).astype(np.float32)
