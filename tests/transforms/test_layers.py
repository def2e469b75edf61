"""FakeQuantize modules, QConfig and the Quant* layers."""
import functools
from contextlib import nullcontext

import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor
from qnn_lite.transforms.fake_quant import (FakeQuantize, QConfig, default_qconfig, dorefa_qconfig,
                                            disable_fake_quant, enable_observer, lsq_qconfig, pact_qconfig)
from qnn_lite.transforms.layers import QuantAct, QuantConv2d, QuantLinear, QuantReLU
from qnn_lite.quantizers.learned import PACT
from qnn_lite.quantizers.lsq import LSQQuantizer
from qnn_lite.quantizers.observers import MinMaxObserver, MSEObserver, PerChannelMinMaxObserver
from qnn_lite.quantizers.uniform import calc_qparams, fake_quantize


def rng(seed=0):
    return np.random.default_rng(seed)


# ----- FakeQuantize ---------------------------------------------------------------------------
def test_fake_quantize_observes_then_quantizes_with_observer_qparams():
    x = rng().normal(size=(4, 5)).astype(np.float32)
    fq = FakeQuantize(MinMaxObserver, bits=4, signed=False)
    y = fq(Tensor(x))
    s, z = calc_qparams(x.min(), x.max(), 0, 15)
    assert fq.scale == s and fq.zero_point == z
    assert np.array_equal(y.data, fake_quantize(x, s, z, 0, 15))
    assert len(np.unique(y.data)) <= 16


def test_fake_quantize_flags():
    x = rng(1).normal(size=(3, 3)).astype(np.float32)
    fq = FakeQuantize(MinMaxObserver)
    fq.disable_fake_quant()
    assert np.array_equal(fq(Tensor(x)).data, x)                  # identity, but observed
    assert fq.observer.max_val == x.max()
    fq.disable_observer().enable_fake_quant()
    fq(Tensor(10 * x))                                            # not observed
    assert fq.observer.max_val == x.max()
    fq2 = FakeQuantize(MinMaxObserver)
    fq2(Tensor(x))
    fq2.freeze()
    s = fq2.scale.copy()
    fq2(Tensor(100 * x))
    assert fq2.scale == s and not fq2.observer_enabled and fq2.fake_quant_enabled


def test_fake_quantize_per_channel_axis_from_observer():
    w = rng(2).normal(size=(3, 4)).astype(np.float32) * np.array([[0.1], [1.0], [10.0]], np.float32)
    fq = FakeQuantize(PerChannelMinMaxObserver, ch_axis=0, signed=True, symmetric=True)
    y = fq(Tensor(w))
    assert fq.ch_axis == 0 and fq.scale.shape == (3,)
    assert np.array_equal(y.data, fake_quantize(w, fq.scale, fq.zero_point, -128, 127, ch_axis=0))


