"""Integer-only inference: fixed-point requantization (vs big-int references) and the digits CNN end to end."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import nn
from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.data import DataLoader, load_digits
from qnn_lite.optim import Adam
from qnn_lite.transforms.fake_quant import default_qconfig
from qnn_lite.transforms.integer import IntegerMaxPool2d, convert_to_integer, int_linear_expanded, int_matmul
from qnn_lite.transforms.ptq import ptq
from qnn_lite.transforms.requant import (INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier,
                                         quantize_multiplier, quantized_add, quantized_concat, requantize,
                                         rounding_divide_by_pot, saturating_rounding_doubling_high_mul)
from qnn_lite.quantizers.uniform import fake_quantize
from qnn_lite.train import evaluate, fit

int32s = st.integers(INT32_MIN, INT32_MAX)


# ----- Python big-int references, written from gemmlowp's C source --------------------------
def c_div(n, d):
    """C integer division: truncates toward zero."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def ref_srdhm(a, b):
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdbpot(x, e):
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def round_half_away(fr: Fraction) -> int:
    n = abs(fr)
    r = int(n + Fraction(1, 2)) if n.denominator != 1 else int(n)
    return r if fr >= 0 else -r


# ----- quantize_multiplier -------------------------------------------------------------------
@pytest.mark.parametrize("m, expected", [
    (0.5, (2 ** 30, 0)),                  # TFLite: shift > 0 is a left shift; M = M0 2^shift / 2^31
    (0.25, (2 ** 30, -1)),
    (1 / 3, (1431655765, -1)),            # round(2/3 * 2^31) = 1431655765.33 -> 1431655765
    (0.75, (3 * 2 ** 29, 0)),
    (0.9, (1932735283, 0)),               # round(0.9 * 2^31) = 1932735283.2
    (1.0, (2 ** 30, 1)),
    (3.0, (3 * 2 ** 29, 2)),
    (0.0, (0, 0)),
    (1 - 2 ** -40, (2 ** 30, 1)),         # q_fixed rounds to 2^31: halve it and bump the shift
    (2.0 ** -40, (0, 0)),                 # shift < -31 underflows to zero, as TFLite
    (2.0 ** 29, (2 ** 30, 30)),           # the largest shift that fits
])
def test_quantize_multiplier_hand_cases(m, expected):
    assert quantize_multiplier(m) == expected


def test_quantize_multiplier_sweep_relative_error():
    rng = np.random.default_rng(0)
    ms = np.concatenate([10.0 ** rng.uniform(-8, 2, 500), rng.uniform(0.5, 1, 100)])
    for m in ms:
        m0, shift = quantize_multiplier(float(m))
        assert 2 ** 30 <= m0 < 2 ** 31
        approx = Fraction(m0) * Fraction(2) ** shift / 2 ** 31
        assert abs(approx - Fraction(float(m))) <= Fraction(float(m)) * Fraction(1, 2 ** 31)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "0.5", True])
def test_quantize_multiplier_rejects(bad):
    with pytest.raises(ValueError, match="real_multiplier"):
        quantize_multiplier(bad)


@pytest.mark.parametrize("m", [2.0 ** 30, 2.0 ** 30 - 2.0 ** -20, 3.0 * 2 ** 30])
def test_quantize_multiplier_rejects_a_shift_past_30(m):
    # 2^30 - 2^-20 rounds M0 up to 2^31, which halves it and bumps the shift to 31
    with pytest.raises(ValueError, match=r"real_multiplier must be < 2\*\*30"):
        quantize_multiplier(m)


# ----- gemmlowp primitives vs the references ------------------------------------------------------
def test_srdhm_edge_cases():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX) == INT32_MAX - 1
    # a*b/2^31 = +0.5 rounds up to 1; -0.5 rounds to 0 (nudge 1 - 2^30, truncating division)
    assert saturating_rounding_doubling_high_mul(1, 2 ** 30) == 1
    assert saturating_rounding_doubling_high_mul(-1, 2 ** 30) == 0
    assert saturating_rounding_doubling_high_mul(3, 2 ** 30) == 2      # 1.5 -> 2
    assert saturating_rounding_doubling_high_mul(-3, 2 ** 30) == -1    # -1.5 -> -1
    assert saturating_rounding_doubling_high_mul(-3, 2 ** 30 + 1) == -2  # just past the tie


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=20))
def test_srdhm_matches_bigint_reference(pairs):
    a, b = np.array(pairs, np.int64).T
    got = saturating_rounding_doubling_high_mul(a.astype(np.int32), b.astype(np.int32))
    assert got.dtype == np.int32
    assert got.tolist() == [ref_srdhm(int(x), int(y)) for x, y in pairs]


