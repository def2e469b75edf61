"""`Tensor`: an `np.ndarray` that remembers how it was made, so it can send gradients back.

Gradients follow PyTorch's rules:

* only leaves (tensors made by the user, not by an op) that have
  ``requires_grad=True`` keep a ``.grad`` after ``backward()``;
* a second ``backward()`` *adds* into ``.grad`` (call ``zero_grad`` / set
  ``.grad = None`` to clear) — micrograd's "doubling" is PyTorch's accumulation;
* ``.grad`` is a plain ``np.ndarray`` with the tensor's shape and dtype.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

_GRAD_ENABLED = True


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block."""
    return _GRAD_ENABLED


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: ops inside record no graph (for evaluation and optimizer steps)."""
    global _GRAD_ENABLED
    previous, _GRAD_ENABLED = _GRAD_ENABLED, False
    try:
        yield
    finally:
        _GRAD_ENABLED = previous


def _as_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        arr = np.asarray(data)
        # float32 by default, like torch.tensor of Python floats; keep other floats/ints/bools.
        if arr.dtype == np.float64 or arr.dtype.kind in "iu" and not isinstance(data, np.ndarray):
            arr = arr.astype(np.float32)
        elif arr.dtype.kind == "O":
            raise TypeError(f"data must be numeric, got an object array from {type(data).__name__}")
        return arr
    return np.asarray(data, dtype=dtype)


class Tensor:
    """A numpy array with ``requires_grad``, ``.grad`` and ``.backward()``.

    ``Tensor(data)`` stores Python numbers and float64 arrays as float32 (PyTorch's
    default dtype); integer and float32 numpy arrays keep their dtype unless
    ``dtype=`` is given.
    """

    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data: np.ndarray = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad needs a floating dtype, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._ctx = None  # the Context of the Function that made this tensor (None for leaves)

    # ----- basic properties -------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        return f"Tensor({body}{extra})"

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), like ``t.detach().numpy()``."""
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """A new leaf sharing the data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = bool(flag)
        return self

    # ----- backward -----------------------------------------------------------
    def backward(self, grad=None) -> None:
        """Send ``grad`` (default 1 for a one-element tensor) back through the graph.

        Visits the graph in reverse topological order, calling each Function's
        ``backward`` once, and *adds* the results into the leaves' ``.grad``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"grad can be omitted only for one-element outputs, got shape {self.shape}")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"grad must have the output's shape {self.shape}, got {grad.shape}")

        order = _topological_order(self)
        grads = {id(self): grad}
        for node in order:  # outputs before inputs
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._ctx is None:
                if node.requires_grad:
                    node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            ctx = node._ctx
            input_grads = ctx.fn.backward(ctx, g)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for parent, pg in zip(ctx.parents, input_grads):
                if parent is None or pg is None or not parent.requires_grad:
                    continue
                pg = unbroadcast(np.asarray(pg), parent.shape).astype(parent.dtype, copy=False)
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    # ----- operators (defined in ops.py, wired here) --------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pow__(self, exponent): return _ops.pow(self, exponent)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __getitem__(self, index): return _ops.getitem(self, index)

    # comparisons give plain boolean arrays (no gradient flows through them)
    def __lt__(self, other): return self.data < _raw(other)
    def __le__(self, other): return self.data <= _raw(other)
    def __gt__(self, other): return self.data > _raw(other)
    def __ge__(self, other): return self.data >= _raw(other)

    __hash__ = object.__hash__  # tensors are graph nodes, hashed by identity


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root: Tensor) -> list:
    """Nodes reachable from ``root``, each after every node that uses it (iterative DFS)."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.parents:
                if parent is not None and parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
    order.reverse()
    return order


from . import ops as _ops  # noqa: E402  (ops need Tensor defined first)
