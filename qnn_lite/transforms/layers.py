"""Quantized layers for simulation: ``QuantLinear``, ``QuantConv2d``, ``QuantAct``, ``QuantReLU``,
``QuantReLU6``, ``QuantAdd``, ``QuantAdaptiveAvgPool2d``.

Each wraps a float layer and *shares* its parameters (no copy): training a ``QuantLinear``
trains the Linear's weight. The forward is the float layer's, with fake quantization
(Jacob et al., 2018) at the points an integer kernel would quantize::

    x_hat = act_in(x)            (optional input quantizer)
    W_hat = weight_fake_quant(W)
    y     = x_hat @ W_hat^T + b  (or conv2d)
    y     = grad_q(y)            (optional: identity forward, quantized gradient backward)
    y_hat = act_out(y)           (optional output quantizer)

This is the one family of quantized layers: what is quantized, and how, is the ``QConfig``
(min-max / MSE / histogram observers, LSQ, PACT, DoReFa W/A/G, ...), as in ``torch.ao``.

The bias stays float here; integer conversion (``integer.py``) stores it as int32 with scale
``s_in * s_w``, which is within half a step of ``s_in * s_w`` — far below an output step.

**Weights are re-observed from scratch at every forward while the weight observer is on**
(the observer is reset first), so the weight qparams always describe the current weights:
right for PTQ (one weight, seen once) and for QAT (weights move every step).
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..nn import functional as F
from ..nn.layers import AdaptiveAvgPool2d, Conv2d, Linear
from ..nn.module import Module
from ..quantizers.base import FakeQuantizeBase
from .fake_quant import FakeQuantize, QConfig

__all__ = ["QuantLinear", "QuantConv2d", "QuantAct", "QuantReLU", "QuantReLU6", "QuantAdd",
           "QuantAdaptiveAvgPool2d", "QUANT_LAYERS"]


def _check_qconfig(qconfig) -> QConfig:
    if not isinstance(qconfig, QConfig):
        raise TypeError(f"qconfig must be a QConfig, got {type(qconfig).__name__}")
    return qconfig


def _build(factory, what: str):
    if factory is None:
        return None
    m = factory()
    if not isinstance(m, FakeQuantizeBase):
        raise TypeError(f"qconfig.{what}() must build a quantizer module (a FakeQuantizeBase), "
                        f"got {type(m).__name__}")
    return m


class _QuantWeightLayer(Module):
    """Shared body: weight/bias shared with the float layer, three optional fake quantizers."""

    _float_type = Module

    def __init__(self, layer, qconfig: QConfig, quantize_input: bool = False, quantize_output: bool = False):
        super().__init__()
        if not isinstance(layer, self._float_type):
            raise TypeError(f"layer must be a {self._float_type.__name__}, got {type(layer).__name__}")
        qconfig = _check_qconfig(qconfig)
        self.qconfig = qconfig
        self.weight, self.bias = layer.weight, layer.bias
        self.weight_fake_quant = _build(qconfig.weight, "weight")
        if qconfig.input_activation is not None:  # the layer reads its input at its own bits
            self.input_fake_quant = _build(qconfig.input_activation, "input_activation")
        else:
            self.input_fake_quant = _build(qconfig.activation, "activation") if quantize_input else None
        self.output_fake_quant = _build(qconfig.activation, "activation") if quantize_output else None
        self.grad_fake_quant = _build(qconfig.grad, "grad")
        self._input_stats = None  # (sum of inputs, count) while bias correction records

    def quantized_weight(self) -> Tensor:
        """``weight_fake_quant(W)``: the weight this layer multiplies with (differentiable)."""
        wfq = self.weight_fake_quant
        if wfq is None:
            return self.weight
        if isinstance(wfq, FakeQuantize) and wfq.observer_enabled:
            wfq.observer.reset()  # weights: qparams of the current weights only
        return wfq(self.weight)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if self.input_fake_quant is not None:
            x = self.input_fake_quant(x)
        y = self._op(x, self.quantized_weight())
        if self.grad_fake_quant is not None:
            y = self.grad_fake_quant(y)
        if self.output_fake_quant is not None:
            y = self.output_fake_quant(y)
        return y

    def _record(self, cols: np.ndarray) -> None:
        """Accumulate the column sums of the GEMM input (for ``bias_correction``)."""
        s, n = self._input_stats
        self._input_stats = (s + cols.sum(axis=0, dtype=np.float64), n + cols.shape[0])

    @classmethod
    def from_float(cls, layer, qconfig: QConfig, **kwargs):
        """torch's spelling of the constructor."""
        return cls(layer, qconfig, **kwargs)