def test_srdhm_random_pairs():
    rng = np.random.default_rng(1)
    a = rng.integers(INT32_MIN, INT32_MAX, 2000, endpoint=True)
    b = rng.integers(INT32_MIN, INT32_MAX, 2000, endpoint=True)
    got = saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [ref_srdhm(int(x), int(y)) for x, y in zip(a, b)]


@settings(max_examples=50, deadline=None)
@given(st.lists(int32s, min_size=1, max_size=20), st.integers(0, 31))
def test_rdbpot_matches_reference(xs, e):
    got = rounding_divide_by_pot(np.array(xs, np.int64), e)
    assert got.tolist() == [ref_rdbpot(x, e) for x in xs]


def test_rdbpot_rounds_half_away_from_zero():
    x = np.array([5, -5, 6, -6, 7, -7, 1, -1, 0])
    assert rounding_divide_by_pot(x, 1).tolist() == [3, -3, 3, -3, 4, -4, 1, -1, 0]
    assert rounding_divide_by_pot(x, 2).tolist() == [1, -1, 2, -2, 2, -2, 0, 0, 0]
    assert rounding_divide_by_pot(np.array([-7, 9]), np.array([1, 2])).tolist() == [-4, 2]


def test_rdbpot_rejects_bad_exponent_and_types():
    with pytest.raises(ValueError, match="exponent"):
        rounding_divide_by_pot(np.array([1]), 32)
    with pytest.raises(TypeError, match="x must hold integers"):
        rounding_divide_by_pot(np.array([1.5]), 1)
    with pytest.raises(ValueError, match="int32"):
        saturating_rounding_doubling_high_mul(np.array([2 ** 31]), 1)


# ----- requantize vs exact rounding --------------------------------------------------------------
def test_requantize_matches_exact_rounding_except_near_ties():
    rng = np.random.default_rng(2)
    mismatches = 0
    for m in [0.0123, 0.000731, 0.25, 0.77, 1.7]:
        m0, shift = quantize_multiplier(m)
        acc = rng.integers(-(2 ** 20), 2 ** 20, 3000)
        got = requantize(acc, m0, shift, 3, -(2 ** 31), 2 ** 31 - 1)
        m_exact = Fraction(m0) * Fraction(2) ** shift / 2 ** 31
        for a, g in zip(acc.tolist(), got.tolist()):
            v = a * m_exact
            want = round_half_away(v) + 3
            if g != want:
                mismatches += m not in (0.25, 1.7)  # exact binary multipliers hit exact ties often
                frac = abs(v) - int(abs(v))
                assert abs(g - want) == 1
                assert abs(frac - Fraction(1, 2)) <= Fraction(2) ** min(shift, 0), (a, m)  # a near-tie
    assert mismatches < 0.01 * 9000  # generic multipliers: near-ties are rare


def test_requantize_clamps_and_per_channel():
    m0, sh = quantize_multiplier(0.5)
    assert requantize(np.array([1000, -1000, 10]), m0, sh, 10, 0, 255).tolist() == [255, 0, 15]
    M = np.array([quantize_multiplier(0.5)[0], quantize_multiplier(0.25)[0]])
    S = np.array([quantize_multiplier(0.5)[1], quantize_multiplier(0.25)[1]])
    got = requantize(np.array([[8, 8], [-8, -8]]), M, S, 0, -128, 127)
    assert got.tolist() == [[4, 2], [-4, -2]]


def test_multiply_by_quantized_multiplier_left_shift():
    m0, sh = quantize_multiplier(3.0)
    assert multiply_by_quantized_multiplier(np.array([7, -7]), m0, sh).tolist() == [21, -21]


# ----- add / concat -------------------------------------------------------------------------------
def test_quantized_add_matches_float_within_one_step():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, 1000)
    b = rng.integers(0, 256, 1000)
    a_s, a_z, b_s, b_z, o_s, o_z = 0.02, 128, 0.05, 100, 0.07, 90
    got = quantized_add(a, a_s, a_z, b, b_s, b_z, o_s, o_z)
    real = (a - a_z) * a_s + (b - b_z) * b_s
    want = np.clip(np.round(real / o_s) + o_z, 0, 255)
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() > 0.99


def test_quantized_concat_requantizes_each_input():
    a, b = np.array([[10, 20]]), np.array([[200, 0]])
    out = quantized_concat([a, b], [0.1, 0.2], [0, 100], 0.1, 0, axis=1)
    assert out.tolist() == [[10, 20, 200, 0]]    # b: 0.2 (q - 100) / 0.1 = 200, -200 -> clamp 0
    with pytest.raises(ValueError, match="tensors, scales and zero_points"):
        quantized_concat([a], [0.1, 0.2], [0], 0.1, 0)


