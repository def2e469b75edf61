"""Uniform (affine) quantization: integer ranges, qparams, quantize / dequantize / fake-quantize.

An affine quantizer maps a real ``x`` to an integer ``q`` with a scale ``s`` and a
zero point ``z`` (Jacob et al., 2018, "Quantization and Training of Neural Networks
for Efficient Integer-Arithmetic-Only Inference")::

    q = clip(rint(x * (1/s)) + z, quant_min, quant_max)        x_hat = (q - z) * s

Numerics are bit-for-bit PyTorch's (2.13, CPU, float32): ``1/s`` is a float32
division, ``rint`` rounds half to even, ``calc_qparams`` is
``torch.ao.quantization``'s ``_calculate_qparams``. Per-channel quantization takes
1-D ``scale`` / ``zero_point`` with one entry per index of ``x.shape[ch_axis]``.

Edge cases: NaN in ``x`` raises ``ValueError``. ``+inf`` / ``-inf`` (and finite values
so large that ``x/s`` overflows) clamp to ``quant_max`` / ``quant_min`` with STE mask 0 — what
``torch.fake_quantize_per_tensor_affine`` does. (Torch's *per-channel* CPU kernel
instead sends ``|x/s| >= 2**63`` and ``±inf`` to ``quant_min`` through an int64 overflow;
we clamp in both cases.)
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..validate import as_float32_no_nan

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 2**-23, torch.finfo(torch.float32).eps

__all__ = ["FLOAT32_EPS", "qrange", "calc_qparams", "quantize", "dequantize",
           "fake_quantize", "FakeQuantizeFunction"]


# ----- integer ranges ----------------------------------------------------------------
def qrange(bits: int, signed: bool = True, narrow: bool = False,
           reduce_range: bool = False) -> tuple[int, int]:
    """The integer range ``(quant_min, quant_max)`` of a ``bits``-bit integer.

    signed: ``(-2**(b-1), 2**(b-1) - 1)``; unsigned: ``(0, 2**b - 1)``.
    ``narrow=True`` (signed only) drops the lowest code so the range is symmetric:
    ``(-127, 127)`` for 8 bits; it needs ``bits >= 2``. ``reduce_range=True`` drops one
    bit the way torch's observers do, ``(quant_min // 2, quant_max // 2)``: ``(-64, 63)`` / ``(0, 127)``.
    ``bits=1`` gives ``(-1, 0)`` signed and ``(0, 1)`` unsigned.
    """
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in 1..16, got {bits!r}")
    bits = int(bits)
    if signed:
        quant_min, quant_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if narrow:
            if bits < 2:
                raise ValueError("narrow=True needs bits >= 2 for a signed range "
                                 f"(1 bit narrow would be the single level 0), got bits={bits}")
            quant_min += 1
    else:
        if narrow:
            raise ValueError("narrow=True applies to signed ranges only, got signed=False")
        quant_min, quant_max = 0, 2 ** bits - 1
    if reduce_range:
        quant_min, quant_max = quant_min // 2, quant_max // 2
    return quant_min, quant_max


def _check_qminmax(quant_min, quant_max, strict: bool = False) -> tuple[int, int]:
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be an int, got {v!r}")
    if quant_min > quant_max or (strict and quant_min == quant_max):
        rel = "<" if strict else "<="
        raise ValueError(f"quant_min must be {rel} quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    return int(quant_min), int(quant_max)


# ----- qparams from a range ------------------------------------------------------------
def _finite_scale(scale32, scale64, lo, hi):
    """``scale32`` where finite; where float32 overflowed (hi - lo > 3.4e38), the float64 value.

    torch returns ``inf`` there; the float64 scale is the correct one. Raises if even that
    does not fit float32.
    """
    if np.all(np.isfinite(scale32)):
        return scale32
    with np.errstate(over="ignore"):
        fixed = np.where(np.isfinite(scale32), scale32, scale64.astype(np.float32))
    if not np.all(np.isfinite(fixed)):
        raise ValueError(f"min_val, max_val = {lo[()]!s}, {hi[()]!s}: the range is too wide for this grid, "
                         f"its scale {scale64[()]!s} overflows float32 (max {np.finfo(np.float32).max:.4g})")
    return fixed


def calc_qparams(min_val, max_val, quant_min: int, quant_max: int, symmetric: bool = False,
                 eps: float = FLOAT32_EPS):
    """Scale and zero point that map ``[min_val, max_val]`` onto ``[quant_min, quant_max]`` (torch's rule).

    ``min' = min(min_val, 0)``, ``max' = max(max_val, 0)`` (zero stays exactly representable), then

    * affine:    ``s = max((max' - min') / (quant_max - quant_min), eps)``, ``z = clip(quant_min - rint(min' / s), quant_min, quant_max)``
    * symmetric: ``s = max(max(-min', max') / ((quant_max - quant_min) / 2), eps)``, ``z = 0`` for a signed
      range (``quant_min < 0``), else the midpoint ``(quant_min + quant_max + 1) // 2`` (128 for 0..255, as torch's
      quint8; torch uses ``(quant_min + quant_max) // 2`` when given a custom ``quant_min/quant_max``).

    All arithmetic is float32, like torch. Scalars in -> ``(np.float32, np.int64)`` scalars;
    1-D arrays (per-channel, shape ``(C,)``) in -> ``float32`` and ``int64`` arrays of shape ``(C,)``.
    An all-zero range gives ``s = eps`` and ``z`` the zero-code.
    """
    quant_min, quant_max = _check_qminmax(quant_min, quant_max, strict=True)
    lo = np.asarray(min_val.data if isinstance(min_val, Tensor) else min_val, dtype=np.float32)
    hi = np.asarray(max_val.data if isinstance(max_val, Tensor) else max_val, dtype=np.float32)
    if lo.shape != hi.shape or lo.ndim > 1:
        raise ValueError("min_val and max_val must be scalars or 1-D arrays of one shape, "
                         f"got shapes {lo.shape} and {hi.shape}")
    for name, v in (("min_val", lo), ("max_val", hi)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite, got {v}")
    if np.any(lo > hi):
        raise ValueError(f"min_val must be <= max_val, got min_val={lo}, max_val={hi}")
    if not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite float, got {eps!r}")
    eps32 = np.float32(eps)
    lo = np.minimum(lo, np.float32(0))
    hi = np.maximum(hi, np.float32(0))
    if symmetric:
        with np.errstate(over="ignore"):
            scale = np.maximum(-lo, hi) / np.float32((quant_max - quant_min) / 2)
        scale = _finite_scale(scale, np.maximum(-lo.astype(np.float64), hi) / ((quant_max - quant_min) / 2),
                              lo, hi)
        scale = np.maximum(scale, eps32)
        zp = np.full(lo.shape, 0 if quant_min < 0 else (quant_min + quant_max + 1) // 2, dtype=np.int64)
    else:
        with np.errstate(over="ignore"):
            scale = (hi - lo) / np.float32(quant_max - quant_min)
        scale = _finite_scale(scale, (hi.astype(np.float64) - lo) / (quant_max - quant_min), lo, hi)
        scale = np.maximum(scale, eps32)
        zp = quant_min - np.rint(lo / scale).astype(np.int64)
        zp = np.clip(zp, quant_min, quant_max)
    return scale.astype(np.float32)[()], zp.astype(np.int64)[()]


# ----- argument checks shared by quantize / fake_quantize ---------------------------------
def _float_input(x) -> np.ndarray:
    return as_float32_no_nan(x, "quantization")


def _qparams(x: np.ndarray, scale, zero_point, quant_min, quant_max, ch_axis):
    """Validate and reshape scale / zero point so they broadcast against ``x``."""
    quant_min, quant_max = _check_qminmax(quant_min, quant_max)
    s = np.asarray(scale.data if isinstance(scale, Tensor) else scale, dtype=np.float64)
    z = np.asarray(zero_point.data if isinstance(zero_point, Tensor) else zero_point)
    if z.dtype.kind not in "iuf" or (z.dtype.kind == "f" and not np.all(z == np.round(z))):
        raise ValueError(f"zero_point must be integer-valued, got {z}")
    if ch_axis is None:
        if s.size != 1 or z.size != 1:
            raise ValueError("per-tensor quantization (ch_axis=None) needs one scale and one zero_point, "
                             f"got scale shape {s.shape} and zero_point shape {z.shape}; "
                             "pass ch_axis= for per-channel")
        s, z = s.reshape(()), z.reshape(())
    else:
        if isinstance(ch_axis, (bool, np.bool_)) or not isinstance(ch_axis, numbers.Integral) \
                or not -x.ndim <= ch_axis < x.ndim:
            raise ValueError(f"ch_axis must be an int in [-{x.ndim}, {x.ndim}) for x with ndim={x.ndim}, "
                             f"got ch_axis={ch_axis!r}")
        n = x.shape[ch_axis]
        if s.ndim != 1 or s.size != n or z.shape != s.shape:
            raise ValueError(f"per-channel scale and zero_point must have shape ({n},) "
                             f"(x.shape[{ch_axis}]), got {s.shape} and {z.shape}")
        shape = [1] * x.ndim
        shape[ch_axis] = n
        s, z = s.reshape(shape), z.reshape(shape)
    s32 = s.astype(np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.float32(1) / s32  # float32, as torch's kernel: inv_scale = 1.0f / scale
    if not (np.all(s > 0) and np.all(np.isfinite(s32)) and np.all(np.isfinite(inv)) and np.all(s32 > 0)):
        raise ValueError(f"scale must be positive and finite (with a finite float32 1/scale), got {scale}")
    if np.any(z < quant_min) or np.any(z > quant_max):
        raise ValueError(f"zero_point must lie in [quant_min, quant_max] = [{quant_min}, {quant_max}], got {zero_point}")
    return s32, inv, z.astype(np.float32), quant_min, quant_max


def _rounded(x, inv, z):
    """``rint(x * (1/s)) + z`` in float32 (unclipped): the value the STE mask is taken on."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.rint(x * inv) + z


# ----- quantize / dequantize -----------------------------------------------------------
def quantize(x, scale, zero_point, quant_min: int, quant_max: int, ch_axis: int | None = None) -> np.ndarray:
    """Integer codes ``q = clip(rint(x / s) + z, quant_min, quant_max)`` as an ``int32`` array of ``x``'s shape.

    ``int32`` holds every range ``qrange`` makes and never overflows in ``q - z``; cast with
    ``.astype(np.int8)`` for storage. Per-channel when ``ch_axis`` is given (``scale``: ``(C,)``).
    """
    x = _float_input(x)
    _, inv, z, quant_min, quant_max = _qparams(x, scale, zero_point, quant_min, quant_max, ch_axis)
    return np.clip(_rounded(x, inv, z), quant_min, quant_max).astype(np.int32)


def dequantize(q, scale, zero_point, ch_axis: int | None = None) -> np.ndarray:
    """Real values ``x_hat = (q - z) * s`` as float32 (``q`` integer codes, any shape)."""
    q = np.asarray(q.data if isinstance(q, Tensor) else q)
    if q.dtype.kind not in "iu":
        raise TypeError(f"q must hold integer codes, got dtype {q.dtype}")
    lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    s, _, z, _, _ = _qparams(q, scale, zero_point, lo, hi, ch_axis)
    # q - z in float64: exact for |q - z| < 2**53 (every code of <= 32 bits), and no int64
    # wrap-around for 64-bit codes (uint64 2**64 - 1 stays 1.8e19, not -1)
    d = q.astype(np.float64) - z.astype(np.float64)
    return (d.astype(np.float32) * s).astype(np.float32)


# ----- fake quantization: forward = quantize + dequantize, backward = STE -----------------
class FakeQuantizeFunction(Function):
    """``y = (clip(rint(x/s) + z, quant_min, quant_max) - z) * s``; backward: ``dx = dy * [quant_min <= rint(x/s) + z <= quant_max]``.

    The straight-through estimator (Hinton, 2012; Bengio et al., 2013) with PyTorch's mask on the
    *rounded* value (``torch.fake_quantize_per_tensor_affine``). No gradient for s, z.
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, quant_min, quant_max, ch_axis=None):
        x = _float_input(x)
        s, inv, z, quant_min, quant_max = _qparams(x, scale, zero_point, quant_min, quant_max, ch_axis)
        q = _rounded(x, inv, z)
        ctx.save_for_backward((q >= quant_min) & (q <= quant_max))
        return ((np.clip(q, quant_min, quant_max) - z) * s).astype(np.float32)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return (grad * mask,) + (None,) * (len(ctx.parents) - 1)  # none for s, z, quant_min, quant_max, ch_axis


def fake_quantize(x, scale, zero_point, quant_min: int, quant_max: int, ch_axis: int | None = None):
    """Quantize then dequantize ``x`` (float32), with the STE backward of ``FakeQuantizeFunction``.

    Equals ``torch.fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)``
    (``ch_axis=None``) or ``torch.fake_quantize_per_channel_affine(x, scale, zero_point, ch_axis,
    quant_min, quant_max)``. A ``Tensor`` in gives a ``Tensor`` out (differentiable); an array or list
    in gives a float32 ``np.ndarray`` out. Shapes: ``y.shape == x.shape``; per-channel
    ``scale``, ``zero_point``: ``(x.shape[ch_axis],)``.
    """
    if isinstance(x, Tensor):
        return FakeQuantizeFunction.apply(x, scale, zero_point, quant_min, quant_max, ch_axis)
    return FakeQuantizeFunction.forward(_NoCtx(), x, scale, zero_point, quant_min, quant_max, ch_axis)


class _NoCtx:
    """Stand-in context when no graph is recorded (plain array input)."""

    def save_for_backward(self, *values) -> None:
        pass