def test_fake_quantize_backward_is_ste():
    x = Tensor(np.array([-3.0, -0.2, 0.3, 0.9, 5.0], np.float32), requires_grad=True)
    fq = FakeQuantize(MinMaxObserver, bits=2, signed=False)
    fq(Tensor(np.array([-1.0, 1.0], np.float32)))   # range [-1, 1]
    fq.disable_observer()
    fq(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_fake_quantize_gradcheck_away_from_steps():
    fq = FakeQuantize(MinMaxObserver, bits=8)
    fq(Tensor(np.array([-4.0, 4.0], np.float32)))
    fq.disable_observer()
    s = float(fq.scale)
    x = (np.arange(6) - 2.5 + 0.5).astype(np.float64) * s + 0.37 * s    # values between grid points
    # fake quant is piecewise constant, the STE says slope 1: check the engine uses that backward
    t = Tensor(x.astype(np.float32), requires_grad=True)
    fq(t).sum().backward()
    assert np.array_equal(t.grad, np.ones(6, np.float32))


def test_fake_quantize_rejects_bad_observer():
    with pytest.raises(TypeError, match="observer"):
        FakeQuantize(observer=3)
    with pytest.raises(TypeError, match="observer"):
        FakeQuantize(observer=lambda: object())
    with pytest.raises(ValueError, match="bits"):
        FakeQuantize(MinMaxObserver, bits=0)


# ----- QConfig ------------------------------------------------------------------------------
def test_default_qconfig_is_torchs_defaults():
    cfg = default_qconfig()
    w, a = cfg.weight(), cfg.activation()
    assert (w.quant_min, w.quant_max, w.observer.symmetric, type(w.observer)) == (-128, 127, True, MinMaxObserver)
    assert (a.quant_min, a.quant_max, a.observer.symmetric) == (0, 255, False)
    assert type(a.observer).__name__ == "MovingAverageMinMaxObserver"
    assert w is not cfg.weight()                                  # a fresh module per call
    wpc = default_qconfig(4, 6, per_channel=True).weight()
    assert (wpc.quant_min, wpc.quant_max, wpc.ch_axis) == (-8, 7, 0)
    assert default_qconfig(4, 6).activation().quant_max == 63


def test_qconfig_with_partial_and_errors():
    cfg = QConfig(weight=functools.partial(FakeQuantize, MSEObserver, signed=True, symmetric=True),
                  activation=FakeQuantize.with_args(observer=MinMaxObserver, bits=4))
    assert isinstance(cfg.weight().observer, MSEObserver) and cfg.activation().quant_max == 15
    with pytest.raises(TypeError, match="QConfig.weight"):
        QConfig(weight=3)
    with pytest.raises(ValueError, match="w_bits"):
        default_qconfig(w_bits=1)
    with pytest.raises(TypeError, match="qconfig must be a QConfig"):
        QuantLinear(nn.Linear(2, 2), qconfig="int8")
    with pytest.raises(TypeError, match="layer must be a Linear"):
        QuantLinear(nn.Conv2d(1, 1, 1), default_qconfig())


# ----- Quant layers ---------------------------------------------------------------------------
def test_quant_linear_equals_fake_quant_matmul():
    nn.manual_seed(0)
    lin = nn.Linear(6, 4)
    ql = QuantLinear(lin, default_qconfig(), quantize_input=True)
    x = rng(3).normal(size=(5, 6)).astype(np.float32)
    y = ql(Tensor(x)).data
    fin, fw = ql.input_fake_quant, ql.weight_fake_quant
    xq = fake_quantize(x, fin.scale, fin.zero_point, 0, 255)
    wq = fake_quantize(lin.weight.data, fw.scale, fw.zero_point, -128, 127)
    assert np.allclose(y, xq @ wq.T + lin.bias.data, atol=1e-6)
    assert not np.allclose(y, x @ lin.weight.data.T + lin.bias.data, atol=1e-6)
    assert ql.weight is lin.weight                               # parameters are shared


def test_quant_conv_equals_conv_of_fake_quant_weight():
    nn.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    qc = QuantConv2d(conv, default_qconfig(per_channel=True), quantize_output=True)
    x = rng(4).normal(size=(2, 2, 5, 5)).astype(np.float32)
    y = qc(Tensor(x)).data
    fw, fo = qc.weight_fake_quant, qc.output_fake_quant
    wq = fake_quantize(conv.weight.data, fw.scale, fw.zero_point, -128, 127, ch_axis=0)
    ref = nn.functional.conv2d(Tensor(x), Tensor(wq), conv.bias, 1, 1).data
    assert np.array_equal(y, fake_quantize(ref, fo.scale, fo.zero_point, 0, 255))



@pytest.mark.parametrize("groups,dilation", [(4, 1), (2, 2)])
def test_quant_conv_keeps_groups_and_dilation(groups, dilation):
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, dilation=dilation, groups=groups, generator=rng(6))
    qc = QuantConv2d(conv, default_qconfig(4, per_channel=True))
    x = rng(7).normal(size=(2, 4, 9, 9)).astype(np.float32)
    y = qc(Tensor(x)).data
    fw = qc.weight_fake_quant
    wq = fake_quantize(conv.weight.data, fw.scale, fw.zero_point, -8, 7, ch_axis=0)
    ref = nn.functional.conv2d(Tensor(x), Tensor(wq), conv.bias, 2, 1, dilation, groups).data
    assert np.array_equal(y, ref) and not np.array_equal(y, conv(Tensor(x)).data)
    assert f"groups={groups}" in repr(qc)
    qc._input_stats = (0.0, 0)                         # bias correction records grouped convs too
    qc(Tensor(x))
    sums, n = qc._input_stats
    oh = (9 + 2 - dilation * 2 - 1) // 2 + 1
    assert n == 2 * oh * oh and sums.shape == (3 * 3 * 4,)  # one im2col row per output pixel, all C taps

