"""k-means weight sharing, codebook fine-tuning and Huffman sizes (qnn_lite.quantizers.cluster)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from qnn_lite.quantizers.cluster import (codebook_gradient, compressed_size, compression_ratio,
                                         finetune_codebook, huffman_code_lengths, inertia, kmeans_quantize,
                                         reconstruct)


def sklearn_inertia(x, init):
    """scikit-learn's Lloyd k-means from the same explicit init, run to convergence (tol=0)."""
    km = KMeans(n_clusters=len(init), init=np.asarray(init, dtype=np.float64).reshape(-1, 1), n_init=1,
                algorithm="lloyd", tol=0.0, max_iter=300)
    with threadpool_limits(limits=1):  # OpenMP threads only add start-up time on a few hundred points
        return km.fit(np.asarray(x, dtype=np.float64).reshape(-1, 1)).inertia_


# ----- agreement with scikit-learn ----------------------------------------------------------------
@pytest.mark.parametrize("k, seed", [(4, 0), (8, 1), (16, 2)])
def test_inertia_matches_sklearn_from_the_same_init(k, seed):
    rng = np.random.default_rng(seed)
    w = np.concatenate([rng.standard_normal(600), rng.uniform(-3, 3, 200)])
    linear = np.linspace(w.min(), w.max(), k)
    random_init = rng.choice(w, k, replace=False)
    for init in (linear, random_init):
        codebook, idx = kmeans_quantize(w, init=init, tol=0.0)
        assert np.unique(idx).size == k     # no empty cluster (there sklearn relocates, we keep the centroid)
        assert inertia(w, codebook, idx) == pytest.approx(sklearn_inertia(w, init), rel=1e-6)
    codebook, idx = kmeans_quantize(w, k, init="linear", tol=0.0)          # 'linear' is that same init
    assert inertia(w, codebook, idx) == pytest.approx(sklearn_inertia(w, linear), rel=1e-6)


def test_per_channel_matches_sklearn_channel_by_channel():
    w = np.random.default_rng(3).standard_normal((3, 5, 40))
    codebook, idx = kmeans_quantize(w, bits=2, ch_axis=1, tol=0.0)
    assert codebook.shape == (5, 4) and idx.shape == w.shape
    for c in range(5):
        x = w[:, c, :]
        ours = float(((x - codebook[c][idx[:, c, :]]) ** 2).sum())
        assert ours == pytest.approx(sklearn_inertia(x, np.linspace(x.min(), x.max(), 4)), rel=1e-6)
    assert inertia(w, codebook, idx, ch_axis=1) == pytest.approx(float(((w - reconstruct(codebook, idx, 1)) ** 2).sum()))


# ----- hand cases -------------------------------------------------------------------------------------
def test_hand_case_two_clusters():
    codebook, idx = kmeans_quantize(np.array([0.0, 0.1, 0.9, 1.0]), 2)
    np.testing.assert_allclose(codebook, [0.05, 0.95])
    np.testing.assert_array_equal(idx, [0, 0, 1, 1])
    assert inertia([0.0, 0.1, 0.9, 1.0], codebook, idx) == pytest.approx(0.01)
    assert idx.dtype == np.uint8


def test_empty_cluster_keeps_its_centroid():
    # linear init [0, 5, 10]: nothing is nearest 5, so it stays at 5 (deterministic)
    codebook, idx = kmeans_quantize(np.array([0.0, 0.1, 9.9, 10.0]), 3)
    np.testing.assert_allclose(codebook, [0.05, 5.0, 9.95])
    np.testing.assert_array_equal(idx, [0, 0, 2, 2])


def test_midpoint_tie_goes_to_the_lower_centroid():
    # linear init [0, 2]: 1.0 lies exactly on the midpoint and joins the lower cluster (documented rule)
    codebook, idx = kmeans_quantize(np.array([0.0, 1.0, 2.0]), 2)
    np.testing.assert_array_equal(codebook, [0.5, 2.0])
    np.testing.assert_array_equal(idx, [0, 0, 1])


def test_inits_are_seeded_and_lloyd_never_increases_inertia():
    w = np.random.default_rng(4).standard_normal(500).astype(np.float32)
    for init in ("linear", "density", "random", "kmeans++"):
        a = kmeans_quantize(w, 8, init=init, seed=7)
        b = kmeans_quantize(w, 8, init=init, seed=7)
        np.testing.assert_array_equal(a[0], b[0])
        assert np.all(np.diff(a[0]) >= 0) and a[0].dtype == np.float32          # sorted, w's dtype
        one_step = kmeans_quantize(w, 8, init=init, seed=7, n_iter=1)
        assert inertia(w, *a) <= inertia(w, *one_step) + 1e-9


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(4, 60), elements=st.floats(-100, 100, allow_nan=False)),
       st.integers(1, 4))
def test_lloyd_fixed_point_properties(w, k):
    k = min(k, np.unique(w).size)
    codebook, idx = kmeans_quantize(w, k, tol=0.0)
    dist = np.abs(w[:, None] - codebook[None, :])
    assert np.all(dist[np.arange(w.size), idx] <= dist.min(axis=1) + 1e-9)     # nearest centroid
    for j in np.unique(idx):                                                    # each centroid is its mean
        assert codebook[j] == pytest.approx(w[idx == j].mean(), rel=1e-9, abs=1e-9)


