"""Chapter 11 (mixed precision): BitOPs of a layer, Hutchinson's trace estimate, the knapsack
allocation on a small table, reading a Pareto frontier.

The reference for every case is `qnn_lite.transforms` (cost, hessian, mixed_precision).
"""
from __future__ import annotations

import itertools

import numpy as np

from qnn_lite.transforms.cost import LayerSpec, layer_cost
from qnn_lite.transforms.mixed_precision import allocate_dp, allocate_greedy, pareto_front as pareto_ref

from ..expect import expect_close, expect_equal
from ..registry import exercise
from ..runner import Fail

# ----------------------------------------------------------------------------- 11.1
EX1 = exercise("11.1", "bitops: MACs x w_bits x a_bits of a (grouped) convolution")


def _check_bitops(fn, c_in, c_out, k, oh, ow, groups, w_bits, a_bits):
    spec = LayerSpec("l", "conv", c_in, c_out, (k, k), (1, 1), (oh, ow), (oh, ow), groups)
    want = layer_cost(spec, w_bits, a_bits, "bitops")
    macs = spec.macs
    what = f"bitops(c_in={c_in}, c_out={c_out}, kernel={k}, out={oh}x{ow}, groups={groups}, w={w_bits}, a={a_bits})"
    got = fn(c_in, c_out, k, oh, ow, groups, w_bits, a_bits)
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    dense = oh * ow * c_out * c_in * k * k
    mistakes = [
        ("each output channel of a grouped conv sees only c_in / groups input channels", dense * w_bits * a_bits),
        ("BitOPs multiply the two bit-widths: MACs * w_bits * a_bits, not their sum", macs * (w_bits + a_bits)),
        ("count both operands' bits: MACs * w_bits * a_bits", macs * w_bits),
        ("count both operands' bits: MACs * w_bits * a_bits", macs * a_bits),
        ("BitOPs count one product per MAC (Zhou et al. 2016), not 2 ops", 2 * macs * w_bits * a_bits),
        ("a k x k kernel has k * k taps per input channel", oh * ow * c_out * (c_in // groups) * k * w_bits * a_bits),
    ]
    hint = next((h for h, v in mistakes if v == got and v != want),
                "BitOPs = OH * OW * c_out * (c_in / groups) * k * k * w_bits * a_bits")
    expect_equal(got, want, what, hint=hint)


@EX1.case("a dense 3x3 conv: 16 -> 32 channels on 8x8 at w4/a8")
def _(fn):
    _check_bitops(fn, 16, 32, 3, 8, 8, 1, 4, 8)


@EX1.case("a 1x1 conv and a Linear layer (1x1 output) at mixed widths")
def _(fn):
    _check_bitops(fn, 64, 128, 1, 7, 7, 1, 8, 2)
    _check_bitops(fn, 256, 10, 1, 1, 1, 1, 2, 4)


@EX1.case("grouped and depthwise convs: each output sees c_in / groups channels", points=2)
def _(fn):
    _check_bitops(fn, 32, 32, 3, 14, 14, 32, 8, 8)
    _check_bitops(fn, 16, 8, 3, 5, 5, 4, 4, 2)


# ----------------------------------------------------------------------------- 11.2
EX2 = exercise("11.2", "hutchinson: the trace estimate (1/k) sum_j v_j^T A v_j from given Rademacher vectors")


def _check_hutch(fn, A, V, label):
    want = float(np.mean(np.einsum("ij,ik,kj->j", V, A, V)))
    got = fn(A.copy(), V.copy())
    expect_close(got, want, f"hutchinson({label})", rtol=1e-9, atol=1e-12, mistakes={
        "estimate from the vectors you are given, not with np.trace: the point is that only A @ v is needed":
            np.trace(A),
        "average the k samples v^T A v: divide the sum by the number of vectors": want * V.shape[1],
        "the vectors are the COLUMNS of V (V has shape (n, k)), not its rows":
            float(np.mean(np.einsum("ij,jk,ik->i", V, A, V))) if V.shape[0] == V.shape[1] else np.nan,
        "each sample is v^T (A v), a number; you averaged the entries of A v": float(np.mean(A @ V)),
    }, hint="estimate = mean over columns v of V of v @ (A @ v)")


def _rademacher(n, k, seed):
    return np.random.default_rng(seed).integers(0, 2, (n, k)).astype(np.float64) * 2 - 1


@EX2.case("one vector: v^T A v for a 3x3 matrix")
def _(fn):
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 1.0]])
    _check_hutch(fn, A, np.array([[1.0], [-1.0], [1.0]]), "3x3, one vector")


@EX2.case("a diagonal matrix: every sample is the exact trace")
def _(fn):
    _check_hutch(fn, np.diag([1.0, -2.0, 5.0, 0.5]), _rademacher(4, 7, 1), "diagonal 4x4, 7 vectors")


@EX2.case("a symmetric 6x6 matrix with 6 and 50 vectors", points=2)
def _(fn):
    B = np.random.default_rng(2).normal(size=(6, 6))
    A = B + B.T
    _check_hutch(fn, A, _rademacher(6, 6, 3), "6x6, 6 vectors")
    _check_hutch(fn, A, _rademacher(6, 50, 4), "6x6, 50 vectors")


# ----------------------------------------------------------------------------- 11.3
EX3 = exercise("11.3", "knapsack: choose one option per layer minimising total sensitivity within the budget")


def _indices(got, what) -> list:
    """The student's answer as a list of ints, or a Fail saying what was expected."""
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    try:
        return [int(i) for i in got]
    except (TypeError, ValueError):
        raise Fail(f"{what} should return a list of indices, got {got!r}") from None


