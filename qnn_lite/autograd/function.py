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
``backward`` must not write into ``grad``: it may be a read-only broadcast view, or
the same array another node receives. The output Tensor wraps ``forward``'s array
as it is (no copy, no dtype change).
Every quantizer with a custom gradient in ``qnn_lite.quantizers`` is such a Function:
its ``backward`` *is* the straight-through estimator.
"""
from __future__ import annotations

import numpy as np

from . import tensor as _tensor_module
from .tensor import Tensor


class Context:
    """What a Function's forward leaves for its backward."""

    def __init__(self, fn, parents, needs_input_grad=None):
        self.fn = fn
        self.parents = parents  # the Tensor (or None) behind each positional argument
        if needs_input_grad is None:
            needs_input_grad = tuple(p is not None and p.requires_grad for p in parents)
        self.needs_input_grad = needs_input_grad
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
        # One pass over the arguments: Tensors become (parent, array), anything else is a constant.
        # (Written for speed: apply runs for every op of every training step.)
        parents, raw, needs = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                parents.append(a)
                raw.append(a.data)
                needs.append(a.requires_grad)
            else:
                parents.append(None)
                raw.append(a)
                needs.append(False)
        ctx = _new(Context)
        ctx.fn, ctx.parents, ctx.saved_tensors = cls, parents, ()
        ctx.needs_input_grad = needs = tuple(needs)
        out = cls.forward(ctx, *raw, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # numpy reductions of 0-d results give scalars
        result = _new(Tensor)
        result.data, result.grad = out, None
        if any(needs) and _tensor_module._GRAD_ENABLED:
            result.requires_grad, result._ctx = True, ctx
        else:
            result.requires_grad, result._ctx = False, None
        return result


_new = object.__new__
