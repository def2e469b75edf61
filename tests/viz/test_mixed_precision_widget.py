"""Chapter 11's mixed-precision widget, driven without a browser."""
import numpy as np
import pytest

from qnn_lite.data import load_digits
from qnn_lite.recipes.digits import digits_cnn, train_digits_model
from qnn_lite.transforms.ptq import ptq
from qnn_lite.transforms.cost import layer_specs, network_cost
from qnn_lite.transforms.mixed_precision import allocate_dp, allocate_greedy, allocation_qconfig, cost_table
from qnn_lite.transforms.sensitivity import evaluate_arrays
from qnn_lite.viz.mixed_precision import mixed_precision_widget


@pytest.fixture(scope="module")
def setup():
    model, _ = train_digits_model(digits_cnn(seed=0), epochs=5)
    X_train, _, X, y = load_digits(seed=0)
    w = mixed_precision_widget(model, X, y, calib=X_train[:256])
    return model, X_train[:256], X, y, w


def _bars(ax):
    return [p.get_height() for p in ax.patches]


def test_manual_selection_updates_every_readout(setup):
    model, calib, X, y, w = setup
    w.controls["mode"].value = "manual"
    choice = {"0": (8, 4), "4": (2, 4), "9": (4, 8)}
    for n, o in choice.items():
        w.controls[n].value = o
    r = w.readout
    assert r["bits"] == choice
    specs = layer_specs(model, X[:1])
    for m in ("size", "bitops", "cycles", "energy"):
        assert r[m] == pytest.approx(network_cost(specs, choice, m))
    assert r["bitops"] == 4608 * 32 + 18432 * 8 + 640 * 32
    qm = ptq(model, allocation_qconfig(choice, model=model), [calib])
    assert r["accuracy"] == evaluate_arrays(qm, X, y)[1]
    assert _bars(w.ax_bits) == [8, 2, 4, 4, 4, 8]                  # weight bars, then input bars
    shares = _bars(w.ax_cost)
    assert shares[:3] == pytest.approx([r["per_layer"][n]["bitops"] / r["bitops"] for n in "049"])
    assert sum(shares[3:]) == pytest.approx(1.0)


def test_budget_slider_drives_the_allocator(setup):
    model, calib, X, y, w = setup
    w.controls["metric"].value = "cycles"
    w.controls["mode"].value = "budget"
    costs = cost_table(w.specs, w.options, "cycles")
    lo = sum(min(v.values()) for v in costs.values())
    hi = sum(max(v.values()) for v in costs.values())
    seen = set()
    for frac in (0.0, 0.3, 1.0):
        w.controls["budget"].value = frac
        budget = lo + frac * (hi - lo)
        want = allocate_dp(w.sensitivity, costs, budget)
        r = w.readout
        assert r["budget"] == pytest.approx(budget) and r["bits"] == want.bits
        assert {n: w.controls[n].value for n in w.names} == want.bits
        assert r["cycles"] <= budget and r["score"] == pytest.approx(want.score)
        seen.add(tuple(want.bits.values()))
    assert len(seen) >= 2                                        # the slider really changes the allocation
    # one input channel and 8 output channels fill 1 of 16 rows and half the columns at any bits:
    # the first conv's cycles do not fall with its bits, so the allocator keeps it at 8 bits
    assert len(set(costs["0"].values())) == 1 and all(b[0] == (8, 8) for b in seen)
    w.controls["method"].value = "greedy"
    assert w.readout["bits"] == allocate_greedy(w.sensitivity, costs, w.budget_value()).bits
    w.controls["0"].value = (2, 2)                               # touching a layer goes back to manual
    assert w.controls["mode"].value == "manual" and w.readout["bits"]["0"] == (2, 2)
    w.controls["method"].value = "dp"


def test_widget_rejects_bad_arguments(setup):
    model, calib, X, y, w = setup
    with pytest.raises(ValueError, match="BitFusion array cannot run layer '0' at w=3"):
        mixed_precision_widget(model, X, y, bits=(3, 8), sensitivity={})
    with pytest.raises(ValueError, match="metric must be one of"):
        mixed_precision_widget(model, X, y, bits=(4, 8), sensitivity=w.sensitivity, metric="flops")


def test_sensitivity_bars_and_frontier_scatter():
    from qnn_lite.viz.mixed_precision import plot_frontier, plot_sensitivity
    table = {"0": {(2, 2): 0.3, (8, 8): 0.01}, "4": {(2, 2): 0.5, (8, 8): -0.02}}
    fig = plot_sensitivity(table)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.3, 0.5, 0.01, -0.02]      # option by option
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["w2/a2", "w8/a8"]
    pts = [dict(kind="uniform", accuracy=0.5, bitops=10, cycles=5), dict(kind="uniform", accuracy=0.9, bitops=40, cycles=5),
           dict(kind="mixed", accuracy=0.8, bitops=20, cycles=7), dict(kind="mixed", accuracy=0.95, bitops=30, cycles=9)]
    fig = plot_frontier(pts)
    for ax, m, front in zip(fig.axes, ("bitops", "cycles"), ([10, 20, 30], [5, 9])):
        offsets = [c.get_offsets() for c in ax.collections]
        assert [len(o) for o in offsets] == [2, 2]
        assert list(ax.get_lines()[0].get_xdata()) == front                   # the Pareto step line


def test_layer_value_bars_short_labels_and_tied_options(setup):
    from qnn_lite.viz.mixed_precision import _short, plot_layer_values
    assert [_short(n) for n in ("features.block4.conv.1.0", "features.stem.0", "fc", "0")] == \
        ["block4.1", "stem", "fc", "0"]
    fig = plot_layer_values({"a": 2.0, "b": -1.0}, {"a": 0.5, "b": 0.25}, highlight=("b",))
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [2.0, -1.0]
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor()
    model, calib, X, y, w = setup
    tied = mixed_precision_widget(model, X[:50], y[:50], calib=calib[:32], tie=True, sensitivity={
        n: {o: 1.0 / o[0] for o in ((2, 2), (4, 4), (8, 8))} for n in w.names})
    assert tied.options == [(2, 2), (4, 4), (8, 8)]
    assert [o for _, o in tied.controls["0"].options] == tied.options
