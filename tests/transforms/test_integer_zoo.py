"""Integer-only inference on the zoo: residual adds, depthwise convs, ReLU6, global average pooling.

Hand-computed cases for each new integer layer, then every zoo model (shipped checkpoints, PTQ on
the distorted digits) converted and compared with its fake-quant twin on a small batch.
"""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.data import DataLoader, load_distorted_digits
from qnn_lite.transforms.fake_quant import default_qconfig
from qnn_lite.transforms.integer import IntegerModel, convert_to_integer
from qnn_lite.transforms.integer_layers import (IntegerAdd, IntegerConv2d, IntegerGlobalAvgPool,
                                                IntegerRequantize, _clamp, _Qp)
from qnn_lite.transforms.layers import QuantAdaptiveAvgPool2d, QuantAdd, QuantConv2d, QuantReLU6
from qnn_lite.transforms.ptq import fuse_modules, prepare, ptq
from qnn_lite.zoo import load_pretrained


# ----- hand cases ---------------------------------------------------------------------------------
def test_residual_add_requantizes_both_inputs_to_the_output_scale():
    # a: s=0.5, z=10 -> codes 14, 6 are 2.0, -2.0;  b: s=0.25, z=0 -> codes 7, 2 are 1.75, 0.5
    # sum 3.75, -1.5 at s_out=1, z_out=5 -> 5 + round(3.75) = 9, 5 + round(-1.5) = 5 - 2 = 3
    add = IntegerAdd(_Qp(0.5, 10, 0, 255), _Qp(0.25, 0, 0, 255), _Qp(1.0, 5, 0, 255))
    assert add(np.array([14, 6]), np.array([7, 2])).tolist() == [9, 3]
    # folded ReLU: the negative sum clamps at the zero point
    add_relu = IntegerAdd(_Qp(0.5, 10, 0, 255), _Qp(0.25, 0, 0, 255), _Qp(1.0, 5, 0, 255), act="relu")
    assert add_relu(np.array([14, 6]), np.array([7, 2])).tolist() == [9, 5]
    # the same scale on both sides and out: a plain integer add of the centred codes
    same = IntegerAdd(_Qp(0.1, 3, 0, 255), _Qp(0.1, 3, 0, 255), _Qp(0.1, 3, 0, 255))
    assert same(np.array([3, 10, 250]), np.array([3, 20, 250])).tolist() == [3, 27, 255]   # 3 + 7 + 17


def test_relu6_is_folded_into_the_clamp():
    # s = 0.05, z = 3: real 6 is code 3 + 120 = 123; real 0 is code 3
    assert _clamp(_Qp(0.05, 3, 0, 255), "relu6") == (3, 123)
    assert _clamp(_Qp(0.05, 3, 0, 255), "relu") == (3, 255)
    assert _clamp(_Qp(0.01, 0, 0, 255), "relu6") == (0, 255)      # 6 / 0.01 = 600 codes: range wins
    r = IntegerRequantize(_Qp(0.1, 0, 0, 255), _Qp(0.05, 3, 0, 255), act="relu6")
    # 0.1 * [0, 10, 100] = 0, 1, 10 -> codes 3, 23, min(203, 123) = 123
    assert r(np.array([0, 10, 100])).tolist() == [3, 23, 123]
    with pytest.raises(ValueError, match="act must be"):
        _clamp(_Qp(0.05, 3, 0, 255), "gelu")


def test_global_average_pool_on_codes():
    # mean of (q - 2) * 0.5 over 2x2: q = 4, 6, 8, 10 -> 1, 2, 3, 4 -> 2.5; at s_out=0.25, z=1 -> 1 + 10 = 11
    pool = IntegerGlobalAvgPool(_Qp(0.5, 2, 0, 255), _Qp(0.25, 1, 0, 255))
    q = np.array([4, 6, 8, 10]).reshape(1, 1, 2, 2)
    out = pool(q)
    assert out.shape == (1, 1, 1, 1) and out.item() == 11
    # 3x3 mean 1/3 of a code: rounds to the nearest output code
    q = np.zeros((1, 1, 3, 3), np.int64)
    q[0, 0, 0, 0] = 1
    assert IntegerGlobalAvgPool(_Qp(1.0, 0, 0, 255), _Qp(1 / 9, 0, 0, 255))(q).item() == 1
    assert IntegerGlobalAvgPool(_Qp(1.0, 0, 0, 255), _Qp(1 / 27, 0, 0, 255))(q).item() == 3


