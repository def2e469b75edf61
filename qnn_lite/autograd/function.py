"""`Function`: an operation whose forward and backward live side by side.

Subclass it with two static methods working on plain ``np.ndarray``s::

    class Mul(Function):
        "$f(x, y) = x y$"
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            return grad * y, grad * x        # one gradient per forward argument

and call it with ``Mul.apply(a, b)``. ``apply`` unwraps Tensor arguments to
arrays, runs ``forward``, and — when any input requires grad — records a
``Context`` on the output so ``Tensor.backward`` can call ``backward`` later.
``backward`` may return gradients in the *broadcast* shape: the engine sums them
back to each input's shape. Return ``None`` for arguments that get no gradient
(non-tensors, integer inputs, or inputs for which ``ctx.needs_input_grad`` is False).
Every quantizer with a custom gradient in ``qnn_lite.quant`` is such a Function:
its ``backward`` *is* the straight-through estimator.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor, is_grad_enabled


class Context:
    """What a Function's forward leaves for its backward."""

    def __init__(self, fn, parents):
        self.fn = fn
        self.parents = parents  # the Tensor (or None) behind each positional argument
        self.needs_input_grad = tuple(p is not None and p.requires_grad for p in parents)
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *values) -> None:
        """Keep arrays (or anything) for ``backward``; read back as ``ctx.saved_tensors``."""
        self.saved_tensors = values


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    @staticmethod
    def forward(ctx: Context, *args, **kwargs) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs) -> Tensor:
        parents = tuple(a if isinstance(a, Tensor) else None for a in args)
        raw = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        ctx = Context(cls, parents)
        out = cls.forward(ctx, *raw, **kwargs)
        result = Tensor(out, dtype=np.asarray(out).dtype)
        if is_grad_enabled() and any(ctx.needs_input_grad):
            result.requires_grad = True
            result._ctx = ctx
        return result
