"""Recipes behind chapter 05's numbers: the biased coin, learned clips, LSQ's gradient scale, PTQ vs QAT.

Each function runs one small, seeded experiment and returns plain numbers, so the chapter
prints them and the tests check them:

* :func:`coin_ste` — the straight-through estimator on a biased coin (the STE: Hinton, 2012;
  its analysis on stochastic units: Bengio et al., 2013).
* :func:`learn_clip` — PACT's alpha vs LSQ's step size, learned on a toy reconstruction loss.
* :func:`lsq_update_ratios` — LSQ's step-size/weight update ratio with and without the
  ``1/sqrt(N Q_P)`` gradient scale (Esser et al., 2019).
* :func:`w4a8_table` / :func:`bits_table` — FP32 | PTQ per-tensor | QAT per-tensor |
  PTQ per-channel | QAT per-channel on the digits CNN (the shape of the W4A8 PTQ/QAT table of
  Nagel et al., 2021, "A White Paper on Neural Network Quantization"; the zoo version is
  :mod:`qnn_lite.recipes.zoo_quant`).
* :func:`qat_curves` — QAT from scratch vs QAT fine-tuning after PTQ, accuracy per epoch.

Training runs with one BLAS thread, so every number is reproducible bit for bit.
The model is ``qnn_lite.recipes.digits.digits_cnn`` trained by
``train_digits_model``; pass one ``cache`` dict to the functions below to train each float model
once per chapter.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..autograd.tensor import Tensor
from .digits import digits_cnn, digits_loaders, train_digits_model
from ..nn.loss import CrossEntropyLoss
from ..optim import Adam
from ..train import evaluate, fit
from ..transforms.fake_quant import QConfig, default_qat_qconfig, default_qconfig
from ..transforms.layers import QUANT_LAYERS
from ..quantizers.learned import pact
from ..quantizers.lsq import LSQQuantizer, fake_quantize_learnable_per_tensor_affine
from ..transforms.ptq import fuse_modules, ptq
from ..transforms.qat import prepare_qat
from .finetune import qat_finetune
from ..validate import check_bits, check_int

__all__ = ["coin_ste", "learn_clip", "lsq_update_ratios", "float_digits_model", "ptq_then_qat",
           "w4a8_table", "bits_table", "format_table", "qat_curves", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("fp32", "ptq_per_tensor", "qat_per_tensor", "ptq_per_channel", "qat_per_channel")


def _one_thread():
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")


# ----- the biased coin ------------------------------------------------------------------------------
def coin_ste(p: float, cost, dcost, n: int = 100_000, seed: int = 0) -> dict:
    """The STE on a coin: $q \\sim \\mathrm{Bernoulli}(p)$, estimate $dE[c(q)]/dp$ by $c'(q)$
    (Hinton, 2012; Bengio et al., 2013).

    True gradient: $E[c] = p\\,c(1) + (1-p)\\,c(0)$, so $dE[c]/dp = c(1) - c(0)$.
    STE estimate: draw ``n`` coins and average ``dcost(q)`` (the backward pretends $dq/dp = 1$).
    ``cost``, ``dcost``: vectorised functions of a float array of 0s and 1s.
    Returns ``{"true", "ste_mean", "ste_se", "bias"}`` (``ste_se`` = standard error of the mean).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    n = check_int(n, "n", 2)
    q = (np.random.default_rng(seed).random(n) < p).astype(np.float64)
    est = np.asarray(dcost(q), dtype=np.float64) * np.ones(n)
    true = float(cost(np.float64(1.0)) - cost(np.float64(0.0)))
    mean = float(est.mean())
    return {"true": true, "ste_mean": mean, "ste_se": float(est.std(ddof=1) / math.sqrt(n)), "bias": mean - true}


