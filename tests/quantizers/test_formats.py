"""qnn_lite.quantizers.formats and qnn_lite.quantizers.format_values: format constants vs np.finfo and the exercise formulas, rounding (hand cases,
PyTorch 2.13 golden casts, properties), bit decoding, value counting, sizes."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exercises.checks.ch01 import float_format_ref, model_size_bytes_ref, round_to_bits_ref
from qnn_lite import nn
from qnn_lite.quantizers.format_values import (count_values, decode_bits, representable_values, round_weights,
                                               spacing)
from qnn_lite.quantizers.formats import (FORMATS, format_table, get_format, int_format,
                                         model_size_bytes, round_minifloat, round_to_format)

GOLDEN = Path(__file__).parent.parent / "data" / "torch_golden_formats.npz"
FLOATS = ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2")


def same(a, b):
    """Equal as float32 values, NaN equal to NaN, and the sign of zero must match."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[a == 0]), np.signbit(b[b == 0]))


# ----- constants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, dtype", [("fp32", np.float32), ("fp16", np.float16)])
def test_constants_match_finfo(name, dtype):
    f, fi = get_format(name), np.finfo(dtype)
    assert (f.bits, f.exp_bits, f.man_bits) == (fi.bits, fi.nexp, fi.nmant)
    assert f.max == float(fi.max)
    assert f.min_normal == float(fi.smallest_normal)
    assert f.min_subnormal == float(fi.smallest_subnormal)
    assert f.eps == float(fi.eps)
    if fi.bits == 16:   # every finite bit pattern, minus the duplicate zero
        v = np.arange(2 ** 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
        assert f.num_values == np.unique(v[np.isfinite(v)]).size
    else:
        assert f.num_values == 2 ** 32 - 2 ** 24 - 1


@pytest.mark.parametrize("name", ["fp32", "fp16", "bf16", "fp8_e5m2"])
def test_ieee_formats_agree_with_the_exercise_formula(name):
    f = get_format(name)
    assert (f.max, f.min_normal, f.eps) == float_format_ref(f.exp_bits, f.man_bits)


def test_fp8_and_bf16_hand_values():
    e4, e5, bf = FORMATS["fp8_e4m3"], FORMATS["fp8_e5m2"], FORMATS["bf16"]
    assert (e4.max, e4.min_normal, e4.min_subnormal, e4.eps, e4.num_values) == (448.0, 2 ** -6, 2 ** -9, 0.125, 253)
    assert (e5.max, e5.min_normal, e5.min_subnormal, e5.eps, e5.num_values) == (57344.0, 2 ** -14, 2 ** -16, 0.25, 247)
    assert float_format_ref(4, 3)[0] == 240.0 != e4.max      # E4M3 reclaims the all-ones exponent
    assert not e4.has_inf and e5.has_inf
    assert bf.max == float(np.float32(3.3895313892515355e38)) and bf.eps == 2 ** -7 and bf.num_values == 65279


def test_int_and_binary_formats():
    i8 = FORMATS["int8"]
    assert (i8.bits, i8.max, i8.min_normal, i8.eps, i8.num_values) == (8, 127.0, None, 1.0, 256)
    assert int_format(3).num_values == 8 and get_format("INT5").bits == 5
    assert FORMATS["binary"].bits == 1 and FORMATS["binary"].num_values == 2
    assert get_format("bfloat16") is FORMATS["bf16"] and get_format("E4M3") is FORMATS["fp8_e4m3"]


def test_format_table_rows():
    lines = format_table().splitlines()
    assert len(lines) == 2 + 8
    row = {l.split()[0]: l.split() for l in lines[2:]}
    assert row["fp8_e4m3"][3] == "448" and row["fp16"][-1] == "63,487" and row["int4"][-1] == "16"


# ----- rounding: hand cases -----------------------------------------------------------------------
def test_bf16_hand_cases():
    u = 2.0 ** -7                           # bf16 spacing on [1, 2)
    x = np.array([1.0, 1 + u / 2, 1 + u / 2 + 2 ** -20, 1 + 1.5 * u, 1 + u / 4, -(1 + 1.5 * u),
                  2 - u / 2, 2 - u / 4, 2 - 0.75 * u, 0.0, -0.0])
    want = np.array([1.0, 1.0, 1 + u, 1 + 2 * u, 1.0, -(1 + 2 * u),
                     2.0, 2.0, 2 - u, 0.0, -0.0])  # ties to even: 1 + u/2 -> 1 (even), 1 + 1.5u -> 1 + 2u
    assert same(round_to_format(x, "bf16"), want)
    # rounding up across the exponent: 2 - u/2 has exponent 0, its bf16 value 2.0 has exponent 1
    assert decode_bits(2 - u / 2, "bf16")["exponent"] == "10000000"


def test_bf16_keeps_inf_nan_and_overflows_to_inf():
    big = np.float32(np.finfo(np.float32).max)           # rounds past bf16's max: RNE gives inf
    y = round_to_format(np.array([np.inf, -np.inf, np.nan, big, -big], np.float32), "bf16")
    assert np.isposinf(y[0]) and np.isneginf(y[1]) and np.isnan(y[2])
    assert np.isposinf(y[3]) and np.isneginf(y[4])
    y = round_to_format(np.array([big, np.inf], np.float32), "bf16", saturate=True)
    assert np.all(y == FORMATS["bf16"].max)


def test_bf16_nan_payload_in_low_bits_stays_nan():
    x = np.array([0x7F800001, 0xFF800001], dtype=np.uint32).view(np.float32)   # NaNs with only low payload bits
    assert np.isnan(round_to_format(x, "bf16")).all()


def test_fp8_max_and_overflow():
    x = np.array([448, 464, 465, 1e4, np.inf, -np.inf], np.float32)
    assert same(round_to_format(x, "fp8_e4m3"), [448, 448, 448, 448, 448, -448])          # saturates
    assert same(round_to_format(x[:3], "fp8_e4m3", saturate=False), [448, 448, np.nan])    # OCP non-saturating
    x = np.array([57344, 61439, 61440, np.inf, -1e6], np.float32)
    assert same(round_to_format(x, "fp8_e5m2"), [57344, 57344, np.inf, np.inf, -np.inf])   # 61440 ties up to inf
    assert same(round_to_format(x, "fp8_e5m2", saturate=True), [57344] * 4 + [-57344])


def test_fp8_subnormals_and_ties():
    t = 2.0 ** -9                                    # E4M3 smallest subnormal
    x = np.array([t / 2, 1.5 * t, 2.5 * t, 0.75 * t, -t / 2, 1.0625, 1.1875], np.float32)
    want = [0.0, 2 * t, 2 * t, t, -0.0, 1.0, 1.25]   # ties to even: 1.0625 -> 1.0, 1.1875 -> 1.25
    assert same(round_to_format(x, "fp8_e4m3"), want)


def test_int_rounding_matches_the_exercise_reference():
    w = np.random.default_rng(0).normal(0, 0.1, size=500).astype(np.float32)
    for bits in (8, 4, 2):
        got = round_to_format(w, f"int{bits}")
        want = round_to_bits_ref(w, bits)
        assert np.allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(w).max())
        assert np.unique(got).size <= 2 ** bits - 1


