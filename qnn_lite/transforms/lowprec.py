"""Low-precision training: fixed-point weights, nearest vs stochastic rounding, DoReFa W/A/G layers.

* Fixed point $\\langle IL, FL\\rangle$ (Gupta et al., 2015, "Deep learning with limited
  numerical precision"): step $\\Delta = 2^{-FL}$, range $[-2^{IL-1},\\ 2^{IL-1} - \\Delta]$.
  A weight stored on that grid is updated as $w \\leftarrow \\mathrm{Convert}(w - \\eta g)$.
  With round-to-nearest every update smaller than $\\Delta/2$ vanishes; with stochastic
  rounding it survives *in expectation*, so many small updates still add up.
* DoReFa-Net (Zhou et al., 2016): W-bit weights, A-bit activations, G-bit gradients,
  first and last layers kept in full precision; :class:`DoReFaLinear` and :class:`DoReFaActivation`
  are its layers (the network and its training recipe: :mod:`qnn_lite.recipes.dorefa`).

Shapes: the rounding helpers are elementwise; :func:`simulate_updates` returns ``(runs, steps + 1)``.
"""
from __future__ import annotations

import numpy as np

from .. import autograd as ag
from ..nn import Linear, Module
from ..optim import Optimizer
from ..quantizers.learned import dorefa_act, dorefa_weight, quantize_grad
from ..quantizers.stochastic import stochastic_round
from ..validate import check_rng

__all__ = ["fixed_point_round", "simulate_updates", "FixedPointSGD", "deterministic_grad_quantize",
           "DoReFaLinear", "DoReFaActivation"]

ROUNDINGS = ("nearest", "stochastic")


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    return int(value)


def _rounding(rounding: str) -> str:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    return rounding


# ----- Gupta et al. (2015): fixed point and its rounding -------------------------------------------
def fixed_point_round(x, int_bits: int, frac_bits: int, rounding: str = "nearest", rng=None) -> np.ndarray:
    """Gupta's $\\mathrm{Convert}(x, \\langle IL, FL\\rangle)$: $\\Delta\\,\\mathrm{clip}(R(x/\\Delta), -2^{IL+FL-1}, 2^{IL+FL-1}-1)$.

    $\\Delta = 2^{-FL}$; $R$ = ``np.rint`` (``"nearest"``, half to even) or
    :func:`~qnn_lite.quantizers.stochastic.stochastic_round` (``"stochastic"``, needs ``rng``).
    Word length ``int_bits + frac_bits`` in 2..32. Returns an array of ``x``'s dtype (float32 for ints).
    """
    il = _int(int_bits, "int_bits", 1, 31)
    fl = _int(frac_bits, "frac_bits", 0, 30)
    if not 2 <= il + fl <= 32:
        raise ValueError(f"int_bits + frac_bits (the word length) must be in 2..32, got {il + fl}")
    _rounding(rounding)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if np.isnan(x).any():
        raise ValueError(f"x must not contain NaN, got {int(np.isnan(x).sum())} NaN value(s)")
    step = 2.0 ** -fl                                  # a power of two: x / step is exact
    top = 2.0 ** (il + fl - 1)
    scaled = x * x.dtype.type(1 / step)
    if rounding == "nearest":
        q = np.rint(scaled)
    else:
        if rng is None:
            raise ValueError("rng must be a np.random.Generator or int seed for rounding='stochastic', got None")
        q = stochastic_round(scaled, check_rng(rng))
    return (np.clip(q, -top, top - 1) * x.dtype.type(step)).astype(x.dtype)


