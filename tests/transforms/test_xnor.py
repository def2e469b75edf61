"""to_xnor: a fake-binary model runs on the XNOR-popcount kernel with the same outputs."""
import numpy as np
import pytest

from qnn_lite.autograd import Tensor
from qnn_lite.nn import Conv2d
from qnn_lite.recipes.binary_resnet import binary_resnet
from qnn_lite.transforms.bnn import BinaryConv2d
from qnn_lite.transforms.xnor import XnorConv2d, binary_weight_factors, to_xnor


def _randomize_bn(model, seed=0):
    # trained-looking BN statistics, so the check is not trivially at init
    rng = np.random.default_rng(seed)
    for name, m in model.named_modules():
        if type(m).__name__ == "BatchNorm2d":
            c = m.weight.data.shape[0]
            m.running_mean[...] = rng.normal(0, 0.5, c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.3, c)
    return model


def test_binary_weight_factors_by_hand():
    q = np.array([[[[0.5, -0.5]]], [[[-2.0, -2.0]]], [[[0.0, 0.0]]]], np.float32)   # (3, 1, 1, 2)
    signs, scale = binary_weight_factors(q)
    np.testing.assert_array_equal(scale, [0.5, 2.0, 0.0])
    np.testing.assert_array_equal(signs.reshape(3, 2), [[1, -1], [-1, -1], [1, 1]])   # sign(0) = +1
    np.testing.assert_array_equal(scale[:, None, None, None] * signs, q)


def test_binary_weight_factors_rejects_non_binary():
    with pytest.raises(ValueError, match="channel 1"):
        binary_weight_factors(np.array([[1.0, -1.0], [0.5, 0.25]], np.float32))


def test_xnor_conv_equals_binary_conv_by_hand():
    conv = BinaryConv2d(2, 3, 3, 1, 1, bias=True, weight_quant="sign", generator=np.random.default_rng(0))
    x = np.where(np.random.default_rng(1).random((2, 2, 5, 5)) < 0.5, -1.0, 1.0).astype(np.float32)
    direct = conv.eval()(Tensor(x)).data
    got = XnorConv2d(conv)(Tensor(x)).data
    np.testing.assert_array_equal(got, direct)                   # +-1 products: exact integers


@pytest.mark.parametrize("variant", ["plain", "bireal", "irnet"])
def test_to_xnor_keeps_predictions(variant):
    model = _randomize_bn(binary_resnet(variant, width=8, depth=3, seed=3)).eval()
    x = np.random.default_rng(2).random((16, 1, 16, 16)).astype(np.float32)
    ref = model(Tensor(x)).data
    fast = to_xnor(model)
    assert sum(isinstance(m, XnorConv2d) for m in fast.modules()) == 3
    assert not any(isinstance(m, BinaryConv2d) for m in fast.modules())
    got = fast(Tensor(x)).data
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    if variant == "irnet":            # Libra-PB's power-of-two scale: bit-identical logits
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert any(isinstance(m, BinaryConv2d) for m in model.modules())   # the input model is untouched


def test_to_xnor_needs_binary_convs():
    with pytest.raises(ValueError, match="no BinaryConv2d"):
        to_xnor(Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="Module"):
        to_xnor("model")
