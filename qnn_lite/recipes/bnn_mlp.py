"""A quantized MLP built from :mod:`~qnn_lite.transforms.bnn`'s layers, and the recipe that trains it.

Chapter 6 compares binary / ternary / k-bit networks with this one recipe, chapter 9
runs the binary one on the XNOR-popcount kernel:

* :func:`quantized_mlp` — ``depth`` hidden blocks ``Linear_q -> BatchNorm1d -> Act_q`` and a
  classifier, first and last layer full precision by default (XNOR-Net, DoReFa);
* :func:`train_quantized_mlp` — Adam on the digits, EDE's schedule when asked, a diverged run
  reported as such instead of raising;
* :func:`bit_width_table` / :func:`format_bit_table` — accuracy for each ``(w_bits, a_bits)``;
  :data:`BFCN_TABLE5` — the paper's rows it is compared with (Wen et al., 2016, Table 5).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.containers import Sequential
from ..nn.layers import BatchNorm1d, Linear
from ..quantizers.ste import SIGN_ESTIMATORS
from ..transforms.bnn import (BINARY_WEIGHTS, TERNARY_WEIGHTS, Binary01Activation, BinaryLinear, EDESchedule,
                              SignActivation, TernaryLinear)
from ..transforms.lowprec import DoReFaActivation, DoReFaLinear
from ..validate import check_bits, check_choice, check_int

__all__ = ["quantized_mlp", "TrainResult", "train_quantized_mlp", "bit_width_table", "format_bit_table",
           "BFCN_TABLE5"]

# Wen et al. (2016), "Training Bit Fully Convolutional Network for Fast Semantic Segmentation", Table 5:
# mean IoU (%) on PASCAL VOC 2012 val for each weight / activation bit width (W, A); None = diverged.
# The paper's Complexity column is W * A ("-" for 32/32).
BFCN_TABLE5 = {(32, 32): 69.8, (8, 8): 69.8, (4, 4): 68.6, (3, 3): 67.4, (2, 2): 65.7,
               (1, 4): 64.4, (4, 1): None, (1, 2): 62.8}


def _weight_layer(n_in, n_out, w_bits, weight_quant, estimator, gen):
    if weight_quant is None:
        weight_quant = {32: "fp", 1: "xnor"}.get(w_bits, "dorefa")
    if weight_quant == "fp":
        return Linear(n_in, n_out, generator=gen)
    if weight_quant == "dorefa":
        return DoReFaLinear(n_in, n_out, w_bits, generator=gen)
    if weight_quant in TERNARY_WEIGHTS:
        return TernaryLinear(n_in, n_out, weight_quant=weight_quant, generator=gen)
    return BinaryLinear(n_in, n_out, weight_quant=weight_quant, estimator=estimator, generator=gen)


def _act_layer(a_bits, act_quant, estimator):
    if act_quant is None:
        act_quant = "kbit"
    if act_quant == "kbit":
        return DoReFaActivation(a_bits)
    if act_quant == "01":
        return Binary01Activation()
    return SignActivation(estimator)


def quantized_mlp(w_bits: int = 32, a_bits: int = 32, in_features: int = 64, hidden: int = 64,
                  num_classes: int = 10, depth: int = 2, first_last_fp: bool = True, weight_quant=None,
                  act_quant=None, estimator: str = "clipped", seed: int = 0) -> Sequential:
    """An MLP of ``depth`` hidden blocks ``Linear_q -> BatchNorm1d -> Act_q``, then a ``Linear`` classifier.

    Weights: ``weight_quant`` in ("fp", "dorefa", "sign", "xnor", "libra_pb", "twn", "ttq"); by default
    "fp" for ``w_bits=32``, "xnor" for 1, "dorefa" (``w_bits``-bit) otherwise. Activations:
    ``act_quant`` in ("kbit", "01", "sign"), default "kbit" (``a_bits`` levels on [0, 1]; 32 = clip).
    ``first_last_fp=True`` keeps the first and the last ``Linear`` full precision (as in XNOR-Net, DoReFa).
    Initial weights from ``np.random.default_rng(seed)``. Shapes ``(N, in_features) -> (N, num_classes)``.
    """
    w_bits = check_bits(w_bits, "w_bits", allow_32=True)
    a_bits = check_bits(a_bits, "a_bits", allow_32=True)
    if weight_quant is not None:
        check_choice(weight_quant, "weight_quant", ("fp", "dorefa") + BINARY_WEIGHTS + TERNARY_WEIGHTS)
    if act_quant is not None:
        check_choice(act_quant, "act_quant", ("kbit", "01", "sign"))
    check_choice(estimator, "estimator", SIGN_ESTIMATORS)
    depth = check_int(depth, "depth", 1)
    gen = np.random.default_rng(seed)
    layers, n_in = [], in_features
    for i in range(depth):
        fp = first_last_fp and i == 0
        layers += [_weight_layer(n_in, hidden, 32 if fp else w_bits, "fp" if fp else weight_quant, estimator, gen),
                   BatchNorm1d(hidden), _act_layer(a_bits, act_quant, estimator)]
        n_in = hidden
    layers.append(Linear(hidden, num_classes, generator=gen) if first_last_fp
                  else _weight_layer(hidden, num_classes, w_bits, weight_quant, estimator, gen))
    return Sequential(*layers)


class TrainResult(NamedTuple):
    model: Sequential
    test_acc: float | None      # None when training diverged
    history: dict
    diverged: bool


def train_quantized_mlp(w_bits: int = 32, a_bits: int = 32, data=None, epochs: int = 10, lr: float = 0.01,
                        batch_size: int = 64, seed: int = 0, **model_kwargs) -> TrainResult:
    """Train :func:`quantized_mlp` with Adam on ``data = (X_train, y_train, X_test, y_test)`` (flat ``X``).

    ``data=None``: ``load_digits(flat=True)``. Estimator "ede" follows :class:`EDESchedule`.
    A non-finite loss stops training and is reported as ``diverged=True`` with ``test_acc=None``.
    Deterministic for a fixed ``seed`` (BLAS on one thread).
    """
    from threadpoolctl import threadpool_limits

    from ..data import DataLoader, load_digits
    from ..nn.loss import CrossEntropyLoss
    from ..optim import Adam
    from ..train import evaluate, fit

    X_train, y_train, X_test, y_test = load_digits(flat=True) if data is None else data
    model = quantized_mlp(w_bits, a_bits, in_features=X_train.shape[1],
                          num_classes=int(max(y_train.max(), y_test.max())) + 1, seed=seed, **model_kwargs)
    loader = DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    schedule = EDESchedule(model, epochs) if model_kwargs.get("estimator") == "ede" else None
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            history = fit(model, loader, CrossEntropyLoss(), Adam(model.parameters(), lr=lr), epochs,
                          scheduler=schedule, progress=False)
        except (FloatingPointError, ValueError) as err:      # fit's check, or the loss refusing inf logits
            if isinstance(err, ValueError) and "finite" not in str(err):
                raise
            return TrainResult(model, None, {}, True)
        acc = evaluate(model, DataLoader(X_test, y_test, batch_size=512))
    return TrainResult(model, acc, history, False)


def bit_width_table(configs, data=None, **train_kwargs) -> list:
    """``[(w_bits, a_bits, test accuracy or None if diverged), ...]``: one :func:`train_quantized_mlp` per ``(w, a)``."""
    return [(w, a, train_quantized_mlp(w, a, data, **train_kwargs).test_acc) for w, a in configs]


def format_bit_table(rows, title: str = "test accuracy") -> str:
    """The rows of :func:`bit_width_table` as a fixed-width text table (accuracy in %, 2 decimals)."""
    lines = [f"{'W/A':>6}  {title:>14}", "-" * 22]
    for w, a, acc in rows:
        lines.append(f"{f'{w}/{a}':>6}  {'diverged' if acc is None else f'{100 * acc:.2f} %':>14}")
    return "\n".join(lines)
