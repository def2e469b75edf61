"""Mixed-precision allocation: per-layer (weight bits, input bits) under a budget, and its QConfigs.

Each layer ``l`` has options ``o = (w, a)`` with a sensitivity ``s_l(o)`` (the loss increase
when only that layer is quantized, or the HAWQ score ``Tr(H_l)/n_l * ||Q(W_l) - W_l||^2``) and a
cost ``c_l(o)`` (size, BitOPs, simulated cycles: ``cost.py``). Assuming the sensitivities add
(Dong et al., 2019, HAWQ; 2020, HAWQ-v2), the allocation solves the multiple-choice knapsack

    minimise  sum_l s_l(o_l)   subject to   sum_l c_l(o_l) <= budget.

* :func:`allocate_dp` — exact: dynamic programming over layers keeping the **Pareto set** of
  partial allocations (no cheaper-and-better partial allocation exists), so costs are never
  discretised; states that cannot fit even with the cheapest remaining options are dropped.
* :func:`allocate_greedy` — from the least sensitive option of every layer, repeatedly take
  the downgrade with the smallest sensitivity increase per unit of cost saved until the budget
  holds, then spend what is left on the upgrades with the best gain per cost (HAQ-like
  heuristics; Wang et al., 2019). Fast, not always optimal.
* :func:`allocation_qconfig` — ``{layer name: QConfig}`` for ``ptq`` / ``prepare_qat`` /
  ``convert_to_integer``: weights at ``w`` bits, and the layer's input read at ``a`` bits by
  ``QConfig.input_activation``; between layers tensors are stored at ``storage_bits``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .fake_quant import FakeQuantize, QConfig, default_qconfig
from ..quantizers.observers import MovingAverageMinMaxObserver
from ..validate import check_bits, check_bool, check_choice, check_number
from .cost import check_layer_names, layer_cost, weight_layers

__all__ = ["Allocation", "bit_options", "cost_table", "uniform_allocation", "allocate", "allocate_dp",
           "allocate_greedy", "allocation_qconfig", "pareto_front"]


@dataclass(frozen=True)
class Allocation:
    """``bits``: ``{layer: (w_bits, a_bits)}`` in layer order; ``cost`` and ``score`` its totals."""
    bits: dict
    cost: float
    score: float


def bit_options(bits=(2, 4, 8), tie: bool = False) -> list:
    """Every ``(w_bits, a_bits)`` from ``bits`` (only ``w == a`` if ``tie``), sorted."""
    if not isinstance(bits, (tuple, list)) or not bits:
        raise ValueError(f"bits must be a non-empty tuple of ints, got {bits!r}")
    bits = sorted({check_bits(b, "bits[i]", lo=1, hi=32) for b in bits})
    return [(b, b) for b in bits] if check_bool(tie, "tie") else list(itertools.product(bits, bits))


def cost_table(specs, options, metric: str = "bitops", **kwargs) -> dict:
    """``{layer: {(w, a): cost}}`` from ``layer_cost`` for every spec and option (errors name the
    layer and bits the hardware model cannot run)."""
    return {s.name: {tuple(o): layer_cost(s, *o, metric=metric, **kwargs) for o in options} for s in specs}


def uniform_allocation(names, w_bits: int, a_bits: int | None = None) -> dict:
    """``{name: (w_bits, a_bits)}`` for every layer (``a_bits`` defaults to ``w_bits``)."""
    a_bits = w_bits if a_bits is None else a_bits
    return {n: (w_bits, a_bits) for n in names}


# ----- input checks ------------------------------------------------------------------------
def _tables(sensitivity, cost):
    """Check the two tables name the same layers and options; return ``(names, options per layer)``."""
    for arg, t in (("sensitivity", sensitivity), ("cost", cost)):
        if not isinstance(t, dict) or not t or not all(isinstance(v, dict) and v for v in t.values()):
            raise ValueError(f"{arg} must be a non-empty dict {{layer: {{(w_bits, a_bits): value}}}}, got {t!r}")
    names = list(cost)
    check_layer_names(sensitivity, names, "sensitivity", "the cost table")
    options = {}
    for n in names:
        lost = [o for o in cost[n] if o not in sensitivity[n]]
        if lost:
            raise ValueError(f"sensitivity[{n!r}] has no value for options {lost}")
        for o in cost[n]:
            check_number(cost[n][o], f"cost[{n!r}][{o}]", 0.0)
            check_number(sensitivity[n][o], f"sensitivity[{n!r}][{o}]")
        options[n] = list(cost[n])
    return names, options


def _check_budget(budget, names, options, cost) -> float:
    """The budget the search may use: ``budget`` itself for integer costs; for float costs, plus a
    relative 1e-12 so a sum taken in another order than the caller's still fits."""
    budget = check_number(budget, "budget", 0.0)
    cheapest = sum(min(cost[n][o] for o in options[n]) for n in names)
    exact = all(float(c).is_integer() for n in names for c in cost[n].values())
    slack = 0.0 if exact else 1e-12 * max(abs(budget), abs(cheapest))
    if budget + slack < cheapest:
        raise ValueError(f"budget must be at least {cheapest:g}, the cost with every layer at its cheapest "
                         f"option; got {budget:g}")
    return budget + slack


def _result(names, choice, sensitivity, cost) -> Allocation:
    bits = {n: o for n, o in zip(names, choice)}
    return Allocation(bits, sum(cost[n][o] for n, o in bits.items()),
                      sum(sensitivity[n][o] for n, o in bits.items()))


