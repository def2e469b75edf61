"""Bias correction: undo the mean shift that weight quantization adds to each output channel.

Quantizing ``W`` to ``W_q`` shifts the output by ``(W_q - W) x``, on average ``(W_q - W) E[x]``
(Nagel et al., 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction",
section 4.2). Subtracting it from the bias removes the bias of the error.

* **analytic** (no data): the input of a layer is ``f(z)`` with ``z`` the previous BatchNorm's
  output, ``z_c ~ N(beta_c, gamma_c^2)``; ``E[ReLU(z)]`` and ``E[clip(z, 0, 6)]`` are closed forms
  (``clipped_normal_mean``).
* **empirical** (some data, real or synthetic): measure ``E[conv(x, W_q) - conv(x, W)]`` per output
  channel on the quantized model's own inputs, layer by layer.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import functional as F
from ..nn.layers import BatchNorm2d, Conv2d, ReLU, ReLU6
from ..nn.module import Module, Parameter
from .layers import QuantConv2d
from .ptq import _batches
from .equalize import _chains, _is_depthwise

__all__ = ["normal_cdf", "normal_pdf", "relu_normal_mean", "clipped_normal_mean", "expected_inputs",
           "analytic_bias_correction", "layer_inputs", "empirical_bias_correction"]


def normal_pdf(t):
    return np.exp(-np.asarray(t, np.float64) ** 2 / 2) / math.sqrt(2 * math.pi)


def normal_cdf(t):
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(t, np.float64) / math.sqrt(2))


def clipped_normal_mean(mu, sigma, lo=0.0, hi=np.inf):
    """``E[clip(z, lo, hi)]`` for ``z ~ N(mu, sigma^2)``, elementwise:

    ``lo Phi(a) + hi (1 - Phi(b)) + mu (Phi(b) - Phi(a)) + sigma (phi(a) - phi(b))``,
    ``a = (lo - mu) / sigma``, ``b = (hi - mu) / sigma``; ``sigma = 0`` gives ``clip(mu, lo, hi)``.
    """
    mu, sigma = np.asarray(mu, np.float64), np.abs(np.asarray(sigma, np.float64))
    mu, sigma = np.broadcast_arrays(mu, sigma)
    safe = np.where(sigma > 0, sigma, 1.0)
    a, b = (lo - mu) / safe, (hi - mu) / safe
    pa, pb = normal_cdf(a), normal_cdf(b)
    tail_hi = 0.0 if np.isinf(hi) else hi * (1 - pb)
    out = (lo * pa if np.isfinite(lo) else 0.0) + tail_hi + mu * (pb - pa) + safe * (normal_pdf(a) - normal_pdf(b))
    return np.where(sigma > 0, out, np.clip(mu, lo, hi))


def relu_normal_mean(mu, sigma):
    """``E[max(z, 0)] = mu Phi(mu / sigma) + sigma phi(mu / sigma)`` for ``z ~ N(mu, sigma^2)``."""
    return clipped_normal_mean(mu, sigma, 0.0, np.inf)


def expected_inputs(model: Module) -> dict:
    """``{conv name: E[input] (C,)}`` for each Conv2d fed by ``Conv2d -> BatchNorm2d -> ReLU/ReLU6``
    inside a Sequential chain of ``model`` (BN output modelled as ``N(beta, gamma^2)``)."""
    out = {}
    for chain in _chains(model):
        for i in range(len(chain) - 3):
            (_, c1), (_, bn), (_, act), (n2, c2) = chain[i:i + 4]
            if isinstance(c1, Conv2d) and isinstance(bn, BatchNorm2d) and isinstance(act, (ReLU, ReLU6)) \
                    and isinstance(c2, Conv2d) and bn.weight is not None:
                hi = 6.0 if isinstance(act, ReLU6) else np.inf
                out[n2] = clipped_normal_mean(bn.bias.data, bn.weight.data, 0.0, hi)
    return out


def _shift(w_err: np.ndarray, mean_in: np.ndarray, depthwise: bool) -> np.ndarray:
    """``(W_q - W) E[x]`` per output channel, the kernel summed (interior pixels)."""
    return w_err.sum(axis=(1, 2, 3)) * mean_in if depthwise else w_err.sum(axis=(2, 3)) @ mean_in


def _quant_layer(quant_model, name):
    mods = dict(quant_model.named_modules())
    for key in (name, f"model.{name}"):  # prepare() wraps a non-Sequential model as "model"
        if isinstance(mods.get(key), QuantConv2d):
            return mods[key]
    raise ValueError(f"quant_model has no quantized conv named {name!r} (or 'model.{name}'); "
                     f"pass the model prepare() was given the folded copy of")


def analytic_bias_correction(float_model: Module, quant_model: Module) -> dict:
    """Data-free bias correction, in place on ``quant_model``: ``b -= (W_q - W) E[x]`` with ``E[x]``
    from ``expected_inputs(float_model)`` (``float_model`` still has its BatchNorms; ``quant_model``
    was prepared from ``fuse_modules(float_model)``). Returns ``{name: shift subtracted}``."""
    from .ptq import fuse_modules
    means = expected_inputs(float_model)
    if not means:
        raise ValueError("float_model has no Conv2d -> BatchNorm2d -> ReLU/ReLU6 -> Conv2d chain: "
                         "analytic bias correction needs the BatchNorm statistics")
    fused = dict(fuse_modules(float_model).named_modules())
    shifts = {}
    for name, mean_in in means.items():
        q = _quant_layer(quant_model, name)
        with no_grad():
            w_q = q.quantized_weight().data.astype(np.float64)
        shift = _shift(w_q - fused[name].weight.data.astype(np.float64), mean_in, _is_depthwise(fused[name]))
        b = q.bias.data if q.bias is not None else np.zeros(w_q.shape[0], np.float32)
        q.bias = Parameter((b - shift).astype(np.float32))
        shifts[name] = shift
    return shifts


def layer_inputs(quant_model: Module, layer: Module, loader, num_batches: int | None = None) -> np.ndarray:
    """The inputs ``layer`` (a quantized layer of ``quant_model``) receives over ``loader``, concatenated."""
    seen = []
    op = layer._op

    def record(x, w):
        seen.append(x.data.copy())
        return op(x, w)

    layer._op = record  # an instance attribute shadows the method while recording
    try:
        with no_grad():
            for X in _batches(loader, num_batches):
                quant_model(X)
    finally:
        del layer._op
    if not seen:
        raise ValueError("loader must yield at least one batch, got none")
    return np.concatenate(seen)


def empirical_bias_correction(quant_model: Module, loader, num_batches: int | None = None) -> Module:
    """Bias correction from data (real or synthetic), in place: for each ``QuantConv2d`` in order,
    ``b -= mean over (N, H, W) of conv(x, W_q) - conv(x, W)`` with ``x`` its input in ``quant_model``
    (earlier layers already corrected). ``W`` is the layer's float weight (shared with the float layer)."""
    layers = [m for m in quant_model.modules() if isinstance(m, QuantConv2d)]
    if not layers:
        raise ValueError("quant_model has no QuantConv2d layer: run prepare/convert first")
    quant_model.eval()
    for q in layers:
        x = Tensor(layer_inputs(quant_model, q, loader, num_batches))
        args = (q.stride, q.padding, q.dilation, q.groups)
        with no_grad():
            d = F.conv2d(x, q.quantized_weight(), None, *args).data - F.conv2d(x, q.weight, None, *args).data
        b = q.bias.data if q.bias is not None else np.zeros(q.weight.shape[0], np.float32)
        q.bias = Parameter((b - d.astype(np.float64).mean(axis=(0, 2, 3))).astype(np.float32))
    return quant_model
