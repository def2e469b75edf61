"""Chapters 04-05 on the zoo: PTQ per-tensor vs per-channel, first/last-layer sensitivity, the W4A8 PTQ/QAT table.

The models are the shipped float checkpoints (``qnn_lite.zoo.load_pretrained``) trained on
distorted digits (16x16). To keep a chapter under a minute, calibration uses the first
``n_cal`` training images, accuracy the first ``n_test`` test images, and QAT is a short
fine-tune after PTQ (Nagel et al., 2021, "A White Paper on Neural Network Quantization":
QAT initialised from the PTQ model) of ``qat_steps`` Adam steps on a training subset.

:data:`PAPER_W4A8` holds the rows of that paper's W4A8 PTQ/QAT table (difference from FP32 in
points; ImageNet top-1 unless noted), so :func:`w4a8_comparison` prints ours beside theirs.
"""
from __future__ import annotations

from ..autograd.tensor import no_grad
from ..data import DataLoader
from ..nn.layers import Conv2d, Linear
from ..train import evaluate
from ..transforms.fake_quant import default_qconfig
from ..transforms.ptq import ptq
from ..validate import check_bool, check_int
from ..zoo import load_pretrained
from ..zoo.training import load_dataset
from .finetune import qat_finetune

__all__ = ["PAPER_W4A8", "zoo_loaders", "ptq_accuracy", "first_last_names", "w4a8_zoo_row",
           "w4a8_comparison", "W4A8_COLUMNS"]

W4A8_COLUMNS = ("fp32", "ptq_per_tensor", "qat_per_tensor", "ptq_per_channel", "qat_per_channel")

# network -> (dataset, metric, FP32, PTQ/tensor, QAT/tensor, PTQ/channel, QAT/channel), the last four
# as differences from FP32 in points (Nagel et al., 2021, the W4A8 PTQ/QAT table)
PAPER_W4A8 = {
    "ResNet18": ("ImageNet", "top-1 %", 69.68, -1.06, +0.08, -0.77, +0.33),
    "ResNet50": ("ImageNet", "top-1 %", 76.07, -0.92, -0.18, -0.64, +0.45),
    "MobileNetV2": ("ImageNet", "top-1 %", 71.72, -2.51, -1.55, -1.93, -1.24),
    "InceptionV3": ("ImageNet", "top-1 %", 77.40, -0.92, +0.44, -0.58, +0.72),
    "EfficientNet lite": ("ImageNet", "top-1 %", 75.42, -4.18, -3.87, -1.41, -1.50),
    "DeepLabV3": ("Pascal VOC", "mIoU", 72.94, -2.14, -2.04, -1.27, +0.07),
    "EfficientDet-D1": ("COCO", "mAP", 40.08, -39.77, -4.74, -5.00, -3.33),
    "BERT-base": ("GLUE", "avg. score", 83.06, -1.30, -0.42, -1.04, -0.67),
}


def zoo_loaders(n_cal: int = 512, n_test: int = 1000, n_train: int = 2048, seed: int = 0):
    """``(calibration, test, train)`` loaders on distorted digits: the first ``n_cal`` training
    images (batches of 128), the first ``n_test`` test images (batches of 500) and the first
    ``n_train`` training images, shuffled with ``seed`` (batches of 64, for QAT)."""
    n_cal, n_test, n_train = (check_int(v, k, lo=1) for v, k in ((n_cal, "n_cal"), (n_test, "n_test"),
                                                                    (n_train, "n_train")))
    X, y, X_test, y_test = load_dataset("distorted_digits")
    return (DataLoader(X[:n_cal], y[:n_cal], batch_size=128),
            DataLoader(X_test[:n_test], y_test[:n_test], batch_size=500),
            DataLoader(X[:n_train], y[:n_train], batch_size=64, shuffle=True, seed=seed))


def first_last_names(model) -> tuple:
    """Names of the first and the last Linear / Conv2d of ``model`` (in ``named_modules`` order)."""
    names = [n for n, m in model.named_modules() if isinstance(m, (Linear, Conv2d))]
    if not names:
        raise ValueError("model must hold at least one Linear or Conv2d layer, got none")
    return names[0], names[-1]


def ptq_accuracy(model, w_bits: int, a_bits: int, per_channel: bool, cal, test, float_layers=()):
    """``(accuracy, quantized model)``: ``ptq`` with ``default_qconfig(w_bits, a_bits, per_channel)``
    on every layer except the names in ``float_layers`` (kept float), calibrated on all of ``cal``."""
    cfg = default_qconfig(w_bits, a_bits, per_channel=check_bool(per_channel, "per_channel"))
    qconfig = {"": cfg, **{name: None for name in float_layers}} if float_layers else cfg
    qm = ptq(model, qconfig, cal)
    return evaluate(qm, test), qm


def w4a8_zoo_row(name: str, w_bits: int = 4, a_bits: int = 8, qat_steps: int = 32, lr: float = 1e-4,
                 loaders=None) -> dict:
    """One row of the W4A8 table for zoo model ``name``: accuracies in [0, 1] under ``W4A8_COLUMNS``.

    PTQ: BN folded, min-max observers, calibrated on ``loaders[0]``. QAT: that PTQ model fine-tuned
    for one pass over ``loaders[2]`` (``qat_steps`` Adam steps at ``lr``; activation qparams kept,
    weight qparams following the weights). ``loaders``: from :func:`zoo_loaders` (default arguments).
    """
    if loaders is None:
        loaders = zoo_loaders(n_train=64 * check_int(qat_steps, "qat_steps", lo=1))
    cal, test, train = loaders
    model = load_pretrained(name)
    with no_grad():
        row = {"fp32": evaluate(model, test)}
    for gran, pc in (("per_tensor", False), ("per_channel", True)):
        acc, qm = ptq_accuracy(model, w_bits, a_bits, pc, cal, test)
        row[f"ptq_{gran}"] = acc
        qat_finetune(qm, train, 1, lr=lr)
        row[f"qat_{gran}"] = evaluate(qm, test)
    return row


def w4a8_comparison(ours: dict, dataset: str = "distorted digits 16x16", metric: str = "accuracy %",
                    paper=PAPER_W4A8) -> str:
    """One text table: the paper's rows, then ours (``{network: w4a8_zoo_row(...)}``), columns
    source, network, dataset, metric, FP32 and each column's difference from FP32 in points."""
    head = f"{'source':<12} {'network':<18} {'dataset':<22} {'metric':<10} {'FP32':>6}" + \
        "".join(f"{h:>12}" for h in ("PTQ/tensor", "QAT/tensor", "PTQ/channel", "QAT/channel"))
    lines = [head]
    for net, (data, met, fp, *diffs) in paper.items():
        lines.append(f"{'Nagel 2021':<12} {net:<18} {data:<22} {met:<10} {fp:6.2f}" +
                     "".join(f"{d:+12.2f}" for d in diffs))
    for net, row in ours.items():
        fp = 100 * row["fp32"]
        lines.append(f"{'ours':<12} {net:<18} {dataset:<22} {metric:<10} {fp:6.2f}" +
                     "".join(f"{100 * row[k] - fp:+12.2f}" for k in W4A8_COLUMNS[1:]))
    return "\n".join(lines)
