"""Datasets and a `DataLoader`: everything offline and seeded.

Generated harder sets: ``load_distorted_digits`` (2-D, ``distorted_digits.py``) and
``load_mnist1d`` (``mnist1d.py``), cached on disk (``cache.py``). Files a reader already
has: ``load_mnist`` (MNIST / Fashion-MNIST IDX) and ``load_cifar10`` (``files.py``).

``load_digits`` is scikit-learn's bundled copy of the UCI optical digits
(Alpaydin & Kaynak, 1998): 1797 grey 8x8 images of the digits 0-9, pixel values
0..16. It ships inside scikit-learn, so the book needs no download.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor


def load_digits(test_size: float = 0.2, seed: int = 0, flat: bool = False):
    """``(X_train, y_train, X_test, y_test)``: the 8x8 digits, stratified split, pixels in [0, 1].

    ``X`` is float32 ``(N, 1, 8, 8)`` (or ``(N, 64)`` with ``flat=True``), pixels / 16;
    ``y`` is int64 ``(N,)``. The split keeps each digit's share equal in both parts
    and is the same for the same ``seed``.
    """
    if not isinstance(test_size, (int, float)) or isinstance(test_size, bool) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    digits = _sk_load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=int(seed), stratify=y)
    if not flat:
        X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    return (np.ascontiguousarray(X_train), y_train, np.ascontiguousarray(X_test), y_test)


class DataLoader:
    """Mini-batches ``(Tensor X_batch, np.ndarray y_batch)`` over arrays ``X``, ``y``.

    With ``shuffle=True`` every epoch (every ``iter()``) uses a new permutation
    drawn from one ``np.random.Generator`` seeded once with ``seed``, so a run is
    reproducible. ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, X, y, batch_size: int = 64, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False):
        X = X.data if isinstance(X, Tensor) else np.asarray(X)
        y = y.data if isinstance(y, Tensor) else np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if X.dtype == np.float64:
            X = X.astype(np.float32)
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n, bs = len(self.X), self.batch_size
        order = self.generator.permutation(n) if self.shuffle else None
        # X is already numeric (float64 became float32 in __init__), so the batch can be wrapped as it is
        wrap = Tensor._from_array if self.X.dtype.kind in "biuf" and self.X.dtype != np.float64 else Tensor
        X, y = self.X, self.y
        for b in range(len(self)):
            if order is None:
                sl = slice(b * bs, min((b + 1) * bs, n))
                yield wrap(X[sl]), y[sl]
            else:
                idx = order[b * bs:(b + 1) * bs]
                yield wrap(X[idx]), y[idx]


from .distorted_digits import load_distorted_digits, make_distorted_digits  # noqa: E402,F401
from .files import load_cifar10, load_mnist, read_idx  # noqa: E402,F401
from .mnist1d import load_mnist1d, make_mnist1d  # noqa: E402,F401
from .text import load_char_corpus  # noqa: F401,E402
