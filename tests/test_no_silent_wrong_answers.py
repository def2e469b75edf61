"""Library paths that used to return wrong numbers without a word (issue 15): each now raises a
clear error or returns the right value, checked by hand or against PyTorch 2.13."""
import warnings

import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.data import DataLoader
from qnn_lite.kernels.intgemm import MAX_K, int8_matmul
from qnn_lite.transforms import integer_layers as integer
from qnn_lite.transforms.fake_quant import default_qconfig
from qnn_lite.quantizers.histogram import HistogramObserver
from qnn_lite.transforms.integer import convert_to_integer, int_matmul
from qnn_lite.quantizers.observers import MinMaxObserver
from qnn_lite.transforms.ptq import ptq
from qnn_lite.transforms.requant import multiply_by_quantized_multiplier, requantize
from qnn_lite.quantizers.stochastic import stochastic_fake_quantize, stochastic_quantize
from qnn_lite.quantizers.uniform import calc_qparams, dequantize


@pytest.fixture(autouse=True)
def no_warnings():
    """Every case here must be silent: a RuntimeWarning is how these bugs used to show."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ----- int8 GEMM: the guard is exact ----------------------------------------------------------
def test_int8_matmul_guard_is_exact():
    assert MAX_K == 131071                        # 131071 * 2**14 = 2**31 - 2**14 <= INT32_MAX < 2**31
    K = MAX_K
    a = np.full((1, K), -128, np.int8)
    assert int8_matmul(a, a.T.copy())[0, 0] == K * 2**14 == 2**31 - 2**14
    K = MAX_K + 1                                 # 131072 * 2**14 = 2**31 used to come back as -2**31
    a = np.full((1, K), -128, np.int8)
    with pytest.raises(ValueError, match="exact only for K <= 131071"):
        int8_matmul(a, a.T.copy())


def test_int_matmul_kernel_and_numpy_paths_agree_past_the_kernel_limit(monkeypatch):
    K = MAX_K + 1
    a = np.full((1, K), -128, np.int64)
    for backend in ("auto", "numpy"):             # 2**31 does not fit int32: both paths raise
        monkeypatch.setattr(integer, "GEMM_BACKEND", backend)
        with pytest.raises(OverflowError, match="int32 accumulator overflow"):
            int_matmul(a, a.T)
    b = np.zeros((K, 1), np.int64)
    b[:3] = -128                                   # long K, small result: both exact, both agree
    for backend in ("auto", "numpy"):
        monkeypatch.setattr(integer, "GEMM_BACKEND", backend)
        assert int_matmul(a, b)[0, 0] == 3 * 2**14


# ----- dequantize of 64-bit codes ----------------------------------------------------------------
def test_dequantize_uint64_codes_do_not_wrap():
    q = np.array([2**64 - 1, 2**63, 5], np.uint64)
    out = dequantize(q, 1.0, 0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.float32([2.0**64, 2.0**63, 5.0]))   # not -1, -2**63
    np.testing.assert_array_equal(dequantize(np.array([2**63 - 1], np.int64), 0.5, -3),
                                  np.float32([2.0**62]))                     # (2**63 - 1 + 3) / 2


# ----- calc_qparams / observers with ranges that overflow float32 -----------------------------
def test_calc_qparams_huge_range_gives_the_finite_scale():
    # torch 2.13's MinMaxObserver returns scale inf here; the right scale is 6e38 / 255
    s, z = calc_qparams(-3e38, 3e38, 0, 255)
    assert np.isfinite(s) and s == np.float32(np.float64(np.float32(3e38)) * 2 / 255)
    assert z == 128                                 # quant_min - rint(-3e38 / s) = 0 + 127.5 -> 128
    s, z = calc_qparams(-3e38, 3e38, -128, 127, symmetric=True)
    assert s == np.float32(np.float64(np.float32(3e38)) / 127.5) and z == 0
    s, z = calc_qparams(np.array([-3e38, -1.0]), np.array([3e38, 1.0]), 0, 255)
    assert s[1] == calc_qparams(-1.0, 1.0, 0, 255)[0] and np.isfinite(s[0])


def test_calc_qparams_normal_ranges_unchanged():
    # the float32 path is kept where it does not overflow: torch 2.13 gives (0.0078431377, 127)
    s, z = calc_qparams(-1.0, 1.0, 0, 255)
    assert s == np.float32(2.0) / np.float32(255) == np.float32(0.0078431377) and z == 127


def test_calc_qparams_scale_beyond_float32_raises_naming_the_range():
    with pytest.raises(ValueError, match=r"min_val, max_val = -3e\+38, 3e\+38: the range is too wide.*"
                                         r"overflows float32"):
        calc_qparams(-3e38, 3e38, 0, 1)             # scale 6e38 > float32 max


def test_minmax_observer_huge_range_finite_scale():
    obs = MinMaxObserver()
    obs(np.array([-3e38, 3e38], np.float32))
    s, z = obs.calculate_qparams()
    assert np.isfinite(s) and s == calc_qparams(-3e38, 3e38, 0, 255)[0] and z == 128


def test_histogram_observer_wide_but_representable_range():
    # 1e20: torch's float32 error model overflows and it answers (3.9e17, 255), clipping half the
    # data; ours falls back to float64 there and keeps the symmetric range: s ~ 2e20 / 255, z = 128
    obs = HistogramObserver()
    obs(np.array([-1e20, 1e20], np.float32))
    s, z = obs.calculate_qparams()
    assert z == 128 and abs(s / (2e20 / 255) - 1) < 1e-3
    # 1e10 stays on torch's float32 path: torch 2.13 gives (78393080., 128)
    obs = HistogramObserver()
    obs(np.array([-1e10, 1e10], np.float32))
    assert obs.calculate_qparams() == (np.float32(78393080.0), 128)


def test_histogram_observer_range_too_wide_names_x_and_the_range():
    obs = HistogramObserver()
    with pytest.raises(ValueError, match=r"x: the observed range \[-3e\+38, 3e\+38\] is 6e\+38 wide.*"
                                         r"up to 1\.662e\+35"):
        obs(np.array([-3e38, 3e38], np.float32))
    obs = HistogramObserver()
    obs(np.array([-5e34, 5e34], np.float32))        # fine alone, too wide once merged
    with pytest.raises(ValueError, match=r"observed range \[-3e\+38, 5e\+34\]"):
        obs(np.array([-3e38], np.float32))


# ----- argument checks that were missing ----------------------------------------------------
@pytest.mark.parametrize("fn", [stochastic_quantize, stochastic_fake_quantize])
def test_stochastic_quantize_checks_zero_point(fn):
    x = np.array([0.3, -0.2], np.float32)
    with pytest.raises(ValueError, match=r"zero_point must lie in quant_min..quant_max = 0..255, "
                                         r"got values in 1000..1000"):
        fn(x, 0.1, 0, 255, 0, zero_point=1000)
    with pytest.raises(ValueError, match="zero_point must hold whole numbers, got \\[0.5\\]"):
        fn(x, 0.1, 0, 255, 0, zero_point=0.5)
    # a valid zero point: x / s = 3 and -2 are integers, so stochastic rounding is exact
    y = fn(np.array([0.25, -0.5], np.float32), 0.125, 0, 255, 0, zero_point=10)
    np.testing.assert_array_equal(getattr(y, "data", y), np.float32([0.25, -0.5]))


def test_requantize_rejects_qmin_above_qmax():
    with pytest.raises(ValueError, match="quant_min must be <= quant_max, got quant_min=10, quant_max=5"):
        requantize(np.array([100]), 1 << 30, 0, 0, 10, 5)
    # quant_min == quant_max (a ReLU folded into a one-code range) is allowed: everything lands on it
    assert requantize(np.array([100, -100]), 1 << 30, 0, 3, 7, 7).tolist() == [7, 7]
    # hand: 100 * 0.5 = 50, + zero point 3 = 53
    assert requantize(np.array([100]), 1 << 30, 0, 3, 0, 255).tolist() == [53]


@pytest.mark.parametrize("shift", [64, 31, -32, -64])
def test_multiply_by_quantized_multiplier_rejects_shift_out_of_range(shift):
    with pytest.raises(ValueError, match=rf"shift must be integers in -31..30 .*got \[{shift}\]"):
        multiply_by_quantized_multiplier(np.array([3]), 1 << 30, shift)


def test_multiply_by_quantized_multiplier_edges_of_shift():
    # M = 2**30 * 2**(30 - 31) = 2**29: 1 * 2**29 (the left shift 2**30 stays in int32)
    assert multiply_by_quantized_multiplier(np.array([1]), 1 << 30, 30).tolist() == [2**29]
    # M = 2**30 * 2**(-31 - 31) = 2**-32: 2**30 * M = 0.25 -> 0
    assert multiply_by_quantized_multiplier(np.array([2**30]), 1 << 30, -31).tolist() == [0]
    # (2**31 - 1) M = 0.4999...: TFLite's two roundings give 1 (2**30 - 0.5 rounds up to 2**30,
    # then 2**30 / 2**31 = 0.5 rounds away from zero), the module docstring's documented off-by-one
    assert multiply_by_quantized_multiplier(np.array([2**31 - 1]), 1 << 30, -31).tolist() == [1]


# ----- convert_to_integer: a bias that overflows int32 ------------------------------------------
def test_convert_to_integer_rejects_int32_bias_overflow_naming_the_layer():
    rng = np.random.default_rng(0)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    X = rng.standard_normal((64, 4)).astype(np.float32)
    qm = ptq(model, default_qconfig(), DataLoader(X, np.zeros(64, np.int64), 32), num_batches=2)
    convert_to_integer(qm)                                        # fine as calibrated
    layer = [m for m in qm.modules() if type(m).__name__ == "QuantLinear"][0]
    layer.bias.data[1] = 1e30                                     # used to give INT64_MIN + a warning
    with pytest.raises(OverflowError, match=r"0 \(QuantLinear\): quantized bias does not fit int32: "
                                            r"channel 1 has bias 1e\+30 / \(s_x s_w = [\d.e+-]+\) = "
                                            r"[\d.e+]+, beyond \+-2147483647"):
        convert_to_integer(qm)
