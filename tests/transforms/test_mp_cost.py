"""Cost models of a bit allocation: hand cases, and agreement with the hw simulators layer by layer."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.hw import BitFusionArray, attainable, conv2d_intensity, gemm_intensity
from qnn_lite.hw.energy import layer_energy
from qnn_lite.hw.roofline import DEVICES
from qnn_lite.autograd.tensor import Tensor
from qnn_lite.zoo import digits_cnn, digits_mlp, mobilenetv2_tiny, resnet8
from qnn_lite.transforms.cost import LayerSpec, layer_cost, layer_specs, network_cost, roofline_precision

OPTIONS = [(8, 8), (4, 4), (2, 8), (8, 2), (2, 2)]


# ------------------------------------------------------------------------------ hand cases
def test_conv_hand_counts():
    spec = layer_specs(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1)), np.zeros((1, 2, 5, 5), np.float32))[0]
    assert (spec.in_hw, spec.out_hw, spec.macs, spec.n_weights) == ((5, 5), (5, 5), 25 * 4 * 2 * 9, 72)
    assert layer_cost(spec, 4, 2, "bitops") == 1800 * 4 * 2
    assert layer_cost(spec, 4, 2, "size") == 72 * 4 + 4 * 32
    # BitFusion 16x16 at 4x2: pf = 2 * 4 = 8, ceil(2 / (16*8)) = 1 -> 1 * 25 * 9 cycles
    assert layer_cost(spec, 4, 2, "cycles") == 25 * 9


def test_depthwise_is_cheap_in_bitops_and_dear_in_cycles():
    dw = LayerSpec("dw", "conv", 32, 32, (3, 3), (1, 1), (8, 8), (8, 8), groups=32)
    pw = LayerSpec("pw", "conv", 32, 32, (1, 1), (1, 1), (8, 8), (8, 8))
    assert dw.macs == 64 * 32 * 9 and pw.macs == 64 * 32 * 32
    assert layer_cost(dw, 8, 8, "bitops") < layer_cost(pw, 8, 8, "bitops") / 3
    # depthwise: 32 groups x (64 pixels x 9 taps), one product per cycle;
    # pointwise: ceil(32 / 16) OC tiles x 64 pixels x ceil(32 / (16 * 1)) IC tiles
    assert layer_cost(dw, 8, 8, "cycles") == 32 * 64 * 9
    assert layer_cost(pw, 8, 8, "cycles") == 2 * 64 * 2
    # lowering the bits does not help the depthwise layer on the array (IC = 1 per group)
    assert layer_cost(dw, 2, 2, "cycles") == layer_cost(dw, 8, 8, "cycles")
    assert layer_cost(pw, 2, 2, "cycles") == 2 * 64 * 1          # pf = 16: one IC tile


def test_layer_specs_reads_groups_and_linear_tokens():
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 3))
    s_conv, s_lin = layer_specs(m, np.zeros((2, 4, 6, 6), np.float32), batch=2)
    assert (s_conv.groups, s_conv.n_weights, s_conv.batch) == (4, 8 * 1 * 9, 2)
    assert s_conv.macs == 2 * 36 * 8 * 9
    assert (s_lin.kind, s_lin.macs) == ("linear", 2 * 8 * 36 * 3)
    assert "forward" not in m._modules["0"].__dict__          # the shape tap is removed again


def test_roofline_precision_mapping():
    assert [roofline_precision(w, a) for w, a in ((8, 2), (4, 4), (2, 2), (1, 1))] == ["int8", "int4", "int4", "binary"]


# ---------------------------------------------------------- the simulators, layer by layer
def _simulate(spec, w_bits, a_bits, array, rng):
    """Run the layer on the cycle-level BitFusion array (per group, padded input); return
    (cycles, products, y)."""
    g = spec.groups
    ci, co = spec.in_channels // g, spec.out_channels // g
    lo_a, hi_a = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    lo_w, hi_w = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    kh, kw = spec.kernel
    ph = ((spec.out_hw[0] - 1) * spec.stride[0] + kh - spec.in_hw[0] + 1) // 2   # symmetric (PyTorch)
    pw = ((spec.out_hw[1] - 1) * spec.stride[1] + kw - spec.in_hw[1] + 1) // 2
    x = rng.integers(lo_a, hi_a + 1, (spec.batch, spec.in_channels) + tuple(spec.in_hw))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    w = rng.integers(lo_w, hi_w + 1, (spec.out_channels, ci, kh, kw))
    cycles = products = 0
    for i in range(g):
        y, rep = array.conv2d(x[:, i * ci:(i + 1) * ci], w[i * co:(i + 1) * co], spec.stride[0],
                              a_bits=a_bits, w_bits=w_bits)
        assert y.shape[2:] == tuple(spec.out_hw)
        cycles, products = cycles + rep.cycles, products + rep.products
    return cycles, products


@pytest.mark.parametrize("model,shape", [(digits_cnn(seed=0), (1, 1, 8, 8)), (digits_mlp(seed=0), (1, 64))])
@pytest.mark.parametrize("w_bits,a_bits", OPTIONS)
def test_cycles_and_energy_agree_with_the_bitfusion_simulator(model, shape, w_bits, a_bits):
    array = BitFusionArray(4, 4)                       # small: several folds over IC and OC
    rng = np.random.default_rng(w_bits * 10 + a_bits)
    for spec in layer_specs(model, np.zeros(shape, np.float32)):
        cycles, products = _simulate(spec, w_bits, a_bits, array, rng)
        assert layer_cost(spec, w_bits, a_bits, "cycles", array=array) == cycles, spec.name
        assert products == spec.macs
        want = layer_energy(products, spec.in_elems, spec.n_weights, spec.out_elems, a_bits=a_bits,
                            w_bits=w_bits).total
        assert layer_cost(spec, w_bits, a_bits, "energy") == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("w_bits,a_bits", [(8, 8), (2, 4)])
def test_grouped_and_strided_convs_agree_with_the_simulator(w_bits, a_bits):
    array = BitFusionArray(4, 2)
    rng = np.random.default_rng(1)
    m = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.Conv2d(6, 4, 3, 2, 1, groups=2))
    specs = layer_specs(m, np.zeros((1, 6, 7, 7), np.float32))
    assert [s.groups for s in specs] == [6, 2] and specs[1].out_hw == (4, 4)
    for spec in specs:
        cycles, products = _simulate(spec, w_bits, a_bits, array, rng)
        assert layer_cost(spec, w_bits, a_bits, "cycles", array=array) == cycles
        assert products == spec.macs


@pytest.mark.parametrize("device", sorted(DEVICES))
@pytest.mark.parametrize("w_bits,a_bits", [(8, 8), (4, 4), (4, 2)])
def test_latency_agrees_with_the_roofline_model(device, w_bits, a_bits):
    dev = DEVICES[device]
    peak = dev.peak[roofline_precision(w_bits, a_bits)]
    for spec in layer_specs(digits_cnn(seed=0), np.zeros((1, 1, 8, 8), np.float32)):
        if spec.kind == "conv":
            pad = ((spec.out_hw[0] - 1) + spec.kernel[0] - spec.in_hw[0]) // 2
            intensity = conv2d_intensity(spec.in_channels, *spec.in_hw, spec.out_channels, *spec.kernel,
                                         padding=pad, a_bits=a_bits, w_bits=w_bits)
        else:
            intensity = gemm_intensity(1, spec.in_channels, spec.out_channels, a_bits, w_bits)
        want = 2 * spec.macs / float(attainable(intensity, peak, dev.bandwidth))
        assert layer_cost(spec, w_bits, a_bits, "latency", device=device) == pytest.approx(want, rel=1e-12)
    # a depthwise layer is `groups` single-channel convs on the roofline
    dw = LayerSpec("dw", "conv", 16, 16, (3, 3), (1, 1), (6, 6), (4, 4), groups=16)
    one = 2 * 16 * 9 / float(attainable(conv2d_intensity(1, 6, 6, 1, 3, 3, a_bits=a_bits, w_bits=w_bits),
                                        peak, dev.bandwidth))
    assert layer_cost(dw, w_bits, a_bits, "latency", device=device) == pytest.approx(16 * one, rel=1e-12)


def test_network_cost_is_the_sum_over_layers():
    specs = layer_specs(digits_cnn(seed=0), np.zeros((1, 1, 8, 8), np.float32))
    bits = {"0": (8, 8), "4": (2, 4), "9": (4, 8)}
    assert network_cost(specs, bits, "bitops") == 4608 * 64 + 18432 * 8 + 640 * 32
    assert network_cost(specs, bits, "cycles") == sum(layer_cost(s, *bits[s.name], "cycles") for s in specs)


# ------------------------------------------------------------------------------ bad input
def test_bad_input_is_named():
    spec = LayerSpec("c", "conv", 8, 8, (3, 3), (1, 1), (4, 4), (4, 4))
    with pytest.raises(ValueError, match="BitFusion array cannot run layer 'c' at w=3"):
        layer_cost(spec, 3, 8, "cycles")
    with pytest.raises(ValueError, match="BitFusion array cannot run layer 'c' at w=8, a=16"):
        layer_cost(spec, 8, 16, "cycles")
    with pytest.raises(ValueError, match="metric must be one of"):
        layer_cost(spec, 8, 8, "flops")
    with pytest.raises(ValueError, match="device must be"):
        layer_cost(spec, 8, 8, "latency", device="H100")
    specs = layer_specs(digits_cnn(seed=0), np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"bits is missing layers \['9'\]"):
        network_cost(specs, {"0": (8, 8), "4": (8, 8)})
    with pytest.raises(ValueError, match=r"names layers \['fc'\] that the model does not have"):
        network_cost(specs, {"0": (8, 8), "4": (8, 8), "9": (8, 8), "fc": (8, 8)})
    with pytest.raises(ValueError, match="at least one Conv2d or Linear"):
        layer_specs(nn.Sequential(nn.ReLU()), np.zeros((1, 3), np.float32))


def test_grouped_conv2d_equals_the_bitfusion_array_group_by_group():
    # the cost model runs a grouped conv one group at a time; check that this is what nn.Conv2d(groups) computes
    rng = np.random.default_rng(3)
    conv = nn.Conv2d(6, 4, 3, 2, 1, groups=2, bias=False)
    conv.weight.data[...] = rng.integers(-8, 8, conv.weight.shape)
    x = rng.integers(-8, 8, (1, 6, 7, 7))
    y = conv(Tensor(x.astype(np.float32))).data
    array = BitFusionArray(4, 2)
    spec = layer_specs(nn.Sequential(conv), x.astype(np.float32))[0]
    xp, cycles = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), 0
    for i in range(2):
        yi, rep = array.conv2d(xp[:, 3 * i:3 * i + 3], conv.weight.data[2 * i:2 * i + 2].astype(np.int64), 2,
                               a_bits=4, w_bits=4)
        np.testing.assert_array_equal(yi, y[:, 2 * i:2 * i + 2])
        cycles += rep.cycles
    assert layer_cost(spec, 4, 4, "cycles", array=array) == cycles


def test_zoo_mobilenet_depthwise_layers_are_cheap_in_bitops_and_slow_on_the_array():
    model = mobilenetv2_tiny(seed=0)
    specs = layer_specs(model, np.zeros((1, 1, 16, 16), np.float32))
    dw = [s for s in specs if s.groups > 1]
    assert dw and all(s.groups == s.in_channels == s.out_channels and s.n_weights == s.out_channels * 9 for s in dw)
    for s in dw:
        # BitFusion: one input channel per group, so no gain below 8 bits; BitOPs fall 16x from w8a8 to w2a2
        assert layer_cost(s, 2, 2, "cycles") == layer_cost(s, 8, 8, "cycles") == s.groups * s.out_hw[0] * s.out_hw[1] * 9
        assert layer_cost(s, 8, 8, "bitops") == 16 * layer_cost(s, 2, 2, "bitops")
    # depthwise layers: a few per cent of the BitOPs, most of the cycles at w4a4
    bits = {s.name: (4, 4) for s in specs}
    share = {m: sum(layer_cost(s, 4, 4, m) for s in dw) / network_cost(specs, bits, m) for m in ("bitops", "cycles")}
    assert share["bitops"] < 0.15 < 0.5 < share["cycles"]


@pytest.mark.parametrize("name", ["resnet8", "mobilenetv2_tiny"])
def test_zoo_specs_agree_with_the_simulator_on_a_few_layers(name):
    model = {"resnet8": resnet8, "mobilenetv2_tiny": mobilenetv2_tiny}[name](seed=0)
    specs = layer_specs(model, np.zeros((1, 1, 16, 16), np.float32))
    array, rng = BitFusionArray(4, 4), np.random.default_rng(0)
    for spec in (specs[0], specs[2], specs[-1]):           # stem, a block conv (depthwise in MobileNet), fc
        cycles, products = _simulate(spec, 4, 2, array, rng)
        assert layer_cost(spec, 4, 2, "cycles", array=array) == cycles, spec.name
        assert products == spec.macs