class QuantLinear(_QuantWeightLayer):
    """``y = act_out(act_in(x) @ fq(W)^T + b)``: a ``Linear`` with fake-quantized weight.

    ``x (*, in)``, ``W (out, in)`` shared with ``linear``, ``y (*, out)``.
    """

    _float_type = Linear

    def __init__(self, linear: Linear, qconfig: QConfig, quantize_input: bool = False,
                 quantize_output: bool = False):
        super().__init__(linear, qconfig, quantize_input, quantize_output)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def _op(self, x, w):
        if self._input_stats is not None:
            self._record(x.data.reshape(-1, x.shape[-1]))
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class QuantConv2d(_QuantWeightLayer):
    """``y = act_out(conv2d(act_in(x), fq(W)) + b)``: a ``Conv2d`` with fake-quantized weight.

    ``x (N, C, H, W)``, ``W (O, C / groups, KH, KW)`` shared with ``conv``, ``y (N, O, OH, OW)``;
    ``dilation`` and ``groups`` (depthwise: ``groups = C``) are the float layer's.
    """

    _float_type = Conv2d

    def __init__(self, conv: Conv2d, qconfig: QConfig, quantize_input: bool = False,
                 quantize_output: bool = False):
        super().__init__(conv, qconfig, quantize_input, quantize_output)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def _op(self, x, w):
        if self._input_stats is not None:
            cols = F.im2col(x.data, self.kernel_size, self.stride, self.padding, self.dilation)
            self._record(cols)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v, d in (("dilation", self.dilation, (1, 1)), ("groups", self.groups, 1))
                        if v != d)
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}{extra}")


class QuantAct(Module):
    """``y = fq(x)``: the activation quantizer of ``qconfig`` (a QConfig, or a zero-argument factory)."""

    def __init__(self, qconfig):
        super().__init__()
        factory = qconfig.activation if isinstance(qconfig, QConfig) else qconfig
        if not callable(factory):
            raise TypeError(f"qconfig must be a QConfig or a fake-quant factory, got {qconfig!r}")
        self.fake_quant = _build(factory, "activation")

    def forward(self, x):
        return self.fake_quant(x)


class QuantReLU(QuantAct):
    """``y = fq(relu(x))``: ReLU followed by activation fake quant (the integer kernel folds the
    ReLU into the output clamp, ``quant_min' = max(quant_min, z)``)."""

    def forward(self, x):
        return self.fake_quant(F.relu(x if isinstance(x, Tensor) else Tensor(x)))


class QuantReLU6(QuantAct):
    """``y = fq(relu6(x))`` (MobileNetV2): the integer kernel folds ReLU6 into the output clamp,
    ``[max(quant_min, z), min(quant_max, z + round(6 / s))]`` — exact, since rounding is monotone."""

    def forward(self, x):
        return self.fake_quant(F.relu6(x if isinstance(x, Tensor) else Tensor(x)))


class QuantAdd(QuantAct):
    """``y = fq(a + b)``: a residual sum with its own output quantizer. The integer kernel
    requantizes both inputs to the output scale (``requant.quantized_add``; TFLite's ``Add``)."""

    def forward(self, a, b):
        a = a if isinstance(a, Tensor) else Tensor(a)
        return self.fake_quant(a + b)


class QuantAdaptiveAvgPool2d(QuantAct):
    """``y = fq(adaptive_avg_pool2d(x, output_size))``: a mean of codes is off the grid, so the pool
    gets its own output quantizer (TFLite's ``MEAN`` also has output qparams)."""

    def __init__(self, qconfig, output_size=1):
        super().__init__(qconfig)
        self.output_size = output_size

    def forward(self, x):
        return self.fake_quant(F.adaptive_avg_pool2d(x if isinstance(x, Tensor) else Tensor(x), self.output_size))


QUANT_LAYERS = (QuantLinear, QuantConv2d)
