"""Elementwise arithmetic: each op's forward and backward side by side.

Gradients may come back in the broadcast shape; the engine reduces them
(`tensor.unbroadcast`). Derived ops reuse primitives where it costs nothing.
"""
from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class Add(Function):
    "$f(x, y) = x + y$"
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    "$f(x, y) = x - y$"
    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    "$f(x, y) = x y$"
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y, grad * x


class Div(Function):
    "$f(x, y) = x / y$"
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad / y, -grad * x / (y * y)


class Neg(Function):
    "$f(x) = -x$"
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


def add(x, y) -> Tensor: return Add.apply(_tensor(x), _tensor(y))
def sub(x, y) -> Tensor: return Sub.apply(_tensor(x), _tensor(y))
def mul(x, y) -> Tensor: return Mul.apply(_tensor(x), _tensor(y))
def div(x, y) -> Tensor: return Div.apply(_tensor(x), _tensor(y))
def neg(x) -> Tensor: return Neg.apply(_tensor(x))
