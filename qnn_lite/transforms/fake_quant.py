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
modules; ``FakeQuantize.with_args(...)`` (or ``functools.partial``) makes a factory. Learned
quantizers (LSQ, PACT) plug in through ``LearnedFakeQuantize``; see ``lsq_qconfig``/``pact_qconfig``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.module import Module, Parameter
from ..quantizers.observers import (MinMaxObserver, MovingAverageMinMaxObserver, ObserverBase,
                                    PerChannelMinMaxObserver)
from ..quantizers.uniform import fake_quantize

__all__ = ["FakeQuantize", "LearnedFakeQuantize", "QConfig", "default_qconfig", "default_qat_qconfig",
           "lsq_qconfig", "pact_qconfig", "enable_observer", "disable_observer", "enable_fake_quant",
           "disable_fake_quant", "freeze"]


class _FakeQuantBase(Module):
    """Flags and the torch-named switches shared by every fake-quant module."""

    def __init__(self):
        super().__init__()
        self.observer_enabled, self.fake_quant_enabled = True, True

    def enable_observer(self, enabled: bool = True) -> "_FakeQuantBase":
        self.observer_enabled = bool(enabled)
        return self

    def disable_observer(self) -> "_FakeQuantBase":
        return self.enable_observer(False)

    def enable_fake_quant(self, enabled: bool = True) -> "_FakeQuantBase":
        self.fake_quant_enabled = bool(enabled)
        return self

    def disable_fake_quant(self) -> "_FakeQuantBase":
        return self.enable_fake_quant(False)

    def freeze(self) -> "_FakeQuantBase":
        """Fix the qparams: compute them now, stop observing, fake-quantize from now on."""
        self.disable_observer()
        self.enable_fake_quant()
        return self

    def qparams(self):
        """``(scale, zero_point, quant_min, quant_max, axis)`` used by the forward (and by integer conversion)."""
        raise NotImplementedError

    @classmethod
    def with_args(cls, **kwargs) -> Callable[[], "_FakeQuantBase"]:
        """A zero-argument factory ``functools.partial(cls, **kwargs)`` (torch's ``with_args``)."""
        return functools.partial(cls, **kwargs)


