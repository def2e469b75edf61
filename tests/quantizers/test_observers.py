"""Tests of qnn_lite.quantizers.observers and .histogram: hand-computed cases, PyTorch 2.13 golden
sequences (tests/data/torch_golden_uniform.npz), properties and error messages."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnn_lite.autograd.tensor import Tensor
from qnn_lite.quantizers.histogram import HistogramObserver, _histc, _linspace32
from qnn_lite.quantizers.observers import (MinMaxObserver, MovingAverageMinMaxObserver,
                                           MovingAveragePerChannelMinMaxObserver, MSEObserver,
                                           PercentileObserver, PerChannelMinMaxObserver)
from qnn_lite.quantizers.uniform import calc_qparams, fake_quantize, qrange

f32 = np.float32
GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_uniform.npz"))
ALL = [MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver,
       MovingAveragePerChannelMinMaxObserver, PercentileObserver, MSEObserver, HistogramObserver]


# ----- hand-computed -----------------------------------------------------------------------
def test_minmax_hand_computed():
    ob = MinMaxObserver()  # torch's default: quint8 (0..255), affine
    ob(np.array([-1.0, 0.5], f32))
    ob(np.array([[2.0]], f32))
    assert (ob.min_val, ob.max_val) == (-1.0, 2.0)
    # s = 3/255, z = 0 - rint(-1 / s) = 85
    assert ob.calculate_qparams() == (f32(3) / f32(255), 85)


def test_moving_average_hand_computed():
    ob = MovingAverageMinMaxObserver(averaging_constant=0.5, signed=True)
    ob(np.array([0.0, 1.0], f32))  # the first batch sets (0, 1)
    ob(np.array([-1.0, 3.0], f32))  # min = 0 + 0.5 (-1 - 0) = -0.5, max = 1 + 0.5 (3 - 1) = 2
    assert (ob.min_val, ob.max_val) == (-0.5, 2.0)
    ob(np.array([-0.5, 2.0], f32))  # the averages do not move
    assert (ob.min_val, ob.max_val) == (-0.5, 2.0)
    assert ob.calculate_qparams() == calc_qparams(-0.5, 2.0, -128, 127)


def test_per_channel_hand_computed():
    ob = PerChannelMinMaxObserver(ch_axis=1, signed=True, symmetric=True)
    ob(np.array([[1.0, -2.0, 0.0], [3.0, 0.5, 0.0]], f32))
    ob(np.array([[-4.0, 0.0, 0.0]], f32))
    assert ob.min_val.tolist() == [-4.0, -2.0, 0.0] and ob.max_val.tolist() == [3.0, 0.5, 0.0]
    s, z = ob.calculate_qparams()  # symmetric: s = max|.| / 127.5, all-zero channel -> eps
    assert np.array_equal(s, np.array([4.0, 2.0, 0.0], f32) / f32(127.5) + np.array([0, 0, np.finfo(f32).eps], f32))
    assert z.tolist() == [0, 0, 0]


def test_percentile_hand_computed():
    ob = PercentileObserver(percentile=90.0)
    ob(np.arange(0, 51, dtype=f32))
    ob(np.arange(51, 101, dtype=f32))  # 0..100: P10 = 10, P90 = 90 (exact, linear interpolation)
    assert ob.clip_range() == (10.0, 90.0)
    assert ob.calculate_qparams() == calc_qparams(10.0, 90.0, 0, 255)  # = (90/255, 0)


def test_mse_keeps_the_full_range_when_it_is_exact_and_clips_an_outlier():
    ob = MSEObserver()
    ob(np.arange(256, dtype=f32))  # s = 1, z = 0 reproduces every value: alpha = 1, error 0
    assert ob.best_alpha is None
    assert ob.calculate_qparams() == (1.0, 0) and ob.best_alpha == 1.0
    # 4-bit Gaussian data: clipping the tails (|x| > ~2.5 sigma) beats covering the max (~4 sigma)
    x = np.random.default_rng(0).standard_normal(5000).astype(f32)
    ob = MSEObserver(bits=4, signed=True, symmetric=True)
    ob(x)
    s, z = ob.calculate_qparams()
    assert 0.4 < ob.best_alpha < 0.9
    quant_min, quant_max = qrange(4)
    s1, z1 = calc_qparams(x.min(), x.max(), quant_min, quant_max, symmetric=True)  # the full range (alpha = 1)
    mse = np.mean((fake_quantize(x, s, z, quant_min, quant_max) - x) ** 2)
    assert mse < 0.7 * np.mean((fake_quantize(x, s1, z1, quant_min, quant_max) - x) ** 2)


def test_histogram_helpers_hand_computed():
    # bins of [0, 4] with 4 bins: edges 0, 1, 2, 3, 4; the last bin is closed; 5 and -1 skipped
    assert _histc(np.array([0, 0.5, 1, 3.999, 4, 5, -1], f32), 4, 0.0, 4.0).tolist() == [2, 1, 0, 2]
    # lo == hi: torch widens to [lo - 1, hi + 1]
    assert _histc(np.array([2.0], f32), 4, 2.0, 2.0).tolist() == [0, 0, 1, 0]
    assert _linspace32(0.0, 1.0, 5).tolist() == [0, 0.25, 0.5, 0.75, 1.0]


# ----- PyTorch golden sequences --------------------------------------------------------------
CONFIGS = {  # must mirror OBS_CONFIGS in tests/data/make_torch_golden_uniform.py
    "minmax_u8": (MinMaxObserver, {}),
    "minmax_s8_sym": (MinMaxObserver, dict(signed=True, symmetric=True)),
    "minmax_s8_rr": (MinMaxObserver, dict(signed=True, reduce_range=True)),
    "movavg_u8": (MovingAverageMinMaxObserver, {}),
    "movavg_s8_sym_c03": (MovingAverageMinMaxObserver, dict(averaging_constant=0.3, signed=True, symmetric=True)),
    "perch0_s8_sym": (PerChannelMinMaxObserver, dict(ch_axis=0, signed=True, symmetric=True)),
    "perch1_u8": (PerChannelMinMaxObserver, dict(ch_axis=1)),
    "perchm1_u8_rr": (PerChannelMinMaxObserver, dict(ch_axis=-1, reduce_range=True)),
    "mavperch0_s8": (MovingAveragePerChannelMinMaxObserver, dict(ch_axis=0, averaging_constant=0.25, signed=True)),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_minmax_family_matches_torch(name):
    cls, kwargs = CONFIGS[name]
    ob = cls(**kwargs)
    for x in GOLDEN["obs_batches"]:
        assert ob(x) is x
    g = {k: GOLDEN[f"obs_{name}_{k}"] for k in ("min", "max", "scale", "zp")}
    assert np.array_equal(ob.min_val, g["min"]) and np.array_equal(ob.max_val, g["max"])
    s, z = ob.calculate_qparams()
    assert np.array_equal(np.atleast_1d(s), g["scale"]) and np.array_equal(np.atleast_1d(z), g["zp"])


@pytest.mark.parametrize("k", range(int(GOLDEN["hist_count"])))
def test_histogram_observer_matches_torch(k):
    bins, signed, symmetric, rr = (int(v) for v in GOLDEN[f"hist{k}_cfg"])
    ob = HistogramObserver(bins=bins, signed=bool(signed), symmetric=bool(symmetric), reduce_range=bool(rr))
    x = GOLDEN[f"hist{k}_x"]
    for batch in np.split(x, np.cumsum(GOLDEN[f"hist{k}_sizes"])[:-1]):
        ob(batch)
    assert np.array_equal(ob.histogram, GOLDEN[f"hist{k}_histogram"])
    assert np.array_equal([ob.min_val, ob.max_val], GOLDEN[f"hist{k}_minmax"])
    assert np.array_equal(ob._non_linear_param_search(), GOLDEN[f"hist{k}_search"])
    s, z = ob.calculate_qparams()
    assert (s, z) == (GOLDEN[f"hist{k}_scale"][0], GOLDEN[f"hist{k}_zp"][0])
    assert ob.histogram.sum() == np.isfinite(x).sum()


def test_linspace_and_histc_match_torch():
    got = np.concatenate([_linspace32(a, b, int(n)) for a, b, n in GOLDEN["lin_args"]])
    assert np.array_equal(got, GOLDEN["lin_out"])  # torch's fused multiply-add, from both ends
    x = GOLDEN["histc_x"]
    got = np.concatenate([_histc(x, bins, -3.0, 3.0) for bins in (37, 256)])
    assert np.array_equal(got, GOLDEN["histc_out"])


# ----- common behaviour ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_forward_returns_input_and_reset_forgets(cls):
    ob = cls()
    t = Tensor(np.array([[-1.0, 2.0], [0.5, 3.0]], f32), requires_grad=True)
    assert ob(t) is t and ob.forward(t.data) is t.data
    first = ob.calculate_qparams()
    ob(np.zeros((0, 2), f32))  # an empty batch changes nothing
    assert np.array_equal(ob.calculate_qparams(), first)
    ob.reset()
    with pytest.warns(UserWarning, match="must run observer"):
        s, z = ob.calculate_qparams()
    assert (s, z) == (1.0, 0)  # torch's defaults before any data


@pytest.mark.parametrize("cls", ALL)
def test_nan_rejected(cls):
    with pytest.raises(ValueError, match="x contains NaN"):
        cls()(np.array([1.0, np.nan], f32))


@pytest.mark.parametrize("cls", [c for c in ALL if c is not HistogramObserver])
def test_inf_rejected(cls):
    with pytest.raises(ValueError, match="x contains ±inf"):
        cls()(np.array([1.0, -np.inf], f32))


def test_histogram_ignores_infinities():
    ob = HistogramObserver()
    ob(np.array([np.inf, -np.inf], f32))
    assert ob.clip_range() is None
    ob(np.array([1.0, np.inf, -2.0], f32))
    assert (ob.min_val, ob.max_val) == (-2.0, 1.0) and ob.histogram.sum() == 2


def test_constant_and_one_element_inputs():
    for cls in (MinMaxObserver, HistogramObserver, PercentileObserver, MSEObserver):
        ob = cls()
        ob(np.array([0.0], f32))
        assert ob.calculate_qparams() == (f32(np.finfo(f32).eps), 0), cls
        ob = cls(signed=True)
        ob(np.full(7, 2.5, f32))
        s, z = ob.calculate_qparams()
        assert (s, z) == calc_qparams(0.0, 2.5, -128, 127), cls


# ----- properties ----------------------------------------------------------------------------------
batches = st.lists(st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=20), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(batches, st.booleans(), st.booleans())
def test_minmax_equals_qparams_of_all_data(data, signed, symmetric):
    ob = MinMaxObserver(signed=signed, symmetric=symmetric)
    for b in data:
        ob(np.array(b, f32))
    allx = np.concatenate([np.array(b, f32) for b in data])
    assert ob.calculate_qparams() == calc_qparams(allx.min(), allx.max(), *qrange(8, signed), symmetric=symmetric)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(-3, 2))
def test_per_channel_equals_per_tensor_per_slice(seed, ch_axis):
    rng = np.random.default_rng(seed)
    pc, per = PerChannelMinMaxObserver(ch_axis=ch_axis, signed=True), None
    xs = [(rng.standard_normal((2, 3, 4)) * rng.uniform(0.1, 5)).astype(f32) for _ in range(3)]
    for x in xs:
        pc(x)
    s, z = pc.calculate_qparams()
    for c in range(xs[0].shape[ch_axis]):
        per = MinMaxObserver(signed=True)
        for x in xs:
            per(np.take(x, c, axis=ch_axis))
        assert (s[c], z[c]) == per.calculate_qparams()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_percentile_100_is_minmax_and_histogram_range_is_inside(seed):
    rng = np.random.default_rng(seed)
    xs = [(rng.standard_normal(50) * 2 + 0.5).astype(f32) for _ in range(2)]
    p, m, h = PercentileObserver(percentile=100), MinMaxObserver(), HistogramObserver(bins=128)
    for x in xs:
        p(x), m(x), h(x)
    assert p.calculate_qparams() == m.calculate_qparams()
    lo, hi = h._non_linear_param_search()
    assert m.min_val <= lo < hi <= m.max_val * (1 + 1e-6)


# ----- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda: MinMaxObserver(bits=0), "bits must be an int in 1..16, got 0"),
    (lambda: MinMaxObserver(symmetric=True, reduce_range=True), "needs signed=True"),
    (lambda: MinMaxObserver(eps=0.0), "eps must be a positive"),
    (lambda: MovingAverageMinMaxObserver(averaging_constant=0.0), "averaging_constant must be a float in"),
    (lambda: MovingAveragePerChannelMinMaxObserver(averaging_constant=2), "averaging_constant"),
    (lambda: PerChannelMinMaxObserver(ch_axis=1.0), "ch_axis must be an int"),
    (lambda: PercentileObserver(percentile=40), r"percentile must be a number in \(50, 100\], got 40"),
    (lambda: MSEObserver(num_candidates=0), "num_candidates must be a positive int"),
    (lambda: HistogramObserver(bins=0), "bins must be a positive int, got 0"),
    (lambda: HistogramObserver(upsample_rate=1.5), "upsample_rate"),
])
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_per_channel_runtime_errors():
    ob = PerChannelMinMaxObserver(ch_axis=2)
    with pytest.raises(ValueError, match=r"ch_axis must be in \[-2, 2\) for x with ndim=2, got ch_axis=2"):
        ob(np.ones((3, 4), f32))
    ob = PerChannelMinMaxObserver(ch_axis=0)
    ob(np.ones((3, 4), f32))
    with pytest.raises(ValueError, match="x has 5 channels along ch_axis=0, but earlier batches had 3"):
        ob(np.ones((5, 4), f32))
    with pytest.raises(TypeError, match="x must be a numeric"):
        MinMaxObserver()(np.array(["a"]))


def test_warning_is_silent_after_data():
    ob = MovingAverageMinMaxObserver()
    ob(np.array([1.0], f32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, z = ob.calculate_qparams()
    # the range [0, 1] (zero included), not the no-data default (1.0, 0): s = 1/255, z = 0
    assert (s, z) == (f32(1) / f32(255), 0)
