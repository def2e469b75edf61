"""Binary and ternary networks: layers with a chosen weight quantizer and 1..k-bit activations.

The quantizers live in :mod:`~qnn_lite.quantizers.binary`, :mod:`~qnn_lite.quantizers.ternary` and
:mod:`~qnn_lite.quantizers.learned`; this module puts them into ``nn`` layers. Every layer keeps
a full-precision *latent* weight (the ``Parameter`` the optimizer updates) and multiplies
with its quantized copy ``quantized_weight()``; the gradient reaches the latent weight
through the quantizer's straight-through estimator (Courbariaux et al., 2015).

Weight quantizers (``weight_quant=``):

* binary: ``"sign"`` (BinaryConnect), ``"xnor"`` ($\\alpha\\,\\mathrm{sign}(W)$, $\\alpha$ = mean|W| per
  output channel; Rastegari et al., 2016), ``"libra_pb"`` (IR-Net; Qin et al., 2020);
* ternary: ``"twn"`` (Li et al., 2016), ``"ttq"`` (learned $W_p$, $W_n$; Zhu et al., 2017);
* k-bit: DoReFa weights (Zhou et al., 2016) are :class:`~qnn_lite.transforms.lowprec.DoReFaLinear`,
  a configuration of the QConfig-driven ``QuantLinear``.

Activations: :class:`SignActivation` ($\\pm 1$, any sign estimator), :class:`Binary01Activation`
($\\{0, 1\\}$); ``bits`` uniform levels on [0, 1] are DoReFa's
:class:`~qnn_lite.transforms.lowprec.DoReFaActivation`.
The estimator ``"ede"`` reads ``t`` and ``k`` from the module; :class:`EDESchedule` sets them each epoch.
Shapes: Linear ``(N, in) -> (N, out)``; Conv2d NCHW.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..nn import functional as F
from ..nn.layers import Conv2d, Linear
from ..nn.module import Module, Parameter
from ..quantizers.binary import binarize, binarize01, libra_pb, xnor_binarize
from ..quantizers.ste import ESTIMATORS, SIGN_ESTIMATORS, ede_schedule
from ..quantizers.ternary import ttq_ternarize, twn_params, twn_ternarize
from ..validate import check_choice, check_fraction

__all__ = ["BINARY_WEIGHTS", "TERNARY_WEIGHTS", "BinaryLinear", "BinaryConv2d",
           "TernaryLinear", "SignActivation", "Binary01Activation",
           "set_ede", "EDESchedule"]

BINARY_WEIGHTS = ("sign", "xnor", "libra_pb")
TERNARY_WEIGHTS = ("twn", "ttq")


class _SignEstimator:
    """The ``estimator`` keyword arguments of :func:`binarize`; ``ede`` uses the module's current ``t``, ``k``."""

    def _init_estimator(self, estimator, beta=5.0):
        self.estimator = check_choice(estimator, "estimator", SIGN_ESTIMATORS)
        self.t, self.k, self.beta = 1.0, 1.0, float(beta)

    def _params(self) -> dict:
        return {p: getattr(self, p) for p in ESTIMATORS[self.estimator].params}


# ----- layers with quantized weights ----------------------------------------------------------
class _BinaryWeight(_SignEstimator):
    def quantized_weight(self) -> Tensor:
        """The binary weight the layer multiplies with (differentiable w.r.t. the latent ``weight``)."""
        if self.weight_quant == "xnor":
            return xnor_binarize(self.weight, ch_axis=0, grad="paper")   # XNOR-Net's own backward
        if self.weight_quant == "libra_pb":
            return libra_pb(self.weight, ch_axis=0, estimator=self.estimator, **self._params())
        return binarize(self.weight, self.estimator, **self._params())

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_quant={self.weight_quant!r}, estimator={self.estimator!r}"


class BinaryLinear(_BinaryWeight, Linear):
    """$y = x\\,Q(W)^\\top + b$ with $Q$ = ``weight_quant`` in ("sign", "xnor", "libra_pb").

    ``estimator`` is the sign's backward for "sign" and "libra_pb" (``"xnor"`` uses XNOR-Net's
    rule $1/n + \\alpha 1\\{|W| \\le 1\\}$). Shapes ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_quant: str = "xnor",
                 estimator: str = "clipped", generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.weight_quant = check_choice(weight_quant, "weight_quant", BINARY_WEIGHTS)
        self._init_estimator(estimator)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)


class BinaryConv2d(_BinaryWeight, Conv2d):
    """2-D convolution with binary weights $Q(W)$, ``weight (out, in, KH, KW)``; see :class:`BinaryLinear`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 weight_quant: str = "xnor", estimator: str = "clipped", generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias, generator=generator)
        self.weight_quant = check_choice(weight_quant, "weight_quant", BINARY_WEIGHTS)
        self._init_estimator(estimator)

    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), self.bias, self.stride, self.padding)


