"""Distorted digits: scikit-learn's 8x8 digits made harder in 2-D, offline and seeded.

Each sample takes one of the 1797 bundled digits (Alpaydin & Kaynak, 1998), enlarges
it to ``size x size`` pixels and applies, with its own random draws:

* a random affine map: rotation ``+-rotate`` degrees, scale ``U(1 - scale, 1 + scale/2)``,
  shear ``+-shear``, shift ``+-shift`` pixels;
* an elastic distortion (Simard et al., 2003): a random displacement field, smoothed
  by a Gaussian of width ``elastic_sigma`` pixels and scaled to ``elastic_alpha`` pixels;
* clutter: ``clutter`` random 4x4-pixel fragments of *other* digits pasted at random
  places (like cluttered MNIST, Mnih et al., 2014);
* Gaussian pixel noise of std ``noise``; pixels are then clipped to [0, 1].

All samples are drawn in one vectorised pass (one ``map_coordinates`` call over the
whole stack). Train and test samples come from disjoint source digits (the same
stratified split as ``load_digits``), so no source image is seen in both.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from ..validate import check_int, check_number
from .cache import cached


def _sources(seed: int):
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split
    d = _sk_load_digits()
    X = (d.images / 16.0).astype(np.float64)
    return train_test_split(X, d.target.astype(np.int64), test_size=0.2, random_state=seed, stratify=d.target)


def _distort(src: np.ndarray, labels: np.ndarray, n: int, size: int, rng: np.random.Generator, p: dict):
    """``n`` distorted ``size x size`` samples drawn from the 8x8 ``src`` images."""
    pick = rng.integers(len(src), size=n)
    # sample coordinates: the output grid, centred, mapped back through the inverse affine map
    c = (size - 1) / 2
    yy, xx = np.meshgrid(np.arange(size) - c, np.arange(size) - c, indexing="ij")
    theta = np.deg2rad(rng.uniform(-p["rotate"], p["rotate"], n))
    zoom = rng.uniform(1 - p["scale"], 1 + p["scale"] / 2, n)
    sh = rng.uniform(-p["shear"], p["shear"], n)
    shift = rng.uniform(-p["shift"], p["shift"], (n, 2))
    cos, sin = np.cos(theta) / zoom, np.sin(theta) / zoom
    Y = cos[:, None, None] * yy - sin[:, None, None] * (xx + sh[:, None, None] * yy) - shift[:, 0, None, None]
    X = sin[:, None, None] * yy + cos[:, None, None] * (xx + sh[:, None, None] * yy) - shift[:, 1, None, None]
    if p["elastic_alpha"] > 0:   # smooth random displacement fields, one per sample (axis 0 not smoothed)
        sig = (0, p["elastic_sigma"], p["elastic_sigma"])
        for grid in (Y, X):
            field = gaussian_filter(rng.uniform(-1, 1, (n, size, size)), sig, mode="constant")
            field /= np.abs(field).max(axis=(1, 2), keepdims=True) + 1e-12
            grid += p["elastic_alpha"] * field
    # output pixel -> source pixel in the 8x8 image (the digit fills ~the central 80 % of the canvas)
    k = 8 / (0.8 * size)
    coords = np.stack([np.broadcast_to(np.arange(n)[:, None, None], Y.shape).astype(float),
                       Y * k + 3.5, X * k + 3.5])
    out = map_coordinates(src[pick], coords, order=1, mode="constant", cval=0.0)
    # clutter: 4x4 fragments of other random digits, upscaled to the canvas scale, pasted with max()
    f = max(1, round(1 / k))
    for _ in range(p["clutter"]):
        other = src[rng.integers(len(src), size=n)]
        r0, c0 = rng.integers(0, 5, n), rng.integers(0, 5, n)
        frag = np.stack([o[a:a + 4, b:b + 4] for o, a, b in zip(other, r0, c0)])
        frag = np.kron(frag, np.ones((1, f, f)))[:, :size, :size]
        pr, pc = rng.integers(0, size - frag.shape[1] + 1, n), rng.integers(0, size - frag.shape[2] + 1, n)
        rows = pr[:, None, None] + np.arange(frag.shape[1])[None, :, None]
        cols = pc[:, None, None] + np.arange(frag.shape[2])[None, None, :]
        idx = np.arange(n)[:, None, None]
        out[idx, rows, cols] = np.maximum(out[idx, rows, cols], p["clutter_strength"] * frag)
    out += p["noise"] * rng.standard_normal(out.shape)
    return np.clip(out, 0, 1).astype(np.float32)[:, None], labels[pick]


DEFAULTS = dict(rotate=20.0, scale=0.2, shear=0.2, shift=2.0, elastic_alpha=1.0, elastic_sigma=2.0,
                clutter=2, clutter_strength=0.5, noise=0.05)


def make_distorted_digits(n_train: int = 6000, n_test: int = 2000, size: int = 16, seed: int = 0,
                          **params) -> dict:
    """Build the set in memory: ``{"x", "y", "x_test", "y_test"}``, x float32 ``(N, 1, size, size)``."""
    n_train = check_int(n_train, "n_train", lo=1)
    n_test = check_int(n_test, "n_test", lo=1)
    size = check_int(size, "size", lo=8, hi=64)
    seed = check_int(seed, "seed", lo=0)
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown distortion parameter(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for k, v in p.items():
        check_number(v, k)
    p["clutter"] = check_int(int(p["clutter"]), "clutter", lo=0)
    Xtr, Xte, ytr, yte = _sources(seed)
    rng = np.random.default_rng(seed)
    x, y = _distort(Xtr, ytr, n_train, size, rng, p)
    x_test, y_test = _distort(Xte, yte, n_test, size, rng, p)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}


def load_distorted_digits(n_train: int = 6000, n_test: int = 2000, size: int = 16, seed: int = 0,
                          cache_dir=None, **params):
    """``(X_train, y_train, X_test, y_test)``, float32 ``(N, 1, size, size)`` in [0, 1] and int64 labels.

    Built once per setting and cached on disk (``qnn_lite.data.cache``); ``cache_dir=False``
    never touches the disk.
    """
    settings = {"n_train": n_train, "n_test": n_test, "size": size, "seed": seed, **DEFAULTS, **params,
                "version": 1}
    d = cached("distorted_digits", settings,
               lambda: make_distorted_digits(n_train, n_test, size, seed, **params), cache_dir)
    return d["x"], d["y"], d["x_test"], d["y_test"]
