"""Chapter 11 exercises: known wrong answers fail with their hint; a different optimal answer passes.

The masters scoring 100 %, the student notebooks scoring 0 and matching `build` are covered by the
dynamic tests in test_wrong_answers.py, test_grade.py and test_build.py, which enumerate every master.
"""
import itertools

import numpy as np
import pytest

from exercises import check
from exercises.selftest import assert_covers, assert_rejects, case_ids


def _bitops(kind):
    def f(c_in, c_out, k, oh, ow, groups, w, a):
        cin = c_in if kind == "no_groups" else c_in // groups
        macs = oh * ow * c_out * cin * (k if kind == "k_once" else k * k)
        return {"sum": macs * (w + a), "w_only": macs * w, "two_ops": 2 * macs * w * a}.get(kind, macs * w * a)
    return f


def _hutch(kind):
    def f(A, V):
        if kind == "trace":
            return float(np.trace(A))
        if kind == "sum":
            return float(sum(V[:, j] @ A @ V[:, j] for j in range(V.shape[1])))
        if kind == "rows":
            return float(np.mean([V[i] @ A @ V[i] for i in range(V.shape[0])]))
        return float(np.mean(A @ V))
    return f


def _knap(kind):
    def f(sens, cost, budget):
        options = list(itertools.product(*(range(len(r)) for r in sens)))
        if kind == "no_budget":
            return [int(np.argmin(r)) for r in sens]
        if kind == "strict":
            ok = [ch for ch in options if sum(cost[i][j] for i, j in enumerate(ch)) < budget] or options[-1:]
            return list(min(ok, key=lambda ch: sum(sens[i][j] for i, j in enumerate(ch))))
        # greedy: start at the least sensitive option, downgrade by loss per saved cost
        cur = [int(np.argmin(r)) for r in sens]
        while sum(cost[i][j] for i, j in enumerate(cur)) > budget:
            moves = [((sens[i][j] - sens[i][cur[i]]) / (cost[i][cur[i]] - cost[i][j]), i, j)
                     for i in range(len(sens)) for j in range(len(sens[i])) if cost[i][j] < cost[i][cur[i]]]
            _, i, j = min(moves)
            cur[i] = j
        return cur
    return f


def _front(kind):
    def f(costs, accs):
        n = len(costs)
        if kind == "loose":
            keep = [i for i in range(n) if not any(costs[j] < costs[i] and accs[j] > accs[i] for j in range(n))]
            return sorted(keep, key=lambda i: costs[i])
        order = sorted(range(n), key=lambda i: (costs[i], -accs[i]))
        front, best = [], -np.inf
        for i in order:
            if accs[i] > best:
                front.append(i)
                best = accs[i]
        return front[::-1] if kind == "reversed" else front
    return f


WRONG = [
    ("11.1", _bitops("no_groups"), "c_in / groups"),
    ("11.1", _bitops("sum"), "not their sum"),
    ("11.1", _bitops("w_only"), "count both operands"),
    ("11.1", _bitops("two_ops"), "one product per MAC"),
    ("11.1", _bitops("k_once"), "k * k taps"),
    ("11.2", _hutch("trace"), "not with np.trace"),
    ("11.2", _hutch("sum"), "divide the sum"),
    ("11.2", _hutch("rows"), "COLUMNS of V"),
    ("11.2", _hutch("entries"), "averaged the entries"),
    ("11.3", _knap("greedy"), "greedy"),
    ("11.3", _knap("no_budget"), "ignores the budget"),
    ("11.3", _knap("strict"), "<=, not <"),
    ("11.4", _front("loose"), "one of the two strictly"),
    ("11.4", _front("reversed"), "cheapest first"),
]


@pytest.mark.parametrize("exercise,fn,hint", WRONG, ids=case_ids(WRONG))
def test_wrong_answer_fails_with_its_hint(exercise, fn, hint):
    assert_rejects(exercise, fn, hint)


def test_every_exercise_of_chapter_11_has_a_wrong_answer_test():
    assert_covers(["11"], WRONG)


def test_brute_force_knapsack_and_another_front_order_pass():
    def brute(sens, cost, budget):
        ok = [ch for ch in itertools.product(*(range(len(r)) for r in sens))
              if sum(cost[i][j] for i, j in enumerate(ch)) <= budget]
        return list(min(ok, key=lambda ch: (sum(sens[i][j] for i, j in enumerate(ch)), ch)))
    r = check("11.3", brute, quiet=True)
    assert r.points == r.max_points, r.report()
    r = check("11.4", _front("ok"), quiet=True)
    assert r.points == r.max_points, r.report()


def test_hidden_cases_pass_right_answers_and_reject_wrong_ones():
    from exercises.registry import chapter_exercises
    from exercises.runner import Fail
    from qnn_lite.transforms.mixed_precision import pareto_front

    def brute(sens, cost, budget):
        ok = [ch for ch in itertools.product(*(range(len(r)) for r in sens))
              if sum(cost[i][j] for i, j in enumerate(ch)) <= budget]
        return list(min(ok, key=lambda ch: sum(sens[i][j] for i, j in enumerate(ch))))
    right = {"11.1": _bitops("ok"), "11.2": lambda A, V: float(np.mean([V[:, j] @ A @ V[:, j] for j in range(V.shape[1])])),
             "11.3": brute, "11.4": lambda c, a: pareto_front(c, [-x for x in a])}
    exercises = chapter_exercises("11", hidden=True)
    assert [len(ex.hidden_cases) for ex in exercises] == [1, 1, 1, 1]
    for ex in exercises:
        for case in ex.hidden_cases:
            case.run(right[ex.id])
    for exercise, fn, hint in WRONG:
        ex = next(e for e in exercises if e.id == exercise)
        if exercise == "11.3" and hint == "<=, not <":
            continue                     # the hidden budgets are not met exactly by the best choice
        with pytest.raises((Fail, ValueError)):    # a student function that raises fails the case too
            for case in ex.hidden_cases:
                case.run(fn)
