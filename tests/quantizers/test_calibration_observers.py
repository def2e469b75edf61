"""KL (TensorRT), SAWB, ACIQ observers and joint MMSE clipping: hand cases, a literal reading of
TensorRT's algorithm, the published constants, properties and degenerate inputs."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.transforms.fake_quant import FakeQuantize, QConfig, default_qconfig
from qnn_lite.quantizers.calibration import (ACIQObserver, KLObserver, SAWBObserver, aciq_threshold,
                                             expand_quantized, joint_mmse_clip, kl_threshold, mmse_clip,
                                             sawb_threshold)


def literal_tensorrt(hist, levels):
    """Migacz (GTC 2017), slide "Entropy Calibration - pseudocode", read line by line."""
    divergence = {}
    for i in range(levels, len(hist) + 1):
        P = list(hist[:i])
        P[i - 1] += sum(hist[i:])
        m = i // levels
        Q = [0.0] * i
        for j in range(levels):
            lo, hi = j * m, (i if j == levels - 1 else (j + 1) * m)
            nz = [k for k in range(lo, hi) if hist[k] != 0]
            for k in nz:
                Q[k] = sum(hist[lo:hi]) / len(nz)
        sp, sq = sum(P), sum(Q)
        kl = 0.0
        for p, q in zip(P, Q):
            if p > 0:
                kl = math.inf if q == 0 else kl + p / sp * math.log((p / sp) / (q / sq))
        divergence[i] = kl
    return divergence


HIST = [4, 2, 0, 1, 1, 0, 0, 2]


def test_expand_keeps_zero_bins_zero_and_spreads_the_rest():
    np.testing.assert_array_equal(expand_quantized([4, 2, 0, 1], 2), [3, 3, 0, 1])
    np.testing.assert_array_equal(expand_quantized([4, 2, 0, 1, 1], 2), [3, 3, 0, 1, 1])  # last group takes the rest


def test_kl_by_hand_for_four_bins():
    _, div = kl_threshold(HIST, 1.0, num_levels=2)
    # i = 4: P = [4, 2, 0, 1 + 3] / 10, Q = [3, 3, 0, 1] / 7
    want = 0.4 * math.log(0.4 / (3 / 7)) + 0.2 * math.log(0.2 / (3 / 7)) + 0.4 * math.log(0.4 / (1 / 7))
    assert div[4 - 2] == pytest.approx(want, rel=1e-12)
    assert div[3 - 2] == math.inf  # P[2] gets the outliers, Q[2] is an empty bin


@pytest.mark.parametrize("seed", range(5))
def test_kl_threshold_matches_the_literal_algorithm(seed):
    rng = np.random.default_rng(seed)
    hist = np.histogram(np.abs(rng.standard_t(3, 3000)), bins=64)[0]
    t, div = kl_threshold(hist, 0.5, num_levels=8)
    lit = literal_tensorrt(list(hist.astype(float)), 8)
    np.testing.assert_allclose(div, [lit[i] for i in range(8, 65)], rtol=1e-10)
    m = min(lit, key=lambda i: (lit[i], i)) - 1
    assert t == (m + 0.5) * 0.5


def test_kl_observer_is_kl_threshold_on_the_histogram_of_abs_x():
    x = np.random.default_rng(0).laplace(size=5000).astype(np.float32)
    obs = KLObserver(bits=8, signed=True, symmetric=True, flatten_zero_bin=False)
    obs(x)
    lo, hi = obs.clip_range()
    top = float(np.abs(x.astype(np.float64)).max())
    want, _ = kl_threshold(np.histogram(np.abs(x.astype(np.float64)), 2048, (0, top))[0], top / 2048, 128)
    assert obs.threshold_ == pytest.approx(want, rel=1e-6)
    assert (float(lo), float(hi)) == pytest.approx((max(x.min(), -want), min(x.max(), want)), rel=1e-6)
    assert want < top  # the tail of a Laplace is clipped


def test_flattening_the_zero_bin_keeps_relu_outputs_from_collapsing_the_threshold():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=20000), 0).astype(np.float32)  # half exact zeros
    lit, nv = (KLObserver(bits=8, flatten_zero_bin=f) for f in (False, True))
    lit(x), nv(x)
    lit.clip_range(), nv.clip_range()
    assert lit.threshold_ < 2 < 3 < nv.threshold_  # literal: a uint8 N(0,1) ReLU clipped below 2 sigma


def test_sawb_by_hand_and_its_coefficients():
    x = np.array([1.0, -1.0, 3.0, -3.0])
    assert sawb_threshold(x, 2) == pytest.approx(3.212 * math.sqrt(5) - 2.178 * 2)
    assert sawb_threshold(x, 4) == pytest.approx(12.68 * math.sqrt(5) - 12.80 * 2)
    with pytest.raises(ValueError, match="bits must be one of"):
        sawb_threshold(x, 8)
    with pytest.raises(ValueError, match="bits must be one of"):
        SAWBObserver(bits=3)


@pytest.mark.parametrize("bits,laplace,gauss", [(2, 2.83, 1.71), (3, 3.89, 2.15), (4, 5.03, 2.55)])
def test_aciq_reproduces_banner_et_al_clipping_values(bits, laplace, gauss):
    """Banner et al. (2019): alpha* = 2.83b, 3.89b, 5.03b (Laplace), 1.71, 2.15, 2.55 sigma (Gaussian)."""
    x = np.random.default_rng(0).laplace(0, 1, 200_000)
    b = np.mean(np.abs(x - x.mean()))
    assert aciq_threshold(x, bits) / b == pytest.approx(laplace, abs=0.015)
    g = np.random.default_rng(0).normal(0, 1, 200_000)
    assert aciq_threshold(g, bits, "gaussian") / g.std() == pytest.approx(gauss, abs=0.015)  # the paper prints 2 decimals


def test_joint_mmse_of_one_tensor_is_the_per_tensor_search_and_the_minimum_of_the_grid():
    rng = np.random.default_rng(1)
    x, y = rng.laplace(size=2000), 3 * rng.normal(size=500)
    assert joint_mmse_clip([x, x], 4)[0] == mmse_clip(x, 4)
    t, err = joint_mmse_clip([x, y], 4)
    assert err.min() == err[int(np.argmin(err))] and t <= max(np.abs(x).max(), np.abs(y).max())
    # the shared threshold is between the two tensors' own thresholds
    assert min(mmse_clip(x, 4), mmse_clip(y, 4)) - 0.2 <= t <= max(mmse_clip(x, 4), mmse_clip(y, 4)) + 0.2
    with pytest.raises(ValueError, match="tensors must be a non-empty list"):
        joint_mmse_clip([])


@pytest.mark.parametrize("obs", [KLObserver, SAWBObserver, ACIQObserver])
def test_degenerate_inputs(obs):
    o = obs(bits=4, signed=True, symmetric=True)
    o(np.zeros(10))
    s, z = o.calculate_qparams()
    assert np.isfinite(s) and s > 0 and z == 0
    o = obs(bits=4, signed=True, symmetric=True)
    o(np.array([2.5]))
    assert np.isfinite(o.calculate_qparams()[0])
    with pytest.raises(ValueError, match="NaN"):
        obs(bits=4)(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="inf"):
        obs(bits=4)(np.array([1.0, np.inf]))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=2, max_size=200),
       st.sampled_from([KLObserver, SAWBObserver, ACIQObserver]))
def test_clip_range_contains_zero_and_lies_inside_the_observed_range(values, obs):
    x = np.array(values, np.float32)
    o = obs(bits=4, signed=True, symmetric=True)
    o(x)
    lo, hi = o.clip_range()
    assert min(x.min(), 0) <= lo <= 0 <= hi <= max(x.max(), 0)


def test_the_observers_plug_into_a_qconfig_and_ptq():
    from qnn_lite.data import DataLoader
    from qnn_lite.transforms.ptq import ptq
    from qnn_lite.train import evaluate
    from qnn_lite.zoo import load_pretrained
    from qnn_lite.zoo.training import load_dataset

    X, y, Xt, yt = load_dataset("digits")
    model = load_pretrained("digits_cnn")
    test = DataLoader(Xt, yt, batch_size=500)
    float_acc = evaluate(model, test)
    for obs in (KLObserver, ACIQObserver):
        cfg = QConfig(weight=default_qconfig(8, 8).weight,
                      activation=FakeQuantize.with_args(observer=obs, bits=8, signed=False))
        qm = ptq(model, cfg, DataLoader(X[:128], y[:128], batch_size=64))
        assert type(qm.quant_in.fake_quant.observer) is obs
        assert evaluate(qm, test) >= float_acc - 0.03
