"""`HistogramObserver`: choose the clipping range that minimizes the L2 quantization error.

PyTorch's ``torch.ao.quantization.HistogramObserver`` (2.13), itself Caffe2's
``NormMinimization::NonlinearQuantizationParamsSearch``, reproduced in float32 step by step:

1. A running histogram of ``bins`` bins over ``[min_val, max_val]`` (``torch.histc``). When a
   batch grows the range, the old histogram is split into ``upsample_rate`` sub-bins per bin,
   each sub-bin's mass is moved to the new bin holding its midpoint, and the batch's
   histogram (over the new range) is added.
2. ``calculate_qparams`` searches ``[start_bin, end_bin]``: at each step move the side whose
   quantile bound (``alpha`` up / ``beta`` down, steps of 1e-5) cuts more bins, and keep going
   while the modelled L2 error does not grow. The error model spreads each source bin's mass
   uniformly and quantizes it into ``2**bits`` destination bins of width ``dst_bin_width``:
   a uniform density ``d`` over ``[a, b]`` measured from a destination centre costs
   ``d (b^3 - a^3) / 3``.
3. ``calc_qparams`` on ``[min_val + start_bin w, min_val + (end_bin + 1) w]``.

Infinities in the input are dropped (with torch). Shapes: any input; ``histogram``: ``(bins,)``.
"""
from __future__ import annotations

import math

import numpy as np

from .observers import ObserverBase

__all__ = ["HistogramObserver"]

f32 = np.float32


_F32_MAX = float(np.finfo(np.float32).max)


