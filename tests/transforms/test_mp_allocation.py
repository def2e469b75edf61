"""Mixed-precision allocation: the DP is optimal (vs brute force), greedy is feasible, the QConfigs
run through PTQ, QAT and integer-only inference unchanged, bad input is named."""
import itertools

import numpy as np
import pytest

from qnn_lite.data import load_digits
from qnn_lite.recipes.digits import digits_cnn, train_digits_model
from qnn_lite.transforms.integer import convert_to_integer
from qnn_lite.transforms.qat import prepare_qat
from qnn_lite.transforms.ptq import ptq
from qnn_lite.transforms.layers import QUANT_LAYERS
from qnn_lite.transforms.cost import layer_specs, network_cost
from qnn_lite.transforms.mixed_precision import (allocate, allocate_dp, allocate_greedy, allocation_qconfig,
                                                 bit_options, cost_table, pareto_front, uniform_allocation)


def _instance(rng, n_layers, n_options, int_costs=True):
    opts = [(w, a) for w, a in itertools.product((2, 4, 8), (2, 4, 8))][:n_options]
    cost, sens = {}, {}
    for l in range(n_layers):
        name = f"l{l}"
        c = rng.integers(1, 50, n_options) if int_costs else rng.uniform(0.1, 5.0, n_options)
        cost[name] = {o: (int(v) if int_costs else float(v)) for o, v in zip(opts, c)}
        sens[name] = {o: float(v) for o, v in zip(opts, rng.normal(0, 1, n_options))}
    return sens, cost


def _brute(sens, cost, budget):
    names = list(cost)
    best = None
    for choice in itertools.product(*(list(cost[n]) for n in names)):
        c = sum(cost[n][o] for n, o in zip(names, choice))
        if c <= budget:
            s = sum(sens[n][o] for n, o in zip(names, choice))
            best = s if best is None or s < best else best
    return best


@pytest.mark.parametrize("int_costs", [True, False])
def test_dp_is_optimal_on_random_instances(int_costs):
    rng = np.random.default_rng(0)
    greedy_worse = 0
    for _ in range(150):
        sens, cost = _instance(rng, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int_costs)
        lo = sum(min(v.values()) for v in cost.values())
        hi = sum(max(v.values()) for v in cost.values())
        budget = float(rng.uniform(lo, hi)) if rng.random() < 0.9 else lo
        want = _brute(sens, cost, budget)
        got = allocate_dp(sens, cost, budget)
        assert got.score == pytest.approx(want, abs=1e-9)
        assert got.cost <= budget + 1e-9
        assert got.cost == pytest.approx(sum(cost[n][o] for n, o in got.bits.items()))
        g = allocate_greedy(sens, cost, budget)
        assert g.cost <= budget + 1e-9 and g.score >= want - 1e-9
        greedy_worse += g.score > want + 1e-9
    assert greedy_worse > 0          # the exact solver matters: greedy misses the optimum sometimes