def test_quant_linear_gradients_flow_to_shared_weight():
    nn.manual_seed(2)
    lin = nn.Linear(3, 2)
    ql = QuantLinear(lin, default_qconfig())
    x = Tensor(rng(5).normal(size=(4, 3)).astype(np.float32), requires_grad=True)
    ql(x).sum().backward()
    assert lin.weight.grad is not None and lin.bias.grad.tolist() == [4.0, 4.0]
    # STE: inside the range the weight gradient is the float one, x^T g
    assert np.allclose(lin.weight.grad, np.ones((4, 2)).T @ x.data, atol=1e-5)


def test_weights_are_reobserved_each_forward():
    nn.manual_seed(3)
    lin = nn.Linear(3, 2)
    ql = QuantLinear(lin, default_qconfig())
    ql(Tensor(np.ones((1, 3), np.float32)))
    s0 = float(ql.weight_fake_quant.scale)
    lin.weight.data *= 0.5
    ql(Tensor(np.ones((1, 3), np.float32)))
    assert np.isclose(float(ql.weight_fake_quant.scale), s0 / 2, rtol=1e-6)  # shrank, not a running max


def test_per_channel_weight_error_not_worse_than_per_tensor():
    nn.manual_seed(4)
    lin = nn.Linear(16, 8)
    lin.weight.data *= np.logspace(-2, 0, 8, dtype=np.float32)[:, None]  # very different row ranges
    errs = []
    for pc in (False, True):
        ql = QuantLinear(lin, default_qconfig(w_bits=4, per_channel=pc))
        wq = ql.quantized_weight().data
        errs.append(np.mean((wq - lin.weight.data) ** 2))
    assert errs[1] <= errs[0] and errs[1] < 0.5 * errs[0]


def test_quant_act_and_quant_relu():
    x = Tensor(np.array([-2.0, -0.5, 0.0, 0.7, 3.0], np.float32))
    qa, qr = QuantAct(default_qconfig()), QuantReLU(default_qconfig(a_bits=2))
    assert np.allclose(qa(x).data, x.data, atol=5 / 255)
    y = qr(x).data
    assert (y >= 0).all() and len(np.unique(y)) <= 4
    assert qr.fake_quant.observer.min_val == 0.0                  # observed after the ReLU
    with pytest.raises(TypeError, match="qconfig"):
        QuantAct(3)


def test_model_level_switches():
    m = nn.Sequential(QuantAct(default_qconfig()), QuantReLU(default_qconfig()))
    disable_fake_quant(m)
    assert not any(fq.fake_quant_enabled for fq in (m[0].fake_quant, m[1].fake_quant))
    enable_observer(m)
    assert m[1].fake_quant.observer_enabled


# ----- learned quantizers as factories ----------------------------------------------------------
def test_lsq_qconfig_registers_learnable_scales():
    nn.manual_seed(5)
    lin = nn.Linear(4, 3)
    ql = QuantLinear(lin, lsq_qconfig(4, 4), quantize_input=True)
    x = Tensor(np.abs(rng(6).normal(size=(8, 4))).astype(np.float32))
    ql(x).sum().backward()
    names = dict(ql.named_parameters())
    assert {"weight", "bias", "weight_fake_quant.scale", "input_fake_quant.scale"} <= set(names)
    assert names["weight_fake_quant.scale"].grad is not None
    s, z, quant_min, quant_max, axis = ql.weight_fake_quant.qparams()
    assert (quant_min, quant_max, axis, int(z)) == (-8, 7, None, 0) and s > 0