def _linspace32(start, end, steps: int) -> np.ndarray:
    """``torch.linspace`` in float32, as its CPU kernel computes it.

    ``step = (end - start) / (steps - 1)``; value ``i`` is ``start + step * i`` for the first half
    and ``end - step * (steps - 1 - i)`` for the second, each a fused multiply-add (one rounding),
    emulated here in float64, where ``step * i`` is exact.
    """
    start, end = f32(start), f32(end)
    if steps == 1:
        return np.array([start], f32)
    step = np.float64((end - start) / f32(steps - 1))
    i = np.arange(steps, dtype=np.float64)
    from_start = step * i + np.float64(start)
    from_end = np.float64(end) - step * (steps - 1 - i)
    return np.where(i < steps // 2, from_start, from_end).astype(f32)


def _histc(x: np.ndarray, bins: int, lo, hi) -> np.ndarray:
    """``torch.histc(x, bins, min=lo, max=hi)`` for float32 ``x``: counts as float32, shape ``(bins,)``.

    Edges are ``linspace(lo, hi, bins + 1)``; a value goes to bin
    ``trunc((v - lo) * bins / (hi - lo))`` (float32), the last bin closed; values outside are skipped.
    If ``lo == hi`` the range is ``[lo - 1, hi + 1]`` (after trying the data's own min / max).
    """
    lo, hi = float(lo), float(hi)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    edges = _linspace32(lo, hi, bins + 1)
    left, right = edges[0], edges[-1]
    x = x[(x >= left) & (x <= right)]
    pos = ((x - left) * f32(bins) / (right - left)).astype(np.int64)
    pos[pos == bins] = bins - 1
    return np.bincount(pos, minlength=bins).astype(f32)


class HistogramObserver(ObserverBase):
    """Histogram of everything seen + L2-optimal clipping (torch's ``HistogramObserver``).

    ``bins`` (2048) source bins; ``upsample_rate`` (16) sub-bins when re-binning on range growth;
    ``dst_nbins = 2**bits`` destination bins in the error model (torch: ``2**8`` for 8-bit dtypes,
    also with ``reduce_range``). Other keyword arguments as ``MinMaxObserver``.
    """

    allow_inf = True

    def __init__(self, bins: int = 2048, upsample_rate: int = 16, **kwargs):
        for name, v in (("bins", bins), ("upsample_rate", upsample_rate)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.bins, self.upsample_rate = int(bins), int(upsample_rate)
        super().__init__(**kwargs)
        self.dst_nbins = 2 ** self.bits

    def reset(self) -> None:
        super().reset()
        self.histogram = np.zeros(self.bins, f32)

    # ----- recording -----------------------------------------------------------------------
    def _observe(self, x):
        x = x[np.isfinite(x)]  # torch: "torch.inf detected in input tensor, ignoring input"
        if x.size == 0:
            return
        x_min, x_max = x.min(), x.max()
        lo, hi = (x_min, x_max) if self._empty() else (min(self.min_val, x_min), max(self.max_val, x_max))
        if (np.float64(hi) - np.float64(lo)) * self.bins > _F32_MAX:  # torch.histc's float32 overflows
            raise ValueError(f"x: the observed range [{lo!s}, {hi!s}] is {np.float64(hi) - np.float64(lo):.4g} "
                             f"wide; {type(self).__name__} with {self.bins} bins handles ranges up to "
                             f"{_F32_MAX / self.bins:.4g} (float32 max / bins; torch bins such data wrongly "
                             "or returns NaN): rescale x or use MinMaxObserver")
        if self._empty():
            self.min_val, self.max_val = x_min, x_max
            self.histogram = _histc(x, self.bins, x_min, x_max)
            return
        new_min, new_max = min(self.min_val, x_min), max(self.max_val, x_max)
        update = _histc(x, self.bins, new_min, new_max)
        if new_min == self.min_val and new_max == self.max_val:
            self.histogram = self.histogram + update
            return
        if self.min_val == self.max_val:  # the old histogram is one value: a single bin
            old = _histc(np.array([self.min_val], f32), self.bins, new_min, new_max) \
                * f32(self.histogram.sum(dtype=np.float64))
        else:
            old = self._upscale_histogram(new_min, new_max)
        self.histogram = update + old
        self.min_val, self.max_val = new_min, new_max

    def _upscale_histogram(self, new_min, new_max) -> np.ndarray:
        """Move the old histogram onto ``[new_min, new_max]``: split each bin into ``upsample_rate``
        sub-bins, send each sub-bin's mass to the new bin containing its midpoint."""
        n = self.bins * self.upsample_rate
        mass = np.repeat(self.histogram, self.upsample_rate) / f32(self.upsample_rate)
        sub_width = (self.max_val - self.min_val) / f32(n)
        mids = _linspace32(self.min_val, self.max_val, n + 1)[:-1] + f32(0.5) * sub_width
        edges = _linspace32(new_min, new_max, self.bins + 1)
        where = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, self.bins - 1)
        out = np.zeros(self.bins, f32)
        np.add.at(out, where, mass)  # float32, in order, like torch.bincount(weights=float32)
        return out

    # ----- the search --------------------------------------------------------------------------
    def _compute_quantization_error(self, next_start_bin: int, next_end_bin: int) -> float:
        """Modelled L2 error of quantizing bins ``[next_start_bin, next_end_bin]`` into ``dst_nbins`` levels.

        float32 like torch; when its cubed widths overflow (ranges wider than ~1e15, where torch's
        error becomes inf / NaN and its search goes astray) the same model runs in float64.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            norm = self._error_model(next_start_bin, next_end_bin, f32)
        return norm if math.isfinite(norm) else self._error_model(next_start_bin, next_end_bin, np.float64)

    def _error_model(self, next_start_bin: int, next_end_bin: int, f32) -> float:
        bin_width = (float(self.max_val) - float(self.min_val)) / self.bins
        dst_bin_width = bin_width * (next_end_bin - next_start_bin + 1) / self.dst_nbins
        if dst_bin_width == 0.0:
            return 0.0
        bw, dbw, half = f32(bin_width), f32(dst_bin_width), f32(dst_bin_width / 2)
        src_begin = (np.arange(self.bins) - next_start_bin).astype(f32) * bw
        src_end = src_begin + bw
        last = f32(self.dst_nbins - 1)
        dst_of_begin = np.clip(np.floor_divide(src_begin, dbw), f32(0), last)
        dst_of_end = np.clip(np.floor_divide(src_end, dbw), f32(0), last)
        begin_center = (dst_of_begin + f32(0.5)) * dbw
        end_center = dst_of_end * dbw + half
        density = self.histogram / bw

        def get_norm(a, b):  # density * integral_a^b t^2 dt
            return density * ((b * b * b - a * a * a) / f32(3))

        norm = get_norm(src_begin - begin_center, np.full(self.bins, half, f32))
        norm = norm + (dst_of_end - dst_of_begin - f32(1)) * get_norm(-half, half)
        norm = norm + get_norm(-half, src_end - end_center)
        return float(norm.sum(dtype=np.float64))

    def _non_linear_param_search(self):
        """``(new_min, new_max)`` minimizing the modelled L2 error (torch's loop, same steps).

        ``alpha`` / ``beta`` move by ``1e-5`` (Python floats, accumulated as torch does); the
        thresholds ``alpha * total`` are compared with the float32 cumulative histogram in
        float32. Thresholds are precomputed in blocks, so the loop itself is plain integer work.
        """
        bin_width = (self.max_val - self.min_val) / f32(self.bins)
        total = float(self.histogram.sum(dtype=np.float64))
        csum = np.cumsum(self.histogram, dtype=np.float64).astype(f32)  # torch: double accumulator

        def bounds(n):  # l / r bounds for the first n moves of alpha and of beta
            alphas = np.cumsum(np.r_[0.0, np.full(n, 1e-5)])  # alpha after i moves: torch's repeated +=
            betas = np.cumsum(np.r_[1.0, np.full(n, -1e-5)])
            # l: first bin with csum >= next_alpha * total; r: last bin with csum <= next_beta * total
            first_ge = np.searchsorted(csum, (alphas[1:] * total).astype(f32), "left")
            last_le = np.searchsorted(csum, (betas[1:] * total).astype(f32), "right") - 1
            return alphas.tolist(), betas.tolist(), first_ge.tolist(), last_le.tolist()

        n = 512
        alphas, betas, first_ge, last_le = bounds(n)
        ia = ib = 0
        start_bin, end_bin, norm_min = 0, self.bins - 1, float("inf")
        while alphas[ia] < betas[ib]:
            if max(ia, ib) == n:  # the search went on: precompute further
                n *= 8
                alphas, betas, first_ge, last_le = bounds(n)
            l = min(end_bin, max(start_bin, first_ge[ia]))  # torch: while l < end_bin and cSum[l] < ...
            r = max(start_bin, min(end_bin, last_le[ib]))  # torch: while r > start_bin and cSum[r] > ...
            next_start_bin, next_end_bin = start_bin, end_bin
            if (l - start_bin) > (end_bin - r):
                next_start_bin, ia = l, ia + 1  # move the start bin
            else:
                next_end_bin, ib = r, ib + 1  # move the end bin
            if next_start_bin == start_bin and next_end_bin == end_bin:
                continue
            norm = self._compute_quantization_error(next_start_bin, next_end_bin)
            if norm > norm_min:
                break
            norm_min, start_bin, end_bin = norm, next_start_bin, next_end_bin
        new_min = self.min_val + bin_width * f32(start_bin)
        new_max = self.min_val + bin_width * f32(end_bin + 1)
        return f32(new_min), f32(new_max)

    def clip_range(self):
        """The searched ``(new_min, new_max)``; ``None`` before any data."""
        return None if self._empty() else self._non_linear_param_search()