def test_dp_handles_thirty_layers_quickly_and_exactly_on_a_separable_case():
    # 30 layers, 9 options, costs = MACs * w * a: the Pareto set stays small
    rng = np.random.default_rng(1)
    opts = bit_options((2, 4, 8))
    macs = rng.integers(1, 100, 30)
    cost = {f"l{i}": {(w, a): int(m * w * a) for w, a in opts} for i, m in enumerate(macs)}
    sens = {f"l{i}": {(w, a): float(s * (4.0 ** -w + 4.0 ** -a)) for w, a in opts}
            for i, s in enumerate(rng.uniform(0.1, 10, 30))}
    top = sum(max(v.values()) for v in cost.values())
    alloc = allocate_dp(sens, cost, top)          # everything fits: the best option everywhere
    assert all(b == (8, 8) for b in alloc.bits.values())
    half = allocate_dp(sens, cost, top // 4)
    assert half.cost <= top // 4 and half.score <= allocate_greedy(sens, cost, top // 4).score + 1e-12
    assert list(half.bits) == list(cost)          # layer order kept


def test_hand_instance_where_greedy_is_not_optimal():
    # 17 > 15: greedy takes the best loss per saved cost, A -> 2 bits (3/7 < 2/4), and overshoots;
    # the optimum lowers B instead
    cost = {"A": {(8, 8): 10, (4, 4): 7, (2, 2): 3}, "B": {(8, 8): 7, (4, 4): 6, (2, 2): 3}}
    sens = {"A": {(8, 8): 1.0, (4, 4): 4.0, (2, 2): 4.0}, "B": {(8, 8): 1.0, (4, 4): 2.0, (2, 2): 3.0}}
    dp = allocate_dp(sens, cost, 15)
    assert dp.bits == {"A": (8, 8), "B": (2, 2)} and (dp.cost, dp.score) == (13, 4.0)
    g = allocate_greedy(sens, cost, 15)
    assert g.bits == {"A": (2, 2), "B": (8, 8)} and (g.cost, g.score) == (10, 5.0)
    assert allocate(sens, cost, 15, method="greedy") == g and allocate(sens, cost, 15) == dp


def test_pareto_front_hand_case():
    costs, scores = [5, 1, 3, 3, 8, 2], [1.0, 9.0, 4.0, 5.0, 1.0, 9.5]
    assert pareto_front(costs, scores) == [1, 2, 0]
    with pytest.raises(ValueError, match="one length"):
        pareto_front([1], [1, 2])


# ------------------------------------------------------------- bad input is named
def test_bad_input_errors():
    sens, cost = _instance(np.random.default_rng(2), 3, 4)
    lo = sum(min(v.values()) for v in cost.values())
    with pytest.raises(ValueError, match=f"budget must be at least {lo}"):
        allocate_dp(sens, cost, lo - 1)
    with pytest.raises(ValueError, match=f"budget must be at least {lo}"):
        allocate_greedy(sens, cost, lo - 0.5)
    with pytest.raises(ValueError, match=r"sensitivity is missing layers \['l2'\] of the cost table"):
        allocate_dp({k: sens[k] for k in ("l0", "l1")}, cost, 1000)
    with pytest.raises(ValueError, match=r"sensitivity names layers \['l2'\] that the cost table does not have"):
        allocate_dp(sens, {k: cost[k] for k in ("l0", "l1")}, 1000)
    bad = {**sens, "l1": {o: v for o, v in list(sens["l1"].items())[1:]}}
    with pytest.raises(ValueError, match=r"sensitivity\['l1'\] has no value for options"):
        allocate_dp(bad, cost, 1000)
    with pytest.raises(ValueError, match="method must be one of"):
        allocate(sens, cost, 1000, method="ilp")
    with pytest.raises(ValueError, match="budget"):
        allocate_dp(sens, cost, float("nan"))
    specs = layer_specs(digits_cnn(seed=0), np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="BitFusion array cannot run layer '0' at w=3"):
        cost_table(specs, bit_options((3, 4, 8)), "cycles")
    assert cost_table(specs, bit_options((3, 4, 8)), "bitops")["9"][(3, 3)] == 640 * 9   # BitOPs has no such limit
    with pytest.raises(ValueError, match=r"bits is missing layers \['9'\] of the model"):
        allocation_qconfig({"0": (8, 8), "4": (4, 4)}, model=digits_cnn(seed=0))
    with pytest.raises(ValueError, match="more than storage_bits=8"):
        allocation_qconfig({"0": (8, 16)})
    with pytest.raises(ValueError, match="bits"):
        allocation_qconfig({"0": (1, 8)})


# ------------------------------------------------------- the allocation as QConfigs
@pytest.fixture(scope="module")
def trained():
    model, _ = train_digits_model(digits_cnn(seed=0), epochs=5)
    X_train, _, X_test, y_test = load_digits(seed=0)
    return model, X_train[:256], X_test, y_test


def test_allocation_runs_through_ptq_qat_and_integer_inference(trained):
    model, calib, X, y = trained
    bits = {"0": (8, 4), "4": (2, 4), "9": (4, 8)}
    qcfg = allocation_qconfig(bits, model=model)
    qm = ptq(model, qcfg, [calib])
    layers = {n: m for n, m in qm.named_modules() if isinstance(m, QUANT_LAYERS)}
    assert set(layers) == {"0", "4", "9"}
    for n, (w, a) in bits.items():
        m = layers[n]
        assert (m.weight_fake_quant.quant_min, m.weight_fake_quant.quant_max) == (-(2 ** (w - 1)), 2 ** (w - 1) - 1)
        if a == 8:
            assert m.input_fake_quant is None                     # reads the 8-bit stored tensor
        else:
            assert (m.input_fake_quant.quant_min, m.input_fake_quant.quant_max) == (0, 2 ** a - 1)
    fake = qm(X).data
    integer = convert_to_integer(qm)(X)
    assert np.mean(fake.argmax(1) == integer.argmax(1)) > 0.98
    assert np.abs(fake - integer).max() < 0.05 * np.abs(fake).max()
    qat = prepare_qat(model, qcfg)                               # QAT takes the same dict
    assert sum(isinstance(m, QUANT_LAYERS) and m.input_fake_quant is not None for m in qat.modules()) == 2


def test_uniform_allocation_and_cost_of_the_dp_choice(trained):
    model = trained[0]
    specs = layer_specs(model, np.zeros((1, 1, 8, 8), np.float32))
    names = [s.name for s in specs]
    u4 = uniform_allocation(names, 4)
    assert u4 == {"0": (4, 4), "4": (4, 4), "9": (4, 4)}
    opts = bit_options((2, 4, 8))
    cost = cost_table(specs, opts, "bitops")
    sens = {n: {(w, a): 1.0 / (w * a) for w, a in opts} for n in names}
    budget = network_cost(specs, u4, "bitops")
    alloc = allocate_dp(sens, cost, budget)
    assert alloc.cost <= budget and alloc.cost == network_cost(specs, alloc.bits, "bitops")
    assert alloc.score <= sum(sens[n][u4[n]] for n in names)    # never worse than uniform at equal cost


def test_qconfig_input_activation_hook():
    from qnn_lite import nn
    from qnn_lite.transforms.fake_quant import QConfig, default_qconfig
    from qnn_lite.transforms.layers import QuantLinear
    with pytest.raises(TypeError, match="QConfig.input_activation must be a zero-argument factory"):
        QConfig(weight=None, activation=None, input_activation=4)
    base = default_qconfig(8, 8)
    lin = nn.Linear(3, 2)
    assert QuantLinear(lin, base).input_fake_quant is None                       # unchanged default
    q = QuantLinear(lin, QConfig(base.weight, base.activation, input_activation=default_qconfig(8, 3).activation))
    assert (q.input_fake_quant.quant_min, q.input_fake_quant.quant_max) == (0, 7)
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    q.weight_fake_quant.disable_fake_quant()
    q(x)                                                                          # observe
    q.input_fake_quant.freeze()
    y = q(x).data                                                                 # the input on a 3-bit grid
    xq = np.rint(x * 7) / 7
    np.testing.assert_allclose(y, xq @ lin.weight.data.T + lin.bias.data, atol=1e-6)