# ----- integer GEMM forms -------------------------------------------------------------------------
def test_expanded_form_equals_subtract_zero_points():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (5, 17))
    w = rng.integers(-128, 128, (3, 17))
    wz = np.array([0, 3, -2])
    direct = int_matmul(x - 7, (w - wz[:, None]).T)
    assert np.array_equal(int_linear_expanded(x, 7, w, wz), direct)
    assert np.array_equal(direct, (x - 7) @ (w - wz[:, None]).T)


def test_int_matmul_overflow_is_an_error():
    big = np.full((1, 4), 2 ** 15, np.int64)
    with pytest.raises(OverflowError, match="int32"):
        int_matmul(big, big.T * 2 ** 3)


def test_integer_maxpool_equals_float_maxpool_on_codes():
    q = np.random.default_rng(5).integers(0, 256, (2, 3, 6, 6)).astype(np.int32)
    got = IntegerMaxPool2d(2)(q)
    want = nn.functional.max_pool2d(Tensor(q.astype(np.float32)), 2).data
    assert np.array_equal(got, want.astype(np.int32))


# ----- end to end on digits -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_cnn():
    Xtr, ytr, Xte, yte = load_digits()
    nn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 10))
    fit(model, DataLoader(Xtr, ytr, 32, shuffle=True, seed=0), nn.CrossEntropyLoss(),
        Adam(model.parameters(), lr=1e-2), epochs=3, progress=False)
    model.eval()
    qm = ptq(model, default_qconfig(per_channel=True), DataLoader(Xtr, ytr, 128, shuffle=True, seed=0),
             num_batches=4)
    return model, qm, Xte, yte


def test_integer_model_matches_fake_quant_model(digits_cnn):
    model, qm, Xte, yte = digits_cnn
    im = convert_to_integer(qm)
    with no_grad():
        fq_logits = qm(Tensor(Xte)).data
    int_logits = im(Xte)
    assert np.abs(int_logits - fq_logits).max() <= im.out_qp.scale * (1 + 1e-5)
    assert (int_logits.argmax(1) == fq_logits.argmax(1)).mean() >= 0.995
    # integer codes all the way: the output codes are integers in the activation range
    codes = im.forward_int(im.quantize_input(Xte))
    assert codes.dtype.kind == "i" and codes.min() >= 0 and codes.max() <= 255
    # one multiplier per output channel for per-channel weights
    first = im.layers[0][1]
    assert first.M0.shape == (8,) and len(set(first.real_multiplier.tolist())) == 8


def test_w8a8_accuracy_within_one_percent_of_float(digits_cnn):
    model, qm, Xte, yte = digits_cnn
    loader = DataLoader(Xte, yte, 512)
    float_acc, int_acc = evaluate(model, loader), (convert_to_integer(qm)(Xte).argmax(1) == yte).mean()
    assert float_acc > 0.85
    assert int_acc >= float_acc - 0.01


def test_fake_quant_linear_layer_matches_its_integer_version(digits_cnn):
    """The last layer alone: integer codes in, integer codes out, against the fake-quant float path."""
    _, qm, Xte, _ = digits_cnn
    im = convert_to_integer(qm)
    lin = im.layers[-1][1]
    x = np.random.default_rng(6).integers(0, 256, (50, 64))
    x_real = (x - lin.in_qp.zero_point) * np.float32(lin.in_qp.scale)
    ql = qm[-1]
    with no_grad():
        y = ql(Tensor(x_real.astype(np.float32))).data
    y_int = (lin(x) - lin.out_qp.zero_point) * np.float32(lin.out_qp.scale)
    assert np.abs(y - y_int).max() <= lin.out_qp.scale * (1 + 1e-5)


def test_convert_to_integer_rejects_unsupported_models(digits_cnn):
    _, qm, _, _ = digits_cnn
    with pytest.raises(TypeError, match="Sequential"):
        convert_to_integer(qm[1])
    with pytest.raises(ValueError, match="before the input quantizer"):
        convert_to_integer(nn.Sequential(nn.Flatten()))
    with pytest.raises(ValueError, match="Sigmoid"):
        convert_to_integer(nn.Sequential(qm[0], nn.Sigmoid()))
    with pytest.raises(ValueError, match="QuantConv2d"):   # the float input reaches a Quant layer
        convert_to_integer(nn.Sequential(qm[1]))


def test_fake_quantize_sanity_for_reference():
    # the integer path relies on fake_quantize being (clip(rint(x/s)+z) - z) s
    y = fake_quantize(np.array([0.26, -1.0, 9.0], np.float32), 0.5, 2, 0, 10)
    assert y.tolist() == [0.5, -1.0, 4.0]