def simulate_updates(w0: float, update: float, steps: int, int_bits: int, frac_bits: int,
                     rounding: str = "nearest", runs: int = 1, rng=None) -> np.ndarray:
    """Trajectories of a weight stored in fixed point under ``steps`` equal updates: $w_{t+1} = \\mathrm{Convert}(w_t + u)$.

    ``w_0`` is rounded onto the grid first (nearest). Returns ``(runs, steps + 1)`` float64:
    row ``r`` is one run (stochastic runs differ; nearest runs are identical). The exact,
    unrounded result is ``w0 + steps * update``.
    """
    steps = _int(steps, "steps", 0, 10 ** 7)
    runs = _int(runs, "runs", 1, 10 ** 6)
    _rounding(rounding)
    for name, v in (("w0", w0), ("update", update)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if rounding == "stochastic":
        if rng is None:
            raise ValueError("rng must be a np.random.Generator or int seed for rounding='stochastic', got None")
        rng = check_rng(rng)
    out = np.empty((runs, steps + 1))
    w = fixed_point_round(np.full(runs, float(w0)), int_bits, frac_bits, "nearest")
    out[:, 0] = w
    for t in range(steps):
        w = fixed_point_round(w + update, int_bits, frac_bits, rounding, rng)
        out[:, t + 1] = w
    return out


class FixedPointSGD(Optimizer):
    """SGD whose weights live on a fixed-point grid: $w \\leftarrow \\mathrm{Convert}(w - \\eta\\, g, \\langle IL, FL\\rangle)$ (Gupta et al., 2015).

    The parameters are rounded onto the grid (nearest) when the optimizer is built.
    ``rounding="stochastic"`` draws from ``rng`` (a Generator or int seed) at every step.
    """

    def __init__(self, params, lr: float, int_bits: int, frac_bits: int, rounding: str = "nearest", rng=None):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        fixed_point_round(np.zeros(1, np.float32), int_bits, frac_bits)   # validates int_bits, frac_bits
        _rounding(rounding)
        if rounding == "stochastic" and rng is None:
            raise ValueError("rng must be a np.random.Generator or int seed for rounding='stochastic', got None")
        super().__init__(params, dict(lr=float(lr)))
        self.int_bits, self.frac_bits, self.rounding = int(int_bits), int(frac_bits), rounding
        self.rng = check_rng(rng) if rng is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                p.data[...] = fixed_point_round(p.data, self.int_bits, self.frac_bits, "nearest")

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data[...] = fixed_point_round(p.data - group["lr"] * p.grad, self.int_bits,
                                                    self.frac_bits, self.rounding, self.rng)


def deterministic_grad_quantize(g, bits: int) -> np.ndarray:
    """DoReFa's gradient quantizer *without* its noise: $2m\\,[\\mathrm{rint}((2^k-1)(g/2m + 1/2))/(2^k-1) - 1/2]$, $m = \\max|g|$.

    The biased counterpart of :func:`~qnn_lite.quantizers.learned.dorefa_grad` (per-tensor max).
    """
    bits = _int(bits, "bits", 1, 16)
    g = np.asarray(g)
    if g.dtype.kind != "f" or not np.isfinite(g).all():
        raise ValueError("g must be a finite floating array")
    m = np.abs(g).max() if g.size else 0.0
    if m == 0:
        return np.zeros_like(g)
    n = 2 ** bits - 1
    return (2 * m * (np.rint((g / (2 * m) + 0.5) * n) / n - 0.5)).astype(g.dtype)


# ----- DoReFa-Net (Zhou et al., 2016): W / A / G bits --------------------------------------------------
def _bits32(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (1 <= value <= 16 or value == 32):
        raise ValueError(f"{name} must be an int in 1..16 or 32 (full precision), got {value!r}")
    return int(value)


class DoReFaLinear(Linear):
    """$y = x\\, Q_W(W)^\\top + b$ with DoReFa ``w_bits`` weights; the gradient flowing back into $y$ is quantized to ``g_bits``.

    ``w_bits`` / ``g_bits`` = 32: no quantization. ``rng`` feeds the gradient quantizer's
    noise (per-sample max, as in the paper). Shapes: ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, w_bits: int, g_bits: int, rng=0,
                 bias: bool = True, generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.w_bits, self.g_bits = _bits32(w_bits, "w_bits"), _bits32(g_bits, "g_bits")
        if self.g_bits == 1:
            raise ValueError("g_bits must be >= 2 (one bit leaves the gradient a constant), got 1")
        self.rng = check_rng(rng)

    def forward(self, x):
        w = self.weight if self.w_bits == 32 else dorefa_weight(self.weight, self.w_bits)
        y = ag.matmul(x, ag.transpose(w, 0, 1))
        if self.bias is not None:
            y = y + self.bias
        return y if self.g_bits == 32 else quantize_grad(y, self.g_bits, self.rng, per_sample=True)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", w_bits={self.w_bits}, g_bits={self.g_bits}"


class DoReFaActivation(Module):
    """$y = \\mathrm{quantize}_k(\\mathrm{clip}(x, 0, 1))$ on ``2**bits`` levels; ``bits=32``: the clip alone."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = _bits32(bits, "bits")

    def forward(self, x):
        return ag.clip(x, 0.0, 1.0) if self.bits == 32 else dorefa_act(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


