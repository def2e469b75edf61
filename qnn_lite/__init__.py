"""qnn_lite: a small numpy library for learning neural-network quantization."""
from .autograd import Tensor, Function, no_grad, gradcheck  # noqa: F401

__version__ = "0.1.0"
