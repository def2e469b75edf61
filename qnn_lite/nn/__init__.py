"""``qnn_lite.nn``: Modules and layers with PyTorch's names, arguments and defaults.

Seed the default initialisation and Dropout with ``qnn_lite.nn.init.manual_seed(seed)``
(also available as ``qnn_lite.nn.manual_seed``).
"""
from . import functional, init  # noqa: F401
from .containers import Sequential  # noqa: F401
from .init import manual_seed  # noqa: F401
from .layers import (AdaptiveAvgPool2d, Add, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,  # noqa: F401
                     Dropout, Flatten, Hardswish, Identity, Linear, MaxPool2d, ReLU, ReLU6, Sigmoid, Tanh)
from .loss import CrossEntropyLoss, MSELoss  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .transformer import GELU, Block, CausalSelfAttention, Embedding, LayerNorm, MLP, RMSNorm  # noqa: F401
