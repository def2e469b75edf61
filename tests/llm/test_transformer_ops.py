"""Transformer ops: gradchecks, PyTorch golden values (tests/data/torch_golden_transformer.npz), errors."""
import pathlib

import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import (Tensor, embedding, gelu, gradcheck, layer_norm, rms_norm,
                               scaled_dot_product_attention)
from qnn_lite.autograd.attention import causal_mask

GOLD = np.load(pathlib.Path(__file__).parents[1] / "data" / "torch_golden_transformer.npz")
RNG = np.random.default_rng(0)

CASES = {
    "embedding": lambda w: embedding(GOLD["embedding_idx"], w),
    "layer_norm": lambda x, w, b: layer_norm(x, 6, w, b, 1e-5),
    "rms_norm": lambda x, w: rms_norm(x, 6, w, 1e-6),
    "gelu_none": lambda x: gelu(x),
    "gelu_tanh": lambda x: gelu(x, approximate="tanh"),
    "sdpa_causal": lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
    "sdpa_mask": lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=GOLD["sdpa_mask_mask"], scale=0.3),
}


def _inputs(name):
    return [GOLD[f"{name}_in{i}"] for i in range(3) if f"{name}_in{i}" in GOLD]


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_forward_and_backward(name):
    ins = [Tensor(a.copy(), requires_grad=True, dtype=np.float64) for a in _inputs(name)]
    y = CASES[name](*ins)
    np.testing.assert_allclose(y.data, GOLD[f"{name}_out"], rtol=1e-10, atol=1e-12)
    y.backward(GOLD[f"{name}_g"])
    for i, t in enumerate(ins):
        np.testing.assert_allclose(t.grad, GOLD[f"{name}_grad{i}"], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    assert gradcheck(CASES[name], *[a[..., :] for a in _inputs(name)])


def test_gradcheck_layer_norm_without_affine_and_repeated_embedding_rows():
    x = RNG.standard_normal((3, 5))
    assert gradcheck(lambda x: layer_norm(x, 5), x)
    assert gradcheck(lambda x: rms_norm(x, 5), x)
    idx = np.array([[1, 1, 1], [0, 1, 2]])          # repeated indices must add, not overwrite
    w = RNG.standard_normal((3, 2))
    assert gradcheck(lambda w: embedding(idx, w), w)


def test_embedding_gradient_of_repeated_index_is_the_sum():
    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    embedding(np.array([2, 2, 2]), w).sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 0], [0, 0], [3, 3], [0, 0]])


def test_causal_attention_does_not_look_ahead():
    q, k, v = (RNG.standard_normal((1, 6, 4)) for _ in range(3))
    y = scaled_dot_product_attention(q, k, v, is_causal=True).data
    v2 = v.copy()
    v2[:, 4:] += 100.0                               # change the future: rows 0..3 must not move
    k2 = k.copy()
    k2[:, 4:] -= 7.0
    y2 = scaled_dot_product_attention(q, k2, v2, is_causal=True).data
    np.testing.assert_allclose(y[:, :4], y2[:, :4], rtol=1e-12)
    assert not np.allclose(y[:, 4:], y2[:, 4:])
    np.testing.assert_allclose(y[:, 0], v[:, 0])    # the first token sees only itself
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_layer_norm_output_has_zero_mean_unit_variance():
    x = RNG.standard_normal((4, 16)) * 50 + 7
    y = layer_norm(x, 16).data
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)


def test_gelu_known_values():
    y = gelu(np.array([0.0, 1.0, -1.0])).data   # x * Phi(x); Phi(1) = 0.841344746
    np.testing.assert_allclose(y, [0.0, 0.841344746, -0.158655254], atol=1e-7)
    t = gelu(np.array([1.0]), approximate="tanh").data
    assert abs(t[0] - 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * 1.044715))) < 1e-7


@pytest.mark.parametrize("call, match", [
    (lambda: embedding(np.array([0, 5]), np.zeros((5, 2))), "idx must be in 0..4"),
    (lambda: embedding(np.array([0.5]), np.zeros((5, 2))), "integer"),
    (lambda: embedding(np.array([0]), np.zeros(5)), "2-D"),
    (lambda: layer_norm(np.zeros((2, 3)), 4), "last axis must be normalized_shape=4"),
    (lambda: layer_norm(np.zeros((2, 3)), 3, eps=0), "eps"),
    (lambda: rms_norm(np.zeros((2, 3)), 3, np.ones(2)), "weight must have shape"),
    (lambda: gelu(np.zeros(2), approximate="erf"), "approximate"),
    (lambda: gelu(np.arange(3)), "floating"),
    (lambda: scaled_dot_product_attention(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 3))), "do not match"),
    (lambda: scaled_dot_product_attention(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)),
                                          attn_mask=np.ones((2, 2)), is_causal=True), "not both"),
    (lambda: scaled_dot_product_attention(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)),
                                          attn_mask=np.ones((2, 3))), "bool"),
    (lambda: nn.CausalSelfAttention(10, 3), "divisible"),
    (lambda: nn.GELU("fast"), "approximate"),
])
def test_bad_input_names_the_problem(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_block_gradcheck_and_layers_shapes():
    nn.manual_seed(0)
    block = nn.Block(8, 2)
    for p in block.parameters():
        p.data = p.data.astype(np.float64)
    x = RNG.standard_normal((2, 3, 8))
    assert gradcheck(lambda x: block(x), x, atol=1e-5, rtol=1e-3)
    assert nn.Embedding(5, 3).weight.shape == (5, 3)
    assert [n for n, _ in nn.LayerNorm(4).named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in nn.LayerNorm(4, elementwise_affine=False).named_parameters()] == []
    np.testing.assert_allclose(nn.RMSNorm(4)(Tensor(np.full((1, 4), 3.0))).data, 1.0, rtol=1e-5)


def test_kv_cache_gives_the_same_logits_as_a_full_pass():
    nn.manual_seed(1)
    attn = nn.CausalSelfAttention(8, 2).eval()
    x = RNG.standard_normal((1, 5, 8)).astype(np.float32)
    full = attn(Tensor(x)).data
    cache = {}
    parts = [attn(Tensor(x[:, :3]), cache).data, attn(Tensor(x[:, 3:4]), cache).data, attn(Tensor(x[:, 4:]), cache).data]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-5, atol=1e-6)
