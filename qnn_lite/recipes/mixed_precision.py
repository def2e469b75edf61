"""Chapter 11's experiments: uniform vs mixed precision at equal cost, and the accuracy-cost frontier.

* :func:`ptq_accuracy` — accuracy of ``ptq(model, allocation_qconfig(bits))`` on ``X, y``.
* :func:`uniform_vs_mixed` — for each cost metric, uniform ``b``-bit PTQ against the allocator's
  choice under the uniform model's cost as budget: one row per (metric, config).
* :func:`qat_recovery` — PTQ accuracy of an allocation, then after QAT fine-tuning (STE).
* :func:`frontier_points` — every uniform ``(w, a)`` allocation and the allocator's choice at a sweep
  of budgets, each with its accuracy and every cost (for the Pareto scatter plots).
"""
from __future__ import annotations

import numpy as np

from ..transforms.ptq import ptq
from .finetune import qat_finetune
from ..transforms.cost import network_cost
from ..transforms.mixed_precision import allocate, allocation_qconfig, cost_table, uniform_allocation
from ..transforms.sensitivity import evaluate_arrays

__all__ = ["ptq_accuracy", "qat_recovery", "uniform_vs_mixed", "frontier_points"]

COSTS = ("size", "bitops", "cycles", "energy")


def ptq_accuracy(model, bits: dict, X, y, calib, per_channel: bool = False) -> float:
    """Accuracy on ``X, y`` of the PTQ model (calibrated on ``calib``) with per-layer ``bits``."""
    qm = ptq(model, allocation_qconfig(bits, model=model, per_channel=per_channel), [calib])
    return evaluate_arrays(qm, X, y)[1]


def qat_recovery(model, bits: dict, train_loader, X, y, calib, epochs: int = 2, lr: float = 1e-3) -> dict:
    """``{"ptq": accuracy, "qat": accuracy}`` of ``bits``: PTQ (calibrated on ``calib``), then
    ``qat_finetune`` of that model for ``epochs`` on ``train_loader`` (Adam, ``lr``); ``model`` untouched."""
    qm = ptq(model, allocation_qconfig(bits, model=model), [calib])
    before = evaluate_arrays(qm, X, y)[1]
    qat_finetune(qm, train_loader, epochs, lr=lr)
    return {"ptq": before, "qat": evaluate_arrays(qm, X, y)[1]}


def _row(model, specs, bits, X, y, calib, array=None, **extra) -> dict:
    row = dict(extra, bits=bits, accuracy=ptq_accuracy(model, bits, X, y, calib))
    row.update({m: network_cost(specs, bits, m, array=array) for m in COSTS})
    return row


def uniform_vs_mixed(model, specs, sensitivity: dict, X, y, calib, options, uniform_bits: int = 4,
                     metrics=("bitops", "cycles"), method: str = "dp", array=None) -> list:
    """Rows ``{"budget_metric", "config", "bits", "accuracy", size/bitops/cycles/energy}``: for each
    metric, the uniform ``uniform_bits`` model and the allocation whose cost in that metric is at most
    the uniform model's (``allocate(sensitivity, cost_table(...), budget, method)``). ``array``: the
    ``BitFusionArray`` for cycles (default 16 x 16)."""
    uniform = uniform_allocation([s.name for s in specs], uniform_bits)
    rows = []
    for metric in metrics:
        budget = network_cost(specs, uniform, metric, array=array)
        alloc = allocate(sensitivity, cost_table(specs, options, metric, array=array), budget, method)
        rows.append(_row(model, specs, uniform, X, y, calib, array, budget_metric=metric,
                         config=f"uniform w{uniform_bits}a{uniform_bits}"))
        rows.append(_row(model, specs, alloc.bits, X, y, calib, array, budget_metric=metric, config=f"mixed ({method})"))
    return rows


def frontier_points(model, specs, sensitivity: dict, X, y, calib, options, metric: str = "bitops",
                    fractions=np.linspace(0.0, 1.0, 11), array=None, uniform: bool = True) -> list:
    """Uniform allocations (one per option) and DP allocations at budgets ``lo + f (hi - lo)`` for
    ``f`` in ``fractions`` (``lo``/``hi``: all-cheapest / all-dearest cost in ``metric``). Rows as in
    :func:`uniform_vs_mixed` with ``"kind"`` = ``"uniform"`` or ``"mixed"``; repeated allocations once
    (``uniform=False``: no uniform rows, e.g. when another metric's call already made them; mixed
    allocations that happen to be uniform are still skipped)."""
    names = [s.name for s in specs]
    table = cost_table(specs, options, metric, array=array)
    lo = sum(min(t.values()) for t in table.values())
    hi = sum(max(t.values()) for t in table.values())
    rows, seen = [], set()
    for w, a in options:
        bits = uniform_allocation(names, w, a)
        seen.add(tuple(bits.values()))
        if uniform:
            rows.append(_row(model, specs, bits, X, y, calib, array, kind="uniform"))
    for f in fractions:
        bits = allocate(sensitivity, table, lo + float(f) * (hi - lo)).bits
        if tuple(bits.values()) not in seen:
            seen.add(tuple(bits.values()))
            rows.append(_row(model, specs, bits, X, y, calib, array, kind="mixed"))
    return rows
