"""GPTQ, AWQ, SmoothQuant, activation / KV quantizers and the TinyGPT transforms."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.quantizers.uniform import calc_qparams
from qnn_lite.quantizers.activation import fake_quantize_absmax, fake_quantize_fp8, fake_quantize_minmax
from qnn_lite.quantizers.groupwise import fake_quantize_groupwise
from qnn_lite.transforms.awq import search_scale
from qnn_lite.transforms.gptq import gptq_quantize, hessian
from qnn_lite.transforms.llm_quant import (act_absmax, format_model, kv_quant_model, layer_sqnr, outlier_stats,
                                           quantize_tinygpt)
from qnn_lite.transforms.smoothquant import smooth_model, smooth_scales
from qnn_lite.zoo.gpt import GPTConfig, TinyGPT


def _layer(seed, out=16, n_in=32, n=256):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)) * rng.uniform(0.2, 4, n_in) + rng.standard_normal(n_in)
    return rng.standard_normal((out, n_in)).astype(np.float32), X


def _err(X, W, Q):
    return float(np.sum((X @ W.T.astype(np.float64) - X @ Q.T.astype(np.float64)) ** 2))


def dense_gptq(W, H, bits, group_size=None, percdamp=0.01, act_order=False):
    """The literal OBS recursion: re-invert H over the remaining columns at every step, no batching."""
    W, H = W.astype(np.float64).copy(), H.copy()
    n = W.shape[1]
    order = list(np.argsort(-np.diag(H), kind="stable")) if act_order else list(range(n))
    H[np.diag_indices(n)] += percdamp * np.mean(np.diag(H))
    Q = np.zeros_like(W)
    qmax = 2 ** bits - 1

    def params(cols):
        s, z = calc_qparams(cols.min(1), cols.max(1), 0, qmax)
        return s.astype(np.float64), z.astype(np.float64)

    if group_size is None:
        s, z = params(W)
    for t, j in enumerate(order):
        F = order[t:]
        if group_size is not None and t % group_size == 0:
            s, z = params(W[:, order[t:t + group_size]])
        Hinv = np.linalg.inv(H[np.ix_(F, F)])
        q = (np.clip(np.rint(W[:, j] / s) + z, 0, qmax) - z) * s
        Q[:, j] = q
        W[:, F] -= np.outer((W[:, j] - q) / Hinv[0, 0], Hinv[0])
    return Q.astype(np.float32)


@pytest.mark.parametrize("group_size, act_order, block_size", [(None, False, 128), (None, True, 8),
                                                               (8, False, 16), (8, True, 8), (4, False, 4)])
def test_gptq_equals_the_dense_obs_recursion(group_size, act_order, block_size):
    W, X = _layer(1, out=6, n_in=16, n=64)
    H = hessian(X)
    Q, info = gptq_quantize(W, H, 3, group_size, block_size=block_size, act_order=act_order)
    np.testing.assert_allclose(Q, dense_gptq(W, H, 3, group_size, act_order=act_order), rtol=1e-5, atol=1e-6)
    assert sorted(info["perm"]) == list(range(16))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bits, group_size", [(4, None), (3, 8), (4, 16)])
def test_gptq_error_at_most_rtn(seed, bits, group_size):
    W, X = _layer(seed)
    Q, _ = gptq_quantize(W, hessian(X), bits, group_size, percdamp=0.01)
    assert _err(X, W, Q) <= _err(X, W, fake_quantize_groupwise(W, bits, group_size))


def test_gptq_lazy_batches_do_not_change_the_result():
    W, X = _layer(3, n_in=64)
    H = hessian(X)
    a = gptq_quantize(W, H, 4, 16, block_size=16)[0]
    b = gptq_quantize(W, H, 4, 16, block_size=64)[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gptq_dead_inputs_and_identity_hessian():
    W, X = _layer(4)
    X[:, 5] = 0                                   # a dead input: its weights are zeroed, no crash
    Q, _ = gptq_quantize(W, hessian(X), 4, None)
    assert np.all(Q[:, 5] == 0) and np.all(np.isfinite(Q))
    # with H = I and no damping, no column informs another: GPTQ is RTN
    Q, _ = gptq_quantize(W, np.eye(32), 4, 8, percdamp=0.0)
    np.testing.assert_allclose(Q, fake_quantize_groupwise(W, 4, 8), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("call, match", [
    (lambda W, X: gptq_quantize(W, hessian(X[:8]), 4, percdamp=0.0), "singular"),
    (lambda W, X: gptq_quantize(W, hessian(X[:, :16]), 4), r"H must be \(in_features, in_features\)"),
    (lambda W, X: hessian(X[:, :16], in_features=32), "width 16.*in_features=32"),
    (lambda W, X: gptq_quantize(W, hessian(X), 4, group_size=12), "group_size must divide"),
    (lambda W, X: gptq_quantize(W, hessian(X), 4, group_size=16, block_size=24), "multiple of group_size"),
    (lambda W, X: gptq_quantize(W, hessian(X), 4, percdamp=-1), "percdamp"),
    (lambda W, X: gptq_quantize(W[0], hessian(X), 4), "2-D"),
    (lambda W, X: search_scale(X[:, :16], [W]), "must match"),
])
def test_gptq_awq_errors(call, match):
    W, X = _layer(0)
    with pytest.raises(ValueError, match=match):
        call(W, X)


# ----- AWQ ------------------------------------------------------------------------------------------
def test_awq_scale_search_never_worse_than_plain_rtn_and_favours_loud_channels():
    W, X = _layer(5, n_in=64, n=512)
    X[:, 3] *= 30                                  # one loud input channel
    s, ratio, losses = search_scale(X, [W], bits=3, group_size=32)
    assert losses.min() <= losses[0]               # ratio 0 is s = 1: plain RTN
    assert ratio > 0 and s[3] == s.max()
    rtn = fake_quantize_groupwise(W, 3, 32)
    awq = fake_quantize_groupwise(W * s, 3, 32) / s
    assert _err(X, W, awq) < _err(X, W, rtn)


# ----- SmoothQuant ----------------------------------------------------------------------------------
def test_smooth_scales_formula_hand_case():
    s = smooth_scales(np.array([16.0, 1.0]), [np.array([[1.0, 4.0], [-2.0, 1.0]])], alpha=0.5)
    np.testing.assert_allclose(s, [np.sqrt(16) / np.sqrt(2), 1 / np.sqrt(4)], rtol=1e-6)
    np.testing.assert_allclose(smooth_scales(np.array([9.0]), [np.ones((1, 1)) * 5], alpha=1.0), [9.0])


@pytest.fixture(scope="module")
def tiny():
    model = TinyGPT(GPTConfig(vocab_size=96, block_size=16, n_layer=2, n_head=2, n_embd=32), seed=3).eval()
    rng = np.random.default_rng(0)
    for name, p in model.named_parameters():      # give the norms and biases non-trivial values
        if "ln" in name or name.endswith("bias"):
            p.data[...] = p.data + rng.normal(0, 0.3, p.shape).astype(np.float32)
    x = rng.integers(0, 96, size=(4, 16))
    return model, x


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.85, 1.0])
def test_smoothquant_leaves_the_float_output_unchanged(tiny, alpha):
    model, x = tiny
    stats = act_absmax(model, lambda m: m(x))
    smoothed = smooth_model(model, stats, alpha)
    with no_grad():
        a, b = model(x).data, smoothed(x).data
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    if alpha > 0:
        assert not np.allclose(smoothed.h[0].ln_1.weight.data, model.h[0].ln_1.weight.data)
    new = act_absmax(smoothed, lambda m: m(x))["h.0.attn.c_attn"]   # alpha = 1: activations all max 1
    if alpha == 1.0:
        np.testing.assert_allclose(new, 1.0, rtol=1e-3)


def test_awq_model_keeps_float_function_before_rounding_and_transforms_copy(tiny):
    model, x = tiny
    before = model.state_dict()
    run = (lambda m: m(x))
    for method, kw in [("rtn", dict(bits=4, group_size=16)), ("gptq", dict(bits=4, group_size=16)),
                       ("awq", dict(bits=4, group_size=16, n_grid=5)), ("w8a8", dict(granularity="token")),
                       ("w8a8", dict(granularity="tensor")), ("smoothquant", dict(alpha=0.5, granularity="tensor")),
                       ("format", dict(weight_fmt="mxfp4", act_fmt="mxint8")), ("kv", dict(bits=4))]:
        q = quantize_tinygpt(model, method, run, **kw)
        with no_grad():
            assert np.all(np.isfinite(q(x).data))
    for k, v in model.state_dict().items():        # the float model is never modified
        np.testing.assert_array_equal(v, before[k])
    # 16-bit everything is (nearly) lossless; 2-bit KV is not
    with no_grad():
        ref = model(x).data
        np.testing.assert_allclose(quantize_tinygpt(model, "w8a8", run, weight_bits=16, act_bits=16)(x).data, ref,
                                   rtol=1e-3, atol=1e-3)
        assert np.abs(kv_quant_model(model, 2)(x).data - ref).max() > 1e-3
    sq = layer_sqnr(model, quantize_tinygpt(model, "rtn", bits=3, group_size=16))
    assert len(sq) == 8 and all(5 < v < 40 for v in sq.values())


def test_gptq_model_beats_rtn_on_layer_outputs(tiny):
    model, x = tiny
    run = (lambda m: m(x))
    g = quantize_tinygpt(model, "gptq", run, bits=3, group_size=16)
    r = quantize_tinygpt(model, "rtn", bits=3, group_size=16)
    with no_grad():
        ref = model(x).data
        assert np.mean((g(x).data - ref) ** 2) < np.mean((r(x).data - ref) ** 2)


def test_outlier_stats_find_the_loud_channel():
    a = np.ones(16)
    a[7] = 40.0
    st_ = outlier_stats({"l": a})["l"]
    assert st_["channel"] == 7 and st_["ratio"] == 40.0


# ----- activation quantizers ------------------------------------------------------------------------
def test_absmax_per_token_vs_per_tensor_hand_case():
    x = np.array([[1.0, -0.5], [100.0, 3.0]], np.float32)
    # token 0: s = 1/127, -0.5 -> rint(-63.5) = -64 (ties to even); token 1: s = 100/127, 3 -> 4 s
    np.testing.assert_allclose(fake_quantize_absmax(x, 8, "token"), [[1.0, -64 / 127], [100.0, 400 / 127]], rtol=1e-6)
    # one scale 100/127 for all: the quiet token's values land on +-1 step
    np.testing.assert_allclose(fake_quantize_absmax(x, 8, "tensor"), [[100 / 127, -100 / 127], [100.0, 400 / 127]],
                               rtol=1e-6)
    np.testing.assert_allclose(fake_quantize_absmax(x, 8, scale=1.0), [[1, 0], [100, 3]])


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.sampled_from(["tensor", "token", "channel"]), st.integers(0, 1000))
def test_activation_quantizers_error_bounds(bits, gran, seed):
    x = np.random.default_rng(seed).standard_normal((3, 5, 8)).astype(np.float32) * 10
    axes = {"tensor": None, "token": -1, "channel": (0, 1)}[gran]
    amax = np.abs(x).max(axis=axes, keepdims=axes is not None)
    assert np.all(np.abs(fake_quantize_absmax(x, bits, gran) - x) <= amax / (2 ** (bits - 1) - 1) / 2 * 1.001)
    lo = np.minimum(x.min(axis=axes, keepdims=axes is not None), 0)
    hi = np.maximum(x.max(axis=axes, keepdims=axes is not None), 0)
    assert np.all(np.abs(fake_quantize_minmax(x, bits, gran) - x) <= (hi - lo) / (2 ** bits - 1) * 1.001)
    y = fake_quantize_fp8(x, "fp8_e4m3", gran)
    assert np.all(np.abs(y - x) <= np.abs(x) / 16 * 1.001 + amax / 448 * 2.0 ** -9)


@pytest.mark.parametrize("call, match", [
    (lambda: fake_quantize_absmax(np.zeros(3), 8, "token"), ">= 2 axes"),
    (lambda: fake_quantize_absmax(np.zeros((2, 3)), 8, "row"), "granularity"),
    (lambda: fake_quantize_absmax(np.zeros((2, 3)), 8, scale=0.0), "scale must be > 0"),
    (lambda: fake_quantize_fp8(np.zeros((2, 3)), "int8"), "float format"),
    (lambda: fake_quantize_minmax(np.array([[np.nan]]), 8), "finite"),
])
def test_activation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_degenerate_activations():
    for x in (np.zeros((2, 4)), np.full((2, 4), 5.0), np.array([[1e30]]), np.array([[-3.0]])):
        for fn in (fake_quantize_absmax, fake_quantize_minmax):
            y = fn(x, 8, "token")
            assert np.all(np.isfinite(y))
            np.testing.assert_allclose(y, x, rtol=1e-6)


def test_quantize_tinygpt_errors(tiny):
    model, x = tiny
    with pytest.raises(ValueError, match="method"):
        quantize_tinygpt(model, "gguf")
    with pytest.raises(ValueError, match="run="):
        quantize_tinygpt(model, "gptq", bits=4)
    with pytest.raises(ValueError, match="group_size must divide in_features=32"):
        quantize_tinygpt(model, "rtn", bits=4, group_size=24)
    with pytest.raises(ValueError, match="fmt"):
        format_model(model, "fp4")
