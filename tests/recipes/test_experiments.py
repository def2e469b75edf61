"""Chapter 05 recipes: the biased coin, learned clips, LSQ's gradient scale, and the PTQ/QAT table's claims."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.data import load_digits
from qnn_lite.recipes.digits import digits_cnn
from qnn_lite.recipes.experiments import (TABLE_COLUMNS, bits_table, coin_ste, float_digits_model,
                                          format_table, learn_clip, lsq_update_ratios, ptq_then_qat,
                                          qat_curves, w4a8_table)


# ----- the biased coin -------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(p=st.floats(0.0, 1.0), a=st.floats(-5, 5), b=st.floats(-5, 5))
def test_coin_ste_exact_for_linear_cost(p, a, b):
    r = coin_ste(p, lambda q: a * q + b, lambda q: a + 0 * q, n=200, seed=1)
    assert r["true"] == pytest.approx(a)        # c(1) - c(0)
    assert r["ste_mean"] == pytest.approx(a)    # every draw gives exactly a: unbiased, zero variance
    assert r["ste_se"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_coin_ste_biased_for_quadratic_cost(p):
    # c = (q - 0.3)^2: true dE[c]/dp = c(1) - c(0) = 0.49 - 0.09 = 0.4; STE mean = E[2(q - 0.3)] = 2p - 0.6
    r = coin_ste(p, lambda q: (q - 0.3) ** 2, lambda q: 2 * (q - 0.3), n=50_000, seed=0)
    assert r["true"] == pytest.approx(0.4)
    assert abs(r["ste_mean"] - (2 * p - 0.6)) < 4 * r["ste_se"]
    assert abs(r["bias"] - (2 * p - 1)) < 4 * r["ste_se"] + 1e-12   # bias 2p - 1: zero only at p = 1/2


def test_coin_ste_rejects_bad_input():
    with pytest.raises(ValueError, match="p must be a probability"):
        coin_ste(1.5, lambda q: q, lambda q: 1 + 0 * q)
    with pytest.raises(ValueError, match="n must be"):
        coin_ste(0.5, lambda q: q, lambda q: 1 + 0 * q, n=1)


# ----- PACT vs LSQ clip learning ------------------------------------------------------------------------
def test_pact_without_penalty_never_moves_from_above_the_data():
    r = learn_clip("pact", bits=3, steps=20, n=512)
    np.testing.assert_array_equal(r["alpha"], 10.0)       # nothing is >= 10: d alpha = 0
    assert r["mse"][0] == r["mse"][-1]


def test_pact_one_step_by_hand():
    # init 1.0 is inside the data; d/d alpha mean((y - x)^2) = mean(2 (alpha - x) 1{x >= alpha}) + 2 lam alpha
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(256), 0).astype(np.float32)
    r = learn_clip("pact", bits=2, steps=1, lr=0.5, penalty=0.1, n=256, init=1.0, seed=0)
    grad = np.mean(2 * (1.0 - x) * (x >= 1.0)) + 2 * 0.1 * 1.0
    assert r["alpha"][1] == pytest.approx(1.0 - 0.5 * grad, rel=1e-5)


def test_lsq_finds_the_mse_optimal_clip_and_pact_penalty_pulls_in():
    lsq = learn_clip("lsq", bits=3, steps=300)
    assert lsq["alpha"][-1] == pytest.approx(lsq["best_alpha"], abs=0.05)
    assert lsq["mse"][-1] < 1.1 * lsq["best_mse"]
    pact = learn_clip("pact", bits=3, steps=300, penalty=0.01)
    assert pact["alpha"][-1] < 3 and pact["mse"][-1] < pact["mse"][0] / 3
    assert pact["mse"][-1] > lsq["mse"][-1]        # the penalty, not the rounding error, sets PACT's clip


def test_learn_clip_rejects_bad_input():
    with pytest.raises(ValueError, match="method"):
        learn_clip("dorefa")
    with pytest.raises(ValueError, match="bits"):
        learn_clip("pact", bits=1)
    with pytest.raises(ValueError, match="lr"):
        learn_clip("lsq", lr=-1.0)


# ----- LSQ gradient scale -------------------------------------------------------------------------------
def test_lsq_gradient_scale_divides_the_ratio_by_sqrt_n_qp():
    X, y, _, _ = load_digits()
    X, y = X[:32], y[:32]
    for bits in (2, 4):
        with_g = lsq_update_ratios(digits_cnn(seed=0), X, y, bits, use_grad_scaling=True)
        without = lsq_update_ratios(digits_cnn(seed=0), X, y, bits, use_grad_scaling=False)
        assert [r[0] for r in with_g] == ["0", "4", "9"]          # conv, conv, linear (BN folded away)
        assert [r[1] for r in with_g] == [72, 1152, 640]
        for (_, n, qp, r1), (_, _, _, r0) in zip(with_g, without):
            assert qp == 2 ** (bits - 1) - 1
            assert r0 / r1 == pytest.approx(math.sqrt(n * qp), rel=1e-4)


# ----- PTQ vs QAT ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return float_digits_model(0)


def test_float_model_is_trained_and_cached(model):
    m, acc = model
    assert acc > 0.95
    again, acc2 = float_digits_model(0)
    assert acc2 == acc


def test_16_bit_ptq_is_the_float_model_and_model_untouched(model):
    m, acc = model
    before = {k: v.copy() for k, v in m.state_dict().items()}
    ptq_acc, qat_acc = ptq_then_qat(m, 16, 16, per_channel=False, qat_epochs=1)
    assert ptq_acc == pytest.approx(acc, abs=1 / 360 + 1e-9)   # at most one test image changes
    assert qat_acc > 0.95
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_table_claims_at_the_hardest_setting():
    row = w4a8_table(0, w_bits=2, a_bits=8)
    assert set(row) == {*TABLE_COLUMNS, "fp32_finetuned"}
    # the claims the chapter prints: 2-bit PTQ breaks, QAT recovers most of it, per-channel helps
    assert row["ptq_per_tensor"] < row["fp32"] - 0.2
    assert row["qat_per_tensor"] >= row["ptq_per_tensor"] + 0.2
    assert row["qat_per_channel"] >= row["ptq_per_channel"] + 0.2
    assert row["ptq_per_channel"] > row["ptq_per_tensor"]
    assert row["qat_per_channel"] > row["qat_per_tensor"]
    assert abs(row["fp32_finetuned"] - row["fp32"]) < 0.01     # extra float epochs alone change nothing


def test_w4a8_has_almost_no_gap():
    row = w4a8_table(0, w_bits=4, a_bits=8, control=False)
    assert "fp32_finetuned" not in row
    for k in TABLE_COLUMNS[1:]:
        assert abs(row[k] - row["fp32"]) < 0.02


def test_bits_table_aggregates_and_formats():
    tab = bits_table(seeds=(0,), w_bits=(4, 2))
    assert list(tab) == [(4, 8), (2, 8)]
    r = w4a8_table(0, w_bits=2, a_bits=8)            # the same seeded run: identical numbers
    for k in TABLE_COLUMNS:
        assert tab[(2, 8)][k] == (r[k], r[k], r[k])
    assert tab[(2, 8)]["fp32_finetuned"] == tab[(4, 8)]["fp32_finetuned"]
    text = format_table(tab)
    assert text.splitlines()[0].split() == ["setting", "FP32", "PTQ/tensor", "QAT/tensor", "PTQ/channel",
                                            "QAT/channel", "FP32+ft"]
    assert text.splitlines()[2].startswith("W2A8")


def test_format_table_by_hand():
    tab = {(4, 8): {"fp32": (0.98, 0.97, 0.99), "ptq_per_tensor": (0.95, 0.9, 1.0),
                    "qat_per_tensor": (0.97, 0.97, 0.97), "ptq_per_channel": (0.5, 0.4, 0.6),
                    "qat_per_channel": (0.99, 0.99, 0.99), "fp32_finetuned": (0.98, 0.98, 0.98)}}
    line = format_table(tab).splitlines()[1].split()
    assert line == ["W4A8", "98.00%", "-3.00", "-1.00", "-48.00", "+1.00", "+0.00"]
    assert format_table(tab, "accuracy").splitlines()[1].split()[2] == "95.00%"
    assert format_table(tab, "range").splitlines()[1].split()[4] == "40.0-60.0%"
    with pytest.raises(ValueError, match="kind"):
        format_table(tab, "pp")
    with pytest.raises(ValueError, match="seeds"):
        bits_table(seeds=())


def test_qat_after_ptq_starts_at_ptq_and_beats_scratch():
    c = qat_curves(0, w_bits=2, epochs=2)
    m, _ = float_digits_model(0)
    ptq_acc, _ = ptq_then_qat(m, 2, 8, per_channel=True, qat_epochs=1)
    assert c["after_ptq"][0] == ptq_acc
    assert len(c["from_scratch"]) == 2 and len(c["after_ptq"]) == 3
    assert c["after_ptq"][-1] > c["from_scratch"][-1] + 0.1


def test_recipe_arguments_are_checked(model):
    m, _ = model
    with pytest.raises(ValueError, match="w_bits"):
        ptq_then_qat(m, 1, 8, per_channel=False)
    with pytest.raises(ValueError, match="qat_epochs"):
        ptq_then_qat(m, 4, 8, per_channel=False, qat_epochs=0)
    with pytest.raises(ValueError, match="seed"):
        float_digits_model(-1)