# ----- learned clipping range: PACT vs LSQ on a toy -------------------------------------------------
def learn_clip(method: str, bits: int = 3, steps: int = 300, lr: float = 5.0, penalty: float = 0.0,
               n: int = 4096, init: float = 10.0, seed: int = 0) -> dict:
    """Learn the clip of an unsigned ``bits``-bit quantizer of ``x = relu(N(0, 1))`` by gradient descent.

    Loss: $\\mathrm{mean}((Q(x) - x)^2) + \\lambda\\, \\alpha^2$ (``penalty`` = $\\lambda$, PACT's L2 term).
    ``method="pact"``: $Q$ = ``pact(x, alpha, bits)``; its $\\partial\\alpha$ sees clipped inputs only
    (Choi et al., 2018). ``method="lsq"``: $Q$ = LSQ with step $s$, clip $\\alpha = s\\,Q_P$; its
    $\\partial s$ also sees the rounding error inside the range (Esser et al., 2019; no gradient scale
    here). Plain gradient descent with step ``lr`` on $\\alpha$ (on $s$ for LSQ, with ``lr / Q_P**2``
    so both move the clip at the same rate). Returns ``{"alpha": (steps + 1,) clip per step,
    "mse": (steps + 1,) reconstruction error, "best_alpha", "best_mse"}`` (best = grid search).
    """
    if method not in ("pact", "lsq"):
        raise ValueError(f"method must be 'pact' or 'lsq', got {method!r}")
    bits, steps = check_bits(bits, "bits", 2), check_int(steps, "steps")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not (isinstance(penalty, (int, float)) and penalty >= 0):
        raise ValueError(f"penalty must be a number >= 0, got {penalty!r}")
    x = np.maximum(np.random.default_rng(seed).standard_normal(n), 0).astype(np.float32)
    quant_max = 2 ** bits - 1

    def mse(a):
        s = a / quant_max
        return float(np.mean((np.rint(np.clip(x, 0, a) / s) * s - x) ** 2))

    alpha, history, errors = float(init), [], []
    for _ in range(steps + 1):
        history.append(alpha)
        errors.append(mse(alpha))
        if method == "pact":
            a = Tensor(np.array([alpha], np.float32), requires_grad=True)
            y = pact(x, a, bits)
            param, rate = a, lr
        else:
            a = Tensor(np.array([alpha / quant_max], np.float32), requires_grad=True)
            y = fake_quantize_learnable_per_tensor_affine(x, a, np.zeros(1, np.float32), 0, quant_max)
            param, rate = a, lr / quant_max ** 2
        loss = ((y - Tensor(x)) ** 2).mean() + penalty * (param * (quant_max if method == "lsq" else 1)) ** 2
        loss.sum().backward()
        new = float(param.data[0] - rate * param.grad[0])
        alpha = max(new * (quant_max if method == "lsq" else 1), 1e-3)
    grid = np.linspace(0.05, 6, 600)
    errs = np.array([mse(g) for g in grid])
    return {"alpha": np.array(history), "mse": np.array(errors), "best_alpha": float(grid[errs.argmin()]),
            "best_mse": float(errs.min())}


# ----- LSQ's gradient scale ---------------------------------------------------------------------------
def lsq_update_ratios(model, X, y, bits: int = 4, use_grad_scaling: bool = True) -> list:
    """Per weight layer: LSQ's $R = (|\\nabla_s L| / s) / (\\lVert\\nabla_w L\\rVert / \\lVert w\\rVert)$ on one batch.

    Esser et al. (2019) want $R \\approx 1$: the step size should move, relative to its size, about
    as fast as the weights. ``model``: a float model (fused, then LSQ weight quantizers with
    ``bits``, activations in float). Returns ``[(layer name, N, Q_P, R), ...]``.
    """
    bits = check_bits(bits, "bits", 2)
    cfg = QConfig(weight=LSQQuantizer.with_args(bits=bits, signed=True, use_grad_scaling=use_grad_scaling))
    qm = prepare_qat(fuse_modules(model), cfg).eval()
    with _one_thread():
        loss = CrossEntropyLoss()(qm(X if isinstance(X, Tensor) else Tensor(X)), y)
        loss.backward()
    rows = []
    for name, m in qm.named_modules():
        if isinstance(m, QUANT_LAYERS):
            q = m.weight_fake_quant
            s, gs = float(q.scale.data[0]), float(q.scale.grad[0])
            w, gw = m.weight.data, m.weight.grad
            r = (abs(gs) / s) / (np.linalg.norm(gw) / np.linalg.norm(w))
            rows.append((name, int(w.size), int(q.quant_max), float(r)))
    return rows


