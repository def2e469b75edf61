"""Binary quantizers: sign, XNOR-Net's scaled sign, IR-Net's Libra-PB, and 0/1 activations.

Every quantizer with a custom gradient is an autograd ``Function`` whose ``backward``
is the straight-through estimator (STE). The plain sign and its estimators live in
:mod:`qnn_lite.quantizers.ste` (``sign(0) = +1`` throughout the book); this module builds
on them. Tensor or array in, ``Tensor`` out (helpers that return statistics give numpy).

Shapes: weights are ``(out, in, ...)``; ``ch_axis`` is the output-channel ch_axis (0), and
``ch_axis=None`` means one scale for the whole tensor. Per-channel statistics
(``xnor_alpha``, ``libra_pb_scale``) have shape ``(w.shape[ch_axis],)``, or ``()`` for ``ch_axis=None``.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor
from .ste import SIGN_ESTIMATORS, get_estimator, sign
from ..validate import as_float, as_tensor

__all__ = [
    "binarize", "xnor_alpha", "XnorBinarize", "xnor_binarize", "Standardize", "standardize",
    "libra_pb_scale", "libra_pb", "binary_entropy", "Binarize01", "binarize01", "reduce_axes", "channel_size",
]


# ----- per-channel helpers (also used by ternary) ----------------------------------------------------------
def reduce_axes(ndim: int, ch_axis) -> tuple:
    """The axes a per-channel statistic averages over: all but ``ch_axis`` (all when ``ch_axis`` is None)."""
    if ch_axis is None:
        return tuple(range(ndim))
    if isinstance(ch_axis, bool) or not isinstance(ch_axis, (int, np.integer)) or not -ndim <= ch_axis < ndim:
        raise ValueError(f"ch_axis must be None or an int in {-ndim}..{ndim - 1} for a {ndim}-d tensor, got {ch_axis!r}")
    return tuple(i for i in range(ndim) if i != ch_axis % ndim)


def channel_size(shape: tuple, axes: tuple) -> int:
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


# ----- plain sign ---------------------------------------------------------------------------
def binarize(w, estimator: str = "identity", **params) -> Tensor:
    """$b = \\mathrm{sign}(w) \\in \\{-1, +1\\}$ (sign(0) = +1) with a straight-through backward.

    ``estimator`` names the backward in :data:`qnn_lite.quantizers.ste.ESTIMATORS`: ``"identity"``
    (BinaryConnect; Courbariaux et al., 2015), ``"clipped"`` (hardtanh; Hubara et al., 2016),
    ``"approx_sign"`` (Bi-Real; Liu et al., 2018), ``"ede"`` (IR-Net; needs ``t=``, ``k=``),
    ``"swish_sign"`` (BNN+; ``beta=``).
    """
    if estimator not in SIGN_ESTIMATORS:
        raise ValueError(f"estimator must be one of {SIGN_ESTIMATORS}, got {estimator!r}")
    return get_estimator(estimator).apply(as_tensor(w, "w"), **params)


# ----- XNOR-Net ------------------------------------------------------------------------------
def xnor_alpha(w, ch_axis: int | None = 0) -> np.ndarray:
    """XNOR-Net's scale $\\alpha^* = \\frac{1}{n}\\|W\\|_{\\ell 1}$ = mean |W| per output channel (Rastegari et al., 2016).

    Why: with $B \\in \\{\\pm 1\\}^n$, $J(\\alpha, B) = \\|W - \\alpha B\\|^2 = \\alpha^2 n - 2\\alpha\\, W^\\top B + W^\\top W$.
    For $\\alpha > 0$ the best $B$ maximises $W^\\top B$, so $B^* = \\mathrm{sign}(W)$ and
    $W^\\top B^* = \\|W\\|_1$; then $dJ/d\\alpha = 2\\alpha n - 2\\|W\\|_1 = 0$ gives
    $\\alpha^* = \\|W\\|_1 / n$. ``n`` = elements per channel. Shape ``(w.shape[ch_axis],)`` or ``()``.
    """
    w = as_float(w, "w")
    return np.mean(np.abs(w), axis=reduce_axes(w.ndim, ch_axis))


class XnorBinarize(Function):
    """$\\tilde W = \\alpha\\,\\mathrm{sign}(W)$, $\\alpha = \\mathrm{mean}|W|$ per channel (XNOR-Net; Rastegari et al., 2016).

    Backward, ``grad="paper"`` (the paper's Sec. 3.1 formula):
    $\\partial C/\\partial W_i = \\partial C/\\partial \\tilde W_i\\,(1/n + \\alpha\\, 1\\{|W_i| \\le 1\\})$ —
    the $1/n$ is $\\mathrm{sign}(W_i)\\,\\partial\\alpha/\\partial W_i$ (the diagonal of the $\\alpha$ term),
    the second part the clipped STE through sign.
    ``grad="full"``: $\\alpha\\, 1\\{|W_i| \\le 1\\}\\, g_i + \\mathrm{sign}(W_i)\\,\\frac{1}{n}\\sum_j g_j \\mathrm{sign}(W_j)$,
    the exact derivative of $\\alpha(W)$ (all cross terms, as popular re-implementations such as
    XNOR-Net-PyTorch compute it, up to a constant factor) plus the same STE.
    """
    @staticmethod
    def forward(ctx, w, ch_axis, grad):
        axes = reduce_axes(w.ndim, ch_axis)
        alpha = np.mean(np.abs(w), axis=axes, keepdims=True)
        b = sign(w, dtype=w.dtype)
        ctx.save_for_backward(w, b, alpha, axes, grad)
        return alpha * b

    @staticmethod
    def backward(ctx, g):
        w, b, alpha, axes, mode = ctx.saved_tensors
        n = channel_size(w.shape, axes)
        ste = alpha * (np.abs(w) <= 1)
        if mode == "paper":
            return g * (1.0 / n + ste), None, None
        return g * ste + b * np.sum(g * b, axis=axes, keepdims=True) / n, None, None


def xnor_binarize(w, ch_axis: int | None = 0, grad: str = "paper") -> Tensor:
    """XNOR-Net scaled binarization $\\alpha\\,\\mathrm{sign}(W)$ with $\\alpha$ = :func:`xnor_alpha`; see :class:`XnorBinarize`.

    ``grad`` is ``"paper"`` (the paper's $1/n + \\alpha 1\\{|w| \\le 1\\}$) or ``"full"``.
    """
    if grad not in ("paper", "full"):
        raise ValueError(f"grad must be 'paper' or 'full', got {grad!r}")
    wt = as_tensor(w, "w")
    reduce_axes(wt.ndim, ch_axis)
    return XnorBinarize.apply(wt, ch_axis, grad)


# ----- IR-Net: Libra-PB --------------------------------------------------------------------------
class Standardize(Function):
    """$\\hat w = (w - \\mu) / \\sigma$ per channel ($\\sigma$ with ``ddof``; 1 as in IR-Net's code = ``torch.std``).

    Backward (the true gradient): $\\partial w_i = \\frac{1}{\\sigma}\\left(g_i - \\bar g - \\hat w_i
    \\frac{\\sum_j g_j \\hat w_j}{n - \\mathrm{ddof}}\\right)$. Channels with $\\sigma = 0$ (constant,
    or one element with ``ddof=1``) give $\\hat w = 0$ and gradient 0.
    """
    @staticmethod
    def forward(ctx, w, ch_axis, ddof):
        axes = reduce_axes(w.ndim, ch_axis)
        n = channel_size(w.shape, axes)
        centred = w - np.mean(w, axis=axes, keepdims=True)
        var = np.sum(centred * centred, axis=axes, keepdims=True) / max(n - ddof, 1)
        std = np.sqrt(var)
        safe = np.where(std > 0, std, 1)
        out = np.where(std > 0, centred / safe, 0).astype(w.dtype)
        ctx.save_for_backward(out, std, safe, axes, max(n - ddof, 1))
        return out

    @staticmethod
    def backward(ctx, g):
        out, std, safe, axes, dof = ctx.saved_tensors
        gw = g - np.mean(g, axis=axes, keepdims=True) - out * np.sum(g * out, axis=axes, keepdims=True) / dof
        return np.where(std > 0, gw / safe, 0).astype(g.dtype), None, None


def standardize(w, ch_axis: int | None = 0, ddof: int = 1) -> Tensor:
    """Per-channel zero mean, unit standard deviation (IR-Net's balance step); see :class:`Standardize`."""
    if isinstance(ddof, bool) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    wt = as_tensor(w, "w")
    reduce_axes(wt.ndim, ch_axis)
    return Standardize.apply(wt, ch_axis, ddof)


def libra_pb_scale(w_std, ch_axis: int | None = 0) -> np.ndarray:
    """IR-Net's power-of-two scale $s = 2^{\\mathrm{round}(\\log_2(\\|\\hat w\\|_1 / n))}$ per channel (Qin et al., 2020).

    ``w_std`` is the standardized weight. A shift instead of a multiply at inference.
    Channels with $\\|\\hat w\\|_1 = 0$ get $s = 0$. Shape ``(w.shape[ch_axis],)`` or ``()``.
    """
    w_std = as_float(w_std, "w_std")
    mean_abs = np.mean(np.abs(w_std), axis=reduce_axes(w_std.ndim, ch_axis)).astype(np.float64)
    with np.errstate(divide="ignore"):
        exps = np.rint(np.log2(np.where(mean_abs > 0, mean_abs, 1.0)))
    return np.where(mean_abs > 0, np.exp2(exps), 0.0).astype(w_std.dtype)


def libra_pb(w, ch_axis: int | None = 0, estimator: str = "identity", ddof: int = 1, **params) -> Tensor:
    """IR-Net Libra Parameter Binarization (Qin et al., 2020): $Q(w) = \\mathrm{sign}(\\hat w) \\cdot s$.

    $\\hat w = (w - \\mu)/\\sigma$ per output channel (:func:`standardize`), so about half
    the signs are +1 (maximum information entropy, ~1 bit) and the quantization error is
    small; $s$ = :func:`libra_pb_scale` (treated as a constant, as in IR-Net's code).
    Gradient: through sign by ``estimator`` (see :func:`binarize`; IR-Net uses ``"ede"``
    with ``t``, ``k`` from ``ste.ede_schedule``), then exactly through the standardization.
    Zero-spread channels give 0.
    """
    standardized = standardize(w, ch_axis=ch_axis, ddof=ddof)
    scale = libra_pb_scale(standardized.data, ch_axis=ch_axis)
    if ch_axis is not None:
        shape = [1] * standardized.ndim
        shape[ch_axis] = -1
        scale = scale.reshape(shape)
    return binarize(standardized, estimator, **params) * Tensor(scale, dtype=standardized.dtype)


def binary_entropy(b) -> float:
    """Information entropy (bits) of a binary code: $H = -p \\log_2 p - (1-p) \\log_2 (1-p)$, $p = P(b > 0)$.

    1 bit when the signs are balanced, 0 when all agree. Works for ±1, 0/1 or ±s codes.
    """
    b = as_float(b, "b")
    p = float(np.mean(b > 0))
    if p in (0.0, 1.0):
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


# ----- 0/1 activations ------------------------------------------------------------------------------
class Binarize01(Function):
    """$b = 1\\{x \\ge \\theta\\} \\in \\{0, 1\\}$; backward $g \\cdot 1\\{|x - \\theta| \\le \\mathrm{window}\\}$ (windowed STE).

    Sparsity-inducing binarization (Si-BNN; Wang et al., 2020): activations in {0, 1}
    instead of {-1, +1}, so most are exactly 0 (a 1-bit ReLU). Si-BNN also *trains* the
    backward window; here threshold and window are fixed. With $\\theta = 0.5$ and
    window 0.5 this is round(clip(x, 0, 1)) with the clipped STE.
    """
    @staticmethod
    def forward(ctx, x, threshold, window):
        ctx.save_for_backward(np.abs(x - threshold) <= window)
        return (x >= threshold).astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside.astype(g.dtype), None, None


def binarize01(x, threshold: float = 0.5, window: float = 0.5) -> Tensor:
    """0/1 activation $1\\{x \\ge \\mathrm{threshold}\\}$ with an STE inside ``|x - threshold| <= window``; see :class:`Binarize01`."""
    for name, value, lo in (("threshold", threshold, -math.inf), ("window", window, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
        if not (math.isfinite(value) and value > lo):
            raise ValueError(f"{name} must be a finite number{' > 0' if lo == 0 else ''}, got {value}")
    return Binarize01.apply(as_tensor(x, "x"), float(threshold), float(window))
