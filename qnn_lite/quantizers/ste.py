"""Straight-through estimators (STEs): a hard forward, a made-up backward.

``round`` and ``sign`` have zero derivative almost everywhere, so training
through them needs a *stand-in* gradient. Each estimator below is an autograd
``Function`` whose ``forward`` is the hard step and whose ``backward`` **is**
the estimator — read the two side by side.

Convention used by the whole library: ``sign(0) = +1`` (a binary weight or
activation is never 0). Binary code imports :func:`sign` from here.

``ESTIMATORS[name]`` is the one registry of estimators: an :class:`Estimator` holding the
Function, the same curves as plain numpy functions ``forward(x) -> y`` and
``slope(x) -> dy/dx`` (the backward for an upstream gradient of 1) and ``surrogate``
(the smooth curve the backward pretends the forward is), its label and its parameters.

Shapes: every function is elementwise; output shape = input shape.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ..autograd import Function, Tensor
from ..validate import check_positive

__all__ = [
    "sign", "RoundSTE", "SignSTE", "SignClippedSTE", "ApproxSign", "EDESign", "SwishSign",
    "round_ste", "sign_ste", "clipped_ste", "approx_sign", "ede_sign", "swish_sign",
    "ede_schedule", "Estimator", "ESTIMATORS", "SIGN_ESTIMATORS", "get_estimator",
]


# ----- checks and the numpy sign --------------------------------------------------
def _no_nan(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError(f"{name} must not contain NaN, got {int(np.isnan(x).sum())} NaN value(s)")
    return x


def sign(x, dtype=np.float32) -> np.ndarray:
    """$\\mathrm{sign}(x) = +1$ if $x \\ge 0$ else $-1$ (so sign(0) = +1); float32 by default."""
    x = _no_nan(x)
    return np.where(x >= 0, 1, -1).astype(dtype)


def _sign_like(x: np.ndarray) -> np.ndarray:
    return sign(x, dtype=x.dtype if x.dtype.kind == "f" else np.float32)


# ----- the curves (numpy), shared by the Functions and the ESTIMATORS table ----------
def _identity_slope(x):
    return np.ones_like(x, dtype=np.result_type(x, np.float32))


def _clipped_slope(x):
    return (np.abs(x) <= 1).astype(np.result_type(x, np.float32))


def _approx_sign_slope(x):
    slope = np.where(x < 0, 2 + 2 * x, 2 - 2 * x)
    return np.where((x >= -1) & (x < 1), slope, 0).astype(np.result_type(x, np.float32))


def _ede_slope(x, t, k):
    return (k * t * (1 - np.tanh(t * x) ** 2)).astype(np.result_type(x, np.float32))


def _swish_slope(x, beta):
    bx = beta * x
    with np.errstate(over="ignore", invalid="ignore"):  # |bx| huge: inf/inf; the limit is 0, set below
        slope = beta * (2 - bx * np.tanh(bx / 2)) / (1 + np.cosh(bx))
    return np.where(np.isfinite(slope), slope, 0).astype(np.result_type(x, np.float32))


# ----- the Functions ---------------------------------------------------------------
class RoundSTE(Function):
    "$y = \\mathrm{rint}(x)$; backward $\\partial x = g$ (identity STE; Hinton, 2012; Bengio et al., 2013)"
    @staticmethod
    def forward(ctx, x):
        return np.rint(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        return grad


class SignSTE(Function):
    "$y = \\mathrm{sign}(x)$; backward $\\partial x = g$ (identity STE; Hinton, 2012; Bengio et al., 2013)"
    @staticmethod
    def forward(ctx, x):
        return _sign_like(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        return grad


class SignClippedSTE(Function):
    "$y = \\mathrm{sign}(x)$; backward $g \\cdot 1\\{|x| \\le 1\\}$ (Courbariaux et al., 2016; Hubara et al., 2016)"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _sign_like(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _clipped_slope(x).astype(grad.dtype)


class ApproxSign(Function):
    "$y = \\mathrm{sign}(x)$; backward $g \\cdot (2+2x)$ on [-1,0), $(2-2x)$ on [0,1), else 0 (Bi-Real; Liu et al., 2018)"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _sign_like(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _approx_sign_slope(x).astype(grad.dtype)


class EDESign(Function):
    "$y = \\mathrm{sign}(x)$; backward $g \\cdot k t (1 - \\tanh^2(t x))$ (IR-Net error-decay estimator; Qin et al., 2020)"
    @staticmethod
    def forward(ctx, x, t, k):
        ctx.save_for_backward(x, check_positive(t, "t"), check_positive(k, "k"))
        return _sign_like(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        x, t, k = ctx.saved_tensors
        return grad * _ede_slope(x, t, k).astype(grad.dtype), None, None


class SwishSign(Function):
    "$y = \\mathrm{sign}(x)$; backward $g \\cdot \\beta(2 - \\beta x \\tanh(\\beta x/2)) / (1 + \\cosh \\beta x)$ (BNN+; Darabi et al., 2018)"
    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x, check_positive(beta, "beta"))
        return _sign_like(_no_nan(x))

    @staticmethod
    def backward(ctx, grad):
        x, beta = ctx.saved_tensors
        return grad * _swish_slope(x, beta).astype(grad.dtype), None


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def round_ste(x) -> Tensor:
    """Round half to even; the gradient passes straight through. See :class:`RoundSTE`."""
    return RoundSTE.apply(_t(x))


def sign_ste(x) -> Tensor:
    """sign (sign(0)=+1) with the identity gradient. See :class:`SignSTE`."""
    return SignSTE.apply(_t(x))


def clipped_ste(x) -> Tensor:
    """sign with the gradient of hardtanh: passes where |x| <= 1. See :class:`SignClippedSTE`."""
    return SignClippedSTE.apply(_t(x))


def approx_sign(x) -> Tensor:
    """Bi-Real's ApproxSign: sign forward, piecewise-linear triangle backward. See :class:`ApproxSign`."""
    return ApproxSign.apply(_t(x))


