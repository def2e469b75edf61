"""Fake-binary model in, XNOR-popcount model out: every ``BinaryConv2d`` runs on the binary kernel.

A trained :class:`~qnn_lite.transforms.bnn.BinaryConv2d` multiplies $\\mathrm{sign}(x)$ with a weight
$Q(W) = s_o\\,B$, $B \\in \\{-1, +1\\}$, one scale $s_o$ per output channel (XNOR-Net's $\\alpha$,
IR-Net's power of two, or 1 for plain sign). :class:`XnorConv2d` computes the same output as

$$y_o = s_o \\cdot \\mathrm{conv}(\\mathrm{sign}(x), B)_o + b_o,$$

with the integer convolution done by :func:`~qnn_lite.kernels.bgemm.binary_conv2d`
($a \\cdot b = k - 2\\,\\mathrm{popcount}(a \\oplus b)$; Rastegari et al., 2016) and the scale applied
once per output. :func:`to_xnor` returns a copy of a model with every ``BinaryConv2d`` replaced;
the rest (BN, shortcuts, pooling, float layers) runs unchanged, so predictions agree with the
fake-binary model (bit for bit when $s_o$ is a power of two). Inference only: NCHW in, NCHW out.
"""
from __future__ import annotations

import copy

import numpy as np

from ..autograd.tensor import Tensor
from ..kernels.bgemm import binary_conv2d
from ..nn.module import Module
from .bnn import BinaryConv2d
from .capture import set_module

__all__ = ["binary_weight_factors", "XnorConv2d", "to_xnor"]


def binary_weight_factors(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a binary weight ``q`` ``(O, ...)`` into ``(signs int8 ±1, scale (O,) float)`` with ``q = scale * signs``.

    Raises ``ValueError`` if a channel holds more than one magnitude (the weight is not binary per channel).
    """
    q = np.asarray(q)
    if q.ndim < 2 or not np.isfinite(q).all():
        raise ValueError(f"q must be a finite weight of shape (out, ...), got shape {q.shape}")
    flat = q.reshape(q.shape[0], -1)
    scale = np.abs(flat).max(axis=1)
    signs = np.where(flat >= 0, 1, -1).astype(np.int8)
    if not np.array_equal(flat, (scale[:, None] * signs).astype(q.dtype)):
        bad = int(np.flatnonzero((np.abs(flat) != scale[:, None]).any(axis=1) & (scale > 0))[0])
        raise ValueError(f"q is not binary per output channel: channel {bad} has magnitudes "
                         f"{np.unique(np.abs(flat[bad]))[:4]} (need one value s, q = ±s)")
    return signs.reshape(q.shape), scale.astype(q.dtype)


class XnorConv2d(Module):
    """$y = s \\cdot \\mathrm{binary\\_conv2d}(\\mathrm{sign}(x), B) + b$: a trained ``BinaryConv2d`` on the XNOR-popcount kernel."""

    def __init__(self, conv: BinaryConv2d):
        super().__init__()
        if not isinstance(conv, BinaryConv2d):
            raise TypeError(f"conv must be a BinaryConv2d, got {type(conv).__name__}")
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise ValueError(f"XnorConv2d supports groups=1, dilation=1, got groups={conv.groups}, "
                             f"dilation={conv.dilation}")
        self.signs, self.scale = binary_weight_factors(conv.quantized_weight().data)
        self.bias_data = None if conv.bias is None else conv.bias.data.copy()
        self.stride, self.padding = conv.stride, conv.padding

    def forward(self, x):
        x = x.data if isinstance(x, Tensor) else np.asarray(x)
        acc = binary_conv2d(x, self.signs, self.stride, self.padding)          # int32, exact
        y = acc.astype(self.scale.dtype) * self.scale[None, :, None, None]
        if self.bias_data is not None:
            y = y + self.bias_data[None, :, None, None]
        return Tensor(y)

    def extra_repr(self) -> str:
        o, c, kh, kw = self.signs.shape
        return f"{c}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


def to_xnor(model: Module) -> Module:
    """A deep copy of ``model`` in eval mode with every ``BinaryConv2d`` replaced by :class:`XnorConv2d`."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a qnn_lite Module, got {type(model).__name__}")
    out = copy.deepcopy(model).eval()
    names = [n for n, m in out.named_modules() if isinstance(m, BinaryConv2d)]
    if not names:
        raise ValueError("model has no BinaryConv2d to run on the XNOR kernel")
    for name in names:
        set_module(out, name, XnorConv2d(_get(out, name)))
    return out


def _get(model, name):
    return dict(model.named_modules())[name]