def test_pact_qconfig_and_learned_errors():
    qr = QuantReLU(pact_qconfig(a_bits=3, alpha=2.0))
    y = qr(Tensor(np.array([-1.0, 0.5, 5.0], np.float32)))
    assert y.data.tolist()[2] == 2.0 and y.data.min() == 0.0
    assert list(dict(qr.named_parameters())) == ["fake_quant.alpha"]
    s, z, quant_min, quant_max, _ = qr.fake_quant.qparams()
    assert np.isclose(s, 2.0 / 7) and (quant_min, quant_max) == (0, 7)
    with pytest.raises(TypeError, match="quantizer module"):
        QuantAct(QConfig(activation=lambda: nn.ReLU()))
    with pytest.raises(ValueError, match="not initialised"):
        LSQQuantizer(4).qparams()


def test_learned_quantizers_are_modules_with_parameters():
    lsq, pact = LSQQuantizer(4), PACT(3, alpha=2.0)
    assert list(lsq.parameters()) == [] and list(pact.parameters()) == [pact.alpha]
    lsq(Tensor(np.array([1.0, -2.0], np.float32)))
    assert list(lsq.parameters()) == [lsq.scale] and isinstance(lsq.scale, nn.Parameter)
    x = Tensor(np.array([-1.0, 5.0], np.float32))
    assert pact.disable_fake_quant()(x) is x and lsq.disable_fake_quant()(x) is x


def test_dorefa_qconfig_builds_w_a_g_quantizers():
    cfg = dorefa_qconfig(w_bits=2, a_bits=3, g_bits=4, rng=1)
    nn.manual_seed(2)
    ql = QuantLinear(nn.Linear(4, 3), cfg, quantize_output=True)
    x = Tensor(rng(3).normal(size=(5, 4)).astype(np.float32))
    y = ql(x)
    n = 2 ** 3 - 1  # the output sits on DoReFa's activation grid k/7 in [0, 1]
    np.testing.assert_array_equal(np.rint(y.data * n) / n, y.data)
    assert np.isin(np.rint(ql.quantized_weight().data * 3), [-3, -1, 1, 3]).all()  # levels +-1/3, +-1
    assert dorefa_qconfig(32, 32, 32).weight is None and dorefa_qconfig().grad is None
    with pytest.raises(ValueError, match="g_bits must be an int in 2..16 or 32"):
        dorefa_qconfig(g_bits=1)


def test_fake_quantize_degenerate_inputs():
    fq = FakeQuantize(MinMaxObserver)
    with pytest.raises(ValueError, match="NaN"):
        fq(Tensor(np.array([1.0, np.nan], np.float32)))
    with pytest.raises(ValueError, match="inf"):
        FakeQuantize(MinMaxObserver)(Tensor(np.array([1.0, np.inf], np.float32)))
    zeros = FakeQuantize(MinMaxObserver)(Tensor(np.zeros((2, 2), np.float32)))   # scale = eps
    assert np.array_equal(zeros.data, np.zeros((2, 2), np.float32))
    one = FakeQuantize(MinMaxObserver, bits=4)(Tensor(np.array([0.3], np.float32)))
    assert np.isclose(one.data[0], 0.3, atol=0.3 / 15)            # range [0, 0.3]: 0.3 is a level


def test_freeze_without_data_warns_and_keeps_defaults():
    fq = FakeQuantize(MinMaxObserver)
    with pytest.warns(UserWarning, match="calculate_qparams"):
        fq.freeze()
    assert fq.scale == 1.0 and fq.zero_point == 0 and fq.fake_quant_enabled