def ede_sign(x, t: float, k: float) -> Tensor:
    """IR-Net's sign with the gradient of k*tanh(t*x); get (t, k) from :func:`ede_schedule`."""
    return EDESign.apply(_t(x), t, k)


def swish_sign(x, beta: float = 5.0) -> Tensor:
    """BNN+'s sign with the gradient of SignSwish 2*sigmoid(bx)*(1 + bx*(1 - sigmoid(bx))) - 1."""
    return SwishSign.apply(_t(x), beta)


def ede_schedule(epoch, epochs, t_min: float = 0.1, t_max: float = 10.0) -> tuple[float, float]:
    """IR-Net's EDE schedule (Qin et al., 2020): returns (t, k).

    $t = 10^{\\log_{10} t_{min} + (\\log_{10} t_{max} - \\log_{10} t_{min})\\, e / E}$,
    $k = \\max(1/t, 1)$. Early (t small, k large) the backward is a wide, flat
    identity-like STE; late (t large, k = 1) it approaches the true sign's spike.
    The defaults are the paper's end points, $T_{min} = 10^{-1}$ and $T_{max} = 10$;
    a smaller ``t_min`` (e.g. ``1e-3``) starts closer to the identity STE.
    """
    for name, value in (("epoch", epoch), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs}")
    if not 0 <= epoch <= epochs:
        raise ValueError(f"epoch must be an int in 0..epochs={epochs}, got {epoch}")
    t_min, t_max = check_positive(t_min, "t_min"), check_positive(t_max, "t_max")
    if t_min > t_max:
        raise ValueError(f"t_min must be <= t_max, got t_min={t_min}, t_max={t_max}")
    lo, hi = math.log10(t_min), math.log10(t_max)
    t = 10.0 ** (lo + (hi - lo) * epoch / epochs)
    return t, max(1.0 / t, 1.0)


