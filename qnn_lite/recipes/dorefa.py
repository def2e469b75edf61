"""Chapter 8's DoReFa-Net experiment: W-bit weights, A-bit activations, G-bit gradients on an MLP.

DoReFa-Net (Zhou et al., 2016): first and last layers stay in full precision; the layers between
are :class:`~qnn_lite.transforms.lowprec.DoReFaLinear` + ``BatchNorm1d`` +
:class:`~qnn_lite.transforms.lowprec.DoReFaActivation`. :func:`dorefa_mlp` builds the network,
:func:`train_dorefa` trains it with Adam and returns its test accuracy, :func:`dorefa_table` runs a
list of ``(w, a, g)`` bit widths. Shapes: ``(N, in_features) -> (N, num_classes)``.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from ..data import DataLoader
from ..nn import BatchNorm1d, CrossEntropyLoss, Linear, Sequential
from ..optim import Adam
from ..train import evaluate, fit
from ..transforms.lowprec import DoReFaActivation, DoReFaLinear
from ..validate import check_int

__all__ = ["dorefa_mlp", "train_dorefa", "dorefa_table"]


def dorefa_mlp(w_bits: int, a_bits: int, g_bits: int, in_features: int = 64, hidden: int = 32,
               num_classes: int = 10, depth: int = 2, seed: int = 0) -> Sequential:
    """A DoReFa MLP: first ``Linear`` and last ``Linear`` in full precision, ``depth - 1`` quantized layers between.

    Every hidden layer is ``Linear -> BatchNorm1d -> DoReFaActivation(a_bits)``; the
    quantized ones are :class:`DoReFaLinear` (``w_bits``, ``g_bits``). Weights from
    ``np.random.default_rng(seed)``. Shapes: ``(N, in_features) -> (N, num_classes)``.
    """
    depth = check_int(depth, "depth", 1, 16)
    gen = np.random.default_rng(seed)
    layers = [Linear(in_features, hidden, generator=gen), BatchNorm1d(hidden), DoReFaActivation(a_bits)]
    for i in range(depth - 1):
        layers += [DoReFaLinear(hidden, hidden, w_bits, g_bits, rng=seed * 1000 + i, generator=gen),
                   BatchNorm1d(hidden), DoReFaActivation(a_bits)]
    layers.append(Linear(hidden, num_classes, generator=gen))
    return Sequential(*layers)


def train_dorefa(w_bits: int, a_bits: int, g_bits: int, data, hidden: int = 32, depth: int = 2,
                 epochs: int = 5, lr: float = 0.01, batch_size: int = 64, seed: int = 0) -> float:
    """Train :func:`dorefa_mlp` with Adam (as in the paper) and return its test accuracy in [0, 1].

    ``data = (X_train, y_train, X_test, y_test)`` with flat ``X`` ``(N, in_features)``.
    Deterministic for a fixed ``seed``: BLAS runs on one thread while training.
    """
    X_train, y_train, X_test, y_test = data
    model = dorefa_mlp(w_bits, a_bits, g_bits, in_features=X_train.shape[1], hidden=hidden,
                       num_classes=int(max(y_train.max(), y_test.max())) + 1, depth=depth, seed=seed)
    train_loader = DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    with threadpool_limits(limits=1, user_api="blas"):
        fit(model, train_loader, CrossEntropyLoss(), Adam(model.parameters(), lr=lr), epochs, progress=False)
        return evaluate(model, DataLoader(X_test, y_test, batch_size=512))


def dorefa_table(configs, data, **train_kwargs) -> list:
    """``[(w, a, g, test accuracy), ...]``: :func:`train_dorefa` once per ``(w, a, g)`` in ``configs``."""
    return [(w, a, g, train_dorefa(w, a, g, data, **train_kwargs)) for (w, a, g) in configs]
