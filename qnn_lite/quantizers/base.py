"""`FakeQuantizeBase`: the Module every quantizer module derives from (torch's ``FakeQuantizeBase``).

A quantizer module sits where a tensor is quantized: a layer's weight, its input or output
(``y = fq(x)``, ``y.shape == x.shape``). Two switches, named as in ``torch.ao.quantization``:

* ``observer_enabled`` — collect statistics of ``x`` (observer-based quantizers only;
  learned ones such as LSQ and PACT learn their range instead and ignore it);
* ``fake_quant_enabled`` — quantize; off, the module is the identity.

``qparams()`` returns ``(scale, zero_point, quant_min, quant_max, ch_axis)`` of the uniform
grid the forward uses, which integer conversion reads. A learned quantizer's learned
tensors are ``Parameter`` s of the module (as in torch's ``_LearnableFakeQuantize``), so
``model.parameters()`` finds them. ``Cls.with_args(**kwargs)`` is a zero-argument factory for a
``QConfig``.
"""
from __future__ import annotations

import functools
from typing import Callable

from ..nn.module import Module

__all__ = ["FakeQuantizeBase"]


class FakeQuantizeBase(Module):
    """The two switches, ``freeze`` and ``with_args`` shared by every quantizer module."""

    def __init__(self):
        super().__init__()
        self.observer_enabled, self.fake_quant_enabled = True, True

    def enable_observer(self, enabled: bool = True) -> "FakeQuantizeBase":
        self.observer_enabled = bool(enabled)
        return self

    def disable_observer(self) -> "FakeQuantizeBase":
        return self.enable_observer(False)

    def enable_fake_quant(self, enabled: bool = True) -> "FakeQuantizeBase":
        self.fake_quant_enabled = bool(enabled)
        return self

    def disable_fake_quant(self) -> "FakeQuantizeBase":
        return self.enable_fake_quant(False)

    def freeze(self) -> "FakeQuantizeBase":
        """Fix the qparams: stop observing, fake-quantize from now on."""
        self.disable_observer()
        self.enable_fake_quant()
        return self

    def qparams(self):
        """``(scale, zero_point, quant_min, quant_max, ch_axis)`` of the grid the forward uses."""
        raise NotImplementedError(f"{type(self).__name__} has no uniform integer grid (qparams)")

    @classmethod
    def with_args(cls, **kwargs) -> Callable[[], "FakeQuantizeBase"]:
        """A zero-argument factory ``functools.partial(cls, **kwargs)`` (torch's ``with_args``)."""
        return functools.partial(cls, **kwargs)
