"""Cross-layer equalization and high-bias absorption (Nagel et al., 2019, "Data-Free Quantization
Through Weight Equalization and Bias Correction", sections 4.1-4.2).

For ``y = W2 f(W1 x + b1)`` with ``f`` positively homogeneous (ReLU, or identity),
``f(x / s) = f(x) / s`` for ``s > 0``, so dividing output channel ``i`` of layer 1 by ``s_i``
and multiplying input channel ``i`` of layer 2 by ``s_i`` leaves the network unchanged. With
``r1_i = max|W1[i]|`` and ``r2_i = max|W2[:, i]|`` the choice

    s_i = sqrt(r1_i r2_i) / r2_i        (then both ranges become sqrt(r1_i r2_i))

makes the per-channel ranges of both layers equal, which is what a per-tensor quantizer needs.
Pairs: dense -> dense, dense -> depthwise, depthwise -> dense convs (depthwise: ``groups ==
channels``, input channel ``i`` = output channel ``i``).

ReLU6 is not homogeneous (its clip at 6 would move); ``relu6="clip"`` replaces each ReLU6 between
a pair by ``ChannelClip`` (``clip(x, 0, u_c)``, ``u_c = 6 / s_c`` after scaling: exact), and
``relu6="relu"`` by a plain ReLU (what Nagel et al. did for MobileNetV2; changes the float model).

High-bias absorption: if the pre-activation of channel ``i`` is ``>= c_i`` (``c = max(0, beta -
3 gamma)`` from the BatchNorm that was folded), then ``f(x - c) = f(x) - c`` and ``c`` moves to
the next layer's bias: ``b1 -= c``, ``b2 += W2 c`` (summed over the kernel).
"""
from __future__ import annotations

import copy

import numpy as np

from ..nn.containers import Sequential
from ..nn.layers import BatchNorm2d, Conv2d, Identity, ReLU, ReLU6
from ..nn.module import Module, Parameter
from .ptq import _replace, fuse_modules
from ..validate import check_choice, check_int

__all__ = ["ChannelClip", "equalization_scales", "equalize_pair", "find_pairs", "equalize",
           "absorb_high_bias"]


class ChannelClip(Module):
    """``y = clip(x, 0, upper[c])`` per channel of an NCHW input: a ReLU6 after equalization."""

    def __init__(self, upper):
        super().__init__()
        self.register_buffer("upper", np.asarray(upper, np.float32).copy())

    def forward(self, x):
        return x.clip(0.0, self.upper.reshape(1, -1, 1, 1))

    def extra_repr(self) -> str:
        return f"channels={self.upper.size}"


_PASS = (Identity, ReLU, ReLU6, ChannelClip)  # modules allowed between the two layers of a pair


