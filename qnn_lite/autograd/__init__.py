"""A minimal numpy autograd: `Tensor`, `Function`, the ops and `gradcheck`.

Every op is a module-level function taking Tensors, arrays or numbers
(PyTorch's names and argument orders; ``dim=`` is accepted for ``axis=``):

* elementwise (``ops``): add sub mul div neg pow exp log sqrt abs where clip
* matrix product (``linalg``): matmul
* reductions (``reduce``): sum mean max min
* shapes (``shape``): reshape flatten transpose permute getitem concat stack
* activations (``activation``): relu sigmoid tanh softmax log_softmax
"""
from .tensor import Tensor, no_grad, is_grad_enabled, unbroadcast  # noqa: F401
from .function import Function, Context  # noqa: F401
from . import ops  # noqa: F401
from .ops import add, sub, mul, div, neg, pow, exp, log, sqrt, abs, where, clip  # noqa: F401
from .linalg import matmul  # noqa: F401
from .reduce import sum, mean, max, min  # noqa: F401
from .shape import reshape, flatten, transpose, permute, getitem, concat, stack  # noqa: F401
from .activation import relu, sigmoid, tanh, softmax, log_softmax  # noqa: F401
from .gradcheck import gradcheck, GradcheckError  # noqa: F401

__all__ = [
    "Tensor", "Function", "Context", "no_grad", "is_grad_enabled", "unbroadcast",
    "gradcheck", "GradcheckError",
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "where", "clip", "matmul",
    "sum", "mean", "max", "min",
    "reshape", "flatten", "transpose", "permute", "getitem", "concat", "stack",
    "relu", "sigmoid", "tanh", "softmax", "log_softmax",
]
from .embedding import embedding  # noqa: F401
from .layernorm import layer_norm, rms_norm  # noqa: F401
from .gelu import gelu  # noqa: F401
from .attention import scaled_dot_product_attention, causal_mask  # noqa: F401