# ----- PTQ vs QAT on digits -----------------------------------------------------------------------------
def float_digits_model(seed: int = 0, epochs: int = 12, cache: dict | None = None):
    """``(model, test accuracy)``: ``digits_cnn(seed)`` (with BatchNorm) trained ``epochs`` epochs with
    ``train_digits_model`` (SGD, lr 0.05, momentum 0.9; ``cache`` as there). 12 epochs: training accuracy
    is ~99.5 % and 2 more epochs change test accuracy by < 0.5 points."""
    with _one_thread():
        return train_digits_model(digits_cnn(seed=check_int(seed, "seed")), epochs=check_int(epochs, "epochs", 1),
                                  lr=0.05, seed=seed, cache=cache)


def ptq_then_qat(model, w_bits: int, a_bits: int, per_channel: bool, seed: int = 0, qat_epochs: int = 2,
                 lr: float = 1e-3, num_batches: int = 4) -> tuple:
    """``(PTQ accuracy, QAT accuracy)``: ``ptq`` (BN folded, ``num_batches`` calibration batches), then
    ``qat_finetune`` of that same model for ``qat_epochs`` epochs (Adam, ``lr``) — QAT as fine-tuning
    after PTQ (Krishnamoorthi, 2018). ``model`` is not modified."""
    w_bits, a_bits = check_bits(w_bits, "w_bits", 2), check_bits(a_bits, "a_bits", 2)
    train, test = digits_loaders(seed=seed)
    with _one_thread():
        qm = ptq(model, default_qconfig(w_bits, a_bits, per_channel=per_channel), train, num_batches)
        acc_ptq = evaluate(qm, test)
        qat_finetune(qm, train, check_int(qat_epochs, "qat_epochs", 1), lr=lr)
        return acc_ptq, evaluate(qm, test)


def _finetune_float(model, seed, epochs, lr):
    """The control: the float model trained for the same extra epochs as QAT (same optimizer)."""
    train, test = digits_loaders(seed=seed)
    m = copy.deepcopy(model)
    with _one_thread():
        fit(m, train, CrossEntropyLoss(), Adam(m.parameters(), lr=lr), epochs, progress=False)
        return evaluate(m, test)


def w4a8_table(seed: int = 0, w_bits: int = 4, a_bits: int = 8, float_epochs: int = 12,
               qat_epochs: int = 2, lr: float = 1e-3, control: bool = True, cache: dict | None = None) -> dict:
    """One row of the table, accuracies in [0, 1]: keys ``TABLE_COLUMNS`` plus, with ``control``,
    ``"fp32_finetuned"`` (the float model fine-tuned like QAT: the extra epochs alone, no quantization)."""
    model, acc = float_digits_model(seed, float_epochs, cache)
    row = {"fp32": acc}
    for gran, pc in (("per_tensor", False), ("per_channel", True)):
        row[f"ptq_{gran}"], row[f"qat_{gran}"] = ptq_then_qat(model, w_bits, a_bits, pc, seed, qat_epochs, lr)
    if control:
        row["fp32_finetuned"] = _finetune_float(model, seed, qat_epochs, lr)
    return row


