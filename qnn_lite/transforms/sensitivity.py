"""Per-layer PTQ sensitivity: quantize ONE layer at a time and measure what the network loses.

For every Conv2d / Linear ``l`` and every option ``(w_bits, a_bits)`` (either may be ``None``:
that tensor stays float), the model is PTQ-quantized with only layer ``l``'s weight at ``w_bits``
and its input at ``a_bits`` (``QConfig.input_activation``); everything else stays float. On the
caller's ``X, y`` we record

* ``loss`` and ``delta_loss = loss - float loss`` (cross-entropy by default),
* ``accuracy`` and ``delta_accuracy = accuracy - float accuracy``,
* ``sqnr_db = 10 log10(sum z^2 / sum (z_q - z)^2)`` of the logits ``z`` (``inf`` if equal).

This is the "quantize one layer, keep the rest in float" sweep used to find the layers that
need more bits (e.g. Krishnamoorthi, 2018; the first and last layers are the usual suspects).
``delta_loss`` is the score the allocator (``mixed_precision.py``) adds over layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn.loss import CrossEntropyLoss
from .fake_quant import FakeQuantize, QConfig, default_qconfig
from ..quantizers.observers import MovingAverageMinMaxObserver
from .ptq import fuse_modules, ptq
from ..validate import check_bits, check_choice
from .cost import weight_layers

__all__ = ["Sensitivity", "layer_qconfig", "evaluate_arrays", "ptq_sensitivity"]

KEYS = ("delta_loss", "loss", "delta_accuracy", "accuracy", "sqnr_db")


@dataclass
class Sensitivity:
    """``rows``: one dict per (layer, option) with ``layer, w_bits, a_bits`` and :data:`KEYS`."""
    float_loss: float
    float_accuracy: float
    rows: list = field(default_factory=list)

    def table(self, key: str = "delta_loss") -> dict:
        """``{layer: {(w_bits, a_bits): value}}`` — the allocator's sensitivity table."""
        key = check_choice(key, "key", KEYS)
        out: dict = {}
        for r in self.rows:
            out.setdefault(r["layer"], {})[(r["w_bits"], r["a_bits"])] = r[key]
        return out


def layer_qconfig(w_bits, a_bits, per_channel: bool = False) -> QConfig:
    """One layer's QConfig: weight at ``w_bits`` (symmetric MinMax), input at ``a_bits`` (affine,
    moving-average min-max), output left float; ``None`` leaves that tensor float."""
    weight = None if w_bits is None else default_qconfig(check_bits(w_bits, "w_bits", 2, 16), 8, per_channel).weight
    inp = None if a_bits is None else FakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, bits=check_bits(a_bits, "a_bits", 2, 16), signed=False)
    return QConfig(weight=weight, activation=None, input_activation=inp)


def evaluate_arrays(model, X, y, loss_fn=None):
    """``(loss, accuracy, logits)`` of ``model`` on ``X (N, ...)``, ``y (N,)`` in eval mode, no graph
    (the model's train / eval mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            z = model(Tensor(X))
            loss = float((loss_fn or CrossEntropyLoss())(z, y).data)
    finally:
        model.train(was_training)
    return loss, float(np.mean(z.data.argmax(1) == y)), z.data.astype(np.float64)


def _sqnr(ref, out) -> float:
    noise = np.sum((out - ref) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))


def ptq_sensitivity(model, X, y, options, calib=None, loss_fn=None, per_channel: bool = False,
                    layers=None) -> Sensitivity:
    """Quantize each layer alone at each option in ``options`` (``[(w_bits, a_bits)]``) and
    measure it on ``X, y`` (see the module docstring). ``calib``: inputs the observers see
    (default ``X``); ``layers``: names to sweep (default every Conv2d / Linear). BatchNorm is
    folded first (``ptq(fuse=True)``), as for the full PTQ model.
    """
    X = np.asarray(getattr(X, "data", X), np.float32)
    y = np.asarray(y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X and y must be non-empty and of one length, got {len(X)} and {len(y)}")
    calib = X if calib is None else np.asarray(getattr(calib, "data", calib), np.float32)
    if not isinstance(options, (list, tuple)) or not options:
        raise ValueError(f"options must be a non-empty list of (w_bits, a_bits), got {options!r}")
    names = [n for n, _ in weight_layers(model)]
    layers = names if layers is None else list(layers)
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"layers {unknown} are not Conv2d / Linear layers of the model; they are {names}")
    f_loss, f_acc, ref = evaluate_arrays(fuse_modules(model), X, y, loss_fn)
    result = Sensitivity(f_loss, f_acc)
    for name in layers:
        for opt in options:
            if not (isinstance(opt, tuple) and len(opt) == 2):
                raise ValueError(f"options must hold pairs (w_bits, a_bits), got {opt!r}")
            w, a = opt
            qm = ptq(model, {name: layer_qconfig(w, a, per_channel)}, [calib])
            loss, acc, out = evaluate_arrays(qm, X, y, loss_fn)
            result.rows.append({"layer": name, "w_bits": w, "a_bits": a, "loss": loss, "delta_loss": loss - f_loss,
                                "accuracy": acc, "delta_accuracy": acc - f_acc, "sqnr_db": _sqnr(ref, out)})
    return result
