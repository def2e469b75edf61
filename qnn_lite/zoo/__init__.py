"""The model zoo: seeded, PyTorch-shaped builders and shipped float checkpoints.

Builders (``vision.py``): :func:`resnet8`, :func:`mobilenetv2_tiny`, :func:`vgg_small` for
``(N, 1, 16, 16)`` images (any ``in_shape``; height-1 "images" for 1-D signals), and the
book's digits models :func:`digits_mlp` / :func:`digits_cnn` (8x8 digits).
:func:`load_pretrained` builds a model and loads its shipped, SHA-256-checked weights
(``pretrained.py``; ``tools/train_zoo.py`` retrains them all with fixed seeds).
"""
from .digits import digits_cnn, digits_mlp  # noqa: F401
from .pretrained import CHECKPOINTS, load_pretrained  # noqa: F401
from .vision import BasicBlock, Classifier, InvertedResidual, mobilenetv2_tiny, resnet8, vgg_small  # noqa: F401

# name -> (builder(seed) -> model, input shape (C, H, W) of one sample)
BUILDERS = {
    "resnet8": (resnet8, (1, 16, 16)),
    "mobilenetv2_tiny": (mobilenetv2_tiny, (1, 16, 16)),
    "vgg_small": (vgg_small, (1, 16, 16)),
    "digits_cnn": (digits_cnn, (1, 8, 8)),
    "digits_mlp": (digits_mlp, (64,)),
}

__all__ = ["BUILDERS", "CHECKPOINTS", "load_pretrained", "resnet8", "mobilenetv2_tiny", "vgg_small",
           "digits_cnn", "digits_mlp", "BasicBlock", "InvertedResidual", "Classifier"]