class FakeQuantize(_FakeQuantBase):
    """``y = fake_quantize(x, s, z, quant_min, quant_max, axis)`` with ``(s, z)`` from ``observer`` (Jacob et al., 2018).

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
        self.axis = getattr(obs, "ch_axis", None)
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
        return self.scale, self.zero_point, self.quant_min, self.quant_max, self.axis

    def forward(self, x):
        if self.observer_enabled:
            self.observer(x.data if isinstance(x, Tensor) else x)
            self._stale = True
        if not self.fake_quant_enabled:
            return x
        self._refresh()
        return fake_quantize(x if isinstance(x, Tensor) else Tensor(x), self.scale, self.zero_point,
                             self.quant_min, self.quant_max, self.axis)

    def extra_repr(self) -> str:
        return (f"{type(self.observer).__name__}, qrange=({self.quant_min}, {self.quant_max}), axis={self.axis}, "
                f"observer_enabled={self.observer_enabled}, fake_quant_enabled={self.fake_quant_enabled}")


class LearnedFakeQuantize(_FakeQuantBase):
    """A learned quantizer (``LSQQuantizer``, ``PACT``) as a Module whose learned tensors are Parameters.

    ``LearnedFakeQuantize(quantizer)`` with ``quantizer`` an ``LSQQuantizer(...)`` or ``PACT(...)``
    (Esser et al., 2019; Choi et al., 2018). LSQ initialises its scale from the first batch it
    sees, so run one forward pass before building the optimizer (``qat_finetune`` does).
    The observer flag is ignored (the step size is learned, not observed); with fake quant off
    the module is the identity (for PACT: no clip either).
    """

    def __init__(self, quantizer):
        super().__init__()
        if not callable(quantizer) or not hasattr(quantizer, "parameters"):
            raise TypeError(f"quantizer must be an LSQQuantizer or PACT instance, got {quantizer!r}")
        self.quantizer = quantizer
        self._register()

    def _register(self) -> None:
        """Turn the quantizer's learned Tensors into this module's Parameters (sharing the data)."""
        q = self.quantizer
        for name in ("scale", "zero_point", "alpha"):
            t = getattr(q, name, None)
            if isinstance(t, Tensor) and t.requires_grad and not isinstance(t, Parameter):
                p = Parameter(t.data)
                setattr(q, name, p)
                self.register_parameter(name, p)

    def forward(self, x):
        if not self.fake_quant_enabled:
            return x
        x = x if isinstance(x, Tensor) else Tensor(x)
        q = self.quantizer
        if getattr(q, "scale", 0) is None and hasattr(q, "init_from"):  # LSQ: scale from the first batch
            q.init_from(x)
            self._register()
        return q(x)

    def qparams(self):
        q = self.quantizer
        if hasattr(q, "alpha"):  # PACT: unsigned, s = alpha / (2^b - 1), z = 0
            quant_max = 2 ** q.bits - 1
            return (np.float32(q.alpha.data[0] / quant_max), np.int64(0), 0, quant_max, None)
        if q.scale is None:
            raise ValueError("LSQ scale is not initialised: run a forward pass first")
        s = np.maximum(q.scale.data, q.eps).astype(np.float32)
        z = np.clip(np.rint(q.zero_point.data), q.quant_min, q.quant_max).astype(np.int64)
        if q.axis is None:
            s, z = s.reshape(()), z.reshape(())
        return s, z, q.quant_min, q.quant_max, q.axis

    def extra_repr(self) -> str:
        return repr(self.quantizer)


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
    """
    weight: Callable | None = None
    activation: Callable | None = None
    input_activation: Callable | None = None

    def __post_init__(self):
        for name in ("weight", "activation", "input_activation"):
            f = getattr(self, name)
            if f is not None and not callable(f):
                raise TypeError(f"QConfig.{name} must be a zero-argument factory (e.g. "
                                f"FakeQuantize.with_args(...)) or None, got {f!r}")


def _bits(bits, name):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"{name} must be an int in 2..16, got {bits!r}")
    return int(bits)


def default_qconfig(w_bits: int = 8, a_bits: int = 8, per_channel: bool = False) -> QConfig:
    """torch's PTQ defaults: weights symmetric signed (MinMax, per channel along axis 0 if asked),
    activations affine unsigned with ``MovingAverageMinMaxObserver``."""
    w_bits, a_bits = _bits(w_bits, "w_bits"), _bits(a_bits, "a_bits")
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
    from ..quantizers.lsq import LSQQuantizer
    w_bits, a_bits = _bits(w_bits, "w_bits"), _bits(a_bits, "a_bits")
    axis = 0 if per_channel else None
    return QConfig(weight=lambda: LearnedFakeQuantize(LSQQuantizer(w_bits, signed=True, axis=axis)),
                   activation=lambda: LearnedFakeQuantize(LSQQuantizer(a_bits, signed=False)))


def pact_qconfig(w_bits: int = 4, a_bits: int = 4, alpha: float = 10.0) -> QConfig:
    """MinMax symmetric weights and PACT activations (use after ReLU: PACT clips to [0, alpha])."""
    from ..quantizers.learned import PACT
    a_bits = _bits(a_bits, "a_bits")
    return QConfig(weight=default_qconfig(w_bits, 8).weight,
                   activation=lambda: LearnedFakeQuantize(PACT(a_bits, alpha)))


# ----- switches over a whole model (torch.ao.quantization's functions) --------------------------
def _each(model: Module, action: str) -> Module:
    for m in model.modules():
        if isinstance(m, _FakeQuantBase):
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
