"""LSQ: learned step size quantization (Esser et al., 2019), with PyTorch's numerics.

Forward (round-then-clip, PyTorch's form), per tensor or per channel::

    z  = clamp(rint(zero_point), quant_min, quant_max)
    q  = rint(x * (1/s)) + z
    y  = (clip(q, quant_min, quant_max) - z) * s

Backward, exactly PyTorch's CPU kernel
(``torch._fake_quantize_learnable_per_{tensor,channel}_affine``), with
``xq = rint(z + x * (1/s))``, ``inside = quant_min <= xq <= quant_max`` and ``gf = grad_factor``::

    dx     = g * inside
    dscale = g * ((xfq - x) / s)   inside      (= g * (rint(x/s) - x/s) when z = 0)
             g * (quant_min - z)        xq < quant_min
             g * (quant_max - z)        xq > quant_max                  times gf, summed
    dzero  = 0 inside, -g * s outside                         times gf, summed

``grad_factor = 1/sqrt(x.size * quant_max)`` is the paper's gradient scale ``g``
(PyTorch's ``_LearnableFakeQuantize(use_grad_scaling=True)``).

**Round-then-clip vs the paper's clip-then-round.** The paper writes
``v_bar = rint(clip(v/s, -Q_N, Q_P))`` and takes its STE mask on ``v/s``:
``-Q_N < v/s < Q_P``. PyTorch clips the *rounded* value, so its mask is
``quant_min <= rint(v/s) <= quant_max``. Forward values are identical (the bounds are
integers); the gradients differ only in the half-step bands just outside the
range, ``v/s`` in ``[quant_max, quant_max + 1/2]`` and ``[quant_min - 1/2, quant_min]``. Example with
s = 1, quant_max = 3, x = 3.3: PyTorch gives dx = g, dscale = g*(3 - 3.3) = -0.3g;
the paper gives dx = 0, dscale = g*Q_P = 3g. We follow PyTorch.

**A PyTorch quirk we copy (per tensor only):** the forward rounds the zero point
half-to-even (``nearbyint``), but the backward uses ``int(clamp(zero_point + 0.5))``
(half-up, truncated toward 0). They agree for integer zero points — the usual case.

Shapes: x any shape; per tensor, scale and zero_point have one element; per
channel, shape ``(x.shape[ch_axis],)``. dscale/dzero have the parameters' shapes.
float32 inputs reproduce PyTorch 2.x's CPU kernel bit for bit, elementwise —
including its fused multiply-adds (``z + x*inv`` and ``xfq - x`` are each rounded
once, as the AVX2/AVX512 build computes them; see ``_fma``). The sums over
elements can differ from PyTorch's in the last bits (summation order).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor
from ..nn.module import Parameter
from ..validate import check_bool, check_float_array, check_int
from .base import FakeQuantizeBase
from .uniform import qrange

__all__ = [
    "FakeQuantizeLearnablePerTensorAffine", "FakeQuantizeLearnablePerChannelAffine",
    "fake_quantize_learnable_per_tensor_affine", "fake_quantize_learnable_per_channel_affine",
    "LSQQuantizer",
]


# ----- argument checks -------------------------------------------------------------
def _check_range(quant_min, quant_max) -> tuple[int, int]:
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if not quant_min <= 0 <= quant_max or quant_min == quant_max:
        raise ValueError(f"quant_min <= 0 <= quant_max with quant_min < quant_max is required, "
                         f"got quant_min={quant_min}, quant_max={quant_max}")
    return int(quant_min), int(quant_max)


def _check_scale(scale, dtype) -> np.ndarray:
    s = np.asarray(scale, dtype=dtype)
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError(f"scale must be positive and finite, got {s.ravel()[:8]}")
    return s


def _check_grad_factor(grad_factor) -> float:
    if not (isinstance(grad_factor, (int, float, np.floating)) and math.isfinite(grad_factor) and grad_factor > 0):
        raise ValueError(f"grad_factor must be a positive finite number, got {grad_factor!r}")
    return float(grad_factor)


def _lsq_grads(x, grad, s, inv, zq, quant_min, quant_max, gf):
    """PyTorch's per-element kernel; s, inv, zq broadcast against x (all in x's dtype)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf inputs: the unused branch may be NaN
        return _lsq_grads_raw(x, grad, s, inv, zq, quant_min, quant_max, gf)


def _fma(a, b, c):
    """$a b + c$ rounded once, like the fused multiply-add PyTorch's compiled kernel uses.

    float32: the product is exact in float64; TwoSum recovers the float64 add's
    error, which breaks the one tie where rounding twice (float64, then float32) errs.
    """
    if np.result_type(a, b, c) != np.float32:
        return a * b + c
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    p = a * b
    r = p + c
    bp = r - c
    err = (p - bp) + (c - (r - bp))  # r + err == p + c exactly
    lo = np.nextafter(r, -np.inf).astype(np.float32)
    hi = np.nextafter(r, np.inf).astype(np.float32)
    tie = lo != hi  # r lies exactly halfway between two float32 values
    return np.where(tie & (err > 0), hi, np.where(tie & (err < 0), lo, r.astype(np.float32)))