# ----- allocators --------------------------------------------------------------------------
def allocate_dp(sensitivity: dict, cost: dict, budget: float) -> Allocation:
    """The exact minimum of ``sum s_l(o_l)`` subject to ``sum c_l(o_l) <= budget``.

    States after layer ``l``: ``(cost, score, choices)`` of partial allocations, pruned to the
    Pareto set (sorted by cost, keep a state only if its score beats every cheaper one) and to
    those that still fit with the cheapest options of the remaining layers. Exact for any costs
    (no budget grid); the Pareto set has at most ``prod |options|`` states and in practice a few
    hundred for tens of layers.
    """
    names, options = _tables(sensitivity, cost)
    budget = _check_budget(budget, names, options, cost)
    rest = [0.0] * (len(names) + 1)          # cheapest cost of layers l.. end
    for i in range(len(names) - 1, -1, -1):
        rest[i] = rest[i + 1] + min(cost[names[i]][o] for o in options[names[i]])
    states = [(0.0, 0.0, ())]
    for i, n in enumerate(names):
        grown = [(c + cost[n][o], s + sensitivity[n][o], ch + (o,)) for c, s, ch in states for o in options[n]
                 if c + cost[n][o] + rest[i + 1] <= budget]
        grown.sort(key=lambda t: (t[0], t[1]))
        states, best = [], math.inf
        for st in grown:
            if st[1] < best:
                states.append(st)
                best = st[1]
    c, s, choice = min(states, key=lambda t: (t[1], t[0]))
    return _result(names, choice, sensitivity, cost)


def allocate_greedy(sensitivity: dict, cost: dict, budget: float) -> Allocation:
    """Greedy by sensitivity per cost: downgrade until the budget holds, then upgrade what fits."""
    names, options = _tables(sensitivity, cost)
    budget = _check_budget(budget, names, options, cost)
    cur = {n: min(options[n], key=lambda o: (sensitivity[n][o], cost[n][o])) for n in names}
    total = sum(cost[n][cur[n]] for n in names)
    while total > budget:                    # cheapest increase of score per unit of cost saved
        best = None
        for n in names:
            for o in options[n]:
                saved = cost[n][cur[n]] - cost[n][o]
                if saved > 0:
                    ratio = (sensitivity[n][o] - sensitivity[n][cur[n]]) / saved
                    if best is None or ratio < best[0]:
                        best = (ratio, n, o)
        _, n, o = best
        total += cost[n][o] - cost[n][cur[n]]
        cur[n] = o
    while True:                              # spend the slack: best decrease of score per unit of cost
        best = None
        for n in names:
            for o in options[n]:
                extra, gain = cost[n][o] - cost[n][cur[n]], sensitivity[n][cur[n]] - sensitivity[n][o]
                if gain > 0 and total + extra <= budget:
                    ratio = gain / extra if extra > 0 else math.inf
                    if best is None or ratio > best[0]:
                        best = (ratio, n, o)
        if best is None:
            break
        _, n, o = best
        total += cost[n][o] - cost[n][cur[n]]
        cur[n] = o
    return _result(names, [cur[n] for n in names], sensitivity, cost)


def allocate(sensitivity: dict, cost: dict, budget: float, method: str = "dp") -> Allocation:
    """``allocate_dp`` (``method="dp"``) or ``allocate_greedy`` (``"greedy"``)."""
    method = check_choice(method, "method", ("dp", "greedy"))
    return (allocate_dp if method == "dp" else allocate_greedy)(sensitivity, cost, budget)


def pareto_front(costs, scores) -> list:
    """Indices of the points no other point beats on both (lower cost and lower score), by cost."""
    if len(costs) != len(scores) or not len(costs):
        raise ValueError(f"costs and scores must be non-empty and of one length, got {len(costs)} and {len(scores)}")
    order = sorted(range(len(costs)), key=lambda i: (costs[i], scores[i]))
    front, best = [], math.inf
    for i in order:
        if scores[i] < best:
            front.append(i)
            best = scores[i]
    return front


# ----- to QConfigs -------------------------------------------------------------------------
def allocation_qconfig(bits: dict, model=None, storage_bits: int = 8, per_channel: bool = False) -> dict:
    """``{layer: QConfig}`` realising ``bits = {layer: (w_bits, a_bits)}`` for ``ptq`` / ``prepare``.

    Weights: symmetric signed ``w_bits`` (MinMax, per channel if asked). The layer's input is
    read at ``a_bits`` by ``QConfig.input_activation`` (affine unsigned, moving-average min-max);
    outputs are stored at ``storage_bits`` (>= every ``a_bits``), so a layer with ``a_bits ==
    storage_bits`` needs no input quantizer of its own. With ``model``, every Conv2d / Linear of
    it must be in ``bits`` (a layer left out would silently stay float).
    """
    storage_bits = check_bits(storage_bits, "storage_bits", lo=2, hi=16)
    if not isinstance(bits, dict) or not bits:
        raise ValueError(f"bits must be a non-empty dict {{layer: (w_bits, a_bits)}}, got {bits!r}")
    if model is not None:
        check_layer_names(bits, [n for n, _ in weight_layers(model)])
    out = {}
    for name, wa in bits.items():
        if not (isinstance(wa, tuple) and len(wa) == 2):
            raise ValueError(f"bits[{name!r}] must be a pair (w_bits, a_bits), got {wa!r}")
        w, a = (check_bits(b, f"bits[{name!r}]", lo=2, hi=16) for b in wa)
        if a > storage_bits:
            raise ValueError(f"bits[{name!r}] reads its input at {a} bits, more than storage_bits={storage_bits}")
        base = default_qconfig(w, storage_bits, per_channel)
        inp = None if a == storage_bits else FakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, bits=a, signed=False)
        out[name] = QConfig(weight=base.weight, activation=base.activation, input_activation=inp)
    return out
