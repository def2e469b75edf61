"""qnn_lite: a small numpy library for learning neural-network quantization.

``qnn_lite.autograd`` (Tensor, Function, ops, gradcheck), ``qnn_lite.nn``
(modules, ``nn.functional``), ``qnn_lite.optim``, ``qnn_lite.data``,
``qnn_lite.train``, ``qnn_lite.quant`` (every quantizer), ``qnn_lite.kernels``
(numba bitwise kernels), ``qnn_lite.hw`` (cycle-level simulators) and
``qnn_lite.viz`` (the chapters' figures and widgets).
"""
from .autograd import Tensor, Function, no_grad, gradcheck  # noqa: F401
from . import nn, optim  # noqa: F401
from .nn.init import manual_seed  # noqa: F401

__version__ = "0.1.0"
