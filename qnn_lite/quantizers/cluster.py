"""k-means weight sharing (Han et al., 2016, Deep Compression): a codebook of ``K`` floats and one index per weight.

* :func:`kmeans_quantize` — 1-D Lloyd iterations, vectorised: with the weights sorted
  once, each cluster is a run cut at the midpoints of the sorted codebook
  (``np.searchsorted``) and its mean comes from a prefix sum (no Python loop over weights).
* :func:`codebook_gradient` / :func:`finetune_codebook` — Deep Compression's centroid
  fine-tuning: the gradient of a shared value is the sum of its weights' gradients.
* :func:`compressed_size` / :func:`compression_ratio` — bits for the indices (fixed
  length, or a real Huffman code from :func:`huffman_code_lengths`) plus the codebook.

Shapes: ``w`` any shape. Per tensor (``ch_axis=None``): ``codebook (K,)``, ``indices`` like ``w``.
Per channel (``ch_axis=a``): ``codebook (w.shape[a], K)``, one codebook per output channel.
The codebook comes back sorted ascending (1-D Lloyd keeps the order), in ``w``'s float
dtype; indices in the smallest unsigned int type that holds ``K - 1``.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from ..autograd import Tensor
from ..validate import as_float, check_int as _check_int

__all__ = [
    "kmeans_quantize", "reconstruct", "inertia", "codebook_gradient", "finetune_codebook",
    "huffman_code_lengths", "compressed_size", "compression_ratio",
]

_INITS = ("linear", "density", "random", "kmeans++")


# ----- checks -------------------------------------------------------------------------------
def _as_float(x, name: str = "w") -> np.ndarray:
    return as_float(x, name)


def _channels(x: np.ndarray, ch_axis) -> np.ndarray:
    """``x`` as ``(C, n)``: one row per channel (C = 1 for ``ch_axis=None``)."""
    if ch_axis is None:
        return x.reshape(1, -1)
    if isinstance(ch_axis, bool) or not isinstance(ch_axis, (int, np.integer)) or not -x.ndim <= ch_axis < x.ndim:
        raise ValueError(f"ch_axis must be None or an int in {-x.ndim}..{x.ndim - 1} for a {x.ndim}-d array, got {ch_axis!r}")
    return np.moveaxis(x, ch_axis, 0).reshape(x.shape[ch_axis], -1)


def _unchannels(rows: np.ndarray, shape: tuple, ch_axis) -> np.ndarray:
    """Inverse of :func:`_channels`."""
    if ch_axis is None:
        return rows.reshape(shape)
    moved = (shape[ch_axis],) + tuple(s for i, s in enumerate(shape) if i != ch_axis % len(shape))
    return np.moveaxis(rows.reshape(moved), 0, ch_axis)


# ----- Lloyd's algorithm in 1-D ---------------------------------------------------------------
def _init(x: np.ndarray, k: int, init, rng: np.random.Generator) -> np.ndarray:
    if init == "linear":      # evenly spaced over [min, max]: keeps the rare large weights
        return np.linspace(x.min(), x.max(), k)
    if init == "density":     # evenly spaced on the CDF's y ch_axis (may repeat on repeated values)
        return np.quantile(x, np.linspace(0, 1, k))
    if init == "random":      # Forgy: k distinct weights
        return np.sort(rng.choice(np.unique(x), size=k, replace=False))
    centroids = [x[rng.integers(x.size)]]  # k-means++ (Arthur & Vassilvitskii, 2007): D^2 sampling
    d2 = (x - centroids[0]) ** 2
    for _ in range(k - 1):
        centroids.append(x[rng.choice(x.size, p=d2 / d2.sum())])
        d2 = np.minimum(d2, (x - centroids[-1]) ** 2)
    return np.sort(np.array(centroids))


def _lloyd(x: np.ndarray, centroids: np.ndarray, n_iter: int, tol: float):
    """Lloyd iterations from sorted ``centroids``; returns (centroids, labels).

    In 1-D every cluster is a run of the *sorted* weights, cut at the midpoints between
    neighbouring centroids. So sort once, find the cuts with ``np.searchsorted`` and the
    cluster sums from a prefix sum: each iteration costs O(K log n), not O(n K).
    A weight exactly on a midpoint goes to the lower centroid.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    prefix = np.concatenate([[0.0], np.cumsum(xs)])

    def cuts(c):  # cluster j holds xs[b[j]:b[j+1]]
        return np.concatenate([[0], np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right"), [xs.size]])

    b, scale = cuts(centroids), tol * (xs[-1] - xs[0])
    for _ in range(n_iter):
        counts, sums = np.diff(b), prefix[b[1:]] - prefix[b[:-1]]
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)  # empty cluster: stays put
        shift = np.max(np.abs(new - centroids))
        centroids, new_b = new, cuts(new)
        converged = np.array_equal(new_b, b) or shift <= scale
        b = new_b
        if converged:
            break
    labels = np.empty(x.size, dtype=np.intp)
    labels[order] = np.repeat(np.arange(centroids.size), np.diff(b))
    return centroids, labels


def kmeans_quantize(w, n_clusters: int | None = None, bits: int | None = None, init="linear",
                    n_iter: int = 300, tol: float = 1e-6, seed=0, ch_axis: int | None = None):
    """Cluster the weights into ``K`` shared values (Han et al., 2016): returns ``(codebook, indices)``.

    Give ``n_clusters`` = K, or ``bits`` (K = 2**bits). ``init``: ``"linear"`` (evenly
    spaced over [min, max], Deep Compression's choice), ``"density"`` (evenly spaced
    quantiles), ``"random"`` (K distinct weights), ``"kmeans++"`` (D^2 sampling with
    ``np.random.default_rng(seed)``), or an explicit array of shape ``(K,)`` / ``(C, K)``.
    Lloyd iterations stop when the assignment no longer changes, when no centroid moves
    more than ``tol * (max - min)``, or after ``n_iter``; the indices returned are the
    nearest centroids of the returned codebook (ties to the lower one).

    Empty clusters: a centroid that loses all its weights keeps its previous value
    (deterministic; it may win weights back later). ``K`` must not exceed the number of
    distinct values in ``w`` (in every channel): more centroids than values cannot all be used.
    Report the fit with :func:`inertia`.
    """
    w = _as_float(w)
    if (n_clusters is None) == (bits is None) and not isinstance(init, (np.ndarray, list, tuple)):
        raise ValueError(f"give exactly one of n_clusters and bits, got n_clusters={n_clusters!r}, bits={bits!r}")
    rows = _channels(w, ch_axis).astype(np.float64)
    explicit = None
    if isinstance(init, (np.ndarray, list, tuple)):
        explicit = _as_float(init, "init").astype(np.float64)
        explicit = np.broadcast_to(explicit, (rows.shape[0], explicit.shape[-1])) if explicit.ndim == 1 else explicit
        if explicit.ndim != 2 or explicit.shape[0] != rows.shape[0]:
            raise ValueError(f"init array must have shape (K,) or ({rows.shape[0]}, K), got {np.shape(init)}")
        k = explicit.shape[1]
        if (n_clusters is not None and n_clusters != k) or (bits is not None and 2 ** bits != k):
            raise ValueError(f"init array has K={k} centroids, but n_clusters={n_clusters!r}, bits={bits!r}")
    elif init not in _INITS:
        raise ValueError(f"init must be one of {_INITS} or an array of centroids, got {init!r}")
    else:
        k = 2 ** _check_int(bits, "bits", 1, 16) if bits is not None else _check_int(n_clusters, "n_clusters", 1, 2 ** 16)
    n_iter = _check_int(n_iter, "n_iter", 1, 10 ** 6)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    distinct = min(np.unique(r).size for r in rows)
    if k > distinct:
        raise ValueError(f"n_clusters must be <= the number of distinct values in w "
                         f"({distinct}{' in its smallest channel' if ch_axis is not None else ''}), got {k}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    codebook = np.empty((rows.shape[0], k))
    labels = np.empty(rows.shape, dtype=np.min_scalar_type(k - 1))
    for c, x in enumerate(rows):  # a loop over channels, never over weights
        start = np.sort(explicit[c]) if explicit is not None else _init(x, k, init, rng)
        codebook[c], labels[c] = _lloyd(x, start, n_iter, float(tol))
    codebook = codebook.astype(w.dtype)
    return (codebook[0] if ch_axis is None else codebook), _unchannels(labels, w.shape, ch_axis)


def reconstruct(codebook, indices, ch_axis: int | None = None) -> np.ndarray:
    """The shared weights: ``codebook[indices]`` (per channel: row ``c`` of the codebook for channel ``c``)."""
    codebook, indices = np.asarray(codebook), np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    k = codebook.shape[-1]
    if indices.size and (indices.min() < 0 or indices.max() >= k):
        raise ValueError(f"indices must lie in 0..{k - 1}, got values in {indices.min()}..{indices.max()}")
    if ch_axis is None:
        return codebook[indices]
    rows = _channels(indices, ch_axis)
    if codebook.shape[0] != rows.shape[0]:
        raise ValueError(f"codebook must have {rows.shape[0]} rows for ch_axis={ch_axis}, got shape {codebook.shape}")
    return _unchannels(np.take_along_axis(codebook, rows.astype(np.intp), axis=1), indices.shape, ch_axis)


def inertia(w, codebook, indices, ch_axis: int | None = None) -> float:
    """Sum of squared errors $\\sum_i (w_i - c_{\\mathrm{idx}_i})^2$ (scikit-learn's ``inertia_``), in float64."""
    w = _as_float(w).astype(np.float64)
    return float(np.sum((w - reconstruct(np.asarray(codebook, dtype=np.float64), indices, ch_axis)) ** 2))


# ----- fine-tuning the shared values ----------------------------------------------------------------
def codebook_gradient(grad_w, indices, n_clusters: int, ch_axis: int | None = None) -> np.ndarray:
    """$\\partial L / \\partial c_k = \\sum_{i:\\ \\mathrm{idx}_i = k} \\partial L / \\partial w_i$ (Han et al., 2016), via ``np.bincount``.

    Shape ``(n_clusters,)``, or ``(C, n_clusters)`` per channel.
    """
    grad_w = _as_float(grad_w, "grad_w")
    indices = np.asarray(indices)
    if indices.shape != grad_w.shape:
        raise ValueError(f"indices must have grad_w's shape {grad_w.shape}, got {indices.shape}")
    k = _check_int(n_clusters, "n_clusters", 1, 2 ** 16)
    if indices.dtype.kind not in "iu" or indices.min() < 0 or indices.max() >= k:
        raise ValueError(f"indices must be integers in 0..{k - 1}")
    g, idx = _channels(grad_w, ch_axis).astype(np.float64), _channels(indices, ch_axis).astype(np.int64)
    offset = idx + k * np.arange(idx.shape[0])[:, None]        # channel c uses bins c*k .. c*k + k-1
    sums = np.bincount(offset.ravel(), weights=g.ravel(), minlength=idx.shape[0] * k).reshape(-1, k)
    sums = sums.astype(grad_w.dtype)
    return sums[0] if ch_axis is None else sums


def finetune_codebook(codebook, grad, lr: float) -> np.ndarray:
    """One SGD step on the shared values: $c \\leftarrow c - \\mathrm{lr}\\, \\partial L / \\partial c$ (a new array)."""
    codebook, grad = _as_float(codebook, "codebook"), _as_float(grad, "grad")
    if codebook.shape != grad.shape:
        raise ValueError(f"grad must have the codebook's shape {codebook.shape}, got {grad.shape}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return (codebook - lr * grad).astype(codebook.dtype)


# ----- storage ------------------------------------------------------------------------------------
def huffman_code_lengths(frequencies) -> np.ndarray:
    """Bits per symbol of a Huffman code for these symbol counts (Huffman, 1952); 0 for unused symbols.

    Repeatedly merges the two rarest groups (``heapq``); each merge adds one bit to every
    symbol inside. Ties break by first appearance, so the result is deterministic. A
    single used symbol gets 0 bits (nothing to tell apart). E.g. (4, 2, 1, 1) -> (1, 2, 3, 3).
    """
    freq = np.asarray(frequencies)
    if freq.ndim != 1 or freq.dtype.kind not in "iuf" or (freq < 0).any() or not np.isfinite(freq).all():
        raise ValueError(f"frequencies must be a 1-d array of finite counts >= 0, got {frequencies!r}")
    lengths = np.zeros(freq.size, dtype=np.int64)
    heap = [(float(f), i, [i]) for i, f in enumerate(freq) if f > 0]
    heapq.heapify(heap)
    counter = freq.size
    while len(heap) > 1:
        f1, _, s1 = heapq.heappop(heap)
        f2, _, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (f1 + f2, counter, s1 + s2))
        counter += 1
    return lengths


def compressed_size(indices, codebook, weight_bits: int = 32, huffman: bool = False) -> int:
    """Storage in bits: the indices (``ceil(log2 K)`` bits each, or Huffman-coded) + the codebook at ``weight_bits``.

    With ``huffman=True`` one Huffman code is built from the frequencies of all indices
    (Han et al., 2016, stage 3); its size is never above the fixed-length size.
    """
    indices, codebook = np.asarray(indices), np.asarray(codebook)
    weight_bits = _check_int(weight_bits, "weight_bits", 1, 64)
    k = codebook.shape[-1]
    if indices.dtype.kind not in "iu" or (indices.size and (indices.min() < 0 or indices.max() >= k)):
        raise ValueError(f"indices must be integers in 0..{k - 1}")
    if huffman:
        counts = np.bincount(indices.ravel().astype(np.int64), minlength=k)
        index_bits = int(np.sum(counts * huffman_code_lengths(counts)))
    else:
        index_bits = indices.size * math.ceil(math.log2(k)) if k > 1 else 0
    return index_bits + codebook.size * weight_bits


def compression_ratio(indices, codebook, weight_bits: int = 32, huffman: bool = False,
                      original_bits: int = 32) -> float:
    """``original_bits * n_weights / compressed_size(...)``: how many times smaller the shared model is."""
    original_bits = _check_int(original_bits, "original_bits", 1, 64)
    return original_bits * np.asarray(indices).size / compressed_size(indices, codebook, weight_bits, huffman)
