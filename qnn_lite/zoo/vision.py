"""The zoo's image classifiers: PyTorch-shaped, seeded, small enough to train in a chapter.

* :func:`vgg_small` — a plain stack of 3x3 conv / BN / ReLU with max pools (Simonyan & Zisserman, 2015).
* :func:`resnet8` — a stem and three basic blocks with residual adds (He et al., 2016): ~78 k weights.
* :func:`mobilenetv2_tiny` — inverted residuals (Sandler et al., 2018): 1x1 expand -> 3x3 depthwise
  -> 1x1 linear projection, BN after each, ReLU6, a residual add when input and output shapes match.

Every residual sum is an ``nn.Add`` child (``block.add``), so quantization passes find it.
Inputs are NCHW images ``in_shape = (C, H, W)``. A 1-D signal is an image of height 1
(``(1, 1, L)``, e.g. MNIST-1D): then every kernel is ``1 x k`` and every stride ``1 x s``.
Weights come from a private ``np.random.default_rng(seed)`` (PyTorch's default init),
so the same seed gives the same model.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import nn
from ..validate import check_int


def _geom(in_shape, k: int, s: int = 1):
    """``(kernel, stride, padding)`` for a ``k x k`` conv of stride ``s`` — or ``1 x k`` on 1-D inputs."""
    if in_shape[1] == 1:
        return (1, k), (1, s), (0, k // 2)
    return (k, k), (s, s), (k // 2, k // 2)


def _check(seed, in_shape, num_classes):
    seed = check_int(seed, "seed", lo=0)
    if not (isinstance(in_shape, (tuple, list)) and len(in_shape) == 3):
        raise ValueError(f"in_shape must be (C, H, W), got {in_shape!r}")
    in_shape = tuple(check_int(v, "in_shape[i]", lo=1) for v in in_shape)
    return np.random.default_rng(seed), in_shape, check_int(num_classes, "num_classes", lo=2)


def conv_bn(c_in, c_out, in_shape, k, s, g, groups=1, act=nn.ReLU):
    """``Conv2d(bias=False) -> BatchNorm2d [-> act]`` as a Sequential (children "0", "1", "2")."""
    kernel, stride, pad = _geom(in_shape, k, s)
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, pad, groups=groups, bias=False, generator=g),
              nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """$y = \\mathrm{ReLU}(\\mathrm{BN}(\\mathrm{conv}(\\mathrm{ReLU}(\\mathrm{BN}(\\mathrm{conv}(x))))) + \\mathrm{shortcut}(x))$.

    ``shortcut`` is ``Identity`` when shapes match, else ``Conv2d 1x1 (stride) -> BN``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, in_shape, g):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, in_shape, 3, stride, g)
        self.conv2 = conv_bn(c_out, c_out, in_shape, 3, 1, g, act=None)
        if stride != 1 or c_in != c_out:
            self.shortcut = conv_bn(c_in, c_out, in_shape, 1, stride, g, act=None)
        else:
            self.shortcut = nn.Identity()
        self.add = nn.Add()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.add(self.conv2(self.conv1(x)), self.shortcut(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: ``1x1 expand (x t) -> 3x3 depthwise (stride) -> 1x1 project``, BN after each,
    ReLU6 after the first two; ``add(x, .)`` when ``stride == 1`` and ``c_in == c_out``."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, in_shape, g):
        super().__init__()
        hidden = c_in * expand
        layers = [] if expand == 1 else [conv_bn(c_in, hidden, in_shape, 1, 1, g, act=nn.ReLU6)]
        layers += [conv_bn(hidden, hidden, in_shape, 3, stride, g, groups=hidden, act=nn.ReLU6),
                   conv_bn(hidden, c_out, in_shape, 1, 1, g, act=None)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and c_in == c_out
        if self.use_residual:
            self.add = nn.Add()

    def forward(self, x):
        y = self.conv(x)
        return self.add(x, y) if self.use_residual else y


class Classifier(nn.Module):
    """``features -> AdaptiveAvgPool2d(1) -> Flatten -> Linear``: the head every zoo CNN shares."""

    def __init__(self, features: nn.Module, width: int, num_classes: int, g):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes, generator=g)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.features(x))))


