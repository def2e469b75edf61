r"""GELU, the Gaussian error linear unit (Hendrycks & Gimpel, 2016), exact and tanh-approximated.

exact (PyTorch's default, ``approximate='none'``): $f(x) = x \Phi(x) = \tfrac{x}{2}(1 + \mathrm{erf}(x/\sqrt2))$,
$f'(x) = \Phi(x) + x \varphi(x)$.
tanh (``approximate='tanh'``, GPT-2's): $f(x) = \tfrac{x}{2}(1 + \tanh u)$, $u = \sqrt{2/\pi}(x + 0.044715 x^3)$,
$f'(x) = \tfrac12(1 + \tanh u) + \tfrac{x}{2}(1 - \tanh^2 u)\sqrt{2/\pi}(1 + 3 \cdot 0.044715 x^2)$.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .ops import _array_arg
from .tensor import Tensor

_K = np.sqrt(2.0 / np.pi)
_C = 0.044715


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # scipy ships with scikit-learn, a dependency
    return erf(x)


class GELU(Function):
    r"$f(x) = x \Phi(x)$ (exact) or its tanh approximation"

    @staticmethod
    def forward(ctx, x, approximate):
        dt = x.dtype.type
        ctx.approximate = approximate
        if approximate == "tanh":
            t = x * x                                   # in place below: one temporary, not five
            t *= dt(_C)
            t += 1
            t *= x
            t *= dt(_K)
            np.tanh(t, out=t)
            ctx.save_for_backward(x, t)
            out = t + 1
            out *= x
            out *= dt(0.5)
            return out
        cdf = dt(0.5) * (1 + _erf(x * dt(1 / np.sqrt(2.0))))
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        dt = x.dtype.type
        if ctx.approximate == "tanh":
            # d = (1 + t)/2 + x/2 (1 - t^2) K (1 + 3 C x^2), built in place
            d = x * x
            d *= dt(3 * _C)
            d += 1
            d *= x
            d *= dt(0.5 * _K)
            d *= 1 - a * a
            d += dt(0.5)
            d += dt(0.5) * a
        else:
            d = a + x * np.exp(dt(-0.5) * x * x) * dt(1 / np.sqrt(2 * np.pi))
        return grad * d, None


def gelu(x, approximate: str = "none") -> Tensor:
    """``torch.nn.functional.gelu``: exact by default, ``approximate='tanh'`` for GPT-2's form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    x = _array_arg(x)
    dtype = (x.data if isinstance(x, Tensor) else np.asarray(x)).dtype
    if dtype.kind != "f":
        raise TypeError(f"gelu needs a floating input (as PyTorch), got dtype {dtype}")
    return GELU.apply(x, approximate)
