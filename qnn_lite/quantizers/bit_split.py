"""Bit-Split & Stitching: an M-bit weight as ternary bit planes optimised one at a time (Wang, Chen,
He & Cheng, 2020, "Towards Accurate Post-training Network Quantization via Bit-Split and Stitching", ICML).

An M-bit symmetric integer ``w_int`` in ``[-(2^(M-1) - 1), 2^(M-1) - 1]`` is split into M-1 planes

    W ~ alpha * sum_{i=0}^{M-2} 2^i q_i,        q_i in {-1, 0, 1}

and the planes and the scale are optimised in turn (the rest held fixed), each step an exact
minimiser of ``||W - alpha B||^2`` (``B = sum 2^i q_i``):

* plane ``m``: ``q_m = clip(rint((W / alpha - sum_{i != m} 2^i q_i) / 2^m), -1, 1)`` elementwise;
* scale: ``alpha = <W, B> / <B, B>`` (least squares).

Starting from round-to-nearest with ``alpha = max|W| / (2^(M-1) - 1)``, the error never grows,
so the result is at least as good as RTN. Stitching sums the planes back into ``w_int = B``.
(The paper also fits the planes to a layer's outputs on data; here: the weight-only objective.)
Per output channel with ``axis=0``. Shapes: ``w`` any; ``planes``: ``(M-1, *w.shape)``.
"""
from __future__ import annotations

import numpy as np

from ..validate import as_float, check_bits, check_int

__all__ = ["split_bits", "stitch_bits", "bit_split_quantize"]


def split_bits(w_int, bits: int) -> np.ndarray:
    """Sign-magnitude planes of integers ``|w_int| <= 2^(bits-1) - 1``: ``q_i = sign(w) * bit_i(|w|)``."""
    bits = check_bits(bits, lo=2)
    w_int = np.asarray(w_int)
    top = 2 ** (bits - 1) - 1
    if np.abs(w_int).max(initial=0) > top:
        raise ValueError(f"w_int must lie in [-{top}, {top}] for bits={bits}, got max |w_int| = {np.abs(w_int).max()}")
    mag, sign = np.abs(w_int).astype(np.int64), np.sign(w_int).astype(np.int64)
    return np.stack([sign * ((mag >> i) & 1) for i in range(bits - 1)])


def stitch_bits(planes) -> np.ndarray:
    """``sum_i 2^i planes[i]``: the integers the planes encode."""
    planes = np.asarray(planes, np.int64)
    return np.tensordot(2 ** np.arange(planes.shape[0]), planes, axes=1)


def _fit(w, bits, iters):
    top = 2 ** (bits - 1) - 1
    amax = np.abs(w).max()
    if amax == 0:
        return np.float64(0.0), np.zeros((bits - 1, *w.shape), np.int64), [0.0]
    alpha = amax / top
    planes = split_bits(np.clip(np.rint(w / alpha), -top, top), bits)
    history = [float(np.mean((w - alpha * stitch_bits(planes)) ** 2))]
    for _ in range(iters):
        for m in range(bits - 1):
            rest = stitch_bits(planes) - (2 ** m) * planes[m]
            planes[m] = np.clip(np.rint((w / alpha - rest) / 2 ** m), -1, 1)
        b = stitch_bits(planes).astype(np.float64)
        if (b * b).sum() > 0:
            alpha = float((w * b).sum() / (b * b).sum())
        history.append(float(np.mean((w - alpha * b) ** 2)))
    return alpha, planes, history


def bit_split_quantize(w, bits: int = 4, iters: int = 10, ch_axis: int | None = None):
    """Bit-split ``w`` (float) to ``bits`` bits; return ``(w_hat, alpha, w_int, mse history)``.

    ``w_hat = alpha * w_int`` (float32); ``alpha`` a scalar, or ``(C,)`` per index of ``ch_axis``;
    ``w_int`` the stitched integers. ``history[0]`` is RTN's MSE, each entry after one sweep.
    """
    w = as_float(w, "w").astype(np.float64)
    bits, iters = check_bits(bits, lo=2), check_int(iters, "iters", lo=0)
    if ch_axis is None:
        alpha, planes, hist = _fit(w, bits, iters)
        w_int = stitch_bits(planes)
        return (alpha * w_int).astype(np.float32), np.float32(alpha), w_int, np.array(hist)
    ch_axis = check_int(ch_axis, "ch_axis", lo=-w.ndim, hi=w.ndim - 1)
    rows = np.moveaxis(w, ch_axis, 0)
    fits = [_fit(r, bits, iters) for r in rows]
    w_int = np.moveaxis(np.stack([stitch_bits(p) for _, p, _ in fits]), 0, ch_axis)
    alpha = np.array([a for a, _, _ in fits], np.float32)
    shape = [1] * w.ndim
    shape[ch_axis] = -1
    hist = np.mean([h for _, _, h in fits], axis=0)
    return (alpha.reshape(shape) * w_int).astype(np.float32), alpha, w_int, hist