def _sign_curve(x):
    return sign(x, dtype=np.result_type(x, np.float32))


def _approx_sign_surrogate(x):
    inner = np.where(x < 0, 2 * x + x * x, 2 * x - x * x)
    return np.where(x < -1, -1.0, np.where(x >= 1, 1.0, inner))


def _swish_surrogate(x, beta=5.0):
    bx = beta * x
    s = 0.5 * (1 + np.tanh(bx / 2))        # sigmoid, overflow-free
    return 2 * s * (1 + bx * (1 - s)) - 1


class Estimator(NamedTuple):
    """One straight-through estimator: its curves (numpy), its autograd Function, its name in figures.

    ``forward(x)`` the hard step; ``slope(x, **params)`` the backward for an upstream gradient of 1;
    ``surrogate(x, **params)`` the smooth curve whose derivative ``slope`` is; ``function`` the
    autograd Function (``function.apply(x, *params)``); ``params`` the keyword parameters and their
    defaults for the curves; ``required`` the ones :meth:`apply` must be given.
    """
    forward: Callable
    slope: Callable
    surrogate: Callable
    function: type
    label: str
    params: dict
    required: tuple = ()

    def apply(self, x, **params) -> Tensor:
        """``function.apply(x, *params)``; a missing required or an unknown parameter is a TypeError."""
        missing = [p for p in self.required if p not in params]
        if missing:
            raise TypeError(f"estimator needs {' and '.join(p + '=' for p in missing)} "
                            "(for 'ede' get them from qnn_lite.quantizers.ste.ede_schedule)")
        extra = sorted(set(params) - set(self.params))
        if extra:
            raise TypeError(f"estimator takes parameters {tuple(self.params)}, got unexpected parameters {extra}")
        values = {**self.params, **params}
        return self.function.apply(_t(x), *(values[p] for p in self.params))


ESTIMATORS = {
    "round_identity": Estimator(np.rint, _identity_slope, lambda x: np.asarray(x, np.float64).copy(), RoundSTE,
                                "identity STE (round)", {}),
    "identity": Estimator(_sign_curve, _identity_slope, lambda x: np.asarray(x, np.float64).copy(), SignSTE,
                          "identity STE", {}),
    "clipped": Estimator(_sign_curve, _clipped_slope, lambda x: np.clip(x, -1, 1), SignClippedSTE,
                         "clipped STE (hardtanh)", {}),
    "approx_sign": Estimator(_sign_curve, _approx_sign_slope, _approx_sign_surrogate, ApproxSign,
                             "Bi-Real ApproxSign", {}),
    "ede": Estimator(_sign_curve, lambda x, t=1.0, k=1.0: _ede_slope(x, check_positive(t, "t"), check_positive(k, "k")),
                     lambda x, t=1.0, k=1.0: k * np.tanh(t * x), EDESign, "IR-Net EDE", {"t": 1.0, "k": 1.0},
                     required=("t", "k")),
    "swish_sign": Estimator(_sign_curve, lambda x, beta=5.0: _swish_slope(x, check_positive(beta, "beta")),
                            _swish_surrogate, SwishSign, "SignSwish", {"beta": 5.0}),
}
"""THE registry of straight-through estimators: name -> :class:`Estimator`. Every user looks it up
(``binary.binarize``, the ``bnn`` layers, the figures); adding an estimator means adding a
Function above and one entry here."""

SIGN_ESTIMATORS = tuple(name for name, e in ESTIMATORS.items() if e.forward is _sign_curve)
"""The estimators whose forward is ``sign`` (every one but ``"round_identity"``)."""


def get_estimator(name) -> Estimator:
    """``ESTIMATORS[name]``; an unknown name is a ValueError listing the known ones."""
    if not isinstance(name, str) or name not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(map(repr, ESTIMATORS))}; got {name!r}")
    return ESTIMATORS[name]
