"""Calibration observers that choose a clipping threshold: entropy (KL), SAWB, ACIQ; joint MMSE clipping.

Each observer keeps every value it sees (like ``PercentileObserver``) and clips the observed
range to ``[-T, T]`` (intersected with ``[min_val, max_val]``), so it plugs into a ``QConfig``
as ``FakeQuantize.with_args(observer=KLObserver, bits=8, ...)``:

* ``KLObserver`` — TensorRT's entropy calibration (Migacz, "8-bit Inference with TensorRT",
  GTC 2017): the threshold whose clipped-and-quantized histogram of ``|x|`` is closest in
  KL divergence to the clipped reference (``kl_threshold`` is the algorithm on a histogram).
* ``SAWBObserver`` — statistics-aware weight binning (Choi et al., 2018, "Bridging the accuracy
  gap for 2-bit quantized neural networks"): ``T = c1 sqrt(E[x^2]) - c2 E|x|``.
* ``ACIQObserver`` — analytic clipping (Banner et al., 2019, "Post training 4-bit quantization
  of convolutional networks for rapid-deployment"): the ``T`` minimizing the modelled
  clipping + rounding MSE of a Laplace or Gaussian fit.
* ``mmse_clip`` / ``joint_mmse_clip`` — the threshold minimizing the measured fake-quant MSE of
  one tensor, or of several tensors that must share one scale (e.g. the inputs of an ``Add``).
  (``MSEObserver`` in ``observers.py`` is the per-tensor observer.)
"""
from __future__ import annotations

import math

import numpy as np

from .observers import _SampleObserver
from .uniform import calc_qparams, fake_quantize, qrange
from ..validate import as_float, check_bits, check_bool, check_choice, check_int

__all__ = ["kl_threshold", "expand_quantized", "KLObserver", "SAWB_COEFFICIENTS", "sawb_threshold",
           "SAWBObserver", "aciq_threshold", "ACIQObserver", "mmse_clip", "joint_mmse_clip"]

f32 = np.float32


