"""PACT and DoReFa: quantizers with a learned clip, and with quantized gradients.

LSQ lives in :mod:`qnn_lite.quantizers.lsq`.

* PACT (Choi et al., 2018): activations clipped to ``[0, alpha]`` with a
  learnable ``alpha``, then quantized to ``bits`` uniform levels.
* DoReFa-Net (Zhou et al., 2016): weights via ``tanh``, activations clipped to
  ``[0, 1]``, and *gradients* quantized with uniform noise.

``PACT`` and ``DoReFa{Weight,Act,Grad}Quantizer`` are the quantizer Modules a ``QConfig`` builds
(:mod:`qnn_lite.transforms.fake_quant`): ``dorefa_qconfig`` makes DoReFa's W/A/G layers.

Shapes: everything is elementwise except the ``max`` / ``mean`` reductions, which
run over the whole tensor (or every axis but 0 for ``per_sample=True``).
"""
from __future__ import annotations

import numpy as np

from .. import autograd as ag
from ..autograd import Function, Tensor
from ..nn.module import Parameter
from ..validate import check_bits, check_bool, check_float_array, check_positive, check_rng
from .base import FakeQuantizeBase
from .ste import sign

__all__ = ["PACTFunction", "pact", "PACT", "QuantizeK", "quantize_k", "DoReFaWeight", "dorefa_weight",
           "DoReFaAct", "dorefa_act", "dorefa_grad", "QuantizeGrad", "quantize_grad",
           "DoReFaWeightQuantizer", "DoReFaActQuantizer", "DoReFaGradQuantizer"]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ----- PACT --------------------------------------------------------------------------
class PACTFunction(Function):
    """$y = \\mathrm{rint}(\\mathrm{clip}(x, 0, \\alpha) / s)\\, s$, $s = \\alpha / (2^k - 1)$ (PACT; Choi et al., 2018).

    Backward: $\\partial x = g \\cdot 1\\{0 \\le x \\le \\alpha\\}$ (STE inside the clip) and
    $\\partial\\alpha = \\sum_{x \\ge \\alpha} g$ — the paper's approximation, which drops the
    true $\\partial y/\\partial\\alpha = \\mathrm{rint}(x/s)/(2^k-1)$ inside the clip (rounding
    is treated as the identity). At $x = \\alpha$ exactly both receive $g$, as written in the paper.
    """
    @staticmethod
    def forward(ctx, x, alpha, bits):
        x = check_float_array(x, "x")
        n = 2 ** check_bits(bits) - 1
        a = np.asarray(alpha, dtype=x.dtype)
        if a.size != 1 or not (np.isfinite(a).all() and (a > 0).all()):
            raise ValueError(f"alpha must be one positive finite number, got {a.ravel()[:4]}")
        a = a.reshape(())
        ctx.save_for_backward(x, a, np.shape(alpha))
        s = a / n
        return (np.rint(np.clip(x, 0, a) * (x.dtype.type(1) / s)) * s).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, a, a_shape = ctx.saved_tensors
        dx = grad * ((x >= 0) & (x <= a))
        dalpha = np.sum(grad * (x >= a), dtype=grad.dtype).reshape(a_shape)
        return dx, dalpha, None


def pact(x, alpha, bits: int) -> Tensor:
    """PACT activation quantization; ``alpha`` a one-element Tensor (learnable) or number."""
    return PACTFunction.apply(_t(x), _t(alpha), bits)


class PACT(FakeQuantizeBase):
    """A PACT activation Module: ``y = PACT(bits)(x)``; ``alpha`` (init 10.0, the paper's) is a ``Parameter`` of shape (1,).

    Choi et al. add an L2 penalty on alpha to pull the clip in; add ``lambda * (alpha ** 2)``
    to your loss for that. With fake quant off the module is the identity (no clip either).
    Its grid: unsigned, ``scale = alpha / (2^bits - 1)``, ``zero_point = 0``.
    """

    def __init__(self, bits: int, alpha: float = 10.0):
        super().__init__()
        self.bits = check_bits(bits)
        self.alpha = Parameter(np.array([check_positive(alpha, "alpha")], dtype=np.float32))

    def forward(self, x) -> Tensor:
        return pact(x, self.alpha, self.bits) if self.fake_quant_enabled else x

    def qparams(self):
        quant_max = 2 ** self.bits - 1
        return np.float32(self.alpha.data[0] / quant_max), np.int64(0), 0, quant_max, None

    def extra_repr(self) -> str:
        return f"bits={self.bits}, alpha={float(self.alpha.data[0]):.4g}"