class TernaryLinear(Linear):
    """$y = x\\,T(W)^\\top + b$ with ternary weights: ``"twn"`` $\\{-\\alpha, 0, \\alpha\\}$, $\\Delta$ = ``delta_factor`` mean|W|,
    or ``"ttq"`` $\\{-W_n, 0, W_p\\}$, $\\Delta$ = ``threshold`` max|W|, with learned ``wp``, ``wn`` (``Parameter`` s of
    shape ``(1,)``, started at TWN's $\\alpha$ of the initial weight). Shapes ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_quant: str = "twn",
                 delta_factor: float = 0.7, threshold: float = 0.05, generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.weight_quant = check_choice(weight_quant, "weight_quant", TERNARY_WEIGHTS)
        self.delta_factor, self.threshold = delta_factor, threshold
        twn_params(self.weight, ch_axis=None, delta_factor=delta_factor)   # validates delta_factor
        if weight_quant == "ttq":
            check_fraction(threshold, "threshold", lo_open=True, hi_open=True)
            alpha = float(twn_params(self.weight, ch_axis=None)[1])
            self.wp = Parameter(np.array([alpha], dtype=np.float32))
            self.wn = Parameter(np.array([alpha], dtype=np.float32))

    def quantized_weight(self) -> Tensor:
        """The ternary weight the layer multiplies with."""
        if self.weight_quant == "ttq":
            return ttq_ternarize(self.weight, self.wp, self.wn, threshold=self.threshold)
        return twn_ternarize(self.weight, ch_axis=None, delta_factor=self.delta_factor)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_quant={self.weight_quant!r}"


# ----- activations -----------------------------------------------------------------------------
class SignActivation(_SignEstimator, Module):
    """$y = \\mathrm{sign}(x) \\in \\{-1, +1\\}$ with the backward of ``estimator`` (see :data:`qnn_lite.quantizers.ste.ESTIMATORS`)."""

    def __init__(self, estimator: str = "clipped", beta: float = 5.0):
        Module.__init__(self)
        self._init_estimator(estimator, beta)

    def forward(self, x):
        return binarize(x, self.estimator, **self._params())

    def extra_repr(self) -> str:
        return f"estimator={self.estimator!r}"


class Binary01Activation(Module):
    """$y = 1\\{x \\ge \\theta\\} \\in \\{0, 1\\}$, STE inside $|x - \\theta| \\le$ ``window`` (sparse 0/1 activations; Wang et al., 2020)."""

    def __init__(self, threshold: float = 0.5, window: float = 0.5):
        super().__init__()
        self.threshold, self.window = threshold, window
        binarize01(np.zeros(1, np.float32), threshold, window)   # validates both

    def forward(self, x):
        return binarize01(x, self.threshold, self.window)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, window={self.window}"


# ----- IR-Net's EDE schedule -------------------------------------------------------------------
def set_ede(model: Module, t: float, k: float) -> int:
    """Set ``t``, ``k`` on every module of ``model`` whose estimator is ``"ede"``; returns how many."""
    n = 0
    for m in model.modules():
        if getattr(m, "estimator", None) == "ede":
            m.t, m.k = float(t), float(k)
            n += 1
    return n


class EDESchedule:
    """IR-Net's error-decay schedule as an epoch scheduler: ``step()`` moves ``(t, k)`` = ``ede_schedule(epoch, epochs)``.

    Construction sets epoch 0. Pass it as ``fit(..., scheduler=EDESchedule(model, epochs))``; an optional
    ``lr_scheduler`` is stepped with it.
    """

    def __init__(self, model: Module, epochs: int, t_min: float = 0.1, t_max: float = 10.0, lr_scheduler=None):
        self.model, self.epochs, self.t_min, self.t_max = model, epochs, t_min, t_max
        self.lr_scheduler, self.epoch = lr_scheduler, 0
        self._apply()

    def _apply(self):
        self.t, self.k = ede_schedule(self.epoch, self.epochs, self.t_min, self.t_max)
        set_ede(self.model, self.t, self.k)

    def step(self) -> None:
        self.epoch = min(self.epoch + 1, self.epochs)
        self._apply()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