def bits_table(seeds=(0, 1, 2), w_bits=(4, 3, 2), a_bits: int = 8, cache: dict | None = None, **kwargs) -> dict:
    """``{(w, a): {column: (mean, min, max) over seeds}}`` of :func:`w4a8_table` rows, accuracies in [0, 1].

    The float fine-tuning control does not depend on the bits: it is run once per seed. Each float
    model is trained once (in ``cache``, or in a dict local to this call)."""
    cache = {} if cache is None else cache
    seeds = [check_int(s, "seeds[i]") for s in seeds]
    if not seeds or not len(w_bits):
        raise ValueError(f"seeds and w_bits must each hold at least one value, got {seeds} and {w_bits}")
    rows = {wb: [] for wb in w_bits}
    for s in seeds:
        for i, wb in enumerate(w_bits):
            rows[wb].append(w4a8_table(s, wb, a_bits, control=i == 0, cache=cache, **kwargs))
        for wb in w_bits[1:]:
            rows[wb][-1]["fp32_finetuned"] = rows[w_bits[0]][-1]["fp32_finetuned"]
    return {(wb, a_bits): {k: (float(np.mean([r[k] for r in rs])), min(r[k] for r in rs), max(r[k] for r in rs))
                           for k in (*TABLE_COLUMNS, "fp32_finetuned")} for wb, rs in rows.items()}


def format_table(table: dict, kind: str = "diff") -> str:
    """Text table of :func:`bits_table`, one line per setting. ``kind="diff"``: FP32 accuracy (%) and
    each column's mean difference from FP32 in percentage points; ``"accuracy"``: mean accuracies (%);
    ``"range"``: min-max accuracy (%) over the seeds."""
    if kind not in ("diff", "accuracy", "range"):
        raise ValueError(f"kind must be 'diff', 'accuracy' or 'range', got {kind!r}")
    head = ["FP32", "PTQ/tensor", "QAT/tensor", "PTQ/channel", "QAT/channel", "FP32+ft"]
    lines = [f"{'setting':8s}" + "".join(f"{h:>13s}" for h in head)]
    for (wb, ab), row in table.items():
        fp = row["fp32"][0]
        cells = []
        for k in (*TABLE_COLUMNS, "fp32_finetuned"):
            mean, lo, hi = row[k]
            if kind == "range":
                cells.append(f"{f'{100 * lo:.1f}-{100 * hi:.1f}%':>13s}")
            elif kind == "accuracy" or k == "fp32":
                cells.append(f"{100 * mean:12.2f}%")
            else:
                cells.append(f"{100 * (mean - fp):+13.2f}")
        lines.append(f"W{wb}A{ab}    " + "".join(cells))
    return "\n".join(lines)


def qat_curves(seed: int = 0, w_bits: int = 2, a_bits: int = 8, epochs: int = 5, float_epochs: int = 12,
               lr_scratch: float = 0.05, lr_finetune: float = 1e-3, per_channel: bool = True,
               cache: dict | None = None) -> dict:
    """Test accuracy per epoch of QAT from scratch (``prepare_qat`` on a fresh ``digits_cnn(seed)``,
    SGD with momentum 0.9 and ``lr_scratch``: the float model's own recipe) and of QAT fine-tuning
    after PTQ of the trained float model (Adam, ``lr_finetune``). Returns
    ``{"from_scratch": [acc after epoch 1..], "after_ptq": [PTQ acc, acc after epoch 1..], "fp32": acc}``."""
    epochs = check_int(epochs, "epochs", 1)
    model, acc = float_digits_model(seed, float_epochs, cache)
    cfg = default_qat_qconfig(check_bits(w_bits, "w_bits", 2), check_bits(a_bits, "a_bits", 2), per_channel=per_channel)
    train, test = digits_loaders(seed=seed)
    with _one_thread():
        qm = ptq(model, cfg, train, 4)
        start = evaluate(qm, test)
        ft = qat_finetune(qm, train, epochs, lr=lr_finetune, val_loader=test)
        scratch = prepare_qat(digits_cnn(seed=seed), cfg)
        train2, _ = digits_loaders(seed=seed)
        sc = qat_finetune(scratch, train2, epochs, lr=lr_scratch, optimizer="sgd", val_loader=test)
    return {"from_scratch": list(sc["val_acc"]), "after_ptq": [start, *ft["val_acc"]], "fp32": acc}
