"""Chapter 6's binary ResNet: a plain binary CNN, Bi-Real's shortcut around every binary conv, IR-Net.

One small network, three variants (``variant=``):

* ``"plain"`` — ``stem -> [sign -> BinaryConv2d -> BN] x depth -> pool -> fc``: every block's
  real-valued input is lost at the sign (a plain binary baseline, XNOR weights, clipped STE);
* ``"bireal"`` — Bi-Real Net (Liu et al., 2018): the same blocks with a real-valued identity shortcut
  around *every* binary conv, $x_{l+1} = \\mathrm{BN}(\\mathrm{conv}_b(\\mathrm{sign}(x_l))) + x_l$,
  and its ApproxSign estimator;
* ``"irnet"`` — IR-Net (Qin et al., 2020) on Bi-Real's structure: Libra-PB weights and the EDE
  estimator on weights and activations, ``EDESchedule`` once per epoch.

The stem (3x3 conv, stride 2, BN) and the classifier stay full precision (XNOR-Net,
Bi-Real). Every binary conv is a :class:`~qnn_lite.transforms.bnn.BinaryConv2d` behind a
:class:`~qnn_lite.transforms.bnn.SignActivation`, so :func:`~qnn_lite.transforms.xnor.to_xnor`
can run it on the XNOR-popcount kernel. Shapes: ``(N, C, H, W) -> (N, num_classes)``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from .. import nn
from ..data import DataLoader
from ..optim import Adam, CosineAnnealingLR
from ..train import evaluate, fit
from ..transforms.bnn import BinaryConv2d, EDESchedule, SignActivation
from ..validate import check_choice, check_int

__all__ = ["VARIANTS", "BinaryBlock", "binary_resnet", "float_resnet", "train_binary_resnet", "variant_table"]

# variant -> (shortcut around every binary conv?, weight quantizer, sign estimator)
VARIANTS = {
    "plain": (False, "xnor", "clipped"),
    "bireal": (True, "xnor", "approx_sign"),
    "irnet": (True, "libra_pb", "ede"),
}


class BinaryBlock(nn.Module):
    """$y = \\mathrm{BN}(\\mathrm{conv}_b(\\mathrm{sign}(x)))\\ [+\\, x]$: one 3x3 binary conv, Bi-Real's shortcut if ``shortcut``.

    ``binary=False`` gives the same block in float (``ReLU -> Conv2d -> BN``), the reference the
    benchmark times against.
    """

    def __init__(self, width: int, shortcut: bool, weight_quant: str = "xnor", estimator: str = "clipped",
                 binary: bool = True, generator=None):
        super().__init__()
        if binary:
            self.act = SignActivation(estimator)
            self.conv = BinaryConv2d(width, width, 3, 1, 1, bias=False, weight_quant=weight_quant,
                                     estimator=estimator, generator=generator)
        else:
            self.act = nn.ReLU()
            self.conv = nn.Conv2d(width, width, 3, 1, 1, bias=False, generator=generator)
        self.bn = nn.BatchNorm2d(width)
        self.shortcut = bool(shortcut)
        if self.shortcut:
            self.add = nn.Add()

    def forward(self, x):
        y = self.bn(self.conv(self.act(x)))
        return self.add(y, x) if self.shortcut else y

    def extra_repr(self) -> str:
        return f"shortcut={self.shortcut}"


def _net(blocks, in_channels, width, num_classes, g):
    # no ReLU after the stem: sign(ReLU(x)) would be +1 everywhere; BN centres the signs instead
    features = nn.Sequential(OrderedDict(
        [("stem", nn.Sequential(nn.Conv2d(in_channels, width, 3, 2, 1, bias=False, generator=g),
                                nn.BatchNorm2d(width)))]
        + [(f"block{i + 1}", b) for i, b in enumerate(blocks)]))
    return nn.Sequential(OrderedDict([("features", features), ("pool", nn.AdaptiveAvgPool2d(1)),
                                      ("flatten", nn.Flatten()), ("fc", nn.Linear(width, num_classes, generator=g))]))


def _args(seed, in_channels, width, depth, num_classes):
    return (np.random.default_rng(check_int(seed, "seed", lo=0)), check_int(in_channels, "in_channels", lo=1),
            check_int(width, "width", lo=1), check_int(depth, "depth", lo=1), check_int(num_classes, "num_classes", lo=2))


def binary_resnet(variant: str = "bireal", width: int = 16, depth: int = 4, in_channels: int = 1,
                  num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """The chapter's binary CNN: float stem (3x3, stride 2) -> ``depth`` :class:`BinaryBlock` s -> pool -> float fc.

    ``variant`` in :data:`VARIANTS` picks the shortcut, the weight quantizer and the estimator.
    Weights from ``np.random.default_rng(seed)``.
    """
    shortcut, weight_quant, estimator = VARIANTS[check_choice(variant, "variant", tuple(VARIANTS))]
    g, in_channels, width, depth, num_classes = _args(seed, in_channels, width, depth, num_classes)
    blocks = [BinaryBlock(width, shortcut, weight_quant, estimator, generator=g) for _ in range(depth)]
    return _net(blocks, in_channels, width, num_classes, g)


def float_resnet(width: int = 16, depth: int = 4, in_channels: int = 1, num_classes: int = 10,
                 seed: int = 0) -> nn.Sequential:
    """:func:`binary_resnet`'s network in float (``ReLU -> Conv2d -> BN`` blocks with the per-conv shortcut)."""
    g, in_channels, width, depth, num_classes = _args(seed, in_channels, width, depth, num_classes)
    blocks = [BinaryBlock(width, True, binary=False, generator=g) for _ in range(depth)]
    return _net(blocks, in_channels, width, num_classes, g)


