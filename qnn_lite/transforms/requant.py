"""Fixed-point requantization: multiply an int32 by a real number using integers only.

An integer layer accumulates ``acc = sum (q_x - z_x) q_w`` in int32 and must produce
``q_y = z_y + round(M * acc)`` with the real multiplier ``M = s_x s_w / s_y`` (Jacob et al., 2018,
"Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference").
Write ``M = M0 * 2**shift / 2**31`` with ``M0`` an int32 in ``[2**30, 2**31)`` (a Q0.31 number in
[0.5, 1)); then ``M * acc`` is one 32x32->64-bit multiply, keeping the high word, plus a
rounding shift. The functions are bit-exact numpy versions (vectorised, int64 intermediates)
of gemmlowp's ``SaturatingRoundingDoublingHighMul`` / ``RoundingDivideByPOT`` and TFLite's
``QuantizeMultiplier`` / ``MultiplyByQuantizedMultiplier``.

**Sign convention (TFLite's):** ``shift > 0`` is a left shift, ``shift < 0`` a right shift;
``M = M0 * 2**(shift - 31)``. Example: 0.5 -> (2**30, 0), 0.25 -> (2**30, -1).

**Rounding:** ``rounding_divide_by_pot`` rounds half away from zero. ``saturating_rounding_
doubling_high_mul`` computes ``(a b + nudge) / 2**31`` with C's truncating division and
``nudge = 2**30`` if ``a b >= 0`` else ``1 - 2**30``, so ties go *up* for positive products
(0.5 -> 1) and *towards zero* for negative ones (-0.5 -> 0). Two roundings in a row mean the
result can differ by 1 from ``round(M * acc)`` when ``M * acc`` is within ``2**(shift)`` of a tie.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..validate import check_int

__all__ = ["INT32_MIN", "INT32_MAX", "quantize_multiplier", "saturating_rounding_doubling_high_mul",
           "rounding_divide_by_pot", "multiply_by_quantized_multiplier", "requantize",
           "quantized_add", "quantized_concat"]

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """``(M0, shift)`` with ``real_multiplier ~= M0 * 2**shift / 2**31`` (TFLite's ``QuantizeMultiplier``).

    ``q, shift = frexp(m)`` (``q`` in [0.5, 1)), ``M0 = round(q * 2**31)`` half away from zero;
    if that rounds up to ``2**31``, halve it and add one to the shift. 0 -> ``(0, 0)``; shifts
    below -31 underflow to ``(0, 0)`` as in TFLite. Relative error <= ``2**-31``.
    """
    if isinstance(real_multiplier, bool) or not isinstance(real_multiplier, numbers.Real) \
            or not math.isfinite(real_multiplier) or real_multiplier < 0:
        raise ValueError(f"real_multiplier must be a finite number >= 0, got {real_multiplier!r}")
    if real_multiplier == 0:
        return 0, 0
    q, shift = math.frexp(float(real_multiplier))
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # std::round for q > 0
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"real_multiplier must be < 2**30 to fit the shift, got {real_multiplier!r}")
    return q_fixed, shift


def _int32(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < INT32_MIN or a.max() > INT32_MAX):
        raise ValueError(f"{name} must fit in int32, got values in [{a.min()}, {a.max()}]")
    return a


def _trunc_div(n: np.ndarray, d: int) -> np.ndarray:
    """C's integer division (rounds toward zero); numpy's ``//`` rounds toward -inf."""
    return np.sign(n) * (np.abs(n) // d)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul``: ``round(a b / 2**31)`` as int32.

    The only overflow, ``a = b = INT32_MIN`` (result ``2**31``), saturates to ``INT32_MAX``.
    See the module docstring for how ties round. Broadcasts ``a`` against ``b``.
    """
    a, b = np.broadcast_arrays(_int32(a, "a"), _int32(b, "b"))
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b                                             # |ab| <= 2**62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, high).astype(np.int32)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded half away from zero (int32).

    ``remainder = x & mask``, ``threshold = (mask >> 1) + (x < 0)``,
    ``result = (x >> exponent) + (remainder > threshold)``. ``exponent`` in 0..31 (may be an array).
    """
    x = _int32(x, "x")
    e = np.asarray(exponent)
    if e.dtype.kind not in "iu" or (e.size and (e.min() < 0 or e.max() > 31)):
        raise ValueError(f"exponent must be integers in 0..31, got {exponent!r}")
    e = e.astype(np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> e) + (remainder > threshold)).astype(np.int32)


def multiply_by_quantized_multiplier(x, M0, shift) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier``: ``x * M0 * 2**shift / 2**31`` in integers.

    ``RoundingDivideByPOT(SRDHM(x * 2**max(shift, 0), M0), max(-shift, 0))``. ``M0``/``shift``
    may be arrays broadcasting against ``x`` (one per output channel). The left-shifted ``x``
    saturates to int32 (TFLite leaves that overflow undefined).
    """
    x = _int32(x, "x")
    shift = np.asarray(shift)
    if shift.dtype.kind not in "iu" or (shift.size and (shift.min() < -31 or shift.max() > 30)):
        raise ValueError(f"shift must be integers in -31..30 (quantize_multiplier's range; "
                         f"M = M0 * 2**(shift - 31)), got {shift.ravel()[:4].tolist()}")
    shift = shift.astype(np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    shifted = np.clip(x << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, M0), right)


def requantize(acc, M0, shift, out_zero_point, quant_min: int, quant_max: int) -> np.ndarray:
    """``clip(z_out + multiply_by_quantized_multiplier(acc, M0, shift), quant_min, quant_max)`` as int32.

    ``acc``: int32 accumulators; ``M0``/``shift`` scalars or per-channel arrays broadcasting
    against ``acc`` (channels last). A ReLU is folded in by passing ``quant_min = max(quant_min, z_out)``.
    """
    quant_min, quant_max = check_int(quant_min, "quant_min"), check_int(quant_max, "quant_max")
    if quant_min > quant_max:
        raise ValueError(f"quant_min must be <= quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    y = multiply_by_quantized_multiplier(acc, M0, shift).astype(np.int64) + np.int64(out_zero_point)
    return np.clip(y, quant_min, quant_max).astype(np.int32)


def _multipliers(real) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``quantize_multiplier`` over an array of real multipliers."""
    pairs = [quantize_multiplier(float(m)) for m in np.ravel(real)]
    shape = np.shape(real)
    return (np.array([p[0] for p in pairs], np.int64).reshape(shape),
            np.array([p[1] for p in pairs], np.int64).reshape(shape))


def quantized_add(a_q, a_s, a_z, b_q, b_s, b_z, out_s, out_z, quant_min: int = 0, quant_max: int = 255) -> np.ndarray:
    """``q = z_out + round((s_a (a - z_a) + s_b (b - z_b)) / s_out)`` with integers only (TFLite's ``Add``).

    Both inputs are first brought to a common fine scale ``2 max(s_a, s_b) / 2**20``: each is
    shifted left by 20 bits and multiplied by ``s / (2 max(s_a, s_b))`` (< 1, a fixed-point
    multiplier); the int32 sum is requantized by ``2 max(s_a, s_b) / (2**20 s_out)``.

    Why not make a and b share one scale and zero point, so the add is a plain integer add?
    The two branches (e.g. a residual and a conv output) have different ranges; one shared
    scale either clips the wider one or wastes levels on the narrower one, and enforcing it
    ties together observers of layers that are otherwise calibrated independently (TFLite
    does force it for concat, by re-quantizing the producers). Rescaling costs two multiplies.
    """
    left_shift = 20
    a, b = _int32(a_q, "a_q"), _int32(b_q, "b_q")
    for name, s in (("a_s", a_s), ("b_s", b_s), ("out_s", out_s)):
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"{name} must be a positive finite scale, got {s!r}")
    twice_max = 2 * max(float(a_s), float(b_s))
    ma, sa = quantize_multiplier(float(a_s) / twice_max)
    mb, sb = quantize_multiplier(float(b_s) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * float(out_s)))
    sa_ = multiply_by_quantized_multiplier((a - a_z) << left_shift, ma, sa)
    sb_ = multiply_by_quantized_multiplier((b - b_z) << left_shift, mb, sb)
    raw = multiply_by_quantized_multiplier(sa_.astype(np.int64) + sb_, mo, so)
    return np.clip(raw.astype(np.int64) + out_z, quant_min, quant_max).astype(np.int32)


