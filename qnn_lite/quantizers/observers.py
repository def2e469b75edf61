"""Observers: watch the tensors that flow through a layer and choose its scale and zero point.

An observer is called on every calibration batch (``obs(x)`` returns ``x`` unchanged)
and records a statistic; ``calculate_qparams()`` turns it into ``(scale, zero_point)``
with ``calc_qparams``. Names and numerics follow ``torch.ao.quantization`` (2.13):

* ``MinMaxObserver``: running min / max (``torch...MinMaxObserver``).
* ``MovingAverageMinMaxObserver``: ``m <- m + c (m_batch - m)``, first batch sets ``m`` (Jacob et al., 2018).
* ``PerChannelMinMaxObserver`` / ``MovingAveragePerChannelMinMaxObserver``: the same per index of ``ch_axis``.
* ``PercentileObserver`` (not in torch): clip to the ``100-p`` / ``p`` percentiles of all values seen
  (McKinstry et al., 2019; Wu et al., 2020).
* ``MSEObserver`` (not in torch): the shrunk range ``alpha * [min, max]`` minimizing the fake-quant
  mean squared error on all values seen (Banner et al., 2019; Choukroun et al., 2019).
* ``HistogramObserver`` (torch's L2 histogram search) lives in ``histogram.py``.

The integer range is given as ``(bits, signed, narrow, reduce_range)`` (see ``qrange``);
torch's default ``dtype=torch.quint8`` is ``bits=8, signed=False``. Observers work in
float32. NaN input raises ``ValueError``; so does ``±inf`` (torch would return an infinite
scale), except in ``HistogramObserver``, which drops infinities as torch does. Before any
data ``calculate_qparams`` warns and returns torch's defaults ``(1.0, 0)``.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..validate import as_float32_no_nan
from .uniform import FLOAT32_EPS, calc_qparams, fake_quantize, qrange

__all__ = ["ObserverBase", "MinMaxObserver", "MovingAverageMinMaxObserver", "PerChannelMinMaxObserver",
           "MovingAveragePerChannelMinMaxObserver", "PercentileObserver", "MSEObserver"]

f32 = np.float32


class ObserverBase:
    """Shared machinery: the integer range, input checks, ``forward`` / ``calculate_qparams``.

    Subclasses implement ``_observe(x)`` (x: float32 array, finite, non-empty) and
    ``clip_range() -> (lo, hi)``, the range ``calculate_qparams`` quantizes (``None`` before any data).
    """

    allow_inf = False

    def __init__(self, bits: int = 8, signed: bool = False, symmetric: bool = False,
                 reduce_range: bool = False, narrow: bool = False, eps: float = FLOAT32_EPS):
        self.quant_min, self.quant_max = qrange(bits, signed, narrow, reduce_range)
        if symmetric and reduce_range and not signed:
            raise ValueError("symmetric=True with reduce_range=True needs signed=True "
                             "(torch: 'Cannot reduce range for symmetric quantization for quint8')")
        if not (isinstance(eps, (int, float, np.floating)) and 0 < eps < np.inf):
            raise ValueError(f"eps must be a positive finite float, got {eps!r}")
        self.bits, self.signed, self.symmetric = bits, bool(signed), bool(symmetric)
        self.reduce_range, self.narrow, self.eps = bool(reduce_range), bool(narrow), float(eps)
        self.reset()

    def reset(self) -> None:
        """Forget everything observed (torch: ``reset_min_max_vals``)."""
        self.min_val, self.max_val = f32(np.inf), f32(-np.inf)

    reset_min_max_vals = reset

    def _check(self, x) -> np.ndarray:
        data = as_float32_no_nan(x, type(self).__name__)
        if not self.allow_inf and np.isinf(data).any():
            raise ValueError(f"x contains ±inf ({int(np.isinf(data).sum())} values); "
                             f"{type(self).__name__} would get an infinite range")
        return data

    def forward(self, x):
        """Record statistics of ``x``; return ``x`` itself (Tensor or array), unchanged."""
        data = self._check(x)
        if data.size:
            self._observe(data)
        return x

    __call__ = forward

    def _empty(self) -> bool:
        return self.min_val == np.inf or self.max_val == -np.inf

    def clip_range(self):
        """The ``(min, max)`` that ``calculate_qparams`` quantizes; ``None`` before any data."""
        return None if self._empty() else (self.min_val, self.max_val)

    def calculate_qparams(self):
        """``(scale, zero_point)`` from the observed range (``calc_qparams``)."""
        rng = self.clip_range()
        if rng is None:
            warnings.warn(f"{type(self).__name__}: must run observer before calling calculate_qparams; "
                          "returning default scale 1.0 and zero point 0", stacklevel=2)
            return f32(1.0), np.int64(0)
        return calc_qparams(rng[0], rng[1], self.quant_min, self.quant_max, self.symmetric, self.eps)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(qrange=({self.quant_min}, {self.quant_max}), symmetric={self.symmetric}, "
                f"min_val={self.min_val}, max_val={self.max_val})")


class MinMaxObserver(ObserverBase):
    """Running extremes: ``min_val = min(min_val, min(x))``, ``max_val = max(max_val, max(x))``."""

    def _observe(self, x):
        self.min_val = min(self.min_val, x.min())
        self.max_val = max(self.max_val, x.max())


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Exponential moving average of batch extremes: ``m <- m + c (m_batch - m)`` (float32).

    The first batch sets ``m``; ``c = averaging_constant`` (torch default 0.01).
    """

    def __init__(self, averaging_constant: float = 0.01, **kwargs):
        if not (isinstance(averaging_constant, (int, float)) and 0 < averaging_constant <= 1):
            raise ValueError(f"averaging_constant must be a float in (0, 1], got {averaging_constant!r}")
        self.averaging_constant = float(averaging_constant)
        super().__init__(**kwargs)

    def _observe(self, x):
        lo, hi = x.min(), x.max()
        if self._empty():
            self.min_val, self.max_val = lo, hi
        else:
            c = f32(self.averaging_constant)
            self.min_val = f32(self.min_val + c * (lo - self.min_val))
            self.max_val = f32(self.max_val + c * (hi - self.max_val))