def test_int_affine_uses_all_codes_and_binary_is_scaled_sign():
    w = np.linspace(-1, 3, 1000, dtype=np.float32)
    assert np.unique(round_to_format(w, "int4", scheme="affine")).size == 16
    assert np.unique(round_to_format(w, "int4")).size == 10      # symmetric, s = 3/7: codes rint(-1/s) = -2 .. 7
    b = round_to_format(np.array([0.5, -1.5, 0.0], np.float32), "binary")
    assert np.allclose(b, [2 / 3, -2 / 3, 2 / 3])


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp8_e4m3", "fp8_e5m2"])
def test_matches_pytorch_casts(name):
    g = np.load(GOLDEN)
    x, y = g[f"x_{name}"], g[f"y_{name}"]
    got = round_to_format(x, name)
    assert got.dtype == np.float32 and got.shape == x.shape
    ok = np.isnan(y) & np.isnan(got) | (got == y) & (np.signbit(got) == np.signbit(y))
    assert ok.all(), f"{(~ok).sum()} of {x.size} differ, e.g. x={x[~ok][:3]} got={got[~ok][:3]} torch={y[~ok][:3]}"


@pytest.mark.parametrize("name", ["fp16", "bf16"])
def test_generic_formula_equals_the_dedicated_paths(name):
    x = np.random.default_rng(1).integers(0, 2 ** 32, 5000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    assert same(round_minifloat(x, name), round_to_format(x, name))


# ----- rounding: properties -----------------------------------------------------------------------
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=50, deadline=None)
@given(st.lists(finite32, min_size=2, max_size=20), st.sampled_from(FLOATS))
def test_float_rounding_is_idempotent_and_monotone(xs, name):
    x = np.sort(np.array(xs, np.float32))
    y = round_to_format(x, name)
    assert same(round_to_format(y, name), y)
    assert not np.isnan(y).any() and np.all(y[1:] >= y[:-1])
    # nearest: no representable value is closer (checked against the neighbours either side)
    f = get_format(name)
    for xi, yi in zip(x, y):
        if np.isfinite(yi) and abs(xi) <= f.max:
            assert abs(float(yi) - float(xi)) <= spacing(xi, f) / 2 * (1 + 1e-12) + 1e-300


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-100, 100, width=32), min_size=2, max_size=30), st.integers(2, 8),
       st.sampled_from(["symmetric", "affine"]))