def quantized_concat(tensors, scales, zero_points, out_s, out_z, axis: int = 1,
                     quant_min: int = 0, quant_max: int = 255) -> np.ndarray:
    """Concatenate quantized tensors along ``axis``, each requantized to ``(out_s, out_z)``:
    ``q_out = z_out + round((s_i / s_out) (q_i - z_i))`` (fixed-point ``M_i = s_i / s_out``).

    An input that already has the output's scale and zero point is copied unchanged — that is
    why converters try to give all inputs of a concat one shared scale (see ``quantized_add``).
    """
    if not (len(tensors) == len(scales) == len(zero_points)) or not tensors:
        raise ValueError(f"tensors, scales and zero_points must be non-empty and of one length, got "
                         f"{len(tensors)}, {len(scales)}, {len(zero_points)}")
    parts = []
    for q, s, z in zip(tensors, scales, zero_points):
        q = _int32(q, "tensors[i]")
        if float(s) == float(out_s) and int(z) == int(out_z):
            parts.append(q.astype(np.int32))
            continue
        m0, sh = quantize_multiplier(float(s) / float(out_s))
        y = multiply_by_quantized_multiplier(q - int(z), m0, sh).astype(np.int64) + int(out_z)
        parts.append(np.clip(y, quant_min, quant_max).astype(np.int32))
    return np.concatenate(parts, axis=axis)
