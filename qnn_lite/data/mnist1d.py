"""MNIST-1D (Greydanus, 2020; "Scaling down deep learning", arXiv:2011.14439), generated offline.

Ten hand-made 1-D templates of 12 points, one per digit, are turned into 40-point
signals by the procedure of the ``mnist1d`` package (github.com/greydanus/mnist1d,
Apache-2.0), reimplemented here with numpy and a seeded ``np.random.Generator``:

    pad with p ~ U{36..60} zeros -> stretch to 72 points -> scale by 1 + 0.4 (u - 1/2)
    -> roll right by k ~ U{0..47} -> smooth N(0, 0.25^2) noise (Gaussian filter, sigma 2)
       where the signal is 0, plus white N(0, 0.02^2) noise everywhere
    -> shear: subtract 0.75 (u - 1/2) * linspace(-1/2, 1/2) -> resample to 40 points

then the whole set is centred and scaled to unit standard deviation. The default
5000 samples (500 per class) split 4000 / 1000, as in the package. Because our random
stream differs, the samples are not the package's pickle, but the distribution is the
same. The paper's test accuracies: logistic regression 32 %, MLP 68 %, CNN 94 %,
GRU 91 %, human ~96 %.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..validate import check_int
from .cache import cached

# The 12-point templates of the digits 0..9 (mnist1d's get_templates; numbers from the paper).
_TEMPLATES = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])


def templates() -> np.ndarray:
    """``(10, 12)`` templates, each whitened, shifted to start at 0 and divided by 6."""
    x = _TEMPLATES - _TEMPLATES.mean(1, keepdims=True)
    x = x / x.std(1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of the 1-D ``x`` onto ``n`` evenly spaced points over the same span."""
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _one_sample(template: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pad_low, pad_high, length, final = 36, 60, 72, 40
    p = pad_low + int(rng.random() * (pad_high - pad_low + 1))
    x = _resample(np.concatenate([template + 1e-8, np.zeros(p)]), length)   # pad, stretch
    x = x * (1 + 0.4 * (rng.random() - 0.5))                                 # scale
    k = int(rng.integers(length - 24))                                       # k in 0..47
    x = np.roll(x, k)                                                        # translate
    mask = x != 0
    corr = gaussian_filter1d(0.25 * rng.standard_normal(length), 2, mode="reflect")
    x = np.where(mask, x, corr) + 0.02 * rng.standard_normal(length)        # noise
    x = x - 0.75 * (rng.random() - 0.5) * np.linspace(-0.5, 0.5, length)    # shear
    return _resample(x, final)


def make_mnist1d(num_samples: int = 5000, seed: int = 42, train_split: float = 0.8) -> dict:
    """Build MNIST-1D in memory: ``{"x", "y", "x_test", "y_test"}``, x float32 ``(N, 40)``, y int64."""
    num_samples = check_int(num_samples, "num_samples", lo=10)
    rng = np.random.default_rng(check_int(seed, "seed", lo=0))
    t = templates()
    per_class = num_samples // 10
    xs = np.stack([_one_sample(t[c], rng) for c in range(10) for _ in range(per_class)])
    ys = np.repeat(np.arange(10), per_class)
    order = rng.permutation(len(ys))
    xs, ys = xs[order], ys[order]
    xs = (xs - xs.mean()) / xs.std()
    cut = int(len(ys) * train_split)
    return {"x": xs[:cut].astype(np.float32), "y": ys[:cut].astype(np.int64),
            "x_test": xs[cut:].astype(np.float32), "y_test": ys[cut:].astype(np.int64)}


def load_mnist1d(num_samples: int = 5000, seed: int = 42, image: bool = True, cache_dir=None):
    """``(X_train, y_train, X_test, y_test)`` of MNIST-1D, built once and cached (see ``data.cache``).

    ``image=True`` gives ``(N, 1, 1, 40)`` — a 1-D signal as an image of height 1, the input the
    zoo's conv nets take; ``image=False`` gives ``(N, 40)`` for MLPs.
    """
    settings = {"num_samples": int(num_samples), "seed": int(seed), "version": 1}
    d = cached("mnist1d", settings, lambda: make_mnist1d(num_samples, seed), cache_dir)
    shape = (-1, 1, 1, 40) if image else (-1, 40)
    return d["x"].reshape(shape), d["y"], d["x_test"].reshape(shape), d["y_test"]
