"""Ternary quantizers: weights in $\\{-\\alpha, 0, +\\alpha\\}$ (TWN, TTQ) and ternary as the sum of two binaries (STTN).

Each is an autograd ``Function`` whose ``backward`` is its paper's gradient rule.
Tensor or array in, ``Tensor`` out. Shapes: weights ``(out, in, ...)``; ``ch_axis`` is the
output-channel ch_axis or ``None`` for one threshold/scale per tensor; per-channel
statistics have shape ``(w.shape[ch_axis],)``, or ``()`` for ``ch_axis=None``.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..validate import as_float, as_tensor, check_fraction
from .binary import channel_size, reduce_axes
from .ste import sign

__all__ = [
    "twn_params", "TWNTernarize", "twn_ternarize", "TTQTernarize", "ttq_ternarize",
    "sttn_alpha", "SoftThresholdTernary", "soft_threshold_ternary",
]


# ----- TWN -------------------------------------------------------------------------------------
def _twn(w: np.ndarray, ch_axis, delta_factor: float):
    axes = reduce_axes(w.ndim, ch_axis)
    a = np.abs(w)
    delta = delta_factor * np.mean(a, axis=axes, keepdims=True)
    keep = a > delta
    count = np.sum(keep, axis=axes, keepdims=True)
    alpha = np.sum(a * keep, axis=axes, keepdims=True) / np.maximum(count, 1)  # no survivor -> alpha = 0
    return delta.astype(w.dtype), alpha.astype(w.dtype), keep


def twn_params(w, ch_axis: int | None = None, delta_factor: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """TWN's threshold and scale (Li et al., 2016): $\\Delta = 0.7\\,\\mathrm{mean}|W|$, $\\alpha = \\mathrm{mean}_{|W| > \\Delta} |W|$.

    $\\alpha$ is the exact minimiser of $\\|W - \\alpha T\\|^2$ for the ternary pattern
    $T = \\mathrm{sign}(W) 1\\{|W| > \\Delta\\}$; the 0.7 factor is the paper's approximation of
    the best $\\Delta$ for Gaussian or uniform weights. A channel where no $|W|$ exceeds
    $\\Delta$ (all zeros) gets $\\alpha = 0$. Returns ``(delta, alpha)``, each of shape
    ``(w.shape[ch_axis],)`` or ``()``.
    """
    w = as_float(w, "w")
    delta, alpha, _ = _twn(w, ch_axis, check_fraction(delta_factor, "delta_factor", lo_open=True, hi_open=True))
    axes = reduce_axes(w.ndim, ch_axis)
    return np.squeeze(delta, axis=axes), np.squeeze(alpha, axis=axes)


class TWNTernarize(Function):
    "$W_t = \\alpha\\,\\mathrm{sign}(W)\\,1\\{|W| > \\Delta\\}$ (TWN; Li et al., 2016); backward identity STE $\\partial W = g$"
    @staticmethod
    def forward(ctx, w, ch_axis, delta_factor):
        _, alpha, keep = _twn(w, ch_axis, delta_factor)
        return np.where(keep, alpha * sign(w, dtype=w.dtype), 0).astype(w.dtype)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def twn_ternarize(w, ch_axis: int | None = None, delta_factor: float = 0.7) -> Tensor:
    """Ternary weight networks: $\\{-\\alpha, 0, \\alpha\\}$ with :func:`twn_params`; the gradient passes straight through."""
    wt = as_tensor(w, "w")
    reduce_axes(wt.ndim, ch_axis)
    return TWNTernarize.apply(wt, ch_axis, check_fraction(delta_factor, "delta_factor", lo_open=True, hi_open=True))


# ----- TTQ -------------------------------------------------------------------------------------
class TTQTernarize(Function):
    """$W_t = W_p$ on $I_p = \\{w > \\Delta\\}$, $0$ on $|w| \\le \\Delta$, $-W_n$ on $I_n = \\{w < -\\Delta\\}$, $\\Delta = t \\max|w|$.

    Trained ternary quantization (Zhu et al., 2017). Backward:

    * scales (the true gradient): $\\partial W_p = \\sum_{I_p} g$, $\\partial W_n = -\\sum_{I_n} g$.
      The paper's Eq. 7 writes $\\sum_{I_n} g$ without the minus sign; the minus follows
      from $W_t = -W_n$ on $I_n$, and the authors' TensorFlow code (czhu95/ternarynet) gets it
      from autograd.
    * latent weights (the paper's scaled STE): $\\partial w = W_p g$ on $I_p$, $g$ on the
      zero set, $W_n g$ on $I_n$.

    ``wp`` / ``wn`` may be scalars or broadcast against ``w`` (e.g. per channel); the engine
    sums their gradients back to their shapes.
    """
    @staticmethod
    def forward(ctx, w, wp, wn, threshold):
        delta = threshold * np.max(np.abs(w))
        pos, neg = w > delta, w < -delta
        ctx.save_for_backward(pos, neg, wp, wn)
        return (wp * pos - wn * neg).astype(np.result_type(w, wp, wn))

    @staticmethod
    def backward(ctx, g):
        pos, neg, wp, wn = ctx.saved_tensors
        scale = np.where(pos, wp, np.where(neg, wn, 1)).astype(g.dtype)
        return g * scale, g * pos, -g * neg, None


def ttq_ternarize(w, wp, wn, threshold: float = 0.05) -> Tensor:
    """TTQ: ternary weights with learned positive / negative scales ``wp``, ``wn``; see :class:`TTQTernarize`.

    ``threshold`` $t \\in (0, 1)$: $\\Delta = t \\max|w|$ (per tensor, as in the paper).
    Pass ``wp`` and ``wn`` as ``Tensor(..., requires_grad=True)`` to learn them.
    """
    wt = as_tensor(w, "w")
    scales = tuple(s if isinstance(s, Tensor) else Tensor(as_float(s, name)) for s, name in ((wp, "wp"), (wn, "wn")))
    for s, name in zip(scales, ("wp", "wn")):
        as_float(s.data, name)
        try:
            np.broadcast_shapes(s.shape, wt.shape)
        except ValueError:
            raise ValueError(f"{name} must broadcast against w of shape {wt.shape}, got shape {s.shape}") from None
    return TTQTernarize.apply(wt, scales[0], scales[1], check_fraction(threshold, "threshold", lo_open=True, hi_open=True))


# ----- STTN: ternary = binary + binary --------------------------------------------------------
def sttn_alpha(w1, w2, ch_axis: int | None = 0) -> np.ndarray:
    """STTN's shared scale $\\alpha = (\\|W_1\\|_1 + \\|W_2\\|_1) / (2n)$ per output channel (Xu et al., 2020)."""
    w1, w2 = as_float(w1, "w1"), as_float(w2, "w2")
    axes = reduce_axes(w1.ndim, ch_axis)
    return (np.mean(np.abs(w1), axis=axes) + np.mean(np.abs(w2), axis=axes)) / 2


class SoftThresholdTernary(Function):
    """$W_t = \\alpha(\\mathrm{sign}(W_1) + \\mathrm{sign}(W_2)) \\in \\{-2\\alpha, 0, 2\\alpha\\}$ (Soft Threshold Ternary Networks; Xu et al., 2020).

    The ternary kernel is the sum of two binary kernels: where the two signs agree the
    weight is $\\pm 2\\alpha$, where they disagree it is 0, so the zero interval is
    *learned* instead of fixed by a hard threshold $\\Delta$. (The spec's form
    $(\\alpha'/2)(B_1 + B_2)$ with $\\alpha' = 2\\alpha$ is the same thing.) At inference the
    two binaries are added into one ternary kernel.
    Backward for each $W_k$: clipped STE $\\alpha\\, g\\, 1\\{|W_k| \\le 1\\}$ plus the exact
    $\\alpha$ term $\\mathrm{sign}(W_k) \\frac{1}{2n} \\sum_j g_j (B_{1j} + B_{2j})$ (XNOR-Net's "full" rule
    for the shared $\\alpha$). The authors' code (WeixiangXu/STTN) differs in detail: its STE
    term has no $\\alpha$ and a wider window ($|W_k| \\le 1.96$), and each kernel's $\\alpha$ term uses
    only its own signs.
    """
    @staticmethod
    def forward(ctx, w1, w2, ch_axis):
        axes = reduce_axes(w1.ndim, ch_axis)
        alpha = (np.mean(np.abs(w1), axis=axes, keepdims=True) + np.mean(np.abs(w2), axis=axes, keepdims=True)) / 2
        b1, b2 = sign(w1, dtype=w1.dtype), sign(w2, dtype=w2.dtype)
        ctx.save_for_backward(w1, w2, b1, b2, alpha, axes)
        return (alpha * (b1 + b2)).astype(w1.dtype)

    @staticmethod
    def backward(ctx, g):
        w1, w2, b1, b2, alpha, axes = ctx.saved_tensors
        n = channel_size(w1.shape, axes)
        d_alpha = np.sum(g * (b1 + b2), axis=axes, keepdims=True) / (2 * n)
        g1 = alpha * g * (np.abs(w1) <= 1) + b1 * d_alpha
        g2 = alpha * g * (np.abs(w2) <= 1) + b2 * d_alpha
        return g1, g2, None


def soft_threshold_ternary(w1, w2, ch_axis: int | None = 0) -> Tensor:
    """STTN ternary weight from two latent weights of the same shape; see :class:`SoftThresholdTernary`."""
    w1t, w2t = as_tensor(w1, "w1"), as_tensor(w2, "w2")
    if w1t.shape != w2t.shape:
        raise ValueError(f"w1 and w2 must have the same shape, got {w1t.shape} and {w2t.shape}")
    reduce_axes(w1t.ndim, ch_axis)
    return SoftThresholdTernary.apply(w1t, w2t, ch_axis)
