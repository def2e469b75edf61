"""The backward pass: reverse-mode differentiation over the recorded graph, in topological order.

``Tensor.backward`` checks its arguments and calls ``run_backward``. Every node
runs its Function's ``backward`` once, after every node that used it has sent
its gradient back (Kahn, 1962: a counter of pending consumers per node, a loop,
not recursion); gradients arriving at the same node from several consumers are
added. Leaves with ``requires_grad`` keep the sum in ``.grad``: the first time
as a private copy (so no other node, view or user array shares it), later by an
in-place add (PyTorch's AccumulateGrad). A second ``backward()`` therefore *adds*
to ``.grad`` — micrograd's doubling, on purpose: it is PyTorch's accumulation
(clear with ``zero_grad``). The graph is kept, so backward can run again through
it (PyTorch needs ``retain_graph=True`` for that; we keep it always).
Before a Function's ``backward`` runs, ``ctx.check_versions()`` raises if an
input it saved was changed in place since the forward (PyTorch's version counter).
"""
from __future__ import annotations

import numpy as np

from .tensor import unbroadcast  # (tensor.py imports this module at its end)


def run_backward(root, grad: np.ndarray) -> None:
    """Send ``grad`` (already of ``root``'s shape and dtype) from ``root`` back to every leaf."""
    # Kahn's algorithm: a node runs its backward once every node that used it has
    # sent its gradient back (a counter per node), so each Function runs exactly once.
    pending = _count_consumers(root)
    grads = {id(root): grad}
    ready = [root]
    while ready:
        node = ready.pop()
        g = grads.pop(id(node), None)
        ctx = node._ctx
        if ctx is None:
            if g is not None and node.requires_grad:  # a leaf: keep (or add to) its gradient
                old = node.grad
                if old is None:  # a private copy: g may be shared with other nodes or views
                    node.grad = g.copy()  # C-contiguous, as the fused optimizer step wants
                elif (type(old) is np.ndarray and old.shape == g.shape and old.dtype == g.dtype
                      and old.flags.writeable):
                    np.add(old, g, out=old)  # in place, like PyTorch's AccumulateGrad
                else:
                    node.grad = old + g
            continue
        parents = ctx.parents
        if g is None:  # no gradient reached this node: only release its parents
            input_grads = (None,) * len(parents)
        else:
            ctx.check_versions()
            input_grads = ctx.fn.backward(ctx, g)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if len(input_grads) != len(parents):
                raise RuntimeError(f"{ctx.fn.__name__}.backward returned {len(input_grads)} "
                                   f"gradients for {len(parents)} forward arguments (return "
                                   "None for arguments without a gradient)")
        for parent, pg in zip(parents, input_grads):
            if parent is None or not parent.requires_grad:
                continue
            key = id(parent)
            if pg is not None:
                if type(pg) is not np.ndarray:
                    pg = np.asarray(pg)
                pdata = parent.data
                if pg.shape != pdata.shape:
                    pg = unbroadcast(pg, pdata.shape)
                if pg.dtype != pdata.dtype:
                    pg = pg.astype(pdata.dtype)
                prev = grads.get(key)
                grads[key] = pg if prev is None else prev + pg
            left = pending[key] - 1
            pending[key] = left
            if left == 0:
                ready.append(parent)


def _count_consumers(root) -> dict:
    """For every node reachable from ``root``: how many graph edges lead into it (iterative)."""
    pending = {}
    stack = [root]
    while stack:
        ctx = stack.pop()._ctx
        if ctx is None:
            continue
        for parent in ctx.parents:
            if parent is not None and parent.requires_grad:
                key = id(parent)
                if key in pending:
                    pending[key] += 1
                else:
                    pending[key] = 1
                    stack.append(parent)
    return pending
