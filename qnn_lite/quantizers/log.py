"""Logarithmic (power-of-two) quantization: levels $\\{0, \\pm 2^e\\}$, so a multiply becomes a shift.

Three quantizers, each an autograd ``Function`` whose backward is a straight-through
estimator (STE), and the level set they draw from:

* :func:`pot_quantize` — $q = \\mathrm{sign}(x)\\, 2^{e}$ with $e$ in an exponent window
  (Miyashita et al., 2016; Zhou et al., 2017, INQ). Two ways to round, both shown in
  the book:

  - ``rounding="log"`` rounds $\\log_2|x|$: $|x| = f\\,2^k$ with $f \\in [1, 2)$ goes up to
    $2^{k+1}$ when $f \\ge \\sqrt 2$ (Miyashita et al., 2016);
  - ``rounding="value"`` picks the nearest power of two on the real line: up when
    $f \\ge 1.5$ (ties go up, as INQ's rule $\\beta \\le |w| < 3\\beta/2 \\Rightarrow \\beta$).

  The rounding is computed *exactly* from ``np.frexp`` (mantissa and exponent), not
  from a floating-point ``log2``.
* :func:`multi_hot_quantize` — a greedy sum of ``k`` signed powers of two (residual refinement).
* :func:`mu_law_quantize` — mu-law companding: compress, uniform quantize, expand (ITU-T G.711).

**Exponent window** for ``bits`` $b \\ge 2$: one bit is the sign, the other $b - 1$ bits
index $2^{b-1}$ codes: zero and the $2^{b-1} - 1$ exponents
$e_{min} = e_{max} - 2^{b-1} + 2, \\dots, e_{max}$ (see :func:`pot_levels`).
$e_{max}$ defaults to the exponent that $\\max|x|$ rounds to under the same rule (for
``"value"`` this is INQ's $n_1 = \\lfloor \\log_2(4 \\max|x| / 3) \\rfloor$).

**Saturation and zero**: exponents that round above $e_{max}$ saturate to $2^{e_{max}}$;
below the window a value becomes 0 when it is closer (in that rounding's sense) to 0:

* ``"log"``: $|x| < 2^{e_{min}} / \\sqrt 2$ (log2|x| rounds below $e_{min}$);
* ``"value"``: $|x| < 2^{e_{min}} / 2$, the midpoint between 0 and the smallest level
  (INQ's $(\\alpha + \\beta)/2$ with $\\alpha = 0$).

Shapes: elementwise, output shape = input shape, same float dtype (ints become float32).
Tensor or array in, ``Tensor`` out.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor
from ..validate import as_float, check_int as _check_int

__all__ = [
    "pot_levels", "pot_exponent_range", "round_exponent", "PotQuantize", "pot_quantize",
    "MultiHotQuantize", "multi_hot_quantize", "mu_law_compress", "mu_law_expand",
    "MuLawQuantize", "mu_law_quantize",
]

_ROUNDINGS = ("log", "value")
_SQRT2 = math.sqrt(2.0)  # float64; the comparison below is exact for float32 and float64 inputs


# ----- checks -------------------------------------------------------------------------
def _as_float(x, name: str = "x") -> np.ndarray:
    return as_float(x, name)


def _check_rounding(rounding) -> str:
    if rounding not in _ROUNDINGS:
        raise ValueError(f"rounding must be one of {_ROUNDINGS}, got {rounding!r}")
    return rounding


def _t(x) -> Tensor:
    """A checked Tensor: Tensors pass through (integer ones become float32), arrays are wrapped."""
    if isinstance(x, Tensor):
        data = _as_float(x.data)
        return x if data is x.data else Tensor(data)
    return Tensor(_as_float(x))


# ----- the level set --------------------------------------------------------------------
def pot_exponent_range(bits: int, max_exp: int) -> tuple[int, int]:
    """$(e_{min}, e_{max}) = (e_{max} - 2^{bits-1} + 2,\\ e_{max})$: the exponents ``bits`` can hold."""
    bits = _check_int(bits, "bits", 2, 16)
    max_exp = _check_int(max_exp, "max_exp", -1000, 1000)
    return max_exp - 2 ** (bits - 1) + 2, max_exp


def pot_levels(bits: int, max_exp: int) -> np.ndarray:
    """The non-negative levels $[0, 2^{e_{min}}, \\dots, 2^{e_{max}}]$ (float64, ascending); negate for the rest."""
    lo, hi = pot_exponent_range(bits, max_exp)
    return np.concatenate([[0.0], np.ldexp(1.0, np.arange(lo, hi + 1))])


def round_exponent(a: np.ndarray, rounding: str = "log") -> np.ndarray:
    """Integer exponent $e$ with $2^e$ nearest to ``a > 0``, in the log or the value domain (int64).

    With $a = f\\,2^k$, $f \\in [1, 2)$ (from ``np.frexp``): ``"log"`` gives $k + [f \\ge \\sqrt 2]$,
    ``"value"`` gives $k + [f \\ge 1.5]$.
    """
    rounding = _check_rounding(rounding)
    mantissa, exp = np.frexp(np.asarray(a, dtype=np.float64))  # a = mantissa * 2**exp, mantissa in [0.5, 1)
    f = 2.0 * mantissa                                          # a = f * 2**(exp - 1), f in [1, 2)
    up = f >= (_SQRT2 if rounding == "log" else 1.5)
    return (exp - 1 + up).astype(np.int64)


def _default_max_exp(x: np.ndarray, rounding: str) -> int:
    top = float(np.max(np.abs(x)))
    return int(round_exponent(top, rounding)) if top > 0 else 0


def _pot(x: np.ndarray, bits: int, rounding: str, max_exp: int):
    """(q, in_range): PoT values of ``x`` and the STE mask (exponent did not saturate)."""
    lo, hi = pot_exponent_range(bits, max_exp)
    a = np.abs(x).astype(np.float64)
    positive = a > 0
    e = round_exponent(np.where(positive, a, 1.0), rounding)
    mag = np.ldexp(1.0, np.clip(e, lo, hi))
    if rounding == "log":
        zero = e < lo
    else:  # nearest level on the real line, 0 included: below half the smallest level -> 0
        zero = a < np.ldexp(1.0, lo - 1)
    mag = np.where(positive & ~zero, mag, 0.0)
    q = (np.sign(x) * mag).astype(x.dtype)
    return q, (e <= hi) | ~positive


# ----- power of two ---------------------------------------------------------------------
class PotQuantize(Function):
    "$q = \\mathrm{sign}(x) 2^{\\mathrm{clip}(\\mathrm{round}(\\log_2|x|), e_{min}, e_{max})}$ or 0; backward $g \\cdot 1\\{e \\le e_{max}\\}$ (STE)"
    @staticmethod
    def forward(ctx, x, bits, rounding, max_exp):
        q, in_range = _pot(x, bits, rounding, max_exp)
        ctx.save_for_backward(in_range)
        return q

    @staticmethod
    def backward(ctx, grad):
        (in_range,) = ctx.saved_tensors
        return grad * in_range.astype(grad.dtype), None, None, None


def pot_quantize(x, bits: int = 4, rounding: str = "log", max_exp: int | None = None) -> Tensor:
    """Power-of-two quantization (Miyashita et al., 2016; Zhou et al., 2017): ``sign(x) * 2**e`` or 0.

    ``bits`` in 2..16 (1 sign bit + a code for zero and $2^{bits-1}-1$ exponents);
    ``rounding`` ``"log"`` (switch at $\\sqrt 2\\, 2^k$) or ``"value"`` (switch at $1.5\\, 2^k$);
    ``max_exp`` the top exponent (default: $\\max|x|$ rounded the same way). See the module
    docstring for saturation and the zero threshold. The backward passes the gradient
    where the exponent did not saturate above ``max_exp`` (mask on the rounded exponent).
    """
    xt = _t(x)
    arr = xt.data
    bits = _check_int(bits, "bits", 2, 16)
    rounding = _check_rounding(rounding)
    max_exp = _default_max_exp(arr, rounding) if max_exp is None else _check_int(max_exp, "max_exp", -1000, 1000)
    return PotQuantize.apply(xt, bits, rounding, max_exp)


# ----- multi-hot: a sum of k powers of two ------------------------------------------------
def _multi_hot(x: np.ndarray, k: int, bits: int, rounding: str, max_exp: int) -> np.ndarray:
    out = np.zeros_like(x)
    for _ in range(k):  # each pass quantizes what is still missing
        q, _ = _pot(x - out, bits, rounding, max_exp)
        out = out + q
    return out


class MultiHotQuantize(Function):
    "$q = \\sum_{j=1}^{k} \\mathrm{pot}(r_j)$, $r_1 = x$, $r_{j+1} = x - \\sum_{i \\le j} \\mathrm{pot}(r_i)$; backward identity STE"
    @staticmethod
    def forward(ctx, x, k, bits, rounding, max_exp):
        return _multi_hot(x, k, bits, rounding, max_exp)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None, None, None


def multi_hot_quantize(x, k: int = 2, bits: int = 4, rounding: str = "log", max_exp: int | None = None) -> Tensor:
    """Greedy sum of ``k`` signed powers of two (residual refinement), each from :func:`pot_quantize`'s window.

    Every pass rounds the residual $x - q$ to a power of two (same ``bits``, ``rounding``
    and ``max_exp``, fixed from ``x``), so $|x - q|$ never grows from one pass to the next.
    ``k`` in 1..8. Backward: identity STE.
    """
    xt = _t(x)
    arr = xt.data
    k = _check_int(k, "k", 1, 8)
    bits = _check_int(bits, "bits", 2, 16)
    rounding = _check_rounding(rounding)
    max_exp = _default_max_exp(arr, rounding) if max_exp is None else _check_int(max_exp, "max_exp", -1000, 1000)
    return MultiHotQuantize.apply(xt, k, bits, rounding, max_exp)


# ----- mu-law companding ----------------------------------------------------------------
def _check_mu(mu) -> float:
    if isinstance(mu, bool) or not isinstance(mu, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"mu must be a positive finite number, got {mu!r}")
    return float(mu)


def mu_law_compress(x, mu: float = 255.0) -> np.ndarray:
    """$F(x) = \\mathrm{sign}(x) \\ln(1 + \\mu|x|) / \\ln(1 + \\mu)$ for $x \\in [-1, 1]$ (ITU-T G.711)."""
    x, mu = _as_float(x), _check_mu(mu)
    return (np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)).astype(x.dtype)


def mu_law_expand(y, mu: float = 255.0) -> np.ndarray:
    """$F^{-1}(y) = \\mathrm{sign}(y) ((1 + \\mu)^{|y|} - 1) / \\mu$, the inverse of :func:`mu_law_compress`."""
    y, mu = _as_float(y, "y"), _check_mu(mu)
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(y.dtype)


def _mu_law(x: np.ndarray, bits: int, mu: float, x_max: float) -> np.ndarray:
    if x_max == 0:
        return np.zeros_like(x)
    levels = 2 ** (bits - 1) - 1                       # codes -levels..levels, 0 included
    y = mu_law_compress(np.clip(x / x_max, -1, 1), mu)
    y_q = np.rint(y * levels) / levels
    return (mu_law_expand(y_q, mu) * x_max).astype(x.dtype)


class MuLawQuantize(Function):
    "$q = x_{max} F^{-1}(\\mathrm{rint}(F(x / x_{max}) L) / L)$, $L = 2^{bits-1} - 1$; backward $g \\cdot 1\\{|x| \\le x_{max}\\}$"
    @staticmethod
    def forward(ctx, x, bits, mu, x_max):
        ctx.save_for_backward(np.abs(x) <= x_max)
        return _mu_law(x, bits, mu, x_max)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside.astype(grad.dtype), None, None, None


def mu_law_quantize(x, bits: int = 8, mu: float = 255.0, x_max: float | None = None) -> Tensor:
    """mu-law companding quantizer: compress $x / x_{max}$, round to ``bits`` (signed, $2^{bits}-1$ levels), expand.

    ``x_max`` defaults to $\\max|x|$; values beyond it clip to $\\pm x_{max}$ (and get no
    gradient). All-zero input gives zeros. Fine steps near 0, coarse ones near $x_{max}$:
    a smooth cousin of power-of-two levels.
    """
    xt = _t(x)
    arr = xt.data
    bits = _check_int(bits, "bits", 2, 16)
    mu = _check_mu(mu)
    if x_max is None:
        x_max = float(np.max(np.abs(arr)))
    elif isinstance(x_max, bool) or not isinstance(x_max, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(x_max) and x_max > 0):
        raise ValueError(f"x_max must be a positive finite number or None, got {x_max!r}")
    return MuLawQuantize.apply(xt, bits, mu, float(x_max))