def test_requantize_steps_and_input_quantizers_are_converted():
    """A QuantAct on an integer tensor and a layer's own input quantizer become IntegerRequantize."""
    from qnn_lite.transforms.layers import QuantAct, QuantLinear, QuantReLU
    from qnn_lite.transforms.ptq import calibrate, convert
    from qnn_lite.transforms.integer import IntegerRequantize
    nn.manual_seed(7)
    cfg8, cfg4 = default_qconfig(), default_qconfig(4, 4)
    l1, l2 = nn.Linear(6, 12), nn.Linear(12, 3)
    qm = nn.Sequential(QuantAct(cfg8), QuantLinear(l1, cfg8), QuantReLU(cfg8), QuantAct(cfg4),
                       QuantLinear(l2, cfg8, quantize_input=True, quantize_output=True))
    X = np.random.default_rng(8).normal(size=(200, 6)).astype(np.float32)
    for m in qm.modules():
        if hasattr(m, "disable_fake_quant"):
            m.disable_fake_quant()
    qm = convert(calibrate(qm, DataLoader(X, np.zeros(200), 50)))
    im = convert_to_integer(qm)
    assert [type(layer).__name__ for _, layer in im.layers] == \
        ["IntegerLinear", "IntegerRequantize", "IntegerRequantize", "IntegerLinear"]
    assert isinstance(im.layers[1][1], IntegerRequantize)
    with no_grad():
        want = qm(Tensor(X)).data
    # A near-tie flip of one 8-bit code early on moves a 4-bit code by one 4-bit step (17x larger),
    # which then moves the logits by several output steps: demand agreement almost everywhere.
    within = np.abs(im(X) - want) <= im.out_qp.scale * (1 + 1e-5)
    assert within.mean() >= 0.97
    # the 8-bit -> 4-bit step alone agrees with fake quantization on every code
    r = im.layers[1][1]
    q = np.arange(256)
    s_in, s_out = np.float32(r.in_qp.scale), np.float32(r.out_qp.scale)
    fake = np.rint(fake_quantize(q * s_in, s_out, r.out_qp.zero_point, 0, 15) / s_out) + r.out_qp.zero_point
    assert np.array_equal(r(q), fake)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_property(m):
    m0, shift = quantize_multiplier(m)
    assert 2 ** 30 <= m0 < 2 ** 31 and -31 <= shift <= 30
    assert abs(Fraction(m0) * Fraction(2) ** (shift - 31) - Fraction(m)) <= Fraction(m) / 2 ** 31


def test_int8_kernel_and_numpy_backends_agree(digits_cnn, monkeypatch):
    import qnn_lite.transforms.integer_layers as integer
    _, qm, Xte, _ = digits_cnn
    im = convert_to_integer(qm)
    q = im.quantize_input(Xte[:64])
    monkeypatch.setattr(integer, "GEMM_BACKEND", "numpy")
    ref = im.forward_int(q)
    monkeypatch.setattr(integer, "GEMM_BACKEND", "auto")
    assert np.array_equal(im.forward_int(q), ref)


def test_integer_conversion_needs_a_weight_quantizer():
    from qnn_lite.transforms.fake_quant import QConfig
    from qnn_lite.transforms.ptq import calibrate, convert, prepare
    cfg = QConfig(weight=None, activation=default_qconfig().activation)
    nn.manual_seed(9)
    X = np.random.default_rng(9).normal(size=(20, 4)).astype(np.float32)
    qm = convert(calibrate(prepare(nn.Sequential(nn.Linear(4, 2)), cfg), DataLoader(X, np.zeros(20), 10)))
    with pytest.raises(ValueError, match="no weight quantizer"):
        convert_to_integer(qm)


def test_bias_correction_on_conv_zeroes_the_mean_shift(digits_cnn):
    import copy
    from qnn_lite.transforms.ptq import bias_correction, fuse_modules
    model, qm, Xte, _ = digits_cnn
    fused, qm2 = fuse_modules(model), copy.deepcopy(qm)
    X = Xte[:128]
    loader = DataLoader(X, np.zeros(len(X)), 64)

    def mean_shift(q):
        with no_grad():
            x = q[0](Tensor(X))
            y_q = q[1](x).data
            y_f = nn.functional.conv2d(x, fused[0].weight, fused[0].bias, 1, 1).data
        return (y_q - y_f).mean(axis=(0, 2, 3))

    before = np.abs(mean_shift(qm2)).max()
    bias_correction(fused, qm2, loader)
    after = np.abs(mean_shift(qm2)).max()
    assert before > 1e-5 and after < 1e-3 * before + 1e-6
