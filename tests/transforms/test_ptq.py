"""PTQ pipeline: BN folding, prepare (placement, per-layer configs), calibrate, convert, bias correction."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.data import DataLoader
from qnn_lite.transforms.fake_quant import FakeQuantize, QConfig, default_qconfig
from qnn_lite.transforms.layers import QuantLinear
from qnn_lite.quantizers.observers import MinMaxObserver
from qnn_lite.transforms.ptq import (bias_correction, calibrate, convert, fuse_conv_bn, fuse_modules,
                                     prepare, ptq)


def rng(seed=0):
    return np.random.default_rng(seed)


def trained_bn(bn, seed):
    r = rng(seed)
    n = bn.num_features
    bn.weight.data[...] = r.uniform(0.5, 2, n)
    bn.bias.data[...] = r.normal(size=n)
    bn.running_mean[...] = r.normal(size=n)
    bn.running_var[...] = r.uniform(0.1, 3, n)
    return bn.eval()


# ----- BN folding ----------------------------------------------------------------------------
def test_fuse_conv_bn_equals_conv_then_bn():
    nn.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3, stride=2, padding=1), trained_bn(nn.BatchNorm2d(4), 1)
    x = Tensor(rng(2).normal(size=(2, 3, 7, 7)).astype(np.float32))
    fused = fuse_conv_bn(conv, bn)
    with no_grad():
        assert np.allclose(fused(x).data, bn(conv(x)).data, atol=1e-5)
    assert fused is not conv and not np.array_equal(fused.weight.data, conv.weight.data)


def test_fuse_conv_without_bias_and_linear_bn():
    nn.manual_seed(1)
    conv, bn = nn.Conv2d(2, 3, 1, bias=False), trained_bn(nn.BatchNorm2d(3), 3)
    x = Tensor(rng(4).normal(size=(1, 2, 3, 3)).astype(np.float32))
    with no_grad():
        assert np.allclose(fuse_conv_bn(conv, bn)(x).data, bn(conv(x)).data, atol=1e-5)
    lin, bn1 = nn.Linear(5, 4), trained_bn(nn.BatchNorm1d(4), 5)
    x = Tensor(rng(6).normal(size=(3, 5)).astype(np.float32))
    with no_grad():
        assert np.allclose(fuse_conv_bn(lin, bn1)(x).data, bn1(lin(x)).data, atol=1e-5)


def test_fuse_errors():
    with pytest.raises(TypeError, match="Conv2d, BatchNorm2d"):
        fuse_conv_bn(nn.Conv2d(1, 2, 1), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="num_features"):
        fuse_conv_bn(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(3))


def test_fuse_modules_keeps_names_and_function():
    nn.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), trained_bn(nn.BatchNorm2d(3), 7), nn.ReLU(), nn.Flatten(),
                          nn.Linear(12, 4), trained_bn(nn.BatchNorm1d(4), 8))
    fused = fuse_modules(model)
    assert [type(m).__name__ for m in fused] == ["Conv2d", "Identity", "ReLU", "Flatten", "Linear", "Identity"]
    x = Tensor(rng(9).normal(size=(2, 1, 4, 4)).astype(np.float32))
    with no_grad():
        assert np.allclose(fused(x).data, model.eval()(x).data, atol=1e-5)
    assert isinstance(model[1], nn.BatchNorm2d)                   # the original is untouched


# ----- prepare / calibrate / convert -----------------------------------------------------------------
def mlp(seed=0):
    nn.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def loader(n=64, seed=0):
    r = rng(seed)
    return DataLoader(r.normal(size=(n, 6)).astype(np.float32), r.integers(0, 3, n), 16)


def test_prepare_placement():
    qm = prepare(mlp(), default_qconfig())
    assert [type(m).__name__ for m in qm] == ["QuantAct", "QuantLinear", "QuantReLU", "QuantLinear",
                                              "QuantReLU", "QuantLinear"]
    assert list(qm._modules) == ["quant_in", "0", "1", "2", "3", "4"]
    assert qm[1].output_fake_quant is None                         # its ReLU quantizes
    assert isinstance(qm[5].output_fake_quant, FakeQuantize)       # last layer quantizes its output
    fqs = [m for m in qm.modules() if isinstance(m, FakeQuantize)]
    # activations: input, 2 ReLUs, last output; plus 3 weights
    assert len(fqs) == 4 + 3
    assert all(f.observer_enabled and not f.fake_quant_enabled for f in fqs)


def test_prepare_non_sequential_model_is_wrapped():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            return self.fc(x)
    qm = prepare(Net(), default_qconfig())
    assert list(qm._modules) == ["quant_in", "model"] and isinstance(qm.model.fc, QuantLinear)
    assert qm.model.fc.output_fake_quant is not None


def test_per_layer_qconfig_dict_for_mixed_precision():
    cfg = {"": default_qconfig(8, 8), "2": default_qconfig(4, 4), nn.Conv2d: None, "4": None}
    qm = prepare(mlp(), cfg)
    assert qm[1].weight_fake_quant.quant_max == 127
    assert qm[3].weight_fake_quant.quant_max == 7 and qm[4].fake_quant.quant_max == 15  # its ReLU: 4-bit too
    assert type(qm[5]) is nn.Linear                                # "4": None stays float
    type_cfg = {nn.Linear: default_qconfig(6, 8)}
    assert prepare(mlp(), type_cfg)[1].weight_fake_quant.quant_max == 31
    with pytest.raises(TypeError, match="qconfig"):
        prepare(mlp(), "int8")
    with pytest.raises(TypeError, match=r"qconfig\['2'\]"):
        prepare(mlp(), {"2": 8})


def test_calibrate_then_convert_uses_observer_qparams():
    data = loader()
    qm = calibrate(prepare(mlp(), default_qconfig()), data)
    obs_in = qm[0].fake_quant.observer
    xs = np.concatenate([X.data for X, _ in data])
    # moving average of per-batch min/max: the first batch sets it, later ones move it
    c = np.float32(obs_in.averaging_constant)
    lo, hi = xs[:16].min(), xs[:16].max()
    for i in range(16, len(xs), 16):
        lo = np.float32(lo + c * (xs[i:i + 16].min() - lo))
        hi = np.float32(hi + c * (xs[i:i + 16].max() - hi))
    np.testing.assert_allclose([obs_in.min_val, obs_in.max_val], [lo, hi], rtol=1e-6)
    assert lo != xs.min() and hi != xs.max()  # the average is not simply the extremes
    expected = {id(m): m.calculate_qparams() for m in qm.modules() if isinstance(m, FakeQuantize)}
    cm = convert(qm)
    old_fq = [m for m in qm.modules() if isinstance(m, FakeQuantize)]
    new_fq = [m for m in cm.modules() if isinstance(m, FakeQuantize)]
    assert len(new_fq) == len(old_fq) >= 4  # input + 3 Linear weights (+ outputs): never a vacuous loop
    for m_old, m_new in zip(old_fq, new_fq):
        s, z = expected[id(m_old)]
        assert m_new.scale == s and m_new.zero_point == z
        assert m_new.fake_quant_enabled and not m_new.observer_enabled
    # frozen: running more data changes nothing
    before = cm[0].fake_quant.scale.copy()
    with no_grad():
        cm(Tensor(10 * xs))
    assert cm[0].fake_quant.scale == before


def test_calibrate_minmax_sees_exactly_the_data():
    cfg = QConfig(weight=default_qconfig().weight, activation=FakeQuantize.with_args(observer=MinMaxObserver))
    data = loader()
    qm = calibrate(prepare(mlp(), cfg), data, num_batches=2)
    xs = np.concatenate([X.data for X, _ in data][:2])
    assert qm[0].fake_quant.observer.min_val == xs.min() and qm[0].fake_quant.observer.max_val == xs.max()
    with pytest.raises(ValueError, match="num_batches"):
        calibrate(qm, data, num_batches=0)


def test_converted_model_is_close_to_float_and_not_equal():
    model = mlp().eval()
    data = loader()
    qm = ptq(model, default_qconfig(), data)
    x = Tensor(rng(1).normal(size=(32, 6)).astype(np.float32))
    with no_grad():
        yf, yq = model(x).data, qm(x).data
    assert 0 < np.abs(yf - yq).mean() < 0.02


def test_bias_correction_reduces_mean_output_error():
    nn.manual_seed(3)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    r = rng(10)
    X = (r.normal(size=(256, 20)) + 1.0).astype(np.float32)   # non-zero-mean inputs: biased error
    data = DataLoader(X, np.zeros(256, np.int64), 64)
    cfg = default_qconfig(w_bits=3, a_bits=8)
    qm = ptq(model, cfg, data)
    with no_grad():
        yf, y0 = model(Tensor(X)).data, qm(Tensor(X)).data
    fused = model
    bias_correction(fused, qm, data)
    with no_grad():
        y1 = qm(Tensor(X)).data
    err0, err1 = np.abs((y0 - yf).mean(axis=0)).mean(), np.abs((y1 - yf).mean(axis=0)).mean()
    assert err1 < 0.7 * err0
    with pytest.raises(ValueError, match="float_model"):
        bias_correction(nn.Sequential(nn.Linear(20, 5)), qm, data)
