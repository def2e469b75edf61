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

from ..nn import Linear
from ..optim import Optimizer
from ..quantizers.stochastic import stochastic_round
from ..validate import as_float, check_choice, check_int, check_number, check_positive, check_rng
from .fake_quant import dorefa_qconfig
from .layers import QuantAct, QuantLinear

__all__ = ["fixed_point_round", "simulate_updates", "FixedPointSGD", "deterministic_grad_quantize",
           "DoReFaLinear", "DoReFaActivation"]

ROUNDINGS = ("nearest", "stochastic")


# ----- Gupta et al. (2015): fixed point and its rounding -------------------------------------------
def fixed_point_round(x, int_bits: int, frac_bits: int, rounding: str = "nearest", rng=None) -> np.ndarray:
    """Gupta's $\\mathrm{Convert}(x, \\langle IL, FL\\rangle)$: $\\Delta\\,\\mathrm{clip}(R(x/\\Delta), -2^{IL+FL-1}, 2^{IL+FL-1}-1)$.

    $\\Delta = 2^{-FL}$; $R$ = ``np.rint`` (``"nearest"``, half to even) or
    :func:`~qnn_lite.quantizers.stochastic.stochastic_round` (``"stochastic"``, needs ``rng``).
    Word length ``int_bits + frac_bits`` in 2..32. Returns an array of ``x``'s dtype (float32 for ints).
    """
    il = check_int(int_bits, "int_bits", 1, 31)
    fl = check_int(frac_bits, "frac_bits", 0, 30)
    if not 2 <= il + fl <= 32:
        raise ValueError(f"int_bits + frac_bits (the word length) must be in 2..32, got {il + fl}")
    check_choice(rounding, "rounding", ROUNDINGS)
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
    steps = check_int(steps, "steps", 0, 10 ** 7)
    runs = check_int(runs, "runs", 1, 10 ** 6)
    check_choice(rounding, "rounding", ROUNDINGS)
    check_number(w0, "w0")
    check_number(update, "update")
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
        lr = check_positive(lr, "lr")
        fixed_point_round(np.zeros(1, np.float32), int_bits, frac_bits)   # validates int_bits, frac_bits
        check_choice(rounding, "rounding", ROUNDINGS)
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
    bits = check_int(bits, "bits", 1, 16)
    g = as_float(g, "g", allow_empty=True)
    m = np.abs(g).max() if g.size else 0.0
    if m == 0:
        return np.zeros_like(g)
    n = 2 ** bits - 1
    return (2 * m * (np.rint((g / (2 * m) + 0.5) * n) / n - 0.5)).astype(g.dtype)


# ----- DoReFa-Net (Zhou et al., 2016): W / A / G bits, as configurations of the QConfig-driven layers ---
class DoReFaLinear(QuantLinear):
    """$y = x\\, Q_W(W)^\\top + b$ with DoReFa ``w_bits`` weights; the gradient flowing back into $y$ is quantized to ``g_bits``.

    A ``QuantLinear`` over a fresh ``Linear(in_features, out_features, bias, generator)`` with
    ``dorefa_qconfig(w_bits, g_bits=g_bits, rng=rng)``. ``w_bits`` / ``g_bits`` = 32: no
    quantization. ``rng`` feeds the gradient quantizer's noise (per-sample max, as in the paper).
    Shapes: ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, w_bits: int, g_bits: int = 32, rng=0,
                 bias: bool = True, generator=None):
        qconfig = dorefa_qconfig(w_bits=w_bits, g_bits=g_bits, rng=rng)
        super().__init__(Linear(in_features, out_features, bias=bias, generator=generator), qconfig)
        self.w_bits, self.g_bits = w_bits, g_bits

    def extra_repr(self) -> str:
        return super().extra_repr() + f", w_bits={self.w_bits}, g_bits={self.g_bits}"


class DoReFaActivation(QuantAct):
    """$y = \\mathrm{quantize}_k(\\mathrm{clip}(x, 0, 1))$ on ``2**bits`` levels; ``bits=32``: the clip alone.

    A ``QuantAct`` with ``dorefa_qconfig(a_bits=bits)``. ``bits=1`` gives 0/1 activations with the
    STE on [0, 1] (the tie $x = 1/2$ goes to 0: ``rint`` rounds half to even).
    """

    def __init__(self, bits: int):
        super().__init__(dorefa_qconfig(a_bits=bits))
        self.bits = bits

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
