"""Chapter 8's DoReFa-Net experiment: W-bit weights, A-bit activations, G-bit gradients on an MLP.

DoReFa-Net (Zhou et al., 2016): first and last layers stay in full precision; the layers between
are :class:`~qnn_lite.transforms.lowprec.DoReFaLinear` + ``BatchNorm1d`` +
:class:`~qnn_lite.transforms.lowprec.DoReFaActivation`. :func:`dorefa_mlp` builds the network,
:func:`train_dorefa` trains it with Adam and returns its test accuracy, :func:`dorefa_table` runs a
list of ``(w, a, g)`` bit widths; :data:`DOREFA_TABLE1` holds the paper's SVHN rows (Table 1).
Shapes: ``(N, in_features) -> (N, num_classes)``.
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

__all__ = ["dorefa_mlp", "train_dorefa", "dorefa_table", "DOREFA_TABLE1"]

# Zhou et al. (2016), DoReFa-Net, Table 1: SVHN test accuracy of models A-D (A has twice B's channels,
# B twice C's, ...) for each (W, A, G) bit width; None = not reported (8/8/8 has only models C and D).
DOREFA_TABLE1 = {
    (1, 1, 2): (0.934, 0.924, 0.910, 0.803), (1, 1, 4): (0.968, 0.961, 0.916, 0.846),
    (1, 1, 8): (0.970, 0.962, 0.902, 0.828), (1, 1, 32): (0.971, 0.963, 0.921, 0.841),
    (1, 2, 2): (0.909, 0.930, 0.900, 0.808), (1, 2, 3): (0.968, 0.964, 0.934, 0.878),
    (1, 2, 4): (0.975, 0.969, 0.939, 0.878), (2, 1, 2): (0.927, 0.928, 0.909, 0.846),
    (2, 1, 4): (0.969, 0.957, 0.904, 0.827), (1, 2, 8): (0.975, 0.971, 0.946, 0.866),
    (1, 2, 32): (0.976, 0.970, 0.950, 0.865), (1, 3, 3): (0.968, 0.964, 0.946, 0.887),
    (1, 3, 4): (0.974, 0.974, 0.959, 0.897), (1, 3, 6): (0.977, 0.974, 0.949, 0.916),
    (1, 4, 2): (0.815, 0.898, 0.911, 0.868), (1, 4, 4): (0.975, 0.974, 0.962, 0.915),
    (1, 4, 8): (0.977, 0.975, 0.955, 0.895), (2, 2, 2): (0.900, 0.919, 0.856, 0.842),
    (8, 8, 8): (None, None, 0.970, 0.955), (32, 32, 32): (0.975, 0.975, 0.972, 0.950),
}


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
