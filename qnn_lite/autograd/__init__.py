"""A minimal numpy autograd: `Tensor`, `Function`, the ops and `gradcheck`."""
from .tensor import Tensor, no_grad, is_grad_enabled  # noqa: F401
from .function import Function, Context  # noqa: F401
from . import ops  # noqa: F401

try:  # filled in by the foundation work; keep the package importable meanwhile
    from .gradcheck import gradcheck  # noqa: F401
except ImportError:  # pragma: no cover
    gradcheck = None
