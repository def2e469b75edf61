"""PTQ on the zoo's nested models: BN folding inside blocks (depthwise too), grouped QuantConv2d,
output quantizers on residual adds, ReLU6 and global pooling, bias correction with groups."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.autograd.conv import conv2d
from qnn_lite.data import DataLoader
from qnn_lite.transforms.fake_quant import QConfig, default_qconfig
from qnn_lite.transforms.layers import QuantAdd, QuantAdaptiveAvgPool2d, QuantConv2d, QuantReLU, QuantReLU6
from qnn_lite.transforms.ptq import bias_correction, fuse_modules, prepare, ptq
from qnn_lite.zoo import mobilenetv2_tiny, resnet8


def with_bn_stats(model, seed=0):
    """Give every BatchNorm non-trivial running statistics and affine parameters, eval mode."""
    r = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data[...] = r.uniform(0.2, 2, n)
            m.bias.data[...] = r.normal(0, 0.3, n)
            m.running_mean[...] = r.normal(0, 0.3, n)
            m.running_var[...] = r.uniform(0.1, 3, n)
    return model.eval()


def images(n=32, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 1, 16, 16)).astype(np.float32)


@pytest.mark.parametrize("build", [mobilenetv2_tiny, resnet8])
def test_fuse_modules_folds_every_bn_in_nested_blocks(build):
    model = with_bn_stats(build(seed=0))
    fused = fuse_modules(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())    # the input is untouched
    x = Tensor(images())
    with no_grad():
        assert np.allclose(fused(x).data, model(x).data, atol=1e-4)


def test_depthwise_fold_scales_each_channel_by_its_bn_factor():
    model = with_bn_stats(mobilenetv2_tiny(seed=0))
    conv, bn = model.features.block2.conv[1][0], model.features.block2.conv[1][1]
    assert conv.groups == conv.in_channels > 1
    factor = bn.weight.data / np.sqrt(bn.running_var + bn.eps)
    folded = fuse_modules(model).features.block2.conv[1][0].weight.data
    assert np.allclose(folded, conv.weight.data * factor[:, None, None, None], rtol=1e-5)


def test_prepare_places_quantizers_on_adds_relu6_and_pool():
    qm = prepare(fuse_modules(with_bn_stats(mobilenetv2_tiny(seed=0))), default_qconfig())
    inner = qm.model
    blocks = [b for b in inner.features if hasattr(b, "use_residual")]
    assert all(isinstance(b.add, QuantAdd) for b in blocks if b.use_residual)
    assert sum(b.use_residual for b in blocks) >= 2
    assert isinstance(inner.pool, QuantAdaptiveAvgPool2d)
    dw = inner.features.block2.conv[1]
    assert isinstance(dw[0], QuantConv2d) and dw[0].groups == dw[0].in_channels
    assert isinstance(dw[2], QuantReLU6) and dw[0].output_fake_quant is None   # ReLU6 folded
    proj = inner.features.block2.conv[2][0]                                      # no activation after it
    assert proj.output_fake_quant is not None
    rq = prepare(fuse_modules(with_bn_stats(resnet8(seed=0))), default_qconfig()).model
    assert isinstance(rq.features.block1.add, QuantAdd) and isinstance(rq.features.stem[2], QuantReLU)
    assert type(rq.features.block1.relu) is nn.ReLU   # after the add: stays on the add's grid


def test_add_and_pool_can_stay_float_by_type():
    cfg = default_qconfig()
    qm = prepare(fuse_modules(with_bn_stats(resnet8(seed=0))), {"": cfg, nn.Add: None, nn.AdaptiveAvgPool2d: None})
    assert type(qm.model.features.block1.add) is nn.Add and type(qm.model.pool) is nn.AdaptiveAvgPool2d


def test_grouped_quant_conv_with_fake_quant_off_equals_the_conv():
    nn.manual_seed(0)
    conv = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=3)
    q = QuantConv2d(conv, QConfig(weight=None))
    x = Tensor(np.random.default_rng(0).normal(size=(2, 6, 7, 7)).astype(np.float32))
    with no_grad():
        assert np.allclose(q(x).data, conv(x).data, atol=1e-6)
        assert np.allclose(q(x).data, conv2d(x, conv.weight, conv.bias, 1, 2, 2, 3).data, atol=1e-6)
    assert "groups=3" in repr(q) and "dilation=(2, 2)" in repr(q)


def test_converted_add_output_lies_on_its_grid_and_logits_stay_close():
    model = with_bn_stats(resnet8(seed=0))
    data = DataLoader(images(64), np.zeros(64, np.int64), 32)
    qm = ptq(model, default_qconfig(8, 8), data)
    add = qm.model.features.block2.add
    seen = []
    orig = add.forward
    add.forward = lambda a, b: seen.append(orig(a, b).data) or orig(a, b)
    x = Tensor(images(8, seed=5))
    with no_grad():
        yq = qm(x).data
        yf = model(x).data
    fq = add.fake_quant
    codes = seen[0] / float(fq.scale) + float(fq.zero_point)
    assert np.allclose(codes, np.rint(codes), atol=1e-3)
    assert 0 < np.abs(yq - yf).max() < 0.1 * np.abs(yf).max()


def test_bias_correction_on_a_depthwise_conv_reduces_mean_error():
    nn.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(4, 3, 1)).eval()
    X = (np.random.default_rng(2).normal(size=(64, 4, 6, 6)) + 1.5).astype(np.float32)
    data = DataLoader(X, np.zeros(64, np.int64), 32)
    qm = ptq(model, default_qconfig(w_bits=3, a_bits=8), data)
    with no_grad():
        yf, y0 = model(Tensor(X)).data, qm(Tensor(X)).data
    bias_correction(model, qm, data)
    with no_grad():
        y1 = qm(Tensor(X)).data
    err0 = np.abs((y0 - yf).mean(axis=(0, 2, 3))).mean()
    err1 = np.abs((y1 - yf).mean(axis=(0, 2, 3))).mean()
    assert err1 < 0.7 * err0
