"""The backward pass: reverse-mode differentiation over the recorded graph, in topological order.

``Tensor.backward`` checks its arguments and calls ``run_backward``. Every node
runs its Function's ``backward`` once, after every node that used it has sent
its gradient back (Kahn, 1962: a counter of pending consumers per node, a loop,
not recursion); gradients arriving at the same node from several consumers are
added. Leaves with ``requires_grad`` keep the sum in ``.grad``: the first time
as the array itself when nothing else can see it, else as a private copy, and
later by an in-place add (PyTorch's AccumulateGrad).
"""
from __future__ import annotations

import sys

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
                if old is None:  # adopt g if nothing else can reach its memory, else keep a copy
                    sole = type(g) is np.ndarray and g.flags.owndata and _refs(g) == _SOLE_REFS
                    node.grad = g if sole else g.copy()
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
        input_grads = pg = None  # drop our references, so a leaf can adopt its gradient


def _refs(a) -> int:
    return sys.getrefcount(a)


def _calibrate_refs() -> int:
    a = np.empty(0)  # held by this one local variable only, as the engine holds ``g``
    return _refs(a)


# What ``_refs(g)`` reports when only the engine's local ``g`` refers to ``g`` (measured, not
# assumed: the count depends on the interpreter). A leaf may then adopt ``g`` as its ``.grad``
# without a copy, as PyTorch's AccumulateGrad does when the tensor's use count allows: any
# other holder (another node's pending gradient, a view, a saved tensor, the user) adds one.
_SOLE_REFS = _calibrate_refs()


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
