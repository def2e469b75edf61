"""Cross-layer equalization keeps the float network's function; ranges come out equal; high-bias
absorption; bad pairs rejected."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import nn
from qnn_lite.autograd.tensor import no_grad
from qnn_lite.transforms.ptq import fuse_modules
from qnn_lite.transforms.equalize import (ChannelClip, _ranges, absorb_high_bias, equalization_scales,
                                          equalize, equalize_pair, find_pairs)
from qnn_lite.zoo import InvertedResidual


def _randomize_bn(model, seed=1):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.normal(0, 0.5, m.num_features)
            m.running_var[...] = rng.uniform(0.2, 3, m.num_features)
            m.weight.data[...] = rng.uniform(0.05, 3, m.num_features)  # very unequal channel ranges
            m.bias.data[...] = rng.normal(0.5, 1, m.num_features)
    return model.eval()


def _run(model, x):
    with no_grad():
        return model(x).data


def test_conv_relu_conv_pair_output_unchanged_and_ranges_equal():
    g = np.random.default_rng(0)
    c1, c2 = nn.Conv2d(3, 6, 3, padding=1, generator=g), nn.Conv2d(6, 4, 3, padding=1, generator=g)
    c1.weight.data[...] *= np.array([0.01, 0.1, 1, 10, 100, 1], np.float32).reshape(-1, 1, 1, 1)
    net = nn.Sequential(c1, nn.ReLU(), c2)
    x = g.normal(size=(2, 3, 8, 8)).astype(np.float32)
    y0 = _run(net, x)
    r1, r2 = _ranges(c1, c2)
    s = equalize_pair(c1, c2)
    np.testing.assert_allclose(_run(net, x), y0, rtol=1e-5, atol=1e-5 * np.abs(y0).max())
    np.testing.assert_allclose(s, np.sqrt(r1 * r2) / r2)
    r1b, r2b = _ranges(c1, c2)
    np.testing.assert_allclose(r1b, np.sqrt(r1 * r2), rtol=1e-6)
    np.testing.assert_allclose(r2b, np.sqrt(r1 * r2), rtol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_zoo_mobilenet_block_output_unchanged_with_relu6_clipped_per_channel(stride):
    g = np.random.default_rng(0)
    block = _randomize_bn(nn.Sequential(InvertedResidual(8, 8, stride, 4, (1, 16, 16), g)))
    x = g.normal(size=(3, 8, 8, 8)).astype(np.float32) * 2
    y0 = _run(block, x)
    eq = equalize(block, iterations=3)
    assert len(find_pairs(eq)) == 2  # expand -> depthwise, depthwise -> project
    assert sum(isinstance(m, ChannelClip) for m in eq.modules()) == 2
    np.testing.assert_allclose(_run(eq, x), y0, rtol=1e-4, atol=1e-5 * np.abs(y0).max())
    # the depthwise layer's per-channel ranges become more alike
    dw0 = fuse_modules(block)._modules["0"].conv._modules["1"]._modules["0"].weight.data
    dw1 = eq._modules["0"].conv._modules["1"]._modules["0"].weight.data
    spread = [np.abs(w).reshape(w.shape[0], -1).max(1) for w in (dw0, dw1)]
    assert spread[1].max() / spread[1].min() < spread[0].max() / spread[0].min()


def test_relu6_to_relu_changes_the_model_only_where_relu6_clipped():
    g = np.random.default_rng(0)
    block = _randomize_bn(nn.Sequential(InvertedResidual(8, 8, 1, 4, (1, 16, 16), g)))
    eq = equalize(block, relu6="relu")
    assert not any(isinstance(m, (nn.ReLU6, ChannelClip)) for m in eq._modules["0"].conv.modules())
    x = g.normal(size=(2, 8, 8, 8)).astype(np.float32) * 0.01  # small inputs: nothing reaches 6
    np.testing.assert_allclose(_run(eq, x), _run(block, x), rtol=1e-4, atol=1e-5)


def test_high_bias_absorption_is_exact_when_the_preactivation_stays_above_c():
    g = np.random.default_rng(0)
    c1, c2 = nn.Conv2d(2, 3, 1, generator=g), nn.Conv2d(3, 2, 1, generator=g)
    c1.weight.data[...] = np.abs(c1.weight.data)
    c1.bias.data[...] = [5.0, 6.0, 7.0]
    net = nn.Sequential(c1, nn.ReLU(), c2)
    x = np.abs(g.normal(size=(2, 2, 4, 4))).astype(np.float32)  # pre-activation >= bias >= 5
    y0 = _run(net, x)
    absorb_high_bias(c1, c2, np.array([4.0, 5.0, 6.0]))
    np.testing.assert_allclose(c1.bias.data, [1, 1, 1])
    np.testing.assert_allclose(_run(net, x), y0, rtol=1e-5, atol=1e-5)


def test_bad_pairs_are_rejected():
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match="does not chain"):
        equalize_pair(nn.Conv2d(3, 6, 1, generator=g), nn.Conv2d(5, 4, 1, generator=g))
    with pytest.raises(ValueError, match="groups"):
        equalize_pair(nn.Conv2d(4, 4, 1, generator=g), nn.Conv2d(4, 4, 1, groups=2, generator=g))
    with pytest.raises(TypeError, match="conv2 must be a Conv2d"):
        equalize_pair(nn.Conv2d(3, 4, 1, generator=g), nn.Linear(4, 2, generator=g))
    with pytest.raises(ValueError, match="no Conv2d"):
        equalize(nn.Sequential(nn.Linear(3, 4, generator=g)))
    with pytest.raises(ValueError, match="relu6 must be one of"):
        equalize(nn.Sequential(nn.Conv2d(3, 4, 1, generator=g)), relu6="gelu")
    with pytest.raises(ValueError, match="non-negative"):
        absorb_high_bias(nn.Conv2d(2, 3, 1, generator=g), nn.Conv2d(3, 2, 1, generator=g), [-1.0, 0, 0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=8), st.data())
def test_scales_make_both_ranges_the_geometric_mean(r1, data):
    r2 = data.draw(st.lists(st.floats(1e-3, 1e3), min_size=len(r1), max_size=len(r1)))
    r1, r2 = np.array(r1), np.array(r2)
    s = equalization_scales(r1, r2)
    np.testing.assert_allclose(r1 / s, np.sqrt(r1 * r2), rtol=1e-12)
    np.testing.assert_allclose(r2 * s, np.sqrt(r1 * r2), rtol=1e-12)


def test_zero_ranges_leave_the_channel_alone():
    np.testing.assert_array_equal(equalization_scales([0.0, 2.0], [3.0, 0.0]), [1.0, 1.0])
