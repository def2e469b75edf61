"""Reductions: sum, mean, max, min — each sends its gradient back by broadcasting.

``axis`` is None (all axes), an int or a tuple of ints; ``dim=`` / ``keepdim=`` are
accepted as PyTorch spellings of ``axis=`` / ``keepdims=``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .function import Function
from .ops import _array_arg
from .tensor import Tensor


def _axis(axis, dim):
    """Merge ``axis`` and its PyTorch alias ``dim``; check it is None, an int or ints."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"pass either axis or dim, not both (got axis={axis!r}, dim={dim!r})")
        axis = dim
    if axis is None or isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, (tuple, list)) and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
        return tuple(axis)
    raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")


def _keepdims(keepdims, keepdim):
    return bool(keepdims if keepdim is None else keepdim)


def _axes(axis, ndim: int) -> tuple:
    """``axis`` as a sorted tuple of non-negative ints (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim, "axis")))


def _expand(grad: np.ndarray, axes: tuple, keepdims: bool, shape: tuple) -> np.ndarray:
    """Put the reduced axes back into ``grad`` and broadcast it to ``shape`` (a view, no copy)."""
    if not keepdims and axes:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


class Sum(Function):
    r"$y = \sum_{i \in axes} x_i$;  $\partial x = $ grad broadcast over the summed axes"
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.axes, ctx.keepdims, ctx.shape = axes, keepdims, x.shape
        return np.add.reduce(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad, ctx.axes, ctx.keepdims, ctx.shape), None, None


class Mean(Function):
    r"$y = \frac{1}{n} \sum_{i \in axes} x_i$;  $\partial x = $ grad / n broadcast"
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.axes, ctx.keepdims, ctx.shape = axes, keepdims, x.shape
        n = 1
        for a in axes:
            n *= x.shape[a]
        ctx.n = n
        return np.add.reduce(x, axis=axes, keepdims=keepdims) / n  # what np.mean computes

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad / ctx.n, ctx.axes, ctx.keepdims, ctx.shape), None, None


class Max(Function):
    r"$y = \max_{i \in axes} x_i$; the gradient is split evenly among tied maxima (like torch.amax)"
    @staticmethod
    def forward(ctx, x, axes, keepdims, reducer=np.maximum.reduce):
        out = reducer(x, axis=axes, keepdims=True)
        ctx.axes, ctx.keepdims = axes, keepdims
        ctx.save_for_backward(x, out)
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        mask = x == out
        count = mask.sum(axis=ctx.axes, keepdims=True)
        g = grad if ctx.keepdims else np.expand_dims(grad, ctx.axes)
        return (g / count) * mask, None, None


def _reduce(fn, x, axis, keepdims, dim, keepdim, **kwargs) -> Tensor:
    x = _array_arg(x)
    axes = _axes(_axis(axis, dim), x.ndim)
    return fn.apply(x, axes, _keepdims(keepdims, keepdim), **kwargs)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes when None); shapes as ``np.sum``."""
    return _reduce(Sum, x, axis, keepdims, dim, keepdim)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    """Mean over ``axis`` (all axes when None); shapes as ``np.mean``."""
    return _reduce(Mean, x, axis, keepdims, dim, keepdim)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Largest value over ``axis`` (like ``torch.amax``: values only).

    Tie rule: when k entries share the maximum, each gets grad / k (torch.amax does the same).
    """
    return _reduce(Max, x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Smallest value over ``axis`` (like ``torch.amin``); ties share the gradient evenly."""
    return _reduce(Max, x, axis, keepdims, dim, keepdim, reducer=np.minimum.reduce)