class BinaryRun(NamedTuple):
    model: nn.Sequential
    test_acc: float
    history: dict


def train_binary_resnet(variant: str, data, width: int = 16, depth: int = 4, epochs: int = 4, lr: float = 0.01,
                        batch_size: int = 64, seed: int = 0) -> BinaryRun:
    """Train :func:`binary_resnet` (``variant="float"``: :func:`float_resnet`) with Adam and a cosine schedule.

    ``data = (X_train, y_train, X_test, y_test)``, ``X`` NCHW. IR-Net's EDE moves once per epoch
    (:class:`~qnn_lite.transforms.bnn.EDESchedule`, T_min = 0.1, T_max = 10). Deterministic for a
    fixed ``seed`` (BLAS on one thread). Returns the model (eval mode), its test accuracy and the history.
    """
    X, y, X_test, y_test = data
    nc = int(max(y.max(), y_test.max())) + 1
    if variant == "float":
        model = float_resnet(width, depth, X.shape[1], nc, seed)
    else:
        model = binary_resnet(variant, width, depth, X.shape[1], nc, seed)
    opt = Adam(model.parameters(), lr=lr)
    cosine = CosineAnnealingLR(opt, T_max=epochs)
    sched = EDESchedule(model, epochs, lr_scheduler=cosine) if variant == "irnet" else cosine
    with threadpool_limits(limits=1, user_api="blas"):
        history = fit(model, DataLoader(X, y, batch_size=batch_size, shuffle=True, seed=seed),
                      nn.CrossEntropyLoss(), opt, epochs, scheduler=sched, progress=False)
        acc = evaluate(model, DataLoader(X_test, y_test, batch_size=500))
    return BinaryRun(model.eval(), acc, history)


def variant_table(variants, data, seeds=(0, 1, 2), **train_kwargs) -> dict:
    """``{variant: [test accuracy per seed]}``: :func:`train_binary_resnet` for each variant and seed."""
    return {v: [train_binary_resnet(v, data, seed=s, **train_kwargs).test_acc for s in seeds] for v in variants}