# ----- DoReFa ------------------------------------------------------------------------
def _quantize_k(x: np.ndarray, bits: int) -> np.ndarray:
    n = 2 ** bits - 1
    return np.rint(x * n) / n


class QuantizeK(Function):
    "$y = \\mathrm{rint}((2^k-1) x) / (2^k-1)$ for $x \\in [0, 1]$; backward identity (DoReFa; Zhou et al., 2016)"
    @staticmethod
    def forward(ctx, x, bits):
        return _quantize_k(check_float_array(x, "x"), check_bits(bits)).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def quantize_k(x, bits: int) -> Tensor:
    """DoReFa's ``quantize_k`` with a straight-through gradient."""
    return QuantizeK.apply(_t(x), bits)


class DoReFaWeight(Function):
    """$w_q = 2\\,\\mathrm{quantize}_k\\big(\\tanh w / (2 \\max|\\tanh w|) + 1/2\\big) - 1$ (DoReFa; Zhou et al., 2016).

    Backward: the exact gradient of the smooth curve $\\tanh w / \\max|\\tanh w|$
    (rounding passed straight through), *including* the path through the max,
    as the authors' TensorFlow code differentiates it (ties share the max's gradient).
    ``bits=1``: $\\mathrm{sign}(w)\\, E|w|$ with $E|w|$ a constant and an identity STE,
    so $\\partial w = g$ (the paper's special case, as in the authors' code).
    ``bits=32``: identity.
    """
    @staticmethod
    def forward(ctx, w, bits):
        w = check_float_array(w, "w")
        bits = check_bits(bits, allow_32=True)
        ctx.save_for_backward(w, bits)
        if bits == 32 or w.size == 0:
            return w.copy()
        if bits == 1:
            return (sign(w, dtype=w.dtype) * np.abs(w).mean(dtype=w.dtype)).astype(w.dtype)
        t = np.tanh(w)
        m = np.abs(t).max()
        # all weights 0: tanh w / max is 0/0; use 0, as for any zero weight (-> 2 quantize_k(1/2) - 1,
        # which is not 0: the 2^k DoReFa levels 2i/(2^k-1) - 1 have no zero)
        u = t / (2 * m) if m > 0 else np.zeros_like(t)
        return (2 * _quantize_k(u + w.dtype.type(0.5), bits) - 1).astype(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        w, bits = ctx.saved_tensors
        if bits in (1, 32) or w.size == 0:
            return grad, None
        t = np.tanh(w)
        a = np.abs(t)
        m = a.max()
        if m == 0:
            return grad, None  # tanh w / m is 0/0 at m = 0: pass the gradient straight through
        dt = 1 - t * t
        direct = grad * dt / m                                   # d(t_i/m)/dw_i
        through_max = -np.sum(grad * t, dtype=grad.dtype) / (m * m)  # d/dm of sum_i g_i t_i / m
        is_max = (a == m)
        dm_dw = np.where(is_max, np.sign(t) * dt, 0) / is_max.sum()
        return (direct + through_max * dm_dw).astype(w.dtype), None


def dorefa_weight(w, bits: int) -> Tensor:
    """DoReFa weight quantization to ``bits`` (1..16, or 32 for none); values in [-1, 1]."""
    return DoReFaWeight.apply(_t(w), bits)


class DoReFaAct(Function):
    "$y = \\mathrm{quantize}_k(\\mathrm{clip}(x, 0, 1))$; backward $g \\cdot 1\\{0 \\le x \\le 1\\}$ (DoReFa; Zhou et al., 2016)"
    @staticmethod
    def forward(ctx, x, bits):
        x = check_float_array(x, "x")
        ctx.save_for_backward(x)
        return _quantize_k(np.clip(x, 0, 1), check_bits(bits)).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ((x >= 0) & (x <= 1)), None


def dorefa_act(x, bits: int) -> Tensor:
    """DoReFa activation quantization: ``quantize_k(clip(x, 0, 1))`` on ``2**bits`` levels in [0, 1]."""
    return DoReFaAct.apply(_t(x), bits)


def dorefa_grad(g, bits: int, rng, per_sample: bool = False) -> np.ndarray:
    """DoReFa gradient quantization (Zhou et al., 2016):

    $\\tilde g = 2 \\max|g| \\,[\\mathrm{quantize}_k(g / (2\\max|g|) + 1/2 + N(k)) - 1/2]$,
    $N(k) = \\sigma / (2^k - 1)$, $\\sigma \\sim U(-1/2, 1/2)$ — i.e. stochastic rounding of
    the rescaled gradient onto $2^k$ levels. ``rng``: an ``np.random.Generator`` or int seed.
    The max runs over the whole tensor; the paper takes it per sample (over every
    axis but the batch axis 0): ``per_sample=True``. An all-zero gradient stays 0.
    """
    g = check_float_array(g, "g")
    bits = check_bits(bits)
    rng = check_rng(rng)
    if not np.isfinite(g).all():
        raise ValueError("g must be finite (an inf gradient has no max to scale by)")
    axes = tuple(range(1, g.ndim)) if per_sample and g.ndim > 1 else None
    m = np.abs(g).max(axis=axes, keepdims=True) if g.size else np.zeros((), g.dtype)
    n = 2 ** bits - 1
    safe = np.where(m > 0, 2 * m, 1).astype(g.dtype)
    noise = (rng.uniform(-0.5, 0.5, size=g.shape) / n).astype(g.dtype)
    q = np.clip(np.rint((g / safe + g.dtype.type(0.5) + noise) * n), 0, n) / n  # clip: noise can push past [0, 1]
    return np.where(m > 0, safe * (q - g.dtype.type(0.5)), 0).astype(g.dtype)


class QuantizeGrad(Function):
    "$y = x$; backward $\\tilde g$ = :func:`dorefa_grad` (g, bits, rng) (DoReFa; Zhou et al., 2016)"
    @staticmethod
    def forward(ctx, x, bits, rng, per_sample=False):
        ctx.save_for_backward(check_bits(bits), check_rng(rng), per_sample)
        return check_float_array(x, "x").copy()

    @staticmethod
    def backward(ctx, grad):
        bits, rng, per_sample = ctx.saved_tensors
        return dorefa_grad(grad, bits, rng, per_sample), None, None, None


def quantize_grad(x, bits: int, rng, per_sample: bool = False) -> Tensor:
    """Identity forward; the gradient flowing back through it is DoReFa-quantized."""
    return QuantizeGrad.apply(_t(x), bits, rng, per_sample)


# ----- DoReFa as quantizer Modules (the weight / activation / gradient factories of a QConfig) -----
class DoReFaWeightQuantizer(FakeQuantizeBase):
    """$y$ = :func:`dorefa_weight` $(w, k)$ as a Module; ``bits=32``: the identity (Zhou et al., 2016)."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = check_bits(bits, allow_32=True)

    def forward(self, w):
        return w if self.bits == 32 or not self.fake_quant_enabled else dorefa_weight(w, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class DoReFaActQuantizer(FakeQuantizeBase):
    """$y = \\mathrm{quantize}_k(\\mathrm{clip}(x, 0, 1))$ on ``2**bits`` levels (:func:`dorefa_act`); ``bits=32``: the clip alone."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = check_bits(bits, allow_32=True)

    def forward(self, x):
        if not self.fake_quant_enabled:
            return x
        return ag.clip(_t(x), 0.0, 1.0) if self.bits == 32 else dorefa_act(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class DoReFaGradQuantizer(FakeQuantizeBase):
    """$y = x$; the gradient flowing back through it is :func:`dorefa_grad` ``(g, bits, rng, per_sample)``.

    ``bits`` in 2..16 (one bit leaves the gradient a constant) or 32: no quantization.
    ``rng`` (a Generator or int seed) feeds the noise; ``per_sample=True`` takes the max per
    sample, as the paper does (Zhou et al., 2016).
    """

    def __init__(self, bits: int, rng=0, per_sample: bool = True):
        super().__init__()
        self.bits = check_bits(bits, lo=2, allow_32=True)
        self.rng = check_rng(rng)
        self.per_sample = check_bool(per_sample, "per_sample")

    def forward(self, x):
        if self.bits == 32 or not self.fake_quant_enabled:
            return x
        return quantize_grad(x, self.bits, self.rng, per_sample=self.per_sample)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_sample={self.per_sample}"
