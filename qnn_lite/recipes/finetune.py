"""QAT after PTQ (Krishnamoorthi, 2018): keep training a calibrated, fake-quantized model with the STE.

Activation qparams stay as calibrated (optionally re-observed), weight qparams follow the
weights; learned scales (LSQ / PACT) train with the weights.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import no_grad
from ..nn.loss import CrossEntropyLoss
from ..nn.module import Module
from ..optim import SGD, Adam
from ..train import fit
from ..quantizers.base import FakeQuantizeBase
from ..transforms.fake_quant import FakeQuantize
from ..transforms.layers import QUANT_LAYERS

__all__ = ["qat_finetune"]


def qat_finetune(model: Module, train_loader, epochs: int, lr: float = 1e-3, optimizer: str = "adam",
                 loss_fn=None, val_loader=None, observe_activations: bool = False,
                 observe_weights: bool = True, weight_decay: float = 0.0) -> dict:
    """Keep training a fake-quantized ``model`` (in place) with the STE; returns ``fit``'s history.

    ``optimizer``: ``"adam"`` or ``"sgd"`` (momentum 0.9) over every parameter, including learned
    quantizer scales (LSQ / PACT; one no-graph forward on the first batch initialises them).
    ``observe_activations``: keep updating activation observers (False keeps the calibrated
    qparams); ``observe_weights``: weight qparams follow the weights (re-observed each step).
    Fake quant is switched on everywhere. The model ends in eval mode.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    weight_fqs = {id(m.weight_fake_quant) for m in model.modules()
                  if isinstance(m, QUANT_LAYERS) and m.weight_fake_quant is not None}
    for m in model.modules():
        if isinstance(m, FakeQuantizeBase):
            m.enable_fake_quant()
            if isinstance(m, FakeQuantize):
                on = observe_weights if id(m) in weight_fqs else observe_activations
                m.enable_observer(on)
    with no_grad():  # initialise lazily created learned scales before collecting parameters
        batch = next(iter(train_loader))
        model.eval()
        model(batch[0])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (Adam(params, lr=lr, weight_decay=weight_decay) if optimizer == "adam"
           else SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay))
    history = fit(model, train_loader, loss_fn or CrossEntropyLoss(), opt, epochs,
                  val_loader=val_loader, progress=False)
    model.eval()
    return history
