"""Shape ops: reshape, transpose, permute, flatten, indexing, concat, stack.

None of them changes a value, so every backward just moves the gradient back
to where the value came from (indexing *adds*, so repeated indices accumulate).
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .ops import _array_arg
from .tensor import Tensor


# ----- reshape / flatten ----------------------------------------------------------------
class Reshape(Function):
    "$y = $ x with a new shape (a view);  $\\partial x = $ grad reshaped back"
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


def reshape(x, shape) -> Tensor:
    """``x`` with shape ``shape`` (one entry may be -1), like ``torch.reshape``."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"reshape: shape must be ints, got {shape!r}")
    x = _array_arg(x)
    try:
        return Reshape.apply(x, shape)
    except ValueError:
        old = x.shape
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old} ({int(np.prod(old))} "
                         f"elements) into shape {shape}") from None


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one, like ``torch.flatten``."""
    shape = _array_arg(x).shape
    nd = len(shape)
    if nd == 0:
        return reshape(x, (1,))
    s = start_dim + nd if start_dim < 0 else start_dim
    e = end_dim + nd if end_dim < 0 else end_dim
    if not (0 <= s < nd and 0 <= e < nd and s <= e):
        raise ValueError(f"flatten: start_dim={start_dim}, end_dim={end_dim} must be dims of a "
                         f"{nd}-D tensor with start_dim <= end_dim")
    return reshape(x, shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


# ----- transpose / permute -----------------------------------------------------------------
class Permute(Function):
    "$y = $ x with its axes reordered by ``dims`` (a view);  $\\partial x = $ grad with the inverse order"
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return grad.transpose(inverse), None


def permute(x, dims) -> Tensor:
    """Reorder the axes: output axis i is input axis ``dims[i]``, like ``torch.permute``."""
    x = _array_arg(x)
    nd = len(x.shape)
    dims = tuple(int(d) + nd if int(d) < 0 else int(d) for d in dims)
    if sorted(dims) != list(range(nd)):
        raise ValueError(f"permute: dims must be a permutation of 0..{nd - 1}, got {dims}")
    return Permute.apply(x, dims)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    """Swap axes ``dim0`` and ``dim1``, like ``torch.transpose``."""
    x = _array_arg(x)
    nd = len(x.shape)
    for name, d in (("dim0", dim0), ("dim1", dim1)):
        if not -nd <= d < max(nd, 1):
            raise ValueError(f"transpose: {name}={d} is out of range for a {nd}-D tensor")
    dims = list(range(nd))
    if nd:
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, tuple(dims))


# ----- indexing ----------------------------------------------------------------------------------
def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis only (no element can be picked twice)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))
               for i in items)


class GetItem(Function):
    "$y = x[index]$ (numpy indexing);  $\\partial x$ = zeros with grad *added* at index (np.add.at)"
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        g = np.zeros(ctx.shape, dtype=grad.dtype)
        if _is_basic(ctx.index):
            g[ctx.index] = grad
        else:
            np.add.at(g, ctx.index, grad)  # repeated indices accumulate
        return g, None


def getitem(x, index) -> Tensor:
    """``x[index]`` with numpy's basic and advanced (integer / boolean array) indexing."""
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray(index)
    return GetItem.apply(_array_arg(x), index)


# ----- concat / stack -------------------------------------------------------------------------
def _check_seq(name: str, tensors) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: tensors must be a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError(f"{name}: tensors must be a non-empty sequence, got an empty one")
    return [_array_arg(t) for t in tensors]


class Concat(Function):
    "$y = [x_1; x_2; ...]$ along ``axis``;  $\\partial x_i$ = the matching slice of grad"
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.splits = np.cumsum([np.shape(x)[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.axis))


def concat(tensors, axis: int = 0, *, dim=None) -> Tensor:
    """Join tensors along an existing ``axis``, like ``torch.cat``."""
    xs = _check_seq("concat", tensors)
    axis = axis if dim is None else dim
    shapes = [x.shape for x in xs]
    nd = len(shapes[0])
    if nd == 0 or not -nd <= axis < nd:
        raise ValueError(f"concat: axis={axis} is out of range for tensors of shape {shapes[0]}")
    ax = axis % nd
    if any(len(s) != nd or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:] for s in shapes):
        raise ValueError(f"concat: shapes must match except along axis {axis}, got {shapes}")
    return Concat.apply(*xs, axis=ax)


class Stack(Function):
    "$y = $ the tensors stacked along a new ``axis``;  $\\partial x_i = grad[..., i, ...]$"
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))


def stack(tensors, axis: int = 0, *, dim=None) -> Tensor:
    """Join same-shape tensors along a new ``axis``, like ``torch.stack``."""
    xs = _check_seq("stack", tensors)
    axis = axis if dim is None else dim
    shapes = [x.shape for x in xs]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
    nd = len(shapes[0]) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis={axis} is out of range for {nd - 1}-D tensors")
    return Stack.apply(*xs, axis=axis % nd)