def resnet8(seed: int = 0, in_shape=(1, 16, 16), num_classes: int = 10, widths=(16, 32, 64)) -> Classifier:
    """ResNet-style: ``conv_bn(C, w0)``, basic blocks ``w0 -> w0``, ``w0 -> w1 (/2)``, ``w1 -> w2 (/2)``,
    global average pool, ``Linear(w2, num_classes)``. 7 convs + 1 linear; 78 k weights at the default."""
    g, in_shape, num_classes = _check(seed, in_shape, num_classes)
    w0, w1, w2 = (check_int(w, "widths[i]", lo=1) for w in widths)
    features = nn.Sequential(OrderedDict([
        ("stem", conv_bn(in_shape[0], w0, in_shape, 3, 1, g)),
        ("block1", BasicBlock(w0, w0, 1, in_shape, g)),
        ("block2", BasicBlock(w0, w1, 2, in_shape, g)),
        ("block3", BasicBlock(w1, w2, 2, in_shape, g)),
    ]))
    return Classifier(features, w2, num_classes, g)


# (expansion t, output channels c, repeats n, first stride s), as in Sandler et al.'s Table 2;
# the stem has stride 2 (as in the paper), so on 16x16 inputs the blocks run at 8x8 and 4x4
MOBILENETV2_TINY = ((1, 16, 1, 1), (4, 24, 2, 1), (4, 32, 2, 2), (4, 64, 2, 1))


def mobilenetv2_tiny(seed: int = 0, in_shape=(1, 16, 16), num_classes: int = 10,
                     config=MOBILENETV2_TINY, stem: int = 16, last: int = 128) -> Classifier:
    """MobileNetV2-style: ``conv_bn(C, stem, stride 2, ReLU6)``, inverted residuals per ``config`` rows
    ``(t, c, n, s)``, ``conv_bn 1x1 -> last (ReLU6)``, global average pool, ``Linear(last, classes)``."""
    g, in_shape, num_classes = _check(seed, in_shape, num_classes)
    blocks = [("stem", conv_bn(in_shape[0], stem, in_shape, 3, 2, g, act=nn.ReLU6))]
    c_in = stem
    for t, c, n, s in config:
        for i in range(n):
            blocks.append((f"block{len(blocks)}", InvertedResidual(c_in, c, s if i == 0 else 1, t, in_shape, g)))
            c_in = c
    blocks.append(("head", conv_bn(c_in, last, in_shape, 1, 1, g, act=nn.ReLU6)))
    return Classifier(nn.Sequential(OrderedDict(blocks)), last, num_classes, g)


def vgg_small(seed: int = 0, in_shape=(1, 16, 16), num_classes: int = 10, widths=(16, 32, 64)) -> Classifier:
    """VGG-style: ``[conv_bn(3x3) x 2, MaxPool(2)]`` at widths ``w0``, ``w1``, then ``conv_bn(3x3) -> w2``,
    global average pool, ``Linear(w2, num_classes)``. No residuals, no depthwise: the plain baseline."""
    g, in_shape, num_classes = _check(seed, in_shape, num_classes)
    w0, w1, w2 = (check_int(w, "widths[i]", lo=1) for w in widths)
    pool = (1, 2) if in_shape[1] == 1 else 2
    c = in_shape[0]
    layers = []
    for w in (w0, w1):
        layers += [conv_bn(c, w, in_shape, 3, 1, g), conv_bn(w, w, in_shape, 3, 1, g), nn.MaxPool2d(pool)]
        c = w
    layers.append(conv_bn(c, w2, in_shape, 3, 1, g))
    return Classifier(nn.Sequential(*layers), w2, num_classes, g)
