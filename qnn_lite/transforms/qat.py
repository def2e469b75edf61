"""Quantization-aware training: train *through* the fake quantizers with the straight-through estimator.

The forward sees quantized weights and activations; the backward treats rounding as the
identity inside the range (``uniform.FakeQuantize``'s STE: Hinton, 2012; Bengio et al., 2013;
Jacob et al., 2018). Two ways in:

* ``prepare_qat(model, qconfig)``: from a float model; fake quant on from the start and the
  observers on while training (their qparams follow the data).
* QAT after PTQ (Krishnamoorthi, 2018): take the calibrated, converted model from ``ptq`` and
  keep training it (the recipe: :func:`qnn_lite.recipes.finetune.qat_finetune`).
"""
from __future__ import annotations

from ..nn.module import Module
from ..quantizers.base import FakeQuantizeBase
from .ptq import prepare

__all__ = ["prepare_qat"]


def prepare_qat(model: Module, qconfig, inplace: bool = False) -> Module:
    """``prepare`` with fake quant on and observers on, in training mode (torch's ``prepare_qat``)."""
    qm = prepare(model, qconfig, inplace=inplace)
    for m in qm.modules():
        if isinstance(m, FakeQuantizeBase):
            m.enable_observer()
            m.enable_fake_quant()
    return qm.train()


