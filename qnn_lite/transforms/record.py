"""Recording activations: what each activation quantizer of ``prepare(model, ...)`` observes.

While calibrating, fake quant is off, so the recorded values are the float model's activations
(BatchNorm folded when ``fuse``). Recording them once and feeding the observers from the record
runs PTQ for many observers and bit widths without running the model again (chapter 04's
calibration widget does this).

* :func:`activation_quantizers` — name -> activation ``FakeQuantize`` of a prepared / converted model.
* :func:`record_activations` — per batch, name -> flat float32 activations at each quantizer.
* :func:`activation_samples` — the same, concatenated over the batches.
* :func:`ptq_from_samples` — ``ptq(model, qconfig, batches)`` with the observers fed from a record.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np

from .fake_quant import FakeQuantize, QConfig
from ..quantizers.observers import PercentileObserver
from .ptq import calibrate, convert, fuse_modules, prepare

__all__ = ["activation_quantizers", "record_activations", "activation_samples", "ptq_from_samples"]


def activation_quantizers(model):
    """``OrderedDict`` name -> activation ``FakeQuantize`` of a prepared / converted model, forward order."""
    out = OrderedDict()
    for name, m in model.named_modules():
        if isinstance(m, FakeQuantize) and not name.endswith("weight_fake_quant"):
            out[name.rsplit(".", 1)[0] if name.endswith((".fake_quant", ".output_fake_quant")) else name] = m
    return out


def record_activations(model, batches, fuse: bool = True) -> list:
    """Per batch, ``OrderedDict`` name -> flat float32 activations at each activation quantizer.

    ``batches`` as in :func:`activation_samples`; returns one dict per batch, in order.
    """
    fused = fuse_modules(model) if fuse else copy.deepcopy(model)
    act = FakeQuantize.with_args(observer=PercentileObserver, percentile=100)  # keeps every value it sees
    prepared = prepare(fused, QConfig(weight=None, activation=act))
    fqs = activation_quantizers(prepared)
    out = []
    for X in batches:
        for fq in fqs.values():
            fq.observer.reset()
        calibrate(prepared, [X])
        out.append(OrderedDict((n, fq.observer.samples.copy()) for n, fq in fqs.items()))
    if not out:
        raise ValueError("batches must hold at least one batch, got none")
    return out


def activation_samples(model, batches, fuse: bool = True) -> "OrderedDict[str, np.ndarray]":
    """The float activations each activation quantizer of ``prepare(model, ...)`` would observe.

    ``batches``: an iterable of input arrays / Tensors (or ``(X, y)`` pairs). Returns name ->
    flat float32 array, in forward order; names are the quantizer's layer (``"quant_in"``, the
    ReLU after a conv, a last Linear). While calibrating, fake quant is off, so these are the
    float model's activations (BatchNorm folded when ``fuse``).
    """
    per_batch = record_activations(model, batches, fuse)
    return OrderedDict((n, np.concatenate([b[n] for b in per_batch])) for n in per_batch[0])


def ptq_from_samples(model, qconfig, per_batch):
    """``ptq(model, qconfig, batches)`` without the calibration forwards: the observers are fed the
    recorded float activations batch by batch (what ``calibrate`` shows them, fake quant being off)."""
    prepared = prepare(fuse_modules(model), qconfig)
    fqs = activation_quantizers(prepared)
    for batch in per_batch:
        for n, fq in fqs.items():
            fq(batch[n])
    return convert(prepared, inplace=True)

