"""`Tensor`: an `np.ndarray` that remembers how it was made, so it can send gradients back.

Gradients follow PyTorch's rules:

* only leaves (tensors made by the user, not by an op) that have
  ``requires_grad=True`` keep a ``.grad`` after ``backward()``;
* a second ``backward()`` *adds* into ``.grad``, in place when it can (call
  ``zero_grad`` / set ``.grad = None`` to clear) — micrograd's "doubling" is
  PyTorch's accumulation;
* ``.grad`` is a plain ``np.ndarray`` with the tensor's shape and dtype.

In-place changes follow PyTorch's version counter: every tracked in-place
change (an optimizer step, ``nn.init``, ``load_state_dict``) adds one to
``t._version``; a Function remembers the version of each input whose array it
saved, and ``backward`` raises (naming the Function) if it changed since —
instead of returning gradients of values that are no longer there. Writing
through ``t.data`` (``t.data[0] = 10``, ``t.data -= ...``) is the escape hatch:
not tracked, exactly like PyTorch's ``.data``; use it only when no graph still
needs the old values.

Comparisons (``== != < <= > >=``) are elementwise and give boolean Tensors
without grad; ``bool(t)`` needs exactly one element (else RuntimeError, as in
PyTorch); tensors hash by identity (``t is u`` asks "the same tensor?").

``backward`` is reverse-mode automatic differentiation (Linnainmaa, 1970;
backpropagation: Rumelhart, Hinton & Williams, 1986), visiting the graph in
topological order with Kahn's algorithm (Kahn, 1962) — a loop, not recursion
(``engine.py``).
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
        elif arr.dtype.kind not in "biufc":
            raise TypeError(f"data must be numeric (bool, int or float), got dtype {arr.dtype} "
                            f"from {type(data).__name__}")
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
        self._version = 0  # bumped by every tracked in-place change (optimizer steps, load_state_dict)

    @classmethod
    def _from_array(cls, array: np.ndarray) -> "Tensor":
        """Wrap an ndarray as it is (no copy, no dtype change): the fast path ops use."""
        return cls(array, dtype=array.dtype)

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
        Iterative (no recursion), so arbitrarily deep graphs are fine. The loop is
        ``engine.run_backward``; this method checks ``grad``.
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

        _engine.run_backward(self, grad)

    # ----- operators (defined in ops.py, shape.py, reduce.py, activation.py; wired here) ----
    # (the arithmetic dunders call the Functions directly: they run for every op of every step)
    def __add__(self, other): return _ops.Add.apply(self, _ops._arg(other))
    def __radd__(self, other): return _ops.Add.apply(_ops._arg(other), self)
    def __sub__(self, other): return _ops.Sub.apply(self, _ops._arg(other))
    def __rsub__(self, other): return _ops.Sub.apply(_ops._arg(other), self)
    def __mul__(self, other): return _ops.Mul.apply(self, _ops._arg(other))
    def __rmul__(self, other): return _ops.Mul.apply(_ops._arg(other), self)
    def __truediv__(self, other): return _ops.Div.apply(self, _ops._arg(other))
    def __rtruediv__(self, other): return _ops.Div.apply(_ops._arg(other), self)
    def __neg__(self): return _ops.Neg.apply(self)
    def __pow__(self, exponent): return _ops.pow(self, exponent)
    def __rpow__(self, base): return _ops.pow(base, self)
    def __abs__(self): return _ops.abs(self)
    def __matmul__(self, other): return _linalg.matmul(self, other)
    def __rmatmul__(self, other): return _linalg.matmul(other, self)
    def __getitem__(self, index): return _shape.getitem(self, index)

    # ----- methods: PyTorch names; `dim=` is accepted wherever `axis=` is -------
    def matmul(self, other): return _linalg.matmul(self, other)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def clip(self, min=None, max=None): return _ops.clip(self, min, max)
    clamp = clip
    def relu(self): return _act.relu(self)
    def sigmoid(self): return _act.sigmoid(self)
    def tanh(self): return _act.tanh(self)
    def log_softmax(self, axis=-1, *, dim=None): return _act.log_softmax(self, axis, dim=dim)
    def softmax(self, axis=-1, *, dim=None): return _act.softmax(self, axis, dim=dim)

    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _reduce.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return _reduce.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Largest values (like ``torch.amax``: values only, no indices)."""
        return _reduce.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Smallest values (like ``torch.amin``: values only, no indices)."""
        return _reduce.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis=None, *, dim=None) -> np.ndarray:
        """Indices of the largest values (a plain integer array; no gradient)."""
        return self.data.argmax(axis=_reduce._axis(axis, dim))

    def reshape(self, *shape): return _shape.reshape(self, shape[0] if len(shape) == 1 else shape)
    view = reshape
    def transpose(self, dim0, dim1): return _shape.transpose(self, dim0, dim1)
    def permute(self, *dims): return _shape.permute(self, dims[0] if len(dims) == 1 else dims)
    def flatten(self, start_dim=0, end_dim=-1): return _shape.flatten(self, start_dim, end_dim)

    @property
    def T(self) -> "Tensor":
        """The tensor with its dimensions reversed (the matrix transpose for 2-D)."""
        return _shape.Permute.apply(self, tuple(range(self.data.ndim - 1, -1, -1)))

    # ----- comparisons: elementwise, as boolean Tensors without grad (PyTorch's rules) ----
    def __eq__(self, other): return _compare(np.equal, self, other)
    def __ne__(self, other): return _compare(np.not_equal, self, other)
    def __lt__(self, other): return _compare(np.less, self, other)
    def __le__(self, other): return _compare(np.less_equal, self, other)
    def __gt__(self, other): return _compare(np.greater, self, other)
    def __ge__(self, other): return _compare(np.greater_equal, self, other)

    # tensors are graph nodes: hashed by identity (dicts and sets of tensors still work;
    # use ``is`` to ask whether two names are the same tensor, ``==`` compares values)
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; more (or fewer) elements are ambiguous, as in PyTorch."""
        if self.data.size != 1:
            what = "more than one value" if self.data.size > 1 else "no values"
            raise RuntimeError(f"Boolean value of Tensor with {what} is ambiguous "
                               f"(shape {self.shape}); use .any() or .all()")
        return bool(self.data.item())

    def any(self) -> "Tensor":
        """Whether any element is nonzero: a one-element boolean Tensor (``if t.any():`` works)."""
        return Tensor(np.asarray(self.data.any()))

    def all(self) -> "Tensor":
        """Whether every element is nonzero: a one-element boolean Tensor."""
        return Tensor(np.asarray(self.data.all()))


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _compare(op, a: Tensor, other):
    """``op(a, other)`` elementwise as a boolean Tensor (no graph); non-numeric ``other``: not ours."""
    other = _raw(other)
    if not isinstance(other, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        return NotImplemented  # e.g. ``t == None`` falls back to identity: False
    return Tensor(op(a.data, other))


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


# the ops need Tensor defined first
from . import ops as _ops  # noqa: E402
from . import linalg as _linalg  # noqa: E402
from . import reduce as _reduce  # noqa: E402
from . import shape as _shape  # noqa: E402
from . import activation as _act  # noqa: E402
from . import engine as _engine  # noqa: E402