def _is_depthwise(conv: Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels


def _check_pair(conv1, conv2) -> None:
    for name, c in (("conv1", conv1), ("conv2", conv2)):
        if not isinstance(c, Conv2d):
            raise TypeError(f"{name} must be a Conv2d, got {type(c).__name__}")
        if c.groups != 1 and not _is_depthwise(c):
            raise ValueError(f"{name} must be a dense (groups=1) or depthwise conv, got groups={c.groups}")
    if conv1.out_channels != conv2.in_channels:
        raise ValueError(f"the pair does not chain: conv1 has {conv1.out_channels} output channels but "
                         f"conv2 takes {conv2.in_channels} input channels")


def _ranges(conv1, conv2):
    w1, w2 = conv1.weight.data.astype(np.float64), conv2.weight.data.astype(np.float64)
    r1 = np.abs(w1).reshape(w1.shape[0], -1).max(axis=1)
    if _is_depthwise(conv2):
        r2 = np.abs(w2).reshape(w2.shape[0], -1).max(axis=1)
    else:
        r2 = np.abs(w2).transpose(1, 0, 2, 3).reshape(w2.shape[1], -1).max(axis=1)
    return r1, r2


def equalization_scales(r1, r2) -> np.ndarray:
    """``s_i = sqrt(r1_i r2_i) / r2_i`` (1 where either range is 0: nothing to balance). Shapes ``(C,)``."""
    r1, r2 = np.asarray(r1, np.float64), np.asarray(r2, np.float64)
    ok = (r1 > 0) & (r2 > 0)
    return np.where(ok, np.sqrt(np.where(ok, r1 * r2, 1.0)) / np.where(ok, r2, 1.0), 1.0)


def equalize_pair(conv1: Conv2d, conv2: Conv2d) -> np.ndarray:
    """Equalize ``conv1 -> f -> conv2`` in place; return ``s`` (``(C,)``): ``W1[i] /= s_i``,
    ``b1[i] /= s_i``, ``W2[:, i] *= s_i`` (``W2[i] *= s_i`` when ``conv2`` is depthwise)."""
    _check_pair(conv1, conv2)
    s = equalization_scales(*_ranges(conv1, conv2))
    conv1.weight = Parameter((conv1.weight.data / s.reshape(-1, 1, 1, 1)).astype(np.float32))
    if conv1.bias is not None:
        conv1.bias = Parameter((conv1.bias.data / s).astype(np.float32))
    shape = (-1, 1, 1, 1) if _is_depthwise(conv2) else (1, -1, 1, 1)
    conv2.weight = Parameter((conv2.weight.data * s.reshape(shape)).astype(np.float32))
    return s


def _chains(module: Module, prefix: str = ""):
    """Leaf sequences ``[(name, module), ...]`` that run in order: the leaves of each Sequential tree."""
    def pure(m):
        return all(isinstance(c, Sequential) and pure(c) or not c._modules for c in m._modules.values())

    if isinstance(module, Sequential) and pure(module):
        yield [(n, m) for n, m in module.named_modules(prefix.rstrip(".")) if not m._modules]
        return
    for name, child in module._modules.items():
        if child is not None:
            yield from _chains(child, f"{prefix}{name}.")


def find_pairs(model: Module):
    """``[(name1, name2, [names of the modules between]), ...]``: consecutive Conv2d layers of a
    Sequential chain with only Identity / BatchNorm / ReLU / ReLU6 / ChannelClip between them and chaining shapes."""
    pairs = []
    for chain in _chains(model):
        for i, (n1, m1) in enumerate(chain):
            if not isinstance(m1, Conv2d):
                continue
            between = []
            for n2, m2 in chain[i + 1:]:
                if isinstance(m2, Conv2d):
                    if m1.out_channels == m2.in_channels and all(
                            c.groups == 1 or _is_depthwise(c) for c in (m1, m2)):
                        pairs.append((n1, n2, between))
                    break
                if not isinstance(m2, (*_PASS, BatchNorm2d)):
                    break
                between.append(n2)
    return pairs


def _parent(model, name):
    *path, leaf = name.split(".")
    m = model
    for p in path:
        m = m._modules[p]
    return m, leaf


def _bn_shift(model):
    """``{conv name: max(0, beta - 3 |gamma|)}`` for each Conv2d followed by a BatchNorm2d."""
    out = {}
    for chain in _chains(model):
        for (n1, m1), (_, m2) in zip(chain, chain[1:]):
            if isinstance(m1, Conv2d) and isinstance(m2, BatchNorm2d) and m2.weight is not None:
                beta, gamma = m2.bias.data.astype(np.float64), np.abs(m2.weight.data.astype(np.float64))
                out[n1] = np.maximum(0.0, beta - 3 * gamma)
    return out


def equalize(model: Module, relu6: str = "clip", iterations: int = 1, absorb_bias: bool = False) -> Module:
    """A BN-folded copy of ``model`` with every ``find_pairs`` pair equalized ``iterations`` times
    (pairs in order), ReLU6s between pairs handled per ``relu6`` ("clip" exact, "relu" as the paper);
    ``absorb_bias=True`` then absorbs high biases (needs the model's BatchNorms, before folding)."""
    relu6 = check_choice(relu6, "relu6", ("clip", "relu"))
    iterations = check_int(iterations, "iterations", lo=1)
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    shifts = _bn_shift(model)
    fused = fuse_modules(model)
    pairs = find_pairs(fused)
    if not pairs:
        raise ValueError("model has no Conv2d -> (ReLU/ReLU6/Identity) -> Conv2d pair to equalize")
    mods = dict(fused.named_modules())
    total = {}
    for n1, n2, between in pairs:  # ReLU6 -> ChannelClip (upper bound 6) before scaling
        for b in between:
            if isinstance(mods[b], ReLU6):
                new = ChannelClip(np.full(mods[n1].out_channels, 6.0)) if relu6 == "clip" else ReLU()
                _replace(*_parent(fused, b), new)
                mods[b] = new
        total[n1] = np.ones(mods[n1].out_channels)
    for _ in range(iterations):
        for n1, n2, between in pairs:
            s = equalize_pair(mods[n1], mods[n2])
            total[n1] = total[n1] * s
            for b in between:
                if isinstance(mods[b], ChannelClip):
                    mods[b].upper = (mods[b].upper / s).astype(np.float32)
    if absorb_bias:
        for n1, n2, between in pairs:
            if n1 in shifts:
                absorb_high_bias(mods[n1], mods[n2], shifts[n1] / total[n1], [mods[b] for b in between])
    return fused


def absorb_high_bias(conv1: Conv2d, conv2: Conv2d, c, between=()) -> None:
    """In place: ``b1 -= c``, ``b2 += W2 c`` (kernel summed), ``ChannelClip.upper -= c`` for a
    pair whose pre-activation satisfies ``x >= c`` (so ``f(x - c) = f(x) - c``). ``c``: ``(C,)``, >= 0.
    Skipped when ``conv1`` has no bias or ``conv2`` zero-pads a k > 1 kernel (the padding stays 0)."""
    _check_pair(conv1, conv2)
    c = np.asarray(c, np.float64)
    if c.shape != (conv1.out_channels,) or (c < 0).any():
        raise ValueError(f"c must be {conv1.out_channels} non-negative values, got shape {c.shape}")
    if conv1.bias is None or (conv2.padding != (0, 0) and conv2.kernel_size != (1, 1)):
        return  # zero padding is not shifted by c: the absorption would be wrong at the borders
    conv1.bias = Parameter((conv1.bias.data - c).astype(np.float32))
    w2 = conv2.weight.data.astype(np.float64)
    shift = w2.sum(axis=(1, 2, 3)) * c if _is_depthwise(conv2) else w2.sum(axis=(2, 3)) @ c
    b2 = conv2.bias.data if conv2.bias is not None else np.zeros(conv2.out_channels, np.float32)
    conv2.bias = Parameter((b2 + shift).astype(np.float32))
    for m in between:
        if isinstance(m, ChannelClip):
            m.upper = (m.upper - c).astype(np.float32)
