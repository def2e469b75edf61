"""`FakeQuantize` modules and `QConfig`: an observer and ``fake_quantize`` in one layer.

A fake-quant module sits where a tensor will be quantized at inference. Its forward

    if observer_enabled:   observer(x)                            # record statistics
    if fake_quant_enabled: y = fake_quantize(x, s, z, quant_min, quant_max)  # s, z = observer.calculate_qparams()

is ``torch.ao.quantization.FakeQuantize`` (Jacob et al., 2018): observe, then quantize and
dequantize with the current qparams; the backward is the straight-through estimator of
``uniform.fake_quantize``. Two flags switch the halves on and off:

* PTQ calibration: observer on, fake quant off (``prepare``); ``freeze()`` then computes
  the qparams once and turns fake quant on (``convert``).
* QAT: both on (``prepare_qat``); the qparams follow the data.

The qparams are recomputed lazily: only when fake quant needs them after new data was seen,
so calibrating with an expensive observer (MSE, histogram) costs one search, not one per batch.

A ``QConfig(weight=..., activation=...)`` holds two zero-argument factories that build such
modules; ``FakeQuantize.with_args(...)`` (or ``functools.partial``) makes a factory. Any quantizer
Module derived from ``FakeQuantizeBase`` plugs in the same way: the learned ones (``LSQQuantizer``,
``PACT``, whose scale / clip are Parameters) and DoReFa's; see ``lsq_qconfig``, ``pact_qconfig``,
``dorefa_qconfig``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.module import Module
from ..quantizers.observers import (MinMaxObserver, MovingAverageMinMaxObserver, ObserverBase,
                                    PerChannelMinMaxObserver)
from ..quantizers.base import FakeQuantizeBase
from ..quantizers.learned import PACT, DoReFaActQuantizer, DoReFaGradQuantizer, DoReFaWeightQuantizer
from ..quantizers.lsq import LSQQuantizer
from ..quantizers.uniform import fake_quantize
from ..validate import check_bits

__all__ = ["FakeQuantize", "QConfig", "default_qconfig", "default_qat_qconfig",
           "lsq_qconfig", "pact_qconfig", "dorefa_qconfig", "enable_observer", "disable_observer", "enable_fake_quant",
           "disable_fake_quant", "freeze"]


class FakeQuantize(FakeQuantizeBase):
    """``y = fake_quantize(x, s, z, quant_min, quant_max, ch_axis)`` with ``(s, z)`` from ``observer`` (Jacob et al., 2018).

    ``FakeQuantize(observer=MovingAverageMinMaxObserver, **observer_kwargs)``: the observer is
    built as ``observer(**observer_kwargs)`` (e.g. ``bits=4, signed=True, symmetric=True``;
    ``ch_axis=0`` for a per-channel observer, which makes the fake quant per channel along that
    axis). Buffers ``scale`` (float32) and ``zero_point`` (int64), shape ``()`` or ``(C,)``.
    Shapes: ``y.shape == x.shape``.
    """

    def __init__(self, observer=MovingAverageMinMaxObserver, **observer_kwargs):
        super().__init__()
        if not callable(observer):
            raise TypeError(f"observer must be an observer class or factory, got {observer!r}")
        obs = observer(**observer_kwargs)
        if not isinstance(obs, ObserverBase):
            raise TypeError(f"observer must build an ObserverBase, got {type(obs).__name__}")
        self.activation_post_process = obs  # torch's name for the observer
        self.ch_axis = getattr(obs, "ch_axis", None)
        self.quant_min, self.quant_max = obs.quant_min, obs.quant_max
        self.register_buffer("scale", np.array(1.0, np.float32))
        self.register_buffer("zero_point", np.array(0, np.int64))
        self._stale = False  # new data seen since the qparams were last computed

    @property
    def observer(self) -> ObserverBase:
        return self.activation_post_process

    def calculate_qparams(self):
        return self.observer.calculate_qparams()

    def _refresh(self) -> None:
        if self._stale:
            s, z = self.observer.calculate_qparams()
            self.scale, self.zero_point = np.asarray(s, np.float32), np.asarray(z, np.int64)
            self._stale = False

    def freeze(self) -> "FakeQuantize":
        if self.observer_enabled:  # recompute from everything observed (warns if nothing was)
            self._stale = True
        self._refresh()
        return super().freeze()

    def qparams(self):
        self._refresh()
        return self.scale, self.zero_point, self.quant_min, self.quant_max, self.ch_axis

    def forward(self, x):
        if self.observer_enabled:
            self.observer(x.data if isinstance(x, Tensor) else x)
            self._stale = True
        if not self.fake_quant_enabled:
            return x
        self._refresh()
        return fake_quantize(x if isinstance(x, Tensor) else Tensor(x), self.scale, self.zero_point,
                             self.quant_min, self.quant_max, self.ch_axis)

    def extra_repr(self) -> str:
        return (f"{type(self.observer).__name__}, qrange=({self.quant_min}, {self.quant_max}), ch_axis={self.ch_axis}, "
                f"observer_enabled={self.observer_enabled}, fake_quant_enabled={self.fake_quant_enabled}")


# ----- QConfig -----------------------------------------------------------------------------
@dataclass(frozen=True)
class QConfig:
    """How to quantize a layer: ``weight()`` and ``activation()`` each build a fresh fake-quant module.

    Both are zero-argument factories, e.g. ``FakeQuantize.with_args(observer=..., bits=4)`` or
    ``functools.partial(FakeQuantize, ...)``. ``activation`` quantizes a layer's output (and
    the model input); ``weight`` the layer's weight. ``None`` leaves that tensor in float.
    ``input_activation`` (default ``None``: no extra quantizer) quantizes the layer's *input*
    inside the layer, so each layer can read its input at its own bit-width (mixed precision,
    where a layer's cost depends on the bits of the operands it multiplies; Wang et al., 2019, HAQ).
    ``grad`` (default ``None``) builds a module applied to the layer's output before ``activation``
    whose forward is the identity and whose backward quantizes the gradient (DoReFa's G bits).
    """
    weight: Callable | None = None
    activation: Callable | None = None
    input_activation: Callable | None = None
    grad: Callable | None = None

    def __post_init__(self):
        for name in ("weight", "activation", "input_activation", "grad"):
            f = getattr(self, name)
            if f is not None and not callable(f):
                raise TypeError(f"QConfig.{name} must be a zero-argument factory (e.g. "
                                f"FakeQuantize.with_args(...)) or None, got {f!r}")


def default_qconfig(w_bits: int = 8, a_bits: int = 8, per_channel: bool = False) -> QConfig:
    """torch's PTQ defaults: weights symmetric signed (MinMax, per channel along axis 0 if asked),
    activations affine unsigned with ``MovingAverageMinMaxObserver``."""
    w_bits, a_bits = check_bits(w_bits, "w_bits", 2), check_bits(a_bits, "a_bits", 2)
    w_kw = dict(bits=w_bits, signed=True, symmetric=True)
    if per_channel:
        weight = FakeQuantize.with_args(observer=PerChannelMinMaxObserver, ch_axis=0, **w_kw)
    else:
        weight = FakeQuantize.with_args(observer=MinMaxObserver, **w_kw)
    act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, bits=a_bits, signed=False)
    return QConfig(weight=weight, activation=act)


def default_qat_qconfig(w_bits: int = 8, a_bits: int = 8, per_channel: bool = False) -> QConfig:
    """Same quantizers as ``default_qconfig`` (weights are re-observed at every forward, see
    ``QuantLinear``, so the weight qparams always fit the current weights during QAT)."""
    return default_qconfig(w_bits, a_bits, per_channel)


def lsq_qconfig(w_bits: int = 4, a_bits: int = 4, per_channel: bool = False) -> QConfig:
    """LSQ weights (signed, per channel along axis 0 if asked) and LSQ activations (unsigned)."""
    w_bits, a_bits = check_bits(w_bits, "w_bits", 2), check_bits(a_bits, "a_bits", 2)
    return QConfig(weight=LSQQuantizer.with_args(bits=w_bits, signed=True, ch_axis=0 if per_channel else None),
                   activation=LSQQuantizer.with_args(bits=a_bits, signed=False))


def pact_qconfig(w_bits: int = 4, a_bits: int = 4, alpha: float = 10.0) -> QConfig:
    """MinMax symmetric weights and PACT activations (use after ReLU: PACT clips to [0, alpha])."""
    a_bits = check_bits(a_bits, "a_bits", 2)
    return QConfig(weight=default_qconfig(w_bits, 8).weight, activation=PACT.with_args(bits=a_bits, alpha=alpha))


def dorefa_qconfig(w_bits: int = 32, a_bits: int = 32, g_bits: int = 32, rng=0) -> QConfig:
    """DoReFa-Net's W/A/G bits (Zhou et al., 2016): ``w_bits`` tanh-normalised weights, ``a_bits``
    activations on [0, 1], ``g_bits`` gradients with noise from ``rng`` (max per sample).
    Each is an int in 1..16 or 32 (no quantization; ``g_bits`` >= 2)."""
    w_bits = check_bits(w_bits, "w_bits", allow_32=True)
    a_bits = check_bits(a_bits, "a_bits", allow_32=True)
    g_bits = check_bits(g_bits, "g_bits", 2, allow_32=True)
    return QConfig(weight=None if w_bits == 32 else DoReFaWeightQuantizer.with_args(bits=w_bits),
                   activation=DoReFaActQuantizer.with_args(bits=a_bits),
                   grad=None if g_bits == 32 else DoReFaGradQuantizer.with_args(bits=g_bits, rng=rng))


# ----- switches over a whole model (torch.ao.quantization's functions) --------------------------
def _each(model: Module, action: str) -> Module:
    for m in model.modules():
        if isinstance(m, FakeQuantizeBase):
            getattr(m, action)()
    return model


def enable_observer(model: Module) -> Module:
    """Turn every observer in ``model`` on; returns ``model``."""
    return _each(model, "enable_observer")


def disable_observer(model: Module) -> Module:
    return _each(model, "disable_observer")


def enable_fake_quant(model: Module) -> Module:
    return _each(model, "enable_fake_quant")


def disable_fake_quant(model: Module) -> Module:
    return _each(model, "disable_fake_quant")


def freeze(model: Module) -> Module:
    """``freeze()`` every fake-quant module: qparams fixed, observers off, fake quant on."""
    return _each(model, "freeze")
