"""qnn_lite: a small numpy library for learning neural-network quantization.

=================  ==========================================================
module             what it holds
=================  ==========================================================
``autograd``       Tensor, Function / Context, ops, gradcheck (pure numpy)
``nn``             modules, layers, losses, ``nn.functional``
``optim``          SGD, Adam, learning-rate schedules
``train``          fit / evaluate: the training loop the chapters use
``data``           datasets (digits, ...) and the DataLoader
``validate``       argument checks shared by the whole library
``kernels``        numba bitwise and integer kernels
``hw``             cycle-level simulators: systolic array, Bit Fusion, roofline, energy
``quantizers``     quantizer ops on arrays and Tensors
``transforms``     model in, model out: fake quant, PTQ, QAT, integer-only
``recipes``        the chapters' experiments: training recipes and tables
``viz``            the chapters' figures and widgets (nothing in the library imports it)
``zoo``            the model zoo: ResNet-, MobileNetV2-, VGG-style, digits and TinyGPT builders; shipped checkpoints
=================  ==========================================================
"""
from .autograd import Tensor, Function, no_grad, gradcheck  # noqa: F401
from . import nn, optim  # noqa: F401
from .nn.init import manual_seed  # noqa: F401

__version__ = "0.1.0"