def _depthwise_qm(groups_mult=1, act=True):
    """A converted ``quant_in -> depthwise conv (+ ReLU6)`` fake-quant model on 4 channels."""
    nn.manual_seed(3)
    C = 4
    layers = [nn.Conv2d(C, C * groups_mult, 3, padding=1, groups=C)] + ([nn.ReLU6()] if act else [])
    model = nn.Sequential(*layers)
    X = np.random.default_rng(0).normal(size=(32, C, 6, 6)).astype(np.float32)
    qm = ptq(model, default_qconfig(per_channel=True), DataLoader(X, np.zeros(32), 16))
    return qm, X


@pytest.mark.parametrize("mult,act", [(1, True), (2, False)])
def test_depthwise_conv_integer_matches_fake_quant_and_a_direct_loop(mult, act):
    qm, X = _depthwise_qm(mult, act)
    assert isinstance(qm[1], QuantConv2d) and qm[1].groups == 4
    assert isinstance(qm[2], QuantReLU6) if act else qm[1].output_fake_quant is not None
    im = convert_to_integer(qm)
    layer = im.layers[0][1]
    assert isinstance(layer, IntegerConv2d) and layer.groups == 4
    with no_grad():
        fq = qm(Tensor(X)).data
    out = im(X)
    assert np.abs(out - fq).max() <= im.out_qp.scale * (1 + 1e-5)
    assert np.mean(np.isclose(out, fq, atol=1e-6)) > 0.99
    # the accumulators by a direct loop over channels, taps and pixels
    q = im.quantize_input(X[:2]) - im.in_qp.zero_point
    w = (layer.w_q - layer.w_z[:, None]).reshape(-1, 1, 3, 3)
    xp = np.pad(q, ((0, 0), (0, 0), (1, 1), (1, 1)))
    acc = np.zeros((2, 4 * mult, 6, 6), np.int64)
    for o in range(4 * mult):
        for i in range(6):
            for j in range(6):
                acc[:, o, i, j] = (xp[:, o // mult, i:i + 3, j:j + 3] * w[o, 0]).sum(axis=(1, 2))
    acc += layer.bias_q[None, :, None, None]
    from qnn_lite.transforms.requant import requantize
    want = requantize(acc.transpose(0, 2, 3, 1), layer.M0, layer.shift, layer.out_qp.zero_point,
                      layer.quant_min, layer.quant_max).transpose(0, 3, 1, 2)
    assert np.array_equal(layer(im.quantize_input(X[:2])), want)


# ----- preparing and tracing ----------------------------------------------------------------------
def test_prepare_quantizes_adds_pools_and_relu6_of_the_zoo():
    qm = prepare(fuse_modules(load_pretrained("mobilenetv2_tiny")), default_qconfig())
    kinds = [type(m) for m in qm.modules()]
    assert kinds.count(QuantAdd) == 4                     # blocks 1, 3, 5, 7: stride 1 and c_in == c_out
    assert kinds.count(QuantAdaptiveAvgPool2d) == 1
    assert kinds.count(QuantReLU6) == 2 * 7 + 1 + 1 - 1   # expand + depthwise per block (t=1: no expand), stem, head
    assert not any(type(m) in (nn.Add, nn.ReLU6, nn.AdaptiveAvgPool2d) for m in qm.modules())
    # fake quant is still off after prepare: the grouped QuantConv2d and the Quant modules compute the float net
    X = load_distorted_digits()[2][:4]
    fused = fuse_modules(load_pretrained("mobilenetv2_tiny"))
    with no_grad():
        assert np.allclose(qm(Tensor(X)).data, fused(Tensor(X)).data, atol=1e-5)


class _PlusBlock(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + x          # a residual sum no module sees


def test_traced_conversion_errors_name_the_problem():
    qm, X = _depthwise_qm()
    with pytest.raises(TypeError, match="example_input"):
        convert_to_integer(nn.Sequential(qm[0], _PlusBlock(qm[1])))
    with pytest.raises(ValueError, match="made outside any module"):
        convert_to_integer(nn.Sequential(qm[0], _PlusBlock(qm[1]), qm[2]), X[:1])

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.add = nn.Add()

        def forward(self, x):
            return self.add(x, x)
    with pytest.raises(ValueError, match="cannot convert Add"):
        convert_to_integer(nn.Sequential(qm[0], Residual()), X[:1])


def test_integer_model_replays_a_graph():
    # value 0 = input; layer 0 doubles it (add with itself at the same scale), layer 1 adds input + layer 0
    qp = _Qp(1.0, 0, 0, 255)
    im = IntegerModel([("a", IntegerAdd(qp, qp, qp)), ("b", IntegerAdd(qp, qp, qp))], qp, qp,
                      inputs=[(0, 0), (0, 1)])
    assert im.forward_int(np.array([1, 2, 100])).tolist() == [3, 6, 255]
    assert IntegerModel([("a", IntegerAdd(qp, qp, qp))], qp, qp, inputs=[(0, 0)], output=0) \
        .forward_int(np.array([7])).tolist() == [7]


# ----- every zoo model: integer-only vs fake quant ------------------------------------------------
@pytest.fixture(scope="module")
def digits16():
    Xtr, ytr, Xte, yte = load_distorted_digits()
    return Xtr, ytr, Xte[:64]


# (model, weight bits) -> (min share of identical predictions, max |logit code difference|, min share
# of logits with identical codes), measured on 64 test images (per-channel weights, 8-bit activations,
# 4 calibration batches of 128): 63 or 64 of 64 predictions agree, logits within 1-4 output steps.
# Codes first differ where the int32 bias (rint(b / (s_x s_w))) or float32 rounding moves a value
# across a tie (0.1 % of the stem's codes); a flipped code then moves later codes by a few steps, and
# more so through deep nets and through depthwise convs with large per-channel gains: by the
# logits of MobileNet about half the codes differ by a step or more (vgg_small, 9 layers: ~10 %).
AGREEMENT = {("resnet8", 8): (0.98, 1, 0.75), ("mobilenetv2_tiny", 8): (1.0, 2, 0.5),
             ("vgg_small", 8): (1.0, 1, 0.85), ("resnet8", 4): (1.0, 2, 0.55),
             ("mobilenetv2_tiny", 4): (1.0, 4, 0.4), ("vgg_small", 4): (1.0, 1, 0.75)}


@pytest.mark.parametrize("name,w_bits", sorted(AGREEMENT))
def test_zoo_integer_logits_agree_with_fake_quant(digits16, name, w_bits):
    Xtr, ytr, X = digits16
    loader = DataLoader(Xtr, ytr, 128, shuffle=True, seed=0)      # a fresh loader: the same 4 batches
    qm = ptq(load_pretrained(name), default_qconfig(w_bits, 8, per_channel=True), loader, num_batches=4)
    im = convert_to_integer(qm, X[:2])
    with no_grad():
        fq = qm(Tensor(X)).data
    out = im(X)
    same = np.mean(out.argmax(1) == fq.argmax(1))
    code_diff = np.abs(np.rint((out - fq) / np.float32(im.out_qp.scale))).max()
    same_code = np.mean(np.abs(out - fq) <= im.out_qp.scale * 1e-3)
    print(f"{name} W{w_bits}A8: same predictions {same:.4f}, max logit code difference {code_diff:.0f}, "
          f"logits with the same code {same_code:.3f}")
    want_same, want_diff, want_same_code = AGREEMENT[name, w_bits]
    assert same >= want_same and code_diff <= want_diff and same_code >= want_same_code, (same, code_diff, same_code)
    codes = im.forward_int(im.quantize_input(X))
    assert codes.dtype.kind == "i" and codes.min() >= 0 and codes.max() <= 255
