"""Elementwise ops: each op's forward and backward side by side.

Gradients may come back in the broadcast shape; the engine reduces them
(`tensor.unbroadcast`). A backward computes only the gradients some input needs
(``ctx.needs_input_grad``) and never writes into ``grad``. Python numbers are
passed to the Functions as they are, so ``float32_tensor * 0.5`` stays float32
(numpy's NEP 50 rule, PyTorch's too).
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor, _as_array

_PY_SCALARS = (int, float, bool)


def _arg(x):
    """A Tensor or a Python number as it is; anything else as an array (float64 -> float32)."""
    if isinstance(x, Tensor) or type(x) in _PY_SCALARS:
        return x
    return _as_array(x, None)


def _array_arg(x):
    """A Tensor as it is; anything else (numbers too) as an array, like ``Tensor(x)`` would store it."""
    return x if isinstance(x, Tensor) else _as_array(x, None)


# ----- arithmetic ---------------------------------------------------------------
class Add(Function):
    "$f(x, y) = x + y$"
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    "$f(x, y) = x - y$"
    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    "$f(x, y) = x y$"
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        return (grad * y if nx else None), (grad * x if ny else None)


class Div(Function):
    "$f(x, y) = x / y$"
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        return (grad / y if nx else None), (-grad * x / (y * y) if ny else None)


class Neg(Function):
    "$f(x) = -x$"
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    r"$f(x, p) = x^p$;  $\partial_x = p x^{p-1}$ (0 where p = 0),  $\partial_p = x^p \ln x$ (0 where x = 0, p >= 0)"
    @staticmethod
    def forward(ctx, x, p):
        out = x ** p
        ctx.save_for_backward(x, p, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, p, out = ctx.saved_tensors
        nx, np_ = ctx.needs_input_grad
        gx = gp = None
        if nx:
            if isinstance(p, np.ndarray):
                with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 where p == 0 is masked
                    gx = grad * np.where(p == 0, 0, p * x ** (p - 1))
            elif p == 0:
                gx = np.zeros_like(grad)
            else:
                gx = grad * p * x ** (p - 1)
        if np_:
            with np.errstate(divide="ignore", invalid="ignore"):
                gp = grad * np.where((x == 0) & (p >= 0), 0, out * np.log(x))
        return gx, gp


def add(x, y) -> Tensor:
    """$x + y$ with broadcasting."""
    return Add.apply(_arg(x), _arg(y))


def sub(x, y) -> Tensor:
    """$x - y$ with broadcasting."""
    return Sub.apply(_arg(x), _arg(y))


def mul(x, y) -> Tensor:
    """$x y$ (elementwise) with broadcasting."""
    return Mul.apply(_arg(x), _arg(y))


def div(x, y) -> Tensor:
    """$x / y$ with broadcasting."""
    return Div.apply(_arg(x), _arg(y))


def neg(x) -> Tensor:
    """$-x$."""
    return Neg.apply(_array_arg(x))


def pow(x, exponent) -> Tensor:  # noqa: A001  (PyTorch's name)
    """$x^p$ for a number p (``x ** 2``) or a tensor p (gradients to both)."""
    return Pow.apply(_arg(x), _arg(exponent))


# ----- unary math ------------------------------------------------------------------
class Exp(Function):
    "$f(x) = e^x$,  $f' = e^x$"
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]


class Log(Function):
    "$f(x) = \\ln x$,  $f' = 1/x$"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved_tensors[0]


class Sqrt(Function):
    r"$f(x) = \sqrt{x}$,  $f' = 1 / (2 \sqrt{x})$"
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad / (2 * ctx.saved_tensors[0])


class Abs(Function):
    "$f(x) = |x|$,  $f' = sign(x)$ (0 at 0, like PyTorch)"
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * np.sign(ctx.saved_tensors[0])


def exp(x) -> Tensor:
    """$e^x$ elementwise."""
    return Exp.apply(_array_arg(x))


def log(x) -> Tensor:
    """Natural log elementwise (``-inf`` at 0, ``nan`` below, as numpy and PyTorch)."""
    return Log.apply(_array_arg(x))


def sqrt(x) -> Tensor:
    """Square root elementwise."""
    return Sqrt.apply(_array_arg(x))


def abs(x) -> Tensor:  # noqa: A001  (PyTorch's name)
    """$|x|$ elementwise; gradient sign(x), 0 at x = 0."""
    return Abs.apply(_array_arg(x))


# ----- selection -------------------------------------------------------------------
class Where(Function):
    "$f(c, x, y) = x$ where c else $y$; no gradient to the condition"
    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.save_for_backward(cond)
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        _, nx, ny = ctx.needs_input_grad
        return (None,
                np.where(cond, grad, 0) if nx else None,
                np.where(cond, 0, grad) if ny else None)


def where(cond, x, y) -> Tensor:
    """Pick ``x`` where ``cond`` is True and ``y`` elsewhere (broadcasting); ``cond`` is a bool array."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        raise TypeError(f"where: cond must be a boolean array or Tensor, got dtype {c.dtype}")
    return Where.apply(c, _arg(x), _arg(y))


class Clip(Function):
    "$f(x) = \\min(\\max(x, lo), hi)$; gradient passes where lo <= x <= hi (like torch.clamp)"
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        x, lo, hi = ctx.saved_tensors
        if lo is None:
            mask = x <= hi
        elif hi is None:
            mask = x >= lo
        else:
            mask = (x >= lo) & (x <= hi)
        return grad * mask, None, None


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002  (PyTorch's names)
    """Clamp ``x`` to ``[min, max]`` (either may be None); like ``torch.clamp``.

    Gradient 1 where min <= x <= max, else 0. min/max are numbers or arrays (no gradient).
    """
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given, got min=None, max=None")
    lo = None if min is None else _arg(min.data if isinstance(min, Tensor) else min)
    hi = None if max is None else _arg(max.data if isinstance(max, Tensor) else max)
    return Clip.apply(_array_arg(x), lo, hi)
