"""Bias correction (analytic and empirical), ZeroQ / DSG synthesis, AdaRound, Bit-Split."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import nn
from qnn_lite.autograd.tensor import no_grad
from qnn_lite.data import DataLoader
from qnn_lite.transforms.fake_quant import FakeQuantize, QConfig, default_qconfig
from qnn_lite.quantizers.observers import MinMaxObserver
from qnn_lite.transforms.ptq import calibrate, convert, fuse_modules, prepare
from qnn_lite.quantizers.uniform import fake_quantize
from qnn_lite.quantizers.bit_split import bit_split_quantize, split_bits, stitch_bits
from qnn_lite.transforms.adaround import adaround, adaround_layer
from qnn_lite.transforms.bias_correction import (analytic_bias_correction, clipped_normal_mean,
                                                 empirical_bias_correction, relu_normal_mean)
from qnn_lite.transforms.synthetic import bn_match_error, synthesize_dsg, synthesize_zeroq
from qnn_lite.zoo import load_pretrained


# ----- bias correction ----------------------------------------------------------------------------
def test_relu_and_clipped_normal_means_by_hand_and_by_monte_carlo():
    assert relu_normal_mean(0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert relu_normal_mean(5.0, 0.0) == 5.0 and relu_normal_mean(-5.0, 0.0) == 0.0
    z = np.random.default_rng(0).normal(0.7, 2.0, 2_000_000)
    assert relu_normal_mean(0.7, 2.0) == pytest.approx(np.maximum(z, 0).mean(), abs=3e-3)
    assert clipped_normal_mean(0.7, 2.0, 0.0, 6.0) == pytest.approx(np.clip(z, 0, 6).mean(), abs=3e-3)
    assert clipped_normal_mean(0.7, -2.0, 0.0, 6.0) == clipped_normal_mean(0.7, 2.0, 0.0, 6.0)  # gamma < 0


def _synthetic_layer(seed=0, c=6, o=5):
    """conv(identity 1x1) -> BN(N(0,1) in, so N(beta, gamma^2) out) -> ReLU -> conv 1x1 at 3 bits."""
    g = np.random.default_rng(seed)
    c1 = nn.Conv2d(c, c, 1, bias=False, generator=g)
    c1.weight.data[...] = np.eye(c, dtype=np.float32).reshape(c, c, 1, 1)
    bn = nn.BatchNorm2d(c)
    bn.weight.data[...] = g.uniform(0.5, 2, c)
    bn.bias.data[...] = g.normal(0.5, 1, c)
    c2 = nn.Conv2d(c, o, 1, generator=g)
    model = nn.Sequential(c1, bn, nn.ReLU(), c2).eval()
    x = g.normal(size=(4000, c, 1, 1)).astype(np.float32)
    wq = FakeQuantize.with_args(observer=MinMaxObserver, bits=3, signed=True, symmetric=True)
    qm = convert(prepare(fuse_modules(model), {"3": QConfig(weight=wq)}))  # only the second layer, weights only
    return model, qm, x


def _mean_error(model, qm, x):
    with no_grad():
        return (qm(x).data - model(x).data).mean(axis=(0, 2, 3))


def test_analytic_bias_correction_removes_the_expected_bias_of_a_synthetic_layer():
    model, qm, x = _synthetic_layer()
    before = _mean_error(model, qm, x)
    shifts = analytic_bias_correction(model, qm)
    after = _mean_error(model, qm, x)
    assert list(shifts) == ["3"]
    assert np.abs(before).max() > 0.05                     # 3-bit weights shift the mean visibly
    assert np.abs(after).max() < 0.1 * np.abs(before).max()  # the rest is Monte-Carlo noise
    np.testing.assert_allclose(shifts["3"], before, atol=0.02)


def test_empirical_bias_correction_removes_the_measured_bias():
    model, qm, x = _synthetic_layer(seed=1)
    before = _mean_error(model, qm, x)
    empirical_bias_correction(qm, [x[:2000]])
    after = _mean_error(model, qm, x[2000:])
    assert np.abs(after).max() < 0.15 * np.abs(before).max()


def test_bias_correction_rejects_models_without_the_needed_structure():
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match="BatchNorm"):
        analytic_bias_correction(nn.Sequential(nn.Conv2d(2, 2, 1, generator=g)), nn.Sequential())
    with pytest.raises(ValueError, match="no QuantConv2d"):
        empirical_bias_correction(nn.Sequential(nn.Linear(2, 2, generator=g)), [np.zeros((1, 2))])


# ----- ZeroQ / DSG -----------------------------------------------------------------------------------
def test_zeroq_loss_decreases_and_matches_the_bn_statistics():
    model = load_pretrained("digits_cnn")
    x, losses = synthesize_zeroq(model, (32, 1, 8, 8), steps=150, lr=0.1)
    assert x.shape == (32, 1, 8, 8) and x.dtype == np.float32
    assert losses[-1] < 0.05 * losses[0]
    noise = np.random.default_rng(0).normal(size=(32, 1, 8, 8))
    # stated tolerance: every BN channel's batch mean and std within 0.1 running std of its running values
    assert bn_match_error(model, x) < 0.1 < bn_match_error(model, noise)
    assert not any(type(m).__name__ == "_Recorder" for m in model.modules())  # model restored


def test_dsg_loss_decreases_and_keeps_samples_apart():
    model = load_pretrained("digits_cnn")
    xz, _ = synthesize_zeroq(model, (16, 1, 8, 8), steps=100)
    xd, losses = synthesize_dsg(model, (16, 1, 8, 8), steps=100, slack=0.2)
    assert losses[-1] < 0.1 * losses[0]
    assert bn_match_error(model, xd) < 0.5  # inside a looser band: the slack allows it


def test_synthesis_rejects_a_model_without_batchnorm():
    with pytest.raises(ValueError, match="no BatchNorm2d"):
        synthesize_zeroq(nn.Sequential(nn.Linear(4, 2, generator=np.random.default_rng(0))), (2, 4))
    with pytest.raises(ValueError, match="steps"):
        synthesize_zeroq(load_pretrained("digits_cnn"), (2, 1, 8, 8), steps=0)


# ----- AdaRound -------------------------------------------------------------------------------------
def test_adaround_beats_round_to_nearest_and_stays_on_the_grid():
    from qnn_lite.zoo.training import load_dataset

    X = load_dataset("digits")[0][:128]
    qm = convert(calibrate(prepare(fuse_modules(load_pretrained("digits_cnn")), default_qconfig(3, 8)), [X]))
    res = adaround(qm, [X], steps=150)
    for name, r in res.items():
        assert r["adaround"] < r["rtn"], name  # strictly better at 3 bits on every layer
    layer = dict(qm.named_modules())["4"]  # the second conv (quant_in is first)
    s, z, quant_min, quant_max, _ = layer.weight_fake_quant.qparams()
    np.testing.assert_array_equal(fake_quantize(layer.weight.data, s, z, quant_min, quant_max), layer.weight.data)


def test_adaround_rejects_an_unconverted_layer():
    with pytest.raises(TypeError, match="converted QuantConv2d"):
        adaround_layer(nn.Linear(2, 2, generator=np.random.default_rng(0)), np.zeros((1, 2)))


# ----- Bit-Split -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("kind", ["normal", "laplace", "structured"])
def test_bit_split_never_loses_to_round_to_nearest(bits, kind):
    rng = np.random.default_rng(bits)
    w = {"normal": rng.normal(size=(8, 64)), "laplace": rng.laplace(size=(8, 64)),
         "structured": np.outer(np.linspace(0.1, 2, 8), np.sin(np.arange(64)))}[kind]
    w_hat, alpha, w_int, hist = bit_split_quantize(w, bits, iters=8)
    assert np.all(np.diff(hist) <= 1e-12)  # each sweep is an exact coordinate step
    assert np.abs(w_int).max() <= 2 ** (bits - 1) - 1
    top = 2 ** (bits - 1) - 1
    a0 = np.abs(w).max() / top
    rtn = np.mean((w - a0 * np.clip(np.rint(w / a0), -top, top)) ** 2)
    assert hist[0] == pytest.approx(rtn) and np.mean((w - w_hat) ** 2) <= rtn * (1 + 1e-6)
    if bits <= 3 and kind == "laplace":
        assert hist[-1] < 0.9 * rtn  # heavy tails: the fitted scale helps a lot


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 10), st.data())
def test_split_then_stitch_is_the_identity(bits, data):
    top = 2 ** (bits - 1) - 1
    w_int = np.array(data.draw(st.lists(st.integers(-top, top), min_size=1, max_size=30)))
    planes = split_bits(w_int, bits)
    assert planes.shape == (bits - 1, w_int.size) and set(np.unique(planes)) <= {-1, 0, 1}
    np.testing.assert_array_equal(stitch_bits(planes), w_int)


def test_bit_split_degenerate_and_bad_inputs():
    w_hat, alpha, w_int, _ = bit_split_quantize(np.zeros((3, 3)), 4)
    assert not w_hat.any() and not w_int.any()
    w_hat, _, _, _ = bit_split_quantize(np.array([0.7]), 4)
    assert w_hat[0] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="must lie in"):
        split_bits([8], 4)
    with pytest.raises(ValueError, match="finite"):
        bit_split_quantize(np.array([1.0, np.inf]), 4)
    w_hat, alpha, w_int, _ = bit_split_quantize(np.random.default_rng(0).normal(size=(4, 9)), 3, ch_axis=0)
    assert alpha.shape == (4,)