# ----- fine-tuning ----------------------------------------------------------------------------------
def test_codebook_gradient_is_the_per_cluster_sum():
    rng = np.random.default_rng(5)
    w, g = rng.standard_normal((4, 30)), rng.standard_normal((4, 30))
    codebook, idx = kmeans_quantize(w, 5)
    expected = [g[idx == j].sum() for j in range(5)]
    np.testing.assert_allclose(codebook_gradient(g, idx, 5), expected, rtol=1e-12)
    cb_rows, idx_rows = kmeans_quantize(w, 3, ch_axis=0)
    per_channel = codebook_gradient(g, idx_rows, 3, ch_axis=0)
    np.testing.assert_allclose(per_channel, [[g[c][idx_rows[c] == j].sum() for j in range(3)] for c in range(4)])
    np.testing.assert_allclose(codebook_gradient([1.0, 2.0, 4.0], np.array([1, 1, 0]), 3), [4, 3, 0])


def test_finetune_codebook_step():
    np.testing.assert_allclose(finetune_codebook(np.array([0.5, 1.0]), np.array([2.0, -1.0]), lr=0.1), [0.3, 1.1])
    with pytest.raises(ValueError, match="lr"):
        finetune_codebook(np.ones(2), np.ones(2), lr=0)
    with pytest.raises(ValueError, match="grad must have"):
        finetune_codebook(np.ones(2), np.ones(3), lr=0.1)


# ----- sizes ------------------------------------------------------------------------------------------
def test_huffman_hand_case():
    np.testing.assert_array_equal(huffman_code_lengths([4, 2, 1, 1]), [1, 2, 3, 3])
    np.testing.assert_array_equal(huffman_code_lengths([0, 5, 0, 5]), [0, 1, 0, 1])
    np.testing.assert_array_equal(huffman_code_lengths([7, 0]), [0, 0])
    idx = np.array([0, 0, 0, 0, 1, 1, 2, 3])                    # frequencies 4, 2, 1, 1
    codebook = np.zeros(4, np.float32)
    assert compressed_size(idx, codebook) == 8 * 2 + 4 * 32                         # 144
    assert compressed_size(idx, codebook, huffman=True) == 4 * 1 + 2 * 2 + 3 + 3 + 4 * 32   # 142
    assert compressed_size(idx, codebook, weight_bits=16) == 16 + 64
    assert compression_ratio(idx, codebook) == pytest.approx(8 * 32 / 144)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=40).filter(lambda f: sum(x > 0 for x in f) >= 2))
def test_huffman_is_a_complete_prefix_code_no_longer_than_fixed(freqs):
    lengths = huffman_code_lengths(freqs)
    used = np.array(freqs) > 0
    assert np.sum(2.0 ** -lengths[used]) == pytest.approx(1.0)                       # Kraft equality
    idx = np.repeat(np.arange(len(freqs)), freqs)
    codebook = np.zeros(len(freqs))
    assert compressed_size(idx, codebook, huffman=True) <= compressed_size(idx, codebook)


# ----- degenerate inputs and errors ---------------------------------------------------------------
def test_degenerate_inputs():
    codebook, idx = kmeans_quantize(np.zeros(6), 1)
    np.testing.assert_array_equal(codebook, [0.0]) and np.testing.assert_array_equal(idx, 0)
    codebook, idx = kmeans_quantize(np.array([3.5]), 1, init="kmeans++")
    np.testing.assert_array_equal(reconstruct(codebook, idx), [3.5])
    codebook, idx = kmeans_quantize(np.array([1.0, 1.0, 2.0]), 2, init="random")
    np.testing.assert_array_equal(reconstruct(codebook, idx), [1.0, 1.0, 2.0])
    for bad in (np.array([1.0, np.nan]), np.array([np.inf, 1.0])):
        with pytest.raises(ValueError, match="w must be finite"):
            kmeans_quantize(bad, 1)


def test_named_errors():
    w = np.array([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"n_clusters must be <= the number of distinct values in w \(3\), got 4"):
        kmeans_quantize(w, 4)
    with pytest.raises(ValueError, match="smallest channel"):
        kmeans_quantize(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]), 2, ch_axis=0)
    with pytest.raises(ValueError, match="n_clusters must be an int in 1..65536, got 0"):
        kmeans_quantize(w, 0)
    with pytest.raises(ValueError, match="bits must be an int in 1..16, got 0"):
        kmeans_quantize(w, bits=0)
    with pytest.raises(ValueError, match="exactly one of n_clusters and bits"):
        kmeans_quantize(w)
    with pytest.raises(ValueError, match="init must be one of"):
        kmeans_quantize(w, 2, init="forgy")
    with pytest.raises(ValueError, match="init array has K=2"):
        kmeans_quantize(w, 3, init=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="tol"):
        kmeans_quantize(w, 2, tol=-1.0)
    with pytest.raises(ValueError, match="indices must lie in 0..1"):
        reconstruct(np.zeros(2), np.array([0, 2]))
    with pytest.raises(ValueError, match="frequencies"):
        huffman_code_lengths([1, -1])
    with pytest.raises(ValueError, match="indices must be integers in 0..1"):
        compressed_size(np.array([0, 5]), np.zeros(2))