def test_int_rounding_is_monotone_and_levels_bounded(xs, bits, scheme):
    x = np.sort(np.array(xs, np.float32))
    y = round_to_format(x, f"int{bits}", scheme=scheme)
    assert np.all(np.diff(y) >= 0)
    assert np.unique(y).size <= 2 ** bits
    amax = float(np.abs(y).max())
    assert np.allclose(round_to_format(y, f"int{bits}", scheme=scheme), y, rtol=0, atol=1e-5 * amax + 1e-30)


# ----- bits ---------------------------------------------------------------------------------------
def test_decode_bits_hand_cases():
    assert decode_bits(1.0, "fp32") == {"sign": "0", "exponent": "01111111", "mantissa": "0" * 23}
    assert decode_bits(-2.5, "fp32") == {"sign": "1", "exponent": "10000000", "mantissa": "01" + "0" * 21}
    assert decode_bits(1.0, "fp16") == {"sign": "0", "exponent": "01111", "mantissa": "0" * 10}
    assert "".join(decode_bits(448, "fp8_e4m3").values()) == "01111110"
    assert "".join(decode_bits(57344, "fp8_e5m2").values()) == "01111011"
    assert "".join(decode_bits(2.0 ** -9, "fp8_e4m3").values()) == "00000001"     # smallest subnormal
    assert "".join(decode_bits(-0.0, "bf16").values()) == "1" + "0" * 15
    assert "".join(decode_bits(np.inf, "fp16").values()) == "0111110000000000"
    assert decode_bits(np.nan, "fp8_e4m3")["exponent"] == "1111"
    assert decode_bits(0.1, "bf16") == {"sign": "0", "exponent": "01111011", "mantissa": "1001101"}
    assert decode_bits(-3, "int4") == {"sign": "1", "value": "101"}
    assert decode_bits(5, "int8") == {"sign": "0", "value": "0000101"}
    assert decode_bits(-0.2, "binary") == {"value": "0"} and decode_bits(0, "binary") == {"value": "1"}


@settings(max_examples=50, deadline=None)
@given(finite32)
def test_decode_bits_fp32_and_fp16_are_the_bit_patterns(v):
    assert int("".join(decode_bits(v, "fp32").values()), 2) == int(np.float32(v).view(np.uint32))
    h = np.float16(np.float32(v)) if abs(v) < 65520 else None
    if h is not None:
        assert int("".join(decode_bits(v, "fp16").values()), 2) == int(h.view(np.uint16))


# ----- counting the grid --------------------------------------------------------------------------
def test_count_values_hand_cases():
    assert count_values("fp16", 1.0, 2.0) == 1025                 # 1024 steps of 2^-10, both ends
    assert count_values("bf16", 1.0, 2.0) == 129
    assert count_values("fp32", 1.0, 2.0) == 2 ** 23 + 1
    assert count_values("fp8_e4m3", -448, 448) == 253
    assert count_values("fp8_e5m2", 0, 1e9) == 124                # every finite non-negative value
    assert count_values("fp32", -1.0, 1.0) == 2 * 0x3F800000 + 1
    assert count_values("int4", -1.0, 1.0, scale=0.25) == 9
    v = representable_values("fp8_e4m3", -0.5, 0.5)
    assert v.size == count_values("fp8_e4m3", -0.5, 0.5) and np.all(np.diff(v) > 0)
    assert np.array_equal(representable_values("fp32", 1.0, float(np.nextafter(np.float32(1), np.float32(2)))),
                          [1.0, 1.0 + 2 ** -23])


@settings(max_examples=30, deadline=None)
@given(st.floats(-500, 500), st.floats(0, 100), st.sampled_from(["fp16", "bf16", "fp8_e4m3", "fp8_e5m2"]))
def test_count_values_equals_enumeration(lo, width, name):
    hi = lo + width
    assert count_values(name, lo, hi) == representable_values(name, lo, hi, limit=10 ** 6).size


def test_spacing_matches_numpy():
    x = np.abs(np.random.default_rng(2).normal(0, 10, 200)).astype(np.float32)
    assert np.array_equal(spacing(x, "fp32"), np.spacing(x).astype(np.float64))
    x16 = x.astype(np.float16)
    assert np.array_equal(spacing(x16, "fp16"), np.spacing(x16).astype(np.float64))
    assert spacing(1.0, "bf16") == 2 ** -7 and spacing(1.0, "fp16") == 2 ** -10