def _lsq_grads_raw(x, grad, s, inv, zq, quant_min, quant_max, gf):
    xq = np.rint(_fma(x, inv, zq))                 # nearbyint(z + x * inv), fused
    inside = (xq >= quant_min) & (xq <= quant_max)
    dx = grad * inside
    diff = _fma(np.clip(xq, quant_min, quant_max) - zq, s, -x)  # xfq - x, fused
    edge = np.where(xq < quant_min, quant_min - zq, quant_max - zq).astype(x.dtype)
    dscale = np.where(inside, grad * diff * inv * gf, grad * edge * gf)
    dzero = np.where(inside, np.zeros((), x.dtype), grad * -1 * s * gf)
    return dx, dscale, dzero


class FakeQuantizeLearnablePerTensorAffine(Function):
    "$y = (\\mathrm{clip}(\\mathrm{rint}(x/s) + z, q_{min}, q_{max}) - z)\\, s$ with LSQ gradients for s and z (Esser et al., 2019)"
    @staticmethod
    def forward(ctx, x, scale, zero_point, quant_min, quant_max, grad_factor=1.0):
        x = check_float_array(x)
        quant_min, quant_max = _check_range(quant_min, quant_max)
        if np.size(scale) != 1 or np.size(zero_point) != 1:
            raise ValueError(f"scale and zero_point must have one element each, got sizes "
                             f"{np.size(scale)} and {np.size(zero_point)}")
        s = _check_scale(scale, x.dtype).reshape(())
        zf = np.float32(np.asarray(zero_point).reshape(()))
        z = int(np.clip(np.rint(zf), quant_min, quant_max))             # forward: nearbyint
        z_back = int(np.clip(zf + np.float32(0.5), quant_min, quant_max))  # backward: +0.5, truncate
        ctx.save_for_backward(x, s, z_back, np.shape(scale), np.shape(zero_point),
                              quant_min, quant_max, _check_grad_factor(grad_factor))
        inv = x.dtype.type(1) / s
        q = np.rint(x * inv) + z
        return ((np.clip(q, quant_min, quant_max) - z) * s).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, s, z, s_shape, z_shape, quant_min, quant_max, gf = ctx.saved_tensors
        dt = x.dtype.type
        dx, dscale, dzero = _lsq_grads(x, grad.astype(x.dtype), s, dt(1) / s, dt(z),
                                       quant_min, quant_max, dt(gf))
        return (dx, dscale.sum(dtype=x.dtype).reshape(s_shape),
                dzero.sum(dtype=x.dtype).reshape(z_shape), None, None, None)


class FakeQuantizeLearnablePerChannelAffine(Function):
    "Per-channel LSQ: one (s, z) per index of ``ch_axis``; same formulas as the per-tensor Function"
    @staticmethod
    def forward(ctx, x, scale, zero_point, ch_axis, quant_min, quant_max, grad_factor=1.0):
        x = check_float_array(x)
        quant_min, quant_max = _check_range(quant_min, quant_max)
        if isinstance(ch_axis, bool) or not isinstance(ch_axis, (int, np.integer)) or not 0 <= ch_axis < x.ndim:
            raise ValueError(f"ch_axis must be an int in 0..{x.ndim - 1} (x has shape {x.shape}), got {ch_axis!r}")
        channels = x.shape[ch_axis]
        if np.shape(scale) != (channels,) or np.shape(zero_point) != (channels,):
            raise ValueError(f"scale and zero_point must have shape ({channels},) for ch_axis={ch_axis} of "
                             f"x.shape={x.shape}, got {np.shape(scale)} and {np.shape(zero_point)}")
        view = [1] * x.ndim
        view[ch_axis] = channels
        s = _check_scale(scale, x.dtype).reshape(view)
        zq = np.clip(np.rint(np.asarray(zero_point, dtype=x.dtype)), quant_min, quant_max).reshape(view)
        ctx.save_for_backward(x, s, zq, ch_axis, quant_min, quant_max, _check_grad_factor(grad_factor))
        inv = x.dtype.type(1) / s
        q = zq + np.rint(x * inv)
        return ((np.clip(q, quant_min, quant_max) - zq) * s).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, s, zq, ch_axis, quant_min, quant_max, gf = ctx.saved_tensors
        dt = x.dtype.type
        dx, dscale, dzero = _lsq_grads(x, grad.astype(x.dtype), s, dt(1) / s, zq,
                                       quant_min, quant_max, dt(gf))
        others = tuple(i for i in range(x.ndim) if i != ch_axis)
        return (dx, dscale.sum(axis=others, dtype=x.dtype), dzero.sum(axis=others, dtype=x.dtype),
                None, None, None, None)


def _t(v) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor(v)


