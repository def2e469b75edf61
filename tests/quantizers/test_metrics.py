"""qnn_lite.quantizers.metrics: measured error (MSE, SQNR, rounding vs clipping) and the Δ²/12 noise model."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnn_lite.quantizers.metrics import (DB_PER_BIT, clipping_mse, expected_mse, mse, quant_error,
                                         rounding_noise_power, sqnr_db, sqnr_theory_db)
from qnn_lite.recipes.sqnr import format_sqnr_table, sqnr_table
from qnn_lite.quantizers.uniform import calc_qparams, fake_quantize, qrange


# ----- measured: hand-checked -------------------------------------------------------------------
def test_sqnr_of_exact_copy_is_inf_and_mse_zero():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    assert sqnr_db(x, x.copy()) == math.inf
    assert mse(x, x.copy()) == 0.0


def test_known_noise_by_hand():
    x = np.array([1.0, -1.0, 1.0, -1.0], np.float32)           # power 1
    x_hat = x + np.array([0.1, -0.1, -0.1, 0.1], np.float32)    # noise power 0.01
    assert mse(x, x_hat) == pytest.approx(0.01, rel=1e-6)
    assert sqnr_db(x, x_hat) == pytest.approx(20.0, abs=1e-5)


def test_noise_model_and_rules_by_hand():
    assert rounding_noise_power(0.5) == pytest.approx(0.25 / 12)
    assert DB_PER_BIT == pytest.approx(6.0206, abs=1e-4)
    assert sqnr_theory_db(8) == pytest.approx(48.16, abs=0.01)
    assert sqnr_theory_db(8, "sine") == pytest.approx(48.16 + 1.76, abs=0.01)
    # Gaussian clipped at 4 sigma: 6.02 b + 4.77 - 12.04
    assert sqnr_theory_db(8, "gaussian", k=4) == pytest.approx(48.16 + 4.77 - 12.04, abs=0.01)


def test_clipping_mse_closed_forms_against_integration():
    t = np.linspace(0, 40, 400001)
    for alpha in (0.5, 2.0, 3.0):
        gauss = np.trapezoid(2 * (t[t > alpha] - alpha) ** 2 * np.exp(-t[t > alpha] ** 2 / 2) / math.sqrt(2 * math.pi),
                             t[t > alpha])
        lap = np.trapezoid(2 * (t[t > alpha] - alpha) ** 2 * 0.5 * np.exp(-t[t > alpha]), t[t > alpha])
        assert clipping_mse(alpha) == pytest.approx(gauss, rel=1e-4)
        assert clipping_mse(alpha, "laplace") == pytest.approx(lap, rel=1e-4)
    assert clipping_mse(0.0) == pytest.approx(1.0)              # clip everything: E[x^2] = sigma^2
    assert clipping_mse(0.0, "laplace", scale=2.0) == pytest.approx(8.0)   # 2 b^2


def test_expected_mse_matches_measurement_at_4_bits():
    g = np.random.default_rng(0).normal(0, 1, 50000).astype(np.float32)
    for alpha in (2.0, 2.5, 3.0):
        r = quant_error(g, bits=4, symmetric=True, narrow=True, clip=alpha / float(np.abs(g).max()))
        assert r["mse"] == pytest.approx(expected_mse(alpha, float(r["scale"])), rel=0.06)


# ----- quant_error ------------------------------------------------------------------------------
def test_quant_error_matches_fake_quantize_and_splits_the_mse():
    x = np.random.default_rng(1).normal(0, 1, (8, 50)).astype(np.float32)
    r = quant_error(x, bits=4, clip=0.6)
    quant_min, quant_max = qrange(4)
    s, z = calc_qparams(np.float32(0.6) * x.min(), np.float32(0.6) * x.max(), quant_min, quant_max)
    np.testing.assert_array_equal(r["x_hat"], fake_quantize(x, s, z, quant_min, quant_max))
    assert r["mse"] == pytest.approx(r["rounding_mse"] + r["clipping_mse"])
    assert r["mse"] == pytest.approx(mse(x, r["x_hat"]))
    assert r["clipping_mse"] > 0 and 0 < r["clipped_fraction"] < 0.5
    # clipped values sit on the end levels
    assert set(np.unique(r["x_hat"][r["clipped"]])) <= {np.float32((quant_min - z) * s), np.float32((quant_max - z) * s)}


def test_full_range_clips_nothing():
    x = np.random.default_rng(2).uniform(-3, 5, (4, 30)).astype(np.float32)
    for kw in ({}, {"symmetric": True, "narrow": True}, {"per_channel": True}):
        r = quant_error(x, bits=3, **kw)
        assert r["clipping_mse"] == 0 and r["clipped_fraction"] == 0


def test_per_channel_beats_per_tensor_on_unequal_channels():
    rng = np.random.default_rng(3)
    w = (rng.normal(0, 1, (16, 64)) * np.geomspace(0.01, 1, 16)[:, None]).astype(np.float32)
    for b in (2, 4, 8):
        pt, pc = quant_error(w, bits=b), quant_error(w, bits=b, per_channel=True)
        assert pc["mse"] < pt["mse"] and pc["scale"].shape == (16,)


def test_affine_beats_symmetric_on_relu_outputs_by_6db():
    a = np.maximum(np.random.default_rng(4).normal(0, 1, 20000), 0).astype(np.float32)
    aff, sym = quant_error(a, bits=8), quant_error(a, bits=8, symmetric=True)
    # symmetric wastes the negative half of the codes: twice the step, four times the noise
    assert aff["sqnr_db"] - sym["sqnr_db"] == pytest.approx(DB_PER_BIT, abs=0.5)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.floats(0.05, 1.0), st.booleans())
def test_clip_split_properties(bits, clip, sym):
    x = np.random.default_rng(bits).normal(0, 1, (4, 64)).astype(np.float32)
    r = quant_error(x, bits=bits, clip=clip, symmetric=sym, narrow=sym)
    assert r["rounding_mse"] >= 0 and r["clipping_mse"] >= 0
    assert r["mse"] == pytest.approx(r["rounding_mse"] + r["clipping_mse"], rel=1e-9, abs=1e-15)
    # unclipped values are off by at most half a step
    step = float(r["scale"])
    assert np.all(np.abs(x - r["x_hat"])[~r["clipped"]] <= step / 2 * (1 + 1e-5))


def test_constant_and_one_element_inputs():
    r = quant_error(np.full((3, 3), 2.0, np.float32), bits=4)
    assert r["mse"] == pytest.approx(0.0, abs=1e-10)
    r1 = quant_error(np.array([0.0], np.float32), bits=4)
    assert r1["mse"] == 0 and r1["sqnr_db"] == math.inf


# ----- the 6.02 dB per bit claim (chapter 03's table) ----------------------------------------------
def test_sqnr_table_six_db_per_bit_and_noise_model():
    x = np.random.default_rng(0).uniform(-1, 1, 100000).astype(np.float32)
    rows = sqnr_table(x, bits=range(2, 9))
    s = np.array([r["sqnr_db"] for r in rows])
    slope = np.diff(s[2:])                                    # bits 4..8
    assert np.all(np.abs(slope - 6.02) < 0.5)
    for r in rows:
        assert abs(r["sqnr_db"] - r["model_db"]) < 0.1         # Delta^2/12 holds for a uniform signal
        assert r["mse"] == pytest.approx(r["noise_model"], rel=0.02)
        assert r["rule_db"] - r["sqnr_db"] == pytest.approx(20 * math.log10(2 ** r["bits"] / (2 ** r["bits"] - 1)),
                                                            abs=0.05)
    text = format_sqnr_table(rows)
    assert text.splitlines()[0].split()[0] == "bits" and len(text.splitlines()) == 8


def test_gaussian_model_breaks_down_at_2_bits_only():
    g = np.random.default_rng(0).normal(0, 1, 100000).astype(np.float32)
    rows = {r["bits"]: r for r in sqnr_table(g)}
    assert abs(rows[2]["sqnr_db"] - rows[2]["model_db"]) > 0.3
    assert all(abs(rows[b]["sqnr_db"] - rows[b]["model_db"]) < 0.1 for b in range(4, 9))


# ----- bad input ----------------------------------------------------------------------------------
def test_errors_name_the_argument():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="bits"):
        quant_error(x, bits=1)
    with pytest.raises(ValueError, match="clip"):
        quant_error(x, clip=0.0)
    with pytest.raises(ValueError, match="clip"):
        quant_error(x, clip=1.5)
    with pytest.raises(ValueError, match="per_channel"):
        quant_error(np.ones(3, np.float32), per_channel=True)
    with pytest.raises(ValueError, match="axis"):
        quant_error(x, per_channel=True, ch_axis=2)
    with pytest.raises(ValueError, match="finite"):
        quant_error(np.array([1.0, np.nan], np.float32))
    with pytest.raises(ValueError, match="finite"):
        quant_error(np.array([1.0, np.inf], np.float32))
    with pytest.raises(TypeError, match="x must be"):
        quant_error(np.array(["a"]))
    with pytest.raises(ValueError, match="scale"):
        rounding_noise_power(0.0)
    with pytest.raises(ValueError, match="signal"):
        sqnr_theory_db(4, "square")
    with pytest.raises(ValueError, match="needs k"):
        sqnr_theory_db(4, "gaussian")
    with pytest.raises(ValueError, match="k is only used"):
        sqnr_theory_db(4, "uniform", k=3.0)
    with pytest.raises(ValueError, match="bits"):
        sqnr_theory_db(0)
    with pytest.raises(ValueError, match="dist"):
        clipping_mse(1.0, "cauchy")
    with pytest.raises(ValueError, match="alpha"):
        clipping_mse(-1.0)
    with pytest.raises(ValueError, match="all zeros"):
        sqnr_table(np.zeros(5, np.float32))


def test_expected_mse_rejects_bad_step():
    with pytest.raises(ValueError, match="step"):
        expected_mse(2.0, 0.0)
    with pytest.raises(ValueError, match="step"):
        expected_mse(2.0, float("nan"))


def test_model_reproduces_banner_et_al_optimal_clipping():
    # Banner, Nahshan & Soudry (2019), ACIQ: optimal alpha for a grid of 2^M levels (step 2 alpha / 2^M)
    published = {"gaussian": (1.71, 2.15, 2.55), "laplace": (2.83, 3.89, 5.03)}
    a = np.linspace(0.5, 8, 3001)
    for dist, values in published.items():
        for bits, want in zip((2, 3, 4), values):
            got = a[np.argmin([expected_mse(v, 2 * v / 2 ** bits, dist) for v in a])]
            assert got == pytest.approx(want, abs=0.03)


def test_measured_clipping_optimum_matches_the_model_at_4_bits():
    g = np.random.default_rng(5).normal(0, 1, 40000).astype(np.float32)
    amax = float(np.abs(g).max())
    alphas = np.linspace(1.5, 3.5, 21)
    measured = [quant_error(g, bits=4, symmetric=True, narrow=True, clip=a / amax)["mse"] for a in alphas]
    model = [expected_mse(a, a / 7) for a in alphas]
    assert abs(alphas[np.argmin(measured)] - alphas[np.argmin(model)]) <= 0.2
    # and the optimum beats the min/max range clearly
    assert min(measured) < 0.5 * quant_error(g, bits=4, symmetric=True, narrow=True)["mse"]


def test_per_channel_survives_a_relu_rescaling_that_breaks_per_tensor():
    """Chapter 03's last table in miniature: rescaling conv1's channels (undone in conv2) keeps the float
    function, hurts per-tensor 4-bit weights far more than per-channel ones."""
    from qnn_lite import Tensor, nn
    from qnn_lite.autograd.tensor import no_grad

    nn.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    X = Tensor(np.random.default_rng(0).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32))
    with no_grad():
        ref = net(X).data.copy()
        a = np.geomspace(1 / 8, 8, 8).astype(np.float32)
        net[0].weight.data[...] *= a[:, None, None, None]
        net[0].bias.data[...] *= a
        net[2].weight.data[...] /= a[None, :, None, None]
        np.testing.assert_allclose(net(X).data, ref, rtol=1e-4, atol=1e-5)   # same function
        state = {k: v.copy() for k, v in net.state_dict().items()}
        err = {}
        for pc in (False, True):
            net.load_state_dict(state)
            for layer in (net[0], net[2]):
                layer.weight.data[...] = quant_error(layer.weight.data, bits=4, symmetric=True, narrow=True,
                                                     per_channel=pc)["x_hat"]
            err[pc] = mse(ref, net(X).data)
    assert err[True] < 0.6 * err[False]