# ----- sizes and model rounding -------------------------------------------------------------------
@pytest.mark.parametrize("n, bits", [(1_000_000, 32), (1_000_000, 4), (3, 3), (61_706, 5), (0, 8), (1, 1)])
def test_model_size_bytes(n, bits):
    assert model_size_bytes(n, bits) == model_size_bytes_ref(n, bits)


def test_round_weights_rounds_only_weight_matrices():
    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 5, generator=g), nn.ReLU(), nn.Linear(5, 3, generator=g))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    stats = round_weights(model, "int2")
    after = model.state_dict()
    assert set(stats) == {"0.weight", "2.weight", "all"} and stats["all"]["numel"] == 45
    assert np.array_equal(after["0.bias"], before["0.bias"])
    assert np.unique(after["0.weight"]).size <= 3
    assert stats["0.weight"]["mse"] > 0 and stats["all"]["sqnr_db"] < 10
    model.load_state_dict(before)
    assert round_weights(model, "fp32")["all"]["mse"] == 0.0


# ----- errors -------------------------------------------------------------------------------------
def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="fmt must be one of"):
        get_format("fp7")
    with pytest.raises(TypeError, match="fmt"):
        get_format(8)
    with pytest.raises(ValueError, match="bits must be an int in 2..16"):
        int_format(1)
    with pytest.raises(ValueError, match="scheme"):
        round_to_format([1.0], "int8", scheme="asym")
    with pytest.raises(ValueError, match="x must be finite"):
        round_to_format([1.0, np.nan], "int8")
    with pytest.raises(ValueError, match="at least one element"):
        round_to_format([], "int4")
    with pytest.raises(TypeError, match="saturate"):
        round_to_format([1.0], "fp8_e4m3", saturate="yes")
    with pytest.raises(ValueError, match=r"x must be an integer code in \[-128, 127\] for int8, got 3.5"):
        decode_bits(3.5, "int8")
    with pytest.raises(ValueError, match=r"x must be an integer code .* got 128"):
        decode_bits(128, "int8")
    with pytest.raises(ValueError, match="single number"):
        decode_bits([1.0, 2.0], "fp32")
    with pytest.raises(ValueError, match="num_params"):
        model_size_bytes(-1, 8)
    with pytest.raises(ValueError, match="bits"):
        model_size_bytes(10, 0)
    with pytest.raises(ValueError, match="limit"):
        representable_values("fp32", -1, 1)
    with pytest.raises(ValueError, match="lo and hi"):
        count_values("fp16", 1, 0)
    with pytest.raises(ValueError, match="float format"):
        round_minifloat([1.0], "int8")


def test_a_custom_ieee_style_format_rounds_to_its_nearest_value():
    from qnn_lite.quantizers.formats import NumberFormat

    fp6 = NumberFormat("fp6_e3m2", "float", 3, 2)                  # bias 3, max 1.75 * 2^3 = 14
    assert (fp6.max, fp6.min_subnormal, fp6.num_values) == (14.0, 0.0625, 2 ** 6 - 2 ** 3 - 1)
    grid = representable_values(fp6, -14, 14)
    assert grid.size == fp6.num_values
    x = np.random.default_rng(3).uniform(-14, 14, 500).astype(np.float32)
    y = round_to_format(x, fp6)
    nearest = np.abs(x[:, None] - grid[None, :]).min(axis=1)
    assert np.all(np.isin(y, grid)) and np.allclose(np.abs(y - x), nearest)
    assert "".join(decode_bits(14.0, fp6).values()) == "011011"


def test_degenerate_inputs():
    for name in ("int8", "int4", "int2"):
        for scheme in ("symmetric", "affine"):
            assert np.array_equal(round_to_format(np.zeros(5), name, scheme=scheme), np.zeros(5))
            assert np.allclose(round_to_format(np.full(4, 0.3), name, scheme=scheme), 0.3, rtol=1e-6)
            assert np.allclose(round_to_format([-2.5], name, scheme=scheme), [-2.5], rtol=1e-6)
    assert np.array_equal(round_to_format(np.zeros(3), "binary"), np.zeros(3))
    assert round_to_format(np.float32(1.1), "bf16").shape == ()
    assert round_to_format(np.zeros((2, 0)), "fp8_e4m3").shape == (2, 0)
    with pytest.raises(ValueError, match="x must be finite"):
        round_to_format([np.inf, 1.0], "int4")
