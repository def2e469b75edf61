"""Chapter 11's recipes: uniform vs mixed at equal cost, the frontier points, QAT after PTQ."""
import numpy as np
import pytest

from qnn_lite.data import load_digits
from qnn_lite.hw import BitFusionArray
from qnn_lite.recipes.digits import digits_cnn, digits_loaders, train_digits_model
from qnn_lite.recipes.mixed_precision import frontier_points, ptq_accuracy, qat_recovery, uniform_vs_mixed
from qnn_lite.transforms.cost import layer_specs, network_cost
from qnn_lite.transforms.mixed_precision import bit_options, pareto_front


@pytest.fixture(scope="module")
def setup():
    model, _ = train_digits_model(digits_cnn(seed=0), epochs=5)
    X_train, y_train, X, y = load_digits(seed=0)
    specs = layer_specs(model, X[:1])
    opts = bit_options((2, 4, 8))
    # a made-up additive score: fewer bits hurt, the first layer most
    sens = {s.name: {(w, a): (3.0 if s.name == "0" else 1.0) * (4.0 ** -w + 4.0 ** -a) for w, a in opts}
            for s in specs}
    return model, X_train[:256], X, y, specs, opts, sens


def test_mixed_never_costs_more_than_uniform_in_its_budget_metric(setup):
    model, calib, X, y, specs, opts, sens = setup
    array = BitFusionArray(4, 4)
    rows = uniform_vs_mixed(model, specs, sens, X, y, calib, opts, 4, array=array)
    assert [(r["budget_metric"], r["config"]) for r in rows] == [
        ("bitops", "uniform w4a4"), ("bitops", "mixed (dp)"), ("cycles", "uniform w4a4"), ("cycles", "mixed (dp)")]
    for uni, mix in (rows[:2], rows[2:]):
        m = uni["budget_metric"]
        assert mix[m] <= uni[m]
        assert mix["cycles"] == network_cost(specs, mix["bits"], "cycles", array=array)
        assert sum(sens[n][b] for n, b in mix["bits"].items()) <= sum(sens[n][b] for n, b in uni["bits"].items())
    assert rows[0]["accuracy"] == ptq_accuracy(model, rows[0]["bits"], X, y, calib)


def test_frontier_points_hold_every_uniform_config_and_distinct_allocations(setup):
    model, calib, X, y, specs, opts, sens = setup
    pts = frontier_points(model, specs, sens, X[:120], y[:120], calib, opts, "bitops", fractions=[0.0, 0.5, 1.0])
    uniform = [p for p in pts if p["kind"] == "uniform"]
    assert len(uniform) == len(opts)
    assert len({tuple(p["bits"].values()) for p in pts}) == len(pts)
    front = pareto_front([p["bitops"] for p in pts], [-p["accuracy"] for p in pts])
    assert pts[front[0]]["bitops"] == min(p["bitops"] for p in pts)


def test_qat_recovers_accuracy_of_a_two_bit_model(setup):
    model, calib, X, y, specs, opts, sens = setup
    train_loader, _ = digits_loaders(batch_size=64, seed=0)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    r = qat_recovery(model, {s.name: (2, 4) for s in specs}, train_loader, X, y, calib, epochs=1)
    assert r["qat"] > r["ptq"] + 0.05
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())   # model untouched


def test_frontier_points_without_uniform_rows_keeps_only_non_uniform_allocations(setup):
    model, calib, X, y, specs, opts, sens = setup
    kw = dict(fractions=[0.0, 0.5, 1.0])
    both = frontier_points(model, specs, sens, X[:60], y[:60], calib, opts, "cycles", **kw)
    mixed = frontier_points(model, specs, sens, X[:60], y[:60], calib, opts, "cycles", uniform=False, **kw)
    assert mixed == [p for p in both if p["kind"] == "mixed"]
    assert mixed and all(len(set(p["bits"].values())) > 1 for p in mixed)
