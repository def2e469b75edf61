"""Stochastic rounding: round up with probability equal to the fractional part.

$\\mathrm{SR}(x) = \\lfloor x \\rfloor + \\mathrm{Bernoulli}(x - \\lfloor x \\rfloor)$, so
$E[\\mathrm{SR}(x)] = x$: unbiased, unlike round-to-nearest, whose error is systematic.
That is what lets low-precision training accumulate tiny updates
(Gupta et al., 2015, "Deep learning with limited numerical precision").

Every function takes ``rng``: an ``np.random.Generator`` (advanced by each call)
or an int seed (a fresh Generator, so the same seed gives the same draws).
Shapes: elementwise; output shape = input shape.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..validate import check_zero_point

__all__ = ["stochastic_round", "stochastic_quantize", "StochasticFakeQuantize",
           "stochastic_fake_quantize", "quantize_gradient"]


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a np.random.Generator or an int seed >= 0, got {rng!r}")


def _float(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32) if x.dtype.kind in "iub" else x
        if x.dtype.kind != "f":
            raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if np.isnan(x).any():
        raise ValueError(f"{name} must not contain NaN, got {int(np.isnan(x).sum())} NaN value(s)")
    return x


def stochastic_round(x, rng) -> np.ndarray:
    """$\\lfloor x \\rfloor + 1\\{u < x - \\lfloor x \\rfloor\\}$, $u \\sim U[0, 1)$: unbiased rounding to an integer.

    Integers (and ±inf) come back unchanged; every output is floor(x) or ceil(x).
    """
    x = _float(x)
    rng = _rng(rng)
    lo = np.floor(x)
    with np.errstate(invalid="ignore"):  # inf - inf for infinite inputs; their frac is set to 0
        frac = np.where(np.isfinite(x), x - lo, 0)
    return (lo + (rng.random(x.shape) < frac)).astype(x.dtype)


def _check_qparams(scale, quant_min, quant_max, dtype):
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if quant_min >= quant_max:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    s = np.asarray(scale, dtype=dtype)
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError(f"scale must be positive and finite, got {s.ravel()[:4]}")
    return s


def stochastic_quantize(x, scale, quant_min: int, quant_max: int, rng, zero_point: int = 0) -> np.ndarray:
    """Stochastic fake quantization: $y = (\\mathrm{clip}(\\mathrm{SR}(x/s) + z, q_{min}, q_{max}) - z)\\, s$.

    ``scale`` a number or an array broadcastable to ``x`` (per channel). Unbiased
    inside the range: $E[y] = x$ when $(q_{min} - z) s \\le x \\le (q_{max} - z) s$.
    """
    x = _float(x)
    s = _check_qparams(scale, quant_min, quant_max, x.dtype)
    zero_point = check_zero_point(zero_point, quant_min, quant_max).astype(x.dtype)
    q = np.clip(stochastic_round(x * (x.dtype.type(1) / s), rng) + zero_point, quant_min, quant_max)
    return ((q - zero_point) * s).astype(x.dtype)


class StochasticFakeQuantize(Function):
    "$y$ = :func:`stochastic_quantize`; backward $g \\cdot 1\\{q_{min} \\le z + \\mathrm{SR}(x/s) \\le q_{max}\\}$ (STE)"
    @staticmethod
    def forward(ctx, x, scale, quant_min, quant_max, rng, zero_point=0):
        x = _float(x)
        s = _check_qparams(scale, quant_min, quant_max, x.dtype)
        zero_point = check_zero_point(zero_point, quant_min, quant_max).astype(x.dtype)
        q = stochastic_round(x * (x.dtype.type(1) / s), rng) + zero_point
        ctx.save_for_backward((q >= quant_min) & (q <= quant_max))
        return ((np.clip(q, quant_min, quant_max) - zero_point) * s).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None, None


def stochastic_fake_quantize(x, scale, quant_min: int, quant_max: int, rng, zero_point: int = 0) -> Tensor:
    """Autograd version of :func:`stochastic_quantize` (straight-through inside the range)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return StochasticFakeQuantize.apply(x, scale, quant_min, quant_max, rng, zero_point)


def quantize_gradient(g, bits: int, rng) -> np.ndarray:
    """Gradient quantization: $\\tilde g = s\\, \\mathrm{clip}(\\mathrm{SR}(g/s), -Q, Q)$, $s = \\max|g| / Q$, $Q = 2^{b-1} - 1$.

    Symmetric, per-tensor max scaling, stochastic rounding: unbiased, $E[\\tilde g] = g$.
    ``bits`` in 2..16 (one bit leaves no nonzero symmetric level). An all-zero gradient stays 0.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in 2..16, got {bits!r}")
    g = _float(g, "g")
    if not np.isfinite(g).all():
        raise ValueError("g must be finite (an inf gradient has no max to scale by)")
    top = 2 ** (bits - 1) - 1
    m = np.abs(g).max() if g.size else 0.0
    if m == 0:
        return np.zeros_like(g)
    s = g.dtype.type(m / top)
    return (np.clip(stochastic_round(g / s, rng), -top, top) * s).astype(g.dtype)
