"""The book's 8x8-digits models: seeded, PyTorch-shaped builders (trained by :mod:`qnn_lite.recipes.digits`).

* :func:`digits_mlp` — ``Linear(64, hidden) -> ReLU -> Linear(hidden, 10)`` on flat ``(N, 64)`` images.
* :func:`digits_cnn` — two 3x3 conv blocks (Conv2d -> BatchNorm2d -> ReLU [-> MaxPool2d(2)]),
  ``Flatten``, ``Linear(., 10)`` on ``(N, 1, 8, 8)`` images.

Builders are deterministic: the same ``seed`` gives identical weights, drawn from a private
``np.random.default_rng(seed)`` (the global ``nn.manual_seed`` stream is not touched).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..validate import check_bool, check_int

__all__ = ["digits_mlp", "digits_cnn"]


def digits_mlp(seed: int = 0, hidden: int = 32) -> nn.Sequential:
    """``Linear(64, hidden) -> ReLU -> Linear(hidden, 10)``; input ``(N, 64)`` (``load_digits(flat=True)``)."""
    g = np.random.default_rng(check_int(seed, "seed", 0))
    hidden = check_int(hidden, "hidden", 1)
    return nn.Sequential(nn.Linear(64, hidden, generator=g), nn.ReLU(), nn.Linear(hidden, 10, generator=g))


def digits_cnn(seed: int = 0, batch_norm: bool = True, channels=(8, 16), pool: bool = True) -> nn.Sequential:
    """Two conv blocks and a classifier for ``(N, 1, 8, 8)`` digits -> ``(N, 10)`` logits.

    Block ``i``: ``Conv2d(c_in, c_i, 3, padding=1)`` [-> ``BatchNorm2d(c_i)``] -> ``ReLU``
    [-> ``MaxPool2d(2)``], then ``Flatten`` and ``Linear(c_2 * s * s, 10)`` with ``s = 2`` if
    ``pool`` else ``8``. Defaults: ``channels=(8, 16)``, ``pool=True`` (10 layers, 2.5 k weights).
    ``channels=(16, 32), pool=False`` gives ``Linear(2048, 10)`` (25 k weights, ~5x slower).
    """
    g = np.random.default_rng(check_int(seed, "seed", 0))
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise ValueError(f"channels must be a pair of positive ints, got {channels!r}")
    c1, c2 = (check_int(c, "channels[i]", 1) for c in channels)
    layers: list = []
    for c_in, c_out in ((1, c1), (c1, c2)):
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, generator=g))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
        if pool:
            layers.append(nn.MaxPool2d(2))
    side = 2 if pool else 8
    layers += [nn.Flatten(), nn.Linear(c2 * side * side, 10, generator=g)]
    return nn.Sequential(*layers)