class PerChannelMinMaxObserver(ObserverBase):
    """Running min / max per index of ``ch_axis``: ``min_val``, ``max_val`` of shape ``(C,)``.

    ``calculate_qparams`` returns ``scale`` (float32) and ``zero_point`` (int64), shape ``(C,)``,
    ready for ``fake_quantize(..., ch_axis=ch_axis)``.
    """

    def __init__(self, ch_axis: int = 0, **kwargs):
        if isinstance(ch_axis, bool) or not isinstance(ch_axis, (int, np.integer)):
            raise ValueError(f"ch_axis must be an int, got {ch_axis!r}")
        self.ch_axis = int(ch_axis)
        super().__init__(**kwargs)

    def reset(self) -> None:
        self.min_val, self.max_val = np.zeros(0, f32), np.zeros(0, f32)

    def clip_range(self):
        return None if self.min_val.size == 0 else (self.min_val, self.max_val)

    def _channels(self, x):
        """Per-channel (min, max) of one batch, each of shape (C,)."""
        if not -x.ndim <= self.ch_axis < x.ndim:
            raise ValueError(f"ch_axis must be in [-{x.ndim}, {x.ndim}) for x with ndim={x.ndim}, "
                             f"got ch_axis={self.ch_axis}")
        rows = np.moveaxis(x, self.ch_axis, 0).reshape(x.shape[self.ch_axis], -1)
        if self.min_val.size and rows.shape[0] != self.min_val.size:
            raise ValueError(f"x has {rows.shape[0]} channels along ch_axis={self.ch_axis}, "
                             f"but earlier batches had {self.min_val.size}")
        return rows.min(axis=1), rows.max(axis=1)

    def _observe(self, x):
        lo, hi = self._channels(x)
        if self.min_val.size == 0:
            self.min_val, self.max_val = lo, hi
        else:
            self.min_val, self.max_val = np.minimum(self.min_val, lo), np.maximum(self.max_val, hi)


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel moving average ``m <- m + c (m_batch - m)``; first batch sets ``m``."""

    def __init__(self, averaging_constant: float = 0.01, ch_axis: int = 0, **kwargs):
        if not (isinstance(averaging_constant, (int, float)) and 0 < averaging_constant <= 1):
            raise ValueError(f"averaging_constant must be a float in (0, 1], got {averaging_constant!r}")
        self.averaging_constant = float(averaging_constant)
        super().__init__(ch_axis=ch_axis, **kwargs)

    def _observe(self, x):
        lo, hi = self._channels(x)
        if self.min_val.size == 0:
            self.min_val, self.max_val = lo, hi
        else:
            c = f32(self.averaging_constant)
            self.min_val = (self.min_val + c * (lo - self.min_val)).astype(f32)
            self.max_val = (self.max_val + c * (hi - self.max_val)).astype(f32)


class _SampleObserver(MinMaxObserver):
    """Keeps a float32 copy of every value seen (``self.samples``), plus the running min / max.

    Memory grows with the calibration set: fine for the book's small models.
    """

    def reset(self) -> None:
        super().reset()
        self._chunks: list[np.ndarray] = []

    def _observe(self, x):
        super()._observe(x)
        self._chunks.append(x.ravel().copy())

    @property
    def samples(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, f32)


class PercentileObserver(_SampleObserver):
    """Clip range ``[P_{100-p}(x), P_p(x)]`` over all values seen (McKinstry et al., 2019).

    Percentiles are exact, numpy's default linear interpolation (``np.percentile``) of the
    stored values, cast to float32. ``percentile=100`` is ``MinMaxObserver``.
    """

    def __init__(self, percentile: float = 99.99, **kwargs):
        if not (isinstance(percentile, (int, float)) and 50 < percentile <= 100):
            raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
        self.percentile = float(percentile)
        super().__init__(**kwargs)

    def clip_range(self):
        if not self._chunks:
            return None
        lo, hi = np.percentile(self.samples, [100.0 - self.percentile, self.percentile])
        return f32(lo), f32(hi)


class MSEObserver(_SampleObserver):
    """Clip range ``alpha * [min_val, max_val]`` minimizing ``mean((fake_quantize(x) - x)**2)``.

    Grid: ``alpha = k / num_candidates`` for ``k = num_candidates, ..., 1`` (default 100 values
    from 1.0 down to 0.01); each candidate's qparams come from ``calc_qparams``; ties keep the
    larger ``alpha``. The chosen factor is ``self.best_alpha`` (Banner et al., 2019).
    """

    def __init__(self, num_candidates: int = 100, **kwargs):
        if isinstance(num_candidates, bool) or not isinstance(num_candidates, (int, np.integer)) \
                or num_candidates < 1:
            raise ValueError(f"num_candidates must be a positive int, got {num_candidates!r}")
        self.num_candidates = int(num_candidates)
        super().__init__(**kwargs)

    def reset(self) -> None:
        super().reset()
        self.best_alpha: float | None = None  # set by calculate_qparams

    def clip_range(self):
        if not self._chunks:
            return None
        x, best, self.best_alpha = self.samples, np.inf, 1.0
        x64 = x.astype(np.float64)
        for k in range(self.num_candidates, 0, -1):
            alpha = f32(k / self.num_candidates)
            s, z = calc_qparams(alpha * self.min_val, alpha * self.max_val, self.quant_min, self.quant_max,
                                self.symmetric, self.eps)
            err = np.mean((fake_quantize(x, s, z, self.quant_min, self.quant_max) - x64) ** 2)
            if err < best:
                best, self.best_alpha = err, float(alpha)
        a = f32(self.best_alpha)
        return a * self.min_val, a * self.max_val
