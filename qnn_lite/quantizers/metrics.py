"""Quantization error: measured (MSE, SQNR, rounding vs clipping split) and predicted (the Δ²/12 noise model).

Measured, on a tensor ``x`` and its quantized copy ``x_hat`` :

* $\\mathrm{MSE} = \\frac1n \\sum_i (x_i - \\hat x_i)^2$,
  $\\mathrm{SQNR} = 10 \\log_{10}\\big(\\sum_i x_i^2 / \\sum_i (x_i - \\hat x_i)^2\\big)$ dB (``inf`` if exact).
* :func:`quant_error` quantizes ``x`` with a named configuration (bits, affine / symmetric,
  per-tensor / per-channel, clipping ratio) and splits the MSE into **rounding** error
  (values inside the grid) plus **clipping** error (values whose code fell outside ``[quant_min, quant_max]``).

Predicted (Bennett, 1948; Widrow & Kollár, 2008, "Quantization Noise"): a uniform quantizer
with step $\\Delta$ whose input spans many steps, with a smooth density and no clipping, makes an
error that is close to uniform on $[-\\Delta/2, \\Delta/2]$, so its power is

$$\\sigma_e^2 = \\Delta^2 / 12 \\qquad (:func:`rounding_noise_power`).$$

From it, for ``b`` bits (:func:`sqnr_theory_db`), with $2^b$ cells of width $\\Delta$ covering $[-A, A]$:

* ``"uniform"`` signal, uniform on exactly $[-A, A]$: $\\Delta = 2A/2^b$, power $A^2/3$, so
  $\\mathrm{SQNR} = 10\\log_{10} 4^b = 6.02\\,b$ dB.
* ``"sine"``, a full-scale sinusoid of amplitude $A$ (power $A^2/2$): $6.02\\,b + 1.76$ dB — the
  textbook "$6.02b + 1.76$"; it holds for a sine, not for a uniform or Gaussian tensor.
* ``"gaussian"`` with the range clipped at $A = k\\sigma$: $6.02\\,b + 4.77 - 20\\log_{10} k$ dB.
  Rounding noise only: the clipping error of the tails is left out, so it holds when $k \\gtrsim 3$
  (for $k = 4$, $6.02\\,b - 7.27$ dB).

All three need $b$ large enough that the signal spans many steps (in practice $b \\ge 4$; at 2 bits
the error is far from uniform). Min/max qparams put the *levels*, not the cell edges, on the
range ends, so $\\Delta = 2A/(2^b - 1)$ and the measured SQNR is lower by $20\\log_{10}\\frac{2^b}{2^b-1}$
(2.5 dB at 2 bits, 0.03 dB at 8 bits): :func:`qnn_lite.recipes.sqnr.sqnr_table` prints both.

Clipping (Banner et al., 2019, "Post training 4-bit quantization of convolutional networks for
rapid-deployment"): clipping at $\\pm\\alpha$ trades rounding error for clipping error,
$E[(x-\\hat x)^2] \\approx P(|x| \\le \\alpha)\\,\\Delta^2/12 + E[(|x| - \\alpha)^2; |x| > \\alpha]$
(:func:`expected_mse`, :func:`clipping_mse`).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import Tensor
from ..validate import as_float, check_bits, check_positive
from .uniform import calc_qparams, fake_quantize, qrange

__all__ = ["mse", "sqnr_db", "rounding_noise_power", "sqnr_theory_db", "clipping_mse", "expected_mse",
           "quant_error", "DB_PER_BIT"]

DB_PER_BIT = 20 * math.log10(2)  # 6.0206 dB: one more bit halves the step, quarters the noise power
_SIGNALS = ("uniform", "sine", "gaussian")
_DISTS = ("gaussian", "laplace")


def mse(w, w_hat) -> float:
    """Mean squared error $\\frac1n \\sum (w - \\hat w)^2$ in float64."""
    w, w_hat = as_float(w, "w").astype(np.float64), as_float(w_hat, "w_hat").astype(np.float64)
    if w.shape != w_hat.shape:
        raise ValueError(f"w_hat must have w's shape {w.shape}, got {w_hat.shape}")
    return float(np.mean((w - w_hat) ** 2))


def sqnr_db(w, w_hat) -> float:
    """Signal-to-quantization-noise ratio $10 \\log_{10}(\\sum w^2 / \\sum (w - \\hat w)^2)$ in dB; ``inf`` if exact."""
    w, w_hat = as_float(w, "w").astype(np.float64), as_float(w_hat, "w_hat").astype(np.float64)
    if w.shape != w_hat.shape:
        raise ValueError(f"w_hat must have w's shape {w.shape}, got {w_hat.shape}")
    noise, signal = float(np.sum((w - w_hat) ** 2)), float(np.sum(w ** 2))
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


# ----- the noise model -----------------------------------------------------------------------------
def rounding_noise_power(scale) -> float:
    """$\\Delta^2 / 12$: the power of an error uniform on $[-\\Delta/2, \\Delta/2]$ (``scale`` = the step $\\Delta$)."""
    return check_positive(float(scale) if isinstance(scale, np.floating) else scale, "scale") ** 2 / 12.0


def sqnr_theory_db(bits: int, signal: str = "uniform", k: float | None = None) -> float:
    """Predicted SQNR (dB) of a ``bits``-bit uniform quantizer from the $\\Delta^2/12$ model; see the module doc.

    ``"uniform"``: $6.02b$; ``"sine"``: $6.02b + 1.76$; ``"gaussian"`` (needs ``k``, the clipping
    range in standard deviations): $6.02b + 4.77 - 20\\log_{10} k$ (clipping error ignored).
    """
    bits = check_bits(bits)
    if signal not in _SIGNALS:
        raise ValueError(f"signal must be one of {_SIGNALS}, got {signal!r}")
    base = bits * DB_PER_BIT
    if signal == "uniform":
        if k is not None:
            raise ValueError(f"k is only used with signal='gaussian', got k={k!r} with signal={signal!r}")
        return base
    if signal == "sine":
        if k is not None:
            raise ValueError(f"k is only used with signal='gaussian', got k={k!r} with signal={signal!r}")
        return base + 10 * math.log10(1.5)
    if k is None:
        raise ValueError("signal='gaussian' needs k, the clipping range in standard deviations, got k=None")
    return base + 10 * math.log10(3.0) - 20 * math.log10(check_positive(k, "k"))


def clipping_mse(alpha: float, dist: str = "gaussian", scale: float = 1.0) -> float:
    """$E[(|x| - \\alpha)^2;\\ |x| > \\alpha]$ for a zero-mean ``dist`` clipped at $\\pm\\alpha$.

    Gaussian, $\\sigma$ = ``scale``, $k = \\alpha/\\sigma$: $2\\sigma^2[(1 + k^2)\\,Q(k) - k\\,\\varphi(k)]$;
    Laplace, $b$ = ``scale``: $2b^2 e^{-\\alpha/b}$ (Banner et al., 2019).
    """
    if dist not in _DISTS:
        raise ValueError(f"dist must be one of {_DISTS}, got {dist!r}")
    scale = check_positive(scale, "scale")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a non-negative finite number, got {alpha!r}")
    if dist == "laplace":
        return 2 * scale ** 2 * math.exp(-alpha / scale)
    k = alpha / scale
    tail = 0.5 * math.erfc(k / math.sqrt(2))                 # Q(k) = P(x > k sigma)
    pdf = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)      # phi(k)
    return max(2 * scale ** 2 * ((1 + k * k) * tail - k * pdf), 0.0)


def expected_mse(alpha: float, step: float, dist: str = "gaussian", scale: float = 1.0) -> float:
    """Expected rounding plus clipping error of a grid with step ``step`` (= $\\Delta$) clipping at $\\pm\\alpha$.

    $P(|x| \\le \\alpha)\\,\\Delta^2/12$ + :func:`clipping_mse` (Banner et al., 2019, without their
    $P \\approx 1$); ``dist`` and ``scale`` as in :func:`clipping_mse`.
    """
    step = check_positive(float(step) if isinstance(step, np.floating) else step, "step")
    clip = clipping_mse(alpha, dist, scale)
    s = check_positive(scale, "scale")
    inside = math.erf(alpha / (s * math.sqrt(2))) if dist == "gaussian" else 1 - math.exp(-alpha / s)
    return inside * rounding_noise_power(step) + clip


# ----- measuring a configuration ------------------------------------------------------------------
def _as_array(x) -> np.ndarray:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must be a numeric array or Tensor, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"x must be non-empty and finite (no NaN or inf), got shape {x.shape} "
                         f"with {int((~np.isfinite(x)).sum())} non-finite value(s)")
    return x


def quant_error(x, bits: int = 8, symmetric: bool = False, per_channel: bool = False, clip: float = 1.0,
                ch_axis: int = 0, narrow: bool = False) -> dict:
    """Fake-quantize ``x`` on a signed ``bits``-bit grid and measure the error, split into rounding and clipping.

    The range is ``clip * [min, max]`` of ``x`` (of each slice along ``ch_axis`` when ``per_channel``),
    ``clip`` in (0, 1]; qparams from :func:`calc_qparams` on ``qrange(bits, signed=True, narrow=narrow)``,
    affine or ``symmetric`` (symmetric with ``narrow`` puts the end levels exactly on the range ends).
    A value counts as *clipped* when its unclipped code ``rint(x/s) + z`` lies outside
    ``[quant_min, quant_max]`` (the STE mask). Returns a dict: ``x_hat`` (float32, ``x.shape``), ``clipped``
    (bool, ``x.shape``), ``scale``, ``zero_point`` (scalars, or ``(C,)`` arrays), ``quant_min``, ``quant_max``,
    ``mse`` = ``rounding_mse + clipping_mse`` (each the squared error summed over its values / n),
    ``clipped_fraction``, ``sqnr_db``.
    """
    x = _as_array(x)
    bits = check_bits(bits, "bits", 2)
    if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not 0 < clip <= 1:
        raise ValueError(f"clip must be a number in (0, 1], the fraction of the min/max range kept, got {clip!r}")
    quant_min, quant_max = qrange(bits, signed=True, narrow=narrow)
    if per_channel:
        if x.ndim < 2:
            raise ValueError(f"per_channel needs x with at least 2 dims (channels on axis {ch_axis}), got shape {x.shape}")
        if isinstance(ch_axis, bool) or not isinstance(ch_axis, numbers.Integral) or not -x.ndim <= ch_axis < x.ndim:
            raise ValueError(f"ch_axis must be an int in [-{x.ndim}, {x.ndim}), got {ch_axis!r}")
        flat = np.moveaxis(x, ch_axis, 0).reshape(x.shape[ch_axis], -1)
        lo, hi = flat.min(axis=1), flat.max(axis=1)
        ax = int(ch_axis)
    else:
        lo, hi, ax = x.min(), x.max(), None
    scale, zp = calc_qparams(np.float32(clip) * lo, np.float32(clip) * hi, quant_min, quant_max, symmetric=symmetric)
    x_hat = fake_quantize(x, scale, zp, quant_min, quant_max, ch_axis=ax)
    shape = [1] * x.ndim
    if ax is not None:
        shape[ax] = -1
    s_b, z_b = np.reshape(scale, shape), np.reshape(zp, shape)
    codes = np.rint(x * (np.float32(1) / s_b.astype(np.float32))) + z_b
    clipped = (codes < quant_min) | (codes > quant_max)
    err2 = (x.astype(np.float64) - x_hat.astype(np.float64)) ** 2
    n = x.size
    return {"x_hat": x_hat, "clipped": clipped, "scale": scale, "zero_point": zp, "quant_min": quant_min, "quant_max": quant_max,
            "mse": float(err2.sum() / n), "rounding_mse": float(err2[~clipped].sum() / n),
            "clipping_mse": float(err2[clipped].sum() / n), "clipped_fraction": float(clipped.mean()),
            "sqnr_db": sqnr_db(x, x_hat)}