def _tables(sens, cost):
    s = {f"l{i}": {j: float(v) for j, v in enumerate(row)} for i, row in enumerate(sens)}
    c = {f"l{i}": {j: int(v) for j, v in enumerate(row)} for i, row in enumerate(cost)}
    return s, c


def _check_knap(fn, sens, cost, budget, label):
    s, c = _tables(sens, cost)
    best = allocate_dp(s, c, budget)
    what = f"knapsack({label}, budget={budget})"
    choice = _indices(fn([list(r) for r in sens], [list(r) for r in cost], budget), what)
    if len(choice) != len(sens) or any(not 0 <= j < len(sens[i]) for i, j in enumerate(choice)):
        raise Fail(f"{what} should return one option index per layer (0..{len(sens[0]) - 1}), got {choice}")
    total = sum(cost[i][j] for i, j in enumerate(choice))
    score = sum(sens[i][j] for i, j in enumerate(choice))
    if total > budget:
        hint = ("the cheapest-loss option of every layer ignores the budget: the total cost must stay <= budget"
                if choice == [int(np.argmin(r)) for r in sens] else "sum of the chosen costs must be <= budget")
        raise Fail(f"{what}: your choice {choice} costs {total} > budget {budget}\n{hint}")
    if score > best.score + 1e-9:
        greedy = allocate_greedy(s, c, budget)
        hint = ("that is what greedy (loss per saved cost) finds; it is not always optimal: keep, layer by layer, "
                "every cheapest-for-its-loss partial choice (dynamic programming)"
                if abs(score - greedy.score) < 1e-9 else
                "a total cost equal to the budget fits (<=, not <)" if any(
                    sum(cost[i][j] for i, j in enumerate(ch)) == budget and
                    abs(sum(sens[i][j] for i, j in enumerate(ch)) - best.score) < 1e-9
                    for ch in itertools.product(*(range(len(r)) for r in sens))) else
                "minimise the total sensitivity among the choices whose total cost fits the budget")
        raise Fail(f"{what}: your choice {choice} has total sensitivity {score:g}; the best within the budget "
                   f"has {best.score:g}\n{hint}")


@EX3.case("two layers, three options: greedy would overshoot")
def _(fn):
    _check_knap(fn, [[1.0, 4.0, 4.0], [1.0, 2.0, 3.0]], [[10, 7, 3], [7, 6, 3]], 15, "2 layers")


@EX3.case("the budget is met exactly by the best choice")
def _(fn):
    _check_knap(fn, [[0.0, 1.0], [0.0, 2.0], [0.0, 0.5]], [[4, 1], [4, 1], [4, 1]], 9, "3 layers")


@EX3.case("enough budget for everything, and only the cheapest fits")
def _(fn):
    sens, cost = [[0.1, 0.5, 2.0], [0.0, 0.3, 0.9]], [[9, 3, 1], [8, 4, 1]]
    _check_knap(fn, sens, cost, 100, "2 layers")
    _check_knap(fn, sens, cost, 2, "2 layers")


@EX3.case("five layers of a random table", points=2)
def _(fn):
    rng = np.random.default_rng(5)
    cost = rng.integers(1, 30, (5, 3)).tolist()
    sens = np.round(rng.uniform(0, 3, (5, 3)), 3).tolist()
    _check_knap(fn, sens, cost, 50, "5 layers")
    _check_knap(fn, sens, cost, 35, "5 layers")


# ----------------------------------------------------------------------------- 11.4
EX4 = exercise("11.4", "pareto_front: the configurations no other beats on both cost and accuracy")


def _check_front(fn, costs, accs, label):
    want = pareto_ref(costs, [-a for a in accs])
    what = f"pareto_front({label})"
    got = _indices(fn(list(costs), list(accs)), what)
    loose = [i for i in range(len(costs)) if not any(
        costs[j] < costs[i] and accs[j] > accs[i] for j in range(len(costs)))]
    loose.sort(key=lambda i: costs[i])
    mistakes = [
        ("a point is dominated when another costs no more AND is no less accurate (one of the two strictly): "
         "equal cost with lower accuracy, or equal accuracy at a higher cost, is off the frontier", loose),
        ("sort the frontier by cost, cheapest first", sorted(want, key=lambda i: -costs[i])),
        ("the frontier keeps LOW cost and HIGH accuracy; you kept high cost or low accuracy",
         pareto_ref([-c for c in costs], accs)),
        ("the frontier keeps LOW cost and HIGH accuracy; you kept high cost or low accuracy",
         pareto_ref(costs, list(accs))),
    ]
    hint = next((h for h, v in mistakes if v == got and v != want),
                "keep i unless some j has cost_j <= cost_i and acc_j >= acc_i with one strict; sort by cost")
    expect_equal(got, want, what, hint=hint)


@EX4.case("five configurations, no ties")
def _(fn):
    _check_front(fn, [5.0, 1.0, 3.0, 4.0, 8.0], [0.9, 0.5, 0.8, 0.7, 0.95], "5 points")


@EX4.case("ties in cost or in accuracy", points=2)
def _(fn):
    _check_front(fn, [2.0, 2.0, 3.0, 5.0, 5.0, 6.0], [0.6, 0.7, 0.7, 0.9, 0.8, 0.9], "ties")


@EX4.case("uniform and mixed allocations of the book's digits CNN (BitOPs in thousands, ties included)")
def _(fn):
    # PTQ test accuracy of the digits CNN at uniform and DP-allocated per-layer bits (w, a in {2, 4, 8})
    costs = [94.72, 189.44, 189.44, 231.42, 378.88, 378.88, 378.88, 483.33, 757.76, 757.76, 1515.52]
    accs = [0.4611, 0.5944, 0.8639, 0.8972, 0.9194, 0.8778, 0.9111, 0.9250, 0.9194, 0.9278, 0.9389]
    _check_front(fn, costs, accs, "digits CNN")
