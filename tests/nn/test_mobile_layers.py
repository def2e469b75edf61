"""The layers the zoo needs: grouped/depthwise Conv2d, ReLU6, Hardswish, AdaptiveAvgPool2d, Add."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor, gradcheck
from qnn_lite.nn import functional as F


def away_from(points, shape, seed=0):
    """Normal values scaled by 4, at least 0.05 from every kink in ``points``."""
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    for p in points:
        x = np.where(np.abs(x - p) < 0.05, p + 0.1, x)
    return x


def test_relu6_values_and_gradient_rule():
    x = Tensor(np.array([-1.0, 0.0, 3.0, 6.0, 7.5]), requires_grad=True)
    y = F.relu6(x)
    np.testing.assert_array_equal(y.data, [0, 0, 3, 6, 6])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 1, 0, 0])   # 0 at both kinks, as torch's hardtanh


def test_hardswish_values_and_gradient_rule():
    x = Tensor(np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 5.0]), requires_grad=True)
    y = F.hardswish(x)
    np.testing.assert_allclose(y.data, [0, 0, 0, 1.5 * 4.5 / 6, 3, 5])
    y.sum().backward()
    # torch: 0 below -3, (2x + 3)/6 on [-3, 3], 1 above
    np.testing.assert_allclose(x.grad, [0, -0.5, 0.5, 1.0, 1.5, 1.0])


@pytest.mark.parametrize("fn, kinks", [(F.relu6, (0, 6)), (F.hardswish, (-3, 3))])
def test_activation_gradcheck(fn, kinks):
    assert gradcheck(lambda a: (fn(a) ** 2).sum(), away_from(kinks, (4, 5)))


def test_adaptive_avg_pool_global_and_divisible():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 6))
    y = nn.AdaptiveAvgPool2d(1)(Tensor(x, dtype=np.float64))
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(y.data[..., 0, 0], x.mean(axis=(2, 3)))
    y2 = F.adaptive_avg_pool2d(Tensor(x, dtype=np.float64), (2, 3))
    np.testing.assert_allclose(y2.data, x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5)))
    assert gradcheck(lambda a: (F.adaptive_avg_pool2d(a, 1) ** 2).sum(), x)
    with pytest.raises(ValueError, match="output_size must be positive and divide"):
        F.adaptive_avg_pool2d(Tensor(x), 5)


def test_add_module_is_a_graph_sum():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, -1.0]), requires_grad=True)
    add = nn.Add()
    (add(a, b) * Tensor(np.array([2.0, 5.0]))).sum().backward()
    np.testing.assert_array_equal(a.grad, [2, 5])
    np.testing.assert_array_equal(b.grad, [2, 5])


def test_conv2d_module_groups_weight_shape_and_repr():
    m = nn.Conv2d(8, 16, 3, padding=1, groups=8, bias=False, generator=np.random.default_rng(0))
    assert m.weight.shape == (16, 1, 3, 3)
    assert "groups=8" in repr(m)
    bound = 1 / np.sqrt(9)   # kaiming_uniform(a=sqrt(5)) bound for fan_in = 1 * 3 * 3
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.weight.data).max() > 0.8 * bound
    y = m(Tensor(np.ones((2, 8, 5, 5), dtype=np.float32)))
    assert y.shape == (2, 16, 5, 5)
    d = nn.Conv2d(2, 2, 3, dilation=2, padding=2)
    assert d(Tensor(np.ones((1, 2, 6, 6), dtype=np.float32))).shape == (1, 2, 6, 6)
    assert "dilation=(2, 2)" in repr(d)
    with pytest.raises(ValueError, match="groups=3 must divide in_channels=8"):
        nn.Conv2d(8, 9, 3, groups=3)
