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
    """What a Function's forward leaves for its backward.

    ``parents`` holds the Tensor (or None) behind each positional argument.
    ``save_for_backward`` also notes the version (``Tensor._version``) of every input
    whose array it keeps, so the engine can refuse to run ``backward`` on values an
    optimizer step changed in place since (PyTorch's version counter).
    """

    def __init__(self, fn, parents, needs_input_grad=None):
        self.fn = fn
        self.parents = parents
        if needs_input_grad is None:
            needs_input_grad = tuple([p is not None and p.requires_grad for p in parents])
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()
        self.saved_versions: list = []  # (input Tensor, its _version when its array was saved)

    def save_for_backward(self, *values) -> None:
        """Keep arrays (or anything) for ``backward``; read back as ``ctx.saved_tensors``."""
        self.saved_tensors = values
        self.saved_versions = [(p, p._version) for p in self.parents
                               if p is not None and _holds_any(values, p.data)]

    def check_versions(self) -> None:
        """Raise if an input saved for backward was modified in place after the forward."""
        for tensor, version in self.saved_versions:
            if tensor._version != version:
                raise RuntimeError(
                    f"one of the tensors needed by {self.fn.__name__}.backward was modified by an "
                    f"in-place operation (an optimizer step, load_state_dict, ...): its version is "
                    f"{tensor._version}, it was {version} when {self.fn.__name__} saved it. Run the "
                    "forward again after changing it (writes through `.data` are not tracked)")


def _holds_any(values, array) -> bool:
    """True if one of ``values`` is ``array`` or a numpy view of it (what ``save_for_backward`` tracks)."""
    for v in values:
        if v is array or (type(v) is np.ndarray and v.base is array):
            return True
    return False


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
        """Build a Context, call ``forward`` on the arrays, wire the output into the graph."""
        parents = [a if isinstance(a, Tensor) else None for a in args]
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        ctx = Context(cls, parents)
        out = np.asarray(cls.forward(ctx, *raw, **kwargs))  # numpy reductions may give scalars
        result = Tensor(out, dtype=out.dtype)               # wraps ``out`` as it is: no copy
        if any(ctx.needs_input_grad) and _tensor_module.is_grad_enabled():
            result.requires_grad, result._ctx = True, ctx
        return result
