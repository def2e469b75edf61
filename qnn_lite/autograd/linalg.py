r"""Matrix product with ``np.matmul``'s rules: 1-D, 2-D and batched, batch dims broadcast.

$C = A B$;  $\partial A = G B^T$,  $\partial B = A^T G$, each summed over the batch
dimensions its operand was broadcast along. A 1-D ``a`` is a row vector (k,) -> (1, k),
a 1-D ``b`` a column vector (k,) -> (k, 1), and the added axis is removed again.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .ops import _array_arg
from .tensor import Tensor, unbroadcast


class MatMul(Function):
    r"$C = A B$ (``np.matmul`` rules);  $\partial A = G B^T$,  $\partial B = A^T G$, batch dims summed"
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case (Linear): no promotion, no batch
            return (grad @ b.T if na else None), (a.T @ grad if nb else None)
        # promote 1-D operands as np.matmul does: a (k,) -> (1, k), b (k,) -> (k, 1)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g2 = grad.reshape(1, 1)
        elif a.ndim == 1:
            g2 = np.expand_dims(grad, -2)
        elif b.ndim == 1:
            g2 = np.expand_dims(grad, -1)
        else:
            g2 = grad
        ga = gb = None
        if na:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if nb:
            if b2.ndim == 2 and a2.ndim > 2:  # (..., n, k) @ (k, m): fold the batch into rows
                k = a2.shape[-1]
                gb = a2.reshape(-1, k).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def _check_matmul(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both inputs must be at least 1-D, got shapes {a.shape} and {b.shape}")
    ka_dim = a.ndim - 1
    kb_dim = 0 if b.ndim == 1 else b.ndim - 2
    if a.shape[ka_dim] != b.shape[kb_dim]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"{a.shape[ka_dim]} (dim {ka_dim}) != {b.shape[kb_dim]} (dim {kb_dim})")
    if a.ndim > 2 and b.ndim > 2 or a.ndim > 2 and b.ndim == 2 or a.ndim == 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} do not "
                             f"broadcast: {a.shape[:-2]} vs {b.shape[:-2]}") from None


def matmul(a, b) -> Tensor:
    """Matrix product with ``np.matmul`` rules: 1-D, 2-D, and batched (batch dims broadcast).

    Shapes: (..., n, k) @ (..., k, m) -> (..., n, m); a 1-D operand is a row / column vector.
    """
    a, b = _array_arg(a), _array_arg(b)
    _check_matmul(a.data if isinstance(a, Tensor) else a, b.data if isinstance(b, Tensor) else b)
    return MatMul.apply(a, b)
