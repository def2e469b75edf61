"""Loss modules: thin wrappers over ``nn.functional.cross_entropy`` / ``mse_loss``."""
from __future__ import annotations

from ..autograd.loss import _REDUCTIONS
from ..validate import check_choice
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice(reduction, "reduction", _REDUCTIONS)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """$\\log \\sum_j e^{z_j} - z_y$ on logits ``(N, C)`` and integer labels ``(N,)`` (fused, stable)."""

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction)


class MSELoss(_Loss):
    """$(x - y)^2$, averaged over all elements by default."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)
