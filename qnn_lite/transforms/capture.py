"""Find, swap and listen to a model's Linear layers: what GPTQ, AWQ and SmoothQuant calibrate on.

``linear_names(model)`` lists the dotted names of the ``nn.Linear`` layers (for TinyGPT: the
four per block, ``h.0.attn.c_attn`` ... ``h.3.mlp.c_proj``; the tied output head is not a Linear).
``capture_inputs(model, names, run)`` calls ``run(model)`` once with each named Linear wrapped by a
recorder and returns every input it saw as a 2-D array ``(tokens, in_features)``.
``ActQuantLinear`` puts a function on a Linear's input (fake quantization of activations).
"""
from __future__ import annotations

import numpy as np

from ..autograd.linear import linear
from ..autograd.tensor import Tensor
from ..nn.layers import Linear
from ..nn.module import Module


def linear_names(model: Module) -> list[str]:
    """Dotted names of every ``Linear`` in ``model``, in registration order."""
    return [n for n, m in model.named_modules() if isinstance(m, Linear)]


def get_module(model: Module, name: str) -> Module:
    """The sub-module at dotted ``name`` (``'h.0.attn.c_attn'``)."""
    m = model
    for part in name.split("."):
        if part not in m._modules:
            raise ValueError(f"{type(model).__name__} has no sub-module {name!r} (no {part!r} in "
                             f"{type(m).__name__}: {list(m._modules)})")
        m = m._modules[part]
    return m


def set_module(model: Module, name: str, new: Module) -> None:
    """Replace the sub-module at dotted ``name`` by ``new``."""
    parent, _, last = name.rpartition(".")
    setattr(get_module(model, parent) if parent else model, last, new)


class _Recorder(Module):
    def __init__(self, inner: Linear, store: list):
        super().__init__()
        self.inner, self.store = inner, store

    def forward(self, x):
        self.store.append(np.asarray(x.data if isinstance(x, Tensor) else x).reshape(-1, x.shape[-1]).copy())
        return self.inner(x)


def capture_inputs(model: Module, names, run) -> dict[str, np.ndarray]:
    """``{name: inputs (tokens, in_features)}`` seen by each named Linear while ``run(model)`` runs."""
    stores = {n: [] for n in names}
    originals = {n: get_module(model, n) for n in names}
    for n, m in originals.items():
        if not isinstance(m, Linear):
            raise TypeError(f"{n!r} must name a Linear, got {type(m).__name__}")
        set_module(model, n, _Recorder(m, stores[n]))
    try:
        run(model)
    finally:
        for n, m in originals.items():
            set_module(model, n, m)
    return {n: np.concatenate(s) for n, s in stores.items() if s}


class ActQuantLinear(Module):
    """``linear(act_quant(x), weight, bias)``: a Linear whose input is fake-quantized (inference)."""

    def __init__(self, inner: Linear, act_quant):
        super().__init__()
        if not callable(act_quant):
            raise TypeError(f"act_quant must be callable, got {type(act_quant).__name__}")
        self.inner, self.act_quant = inner, act_quant
        self.in_features, self.out_features = inner.in_features, inner.out_features

    @property
    def weight(self):
        return self.inner.weight

    @property
    def bias(self):
        return self.inner.bias

    def forward(self, x):
        xq = Tensor(self.act_quant(x.data if isinstance(x, Tensor) else np.asarray(x)))
        return linear(xq, self.inner.weight, self.inner.bias)