# ----- TensorRT entropy calibration ---------------------------------------------------------
def expand_quantized(p: np.ndarray, num_levels: int) -> np.ndarray:
    """Merge the ``i = len(p)`` bins of ``p`` into ``num_levels`` groups, then spread each group's
    total uniformly over the group's **non-zero** bins (zero bins stay zero): TensorRT's Q.

    Group ``j`` holds bins ``[j m, (j + 1) m)`` with ``m = i // num_levels``; the last group
    also takes the ``i mod num_levels`` remaining bins. Shapes: ``(i,) -> (i,)``, ``i >= num_levels``.
    """
    p = np.asarray(p, np.float64)
    i = p.size
    group = np.minimum(np.arange(i) // (i // num_levels), num_levels - 1)  # bin -> its group
    nonzero = p != 0
    totals = np.bincount(group, weights=p, minlength=num_levels)
    counts = np.bincount(group, weights=nonzero, minlength=num_levels)
    return np.where(nonzero, totals[group] / np.maximum(counts[group], 1), 0.0)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """``sum p log(p / q)`` over ``p > 0`` (both normalised); ``inf`` if some ``q`` is 0 where ``p`` is not."""
    p, q = p / p.sum(), q / q.sum()
    mask = p > 0
    if (q[mask] == 0).any():
        return math.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl_threshold(hist, bin_width: float, num_levels: int = 128, start: int | None = None):
    """TensorRT's threshold for a histogram of ``|x|`` (Migacz, 2017).

    For each candidate ``i = start .. len(hist)`` (default ``start = num_levels``):
    ``P = hist[:i]`` with the outliers ``sum(hist[i:])`` added to ``P[i-1]``;
    ``Q = expand_quantized(hist[:i], num_levels)``; divergence ``KL(P || Q)`` after normalising.
    Returns ``(threshold, divergences)`` with ``threshold = (m + 0.5) * bin_width`` for the minimising
    ``m`` (the last of the ``i`` bins; ties keep the smallest ``i``), and ``divergences[k]`` for ``i = start + k``.
    """
    hist = as_float(hist, "hist").astype(np.float64)
    if hist.ndim != 1 or (hist < 0).any() or hist.sum() <= 0:
        raise ValueError(f"hist must be a 1-D array of non-negative counts with a positive total, got "
                         f"shape {hist.shape}, total {float(hist.sum())}")
    num_levels = check_int(num_levels, "num_levels", lo=1)
    start = num_levels if start is None else check_int(start, "start", lo=num_levels)
    if start > hist.size:
        raise ValueError(f"hist must have at least start={start} bins, got {hist.size}")
    divergences = []
    for i in range(start, hist.size + 1):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        q = expand_quantized(hist[:i], num_levels)
        divergences.append(_kl(p, q) if q.sum() > 0 else math.inf)
    div = np.array(divergences)
    m = start + int(np.argmin(div)) - 1  # index of the last bin kept
    return float((m + 0.5) * bin_width), div


class _ThresholdObserver(_SampleObserver):
    """Clip the observed ``[min_val, max_val]`` to ``[-T, T]``; subclasses give ``threshold(samples)``."""

    def reset(self) -> None:
        super().reset()
        self.threshold_: float | None = None  # set by clip_range

    def clip_range(self):
        if not self._chunks:
            return None
        t = f32(max(self.threshold(self.samples), 0.0))
        self.threshold_ = float(t)
        lo, hi = max(self.min_val, -t), min(self.max_val, t)
        return f32(min(lo, 0)), f32(max(hi, 0))

    def _levels(self) -> int:
        """Quantization levels on one side of zero: 128 for int8 (signed), 256 for uint8 (unsigned)."""
        return self.quant_max + 1 if self.quant_min < 0 else self.quant_max - self.quant_min + 1


class KLObserver(_ThresholdObserver):
    """Entropy calibration (TensorRT; Migacz, 2017): ``T = kl_threshold(histogram(|x|, bins))``.

    ``bins`` (2048) bins over ``[0, max|x|]``; ``num_levels`` = 128 for a signed 8-bit range
    (``2**(bits-1)``), ``2**bits`` for an unsigned one. ``flatten_zero_bin=True`` sets
    ``hist[0] = hist[1]`` first, as NVIDIA's pytorch-quantization does: after a ReLU the spike of
    exact zeros in bin 0 otherwise dominates both distributions and the search picks tiny thresholds
    (``False`` is the literal algorithm). Kept: ``self.divergences``.
    """

    def __init__(self, bins: int = 2048, flatten_zero_bin: bool = True, **kwargs):
        self.bins = check_int(bins, "bins", lo=2)
        self.flatten_zero_bin = check_bool(flatten_zero_bin, "flatten_zero_bin")
        super().__init__(**kwargs)

    def threshold(self, x):
        a = np.abs(x.astype(np.float64))
        top = a.max()
        if top == 0:
            return 0.0
        levels = min(self._levels(), self.bins)
        hist, _ = np.histogram(a, bins=self.bins, range=(0.0, top))
        if self.flatten_zero_bin:
            hist[0] = hist[1]
        t, self.divergences = kl_threshold(hist, top / self.bins, levels)
        return t


# ----- SAWB ------------------------------------------------------------------------------------
# bits -> (c1, c2) in T = c1 sqrt(E[w^2]) - c2 E|w| (Choi et al., 2018); the values used by
# public SAWB implementations (e.g. IBM's), fitted by the authors on many weight distributions.
SAWB_COEFFICIENTS = {2: (3.212, 2.178), 4: (12.68, 12.80), 5: (17.74, 18.64)}


def sawb_threshold(x, bits: int) -> float:
    """``T = c1 sqrt(E[x^2]) - c2 E|x|`` with SAWB's coefficients for ``bits`` (2, 4 or 5)."""
    x = as_float(x, "x").astype(np.float64)
    if bits not in SAWB_COEFFICIENTS:
        raise ValueError(f"bits must be one of {sorted(SAWB_COEFFICIENTS)} for SAWB (the published "
                         f"coefficients), got {bits!r}")
    c1, c2 = SAWB_COEFFICIENTS[bits]
    return float(c1 * np.sqrt(np.mean(x * x)) - c2 * np.mean(np.abs(x)))


class SAWBObserver(_ThresholdObserver):
    """SAWB's clip ``[-T, T]``, ``T = c1 sqrt(E[x^2]) - c2 E|x|`` (Choi et al., 2018), for weights."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.bits not in SAWB_COEFFICIENTS:
            raise ValueError(f"bits must be one of {sorted(SAWB_COEFFICIENTS)} for SAWBObserver, got {self.bits}")

    def threshold(self, x):
        return sawb_threshold(x, self.bits)


# ----- ACIQ ------------------------------------------------------------------------------------
def _aciq_mse(alpha, scale, bits, prior):
    """Modelled MSE of clipping to ``[-alpha, alpha]`` + rounding to ``2**bits`` levels (Banner et al., 2019)."""
    rounding = alpha ** 2 / (3 * 4.0 ** bits)
    if prior == "laplace":  # x ~ Laplace(0, b): 2 b^2 exp(-alpha / b)
        return 2 * scale ** 2 * np.exp(-alpha / scale) + rounding
    t = alpha / scale       # x ~ N(0, sigma^2): 2 E[(x - alpha)^2; x > alpha]
    tail = 0.5 * np.array([math.erfc(v / math.sqrt(2)) for v in np.atleast_1d(t)])
    pdf = np.exp(-t ** 2 / 2) / math.sqrt(2 * math.pi)
    return 2 * ((alpha ** 2 + scale ** 2) * tail - alpha * scale * pdf) + rounding


def aciq_threshold(x, bits: int, prior: str = "laplace") -> float:
    """``argmin_T`` of the modelled MSE for a ``prior`` fit (Laplace ``b = E|x - mean|``, Gaussian
    ``sigma = std``); grid of 20000 values of ``T / scale`` in ``(0, 20]`` (Banner et al., 2019)."""
    x = as_float(x, "x").astype(np.float64)
    bits = check_bits(bits)
    prior = check_choice(prior, "prior", ("laplace", "gaussian"))
    scale = np.mean(np.abs(x - x.mean())) if prior == "laplace" else x.std()
    if scale == 0:
        return float(np.abs(x).max())
    ratios = np.linspace(0.001, 20, 20000)
    best = ratios[int(np.argmin(_aciq_mse(ratios * scale, scale, bits, prior)))]
    return float(best * scale)


class ACIQObserver(_ThresholdObserver):
    """ACIQ's analytic clip ``[-T, T]`` from a Laplace (default) or Gaussian fit (Banner et al., 2019)."""

    def __init__(self, prior: str = "laplace", **kwargs):
        self.prior = check_choice(prior, "prior", ("laplace", "gaussian"))
        super().__init__(**kwargs)

    def threshold(self, x):
        return aciq_threshold(x, self.bits, self.prior)


# ----- MMSE clipping ---------------------------------------------------------------------------
def joint_mmse_clip(tensors, bits: int = 8, signed: bool = True, num_candidates: int = 100):
    """One threshold ``T`` for several tensors sharing a scale: ``argmin_T sum_k mean((fq_T(x_k) - x_k)^2)``.

    Symmetric quantization to ``qrange(bits, signed)`` of ``[-T, T]``; candidates
    ``T = (k / num_candidates) max_k max|x_k|``. Returns ``(T, errors)`` (errors per candidate,
    largest ``T`` first). A list of one tensor is the per-tensor search (``mmse_clip``).
    """
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"tensors must be a non-empty list of arrays, got {type(tensors).__name__}")
    xs = [as_float(t, f"tensors[{i}]").astype(np.float32).ravel() for i, t in enumerate(tensors)]
    bits = check_bits(bits, lo=2)
    num_candidates = check_int(num_candidates, "num_candidates", lo=1)
    quant_min, quant_max = qrange(bits, signed)
    top = max(float(np.abs(x).max()) for x in xs)
    if top == 0:
        return 0.0, np.zeros(1)
    ts = [top * k / num_candidates for k in range(num_candidates, 0, -1)]
    errors = []
    for t in ts:
        s, z = calc_qparams(f32(-t) if signed else f32(0), f32(t), quant_min, quant_max, symmetric=signed)
        errors.append(sum(float(np.mean((fake_quantize(x, s, z, quant_min, quant_max) - x.astype(np.float64)) ** 2))
                          for x in xs))
    errors = np.array(errors)
    return float(ts[int(np.argmin(errors))]), errors


def mmse_clip(x, bits: int = 8, signed: bool = True, num_candidates: int = 100) -> float:
    """The per-tensor MMSE threshold (``joint_mmse_clip([x], ...)[0]``)."""
    return joint_mmse_clip([x], bits, signed, num_candidates)[0]