def fake_quantize_learnable_per_tensor_affine(x, scale, zero_point, quant_min, quant_max,
                                              grad_factor=1.0) -> Tensor:
    """LSQ fake quantization with one learnable (scale, zero_point); PyTorch's name and argument order."""
    return FakeQuantizeLearnablePerTensorAffine.apply(_t(x), _t(scale), _t(zero_point),
                                                      quant_min, quant_max, grad_factor)


def fake_quantize_learnable_per_channel_affine(x, scale, zero_point, ch_axis, quant_min, quant_max,
                                               grad_factor=1.0) -> Tensor:
    """LSQ fake quantization with a learnable (scale, zero_point) per channel along ``ch_axis``."""
    return FakeQuantizeLearnablePerChannelAffine.apply(_t(x), _t(scale), _t(zero_point),
                                                       ch_axis, quant_min, quant_max, grad_factor)


class LSQQuantizer(FakeQuantizeBase):
    """A learnable fake quantizer Module: ``y = LSQQuantizer(bits)(x)`` (Esser et al., 2019; torch's
    ``_LearnableFakeQuantize``).

    ``scale`` (and, with ``learn_zero_point=True``, ``zero_point``) are ``Parameter`` s, created by
    the first forward as ``scale = 2 mean|x| / sqrt(quant_max)`` (the paper's rule; per channel
    along ``ch_axis`` if given) — so run one forward pass before building the optimizer. Later
    calls keep the learned value, clamped to ``>= eps`` before each forward as torch does.
    ``use_grad_scaling=True`` (the paper's default) multiplies the scale/zero-point gradients by
    ``1/sqrt(x.size * quant_max)``. Otherwise the zero point is a constant 0 Tensor. With fake
    quant off the module is the identity; the observer switch is ignored (the step is learned).
    """

    eps = float(np.finfo(np.float32).eps)

    def __init__(self, bits: int = 8, signed: bool = True, ch_axis: int | None = None,
                 learn_zero_point: bool = False, use_grad_scaling: bool = True, narrow: bool = False):
        super().__init__()
        self.quant_min, self.quant_max = qrange(bits, signed=signed, narrow=narrow)
        if self.quant_max < 1:
            raise ValueError(f"bits={bits}, signed={signed} leaves quant_max={self.quant_max}; "
                             f"LSQ needs quant_max >= 1 (use bits >= 2 when signed)")
        if ch_axis is not None:
            ch_axis = check_int(ch_axis, "ch_axis", 0)
        self.bits, self.signed, self.ch_axis = bits, signed, ch_axis
        self.learn_zero_point = check_bool(learn_zero_point, "learn_zero_point")
        self.use_grad_scaling = check_bool(use_grad_scaling, "use_grad_scaling")
        self.scale: Parameter | None = None
        self.zero_point: Tensor | None = None

    def init_from(self, x) -> None:
        """Set scale = 2 mean|x| / sqrt(quant_max) (per channel along ``ch_axis``), zero_point = 0."""
        x = check_float_array(x.data if isinstance(x, Tensor) else x)
        if self.ch_axis is None:
            mean_abs = np.abs(x).mean(dtype=np.float64).reshape(1)
        else:
            if self.ch_axis >= x.ndim:
                raise ValueError(f"ch_axis must be an int in 0..{x.ndim - 1} for x with shape {x.shape}, "
                                 f"got {self.ch_axis}")
            others = tuple(i for i in range(x.ndim) if i != self.ch_axis)
            mean_abs = np.abs(x).mean(axis=others, dtype=np.float64)
        scale = np.maximum(2 * mean_abs / math.sqrt(self.quant_max), self.eps).astype(np.float32)
        self.scale = Parameter(scale)
        zero = np.zeros_like(scale)
        self.zero_point = Parameter(zero) if self.learn_zero_point else Tensor(zero)

    def forward(self, x) -> Tensor:
        if not self.fake_quant_enabled:
            return x
        x = _t(x)
        if self.scale is None:
            self.init_from(x)
        np.maximum(self.scale.data, self.eps, out=self.scale.data)  # PyTorch: scale.data.clamp_(min=eps)
        gf = 1.0 / (x.size * self.quant_max) ** 0.5 if self.use_grad_scaling else 1.0
        if self.ch_axis is None:
            return fake_quantize_learnable_per_tensor_affine(x, self.scale, self.zero_point,
                                                             self.quant_min, self.quant_max, gf)
        return fake_quantize_learnable_per_channel_affine(x, self.scale, self.zero_point, self.ch_axis,
                                                          self.quant_min, self.quant_max, gf)

    def qparams(self):
        if self.scale is None:
            raise ValueError("LSQ scale is not initialised: run a forward pass first")
        s = np.maximum(self.scale.data, self.eps).astype(np.float32)
        z = np.clip(np.rint(self.zero_point.data), self.quant_min, self.quant_max).astype(np.int64)
        if self.ch_axis is None:
            s, z = s.reshape(()), z.reshape(())
        return s, z, self.quant_min, self.quant_max, self.ch_axis

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, signed={self.signed}, ch_axis={self.ch_axis}, "
                f"learn_zero_point={self.learn_zero_point}, use_grad_scaling={self.use_grad_scaling}")
