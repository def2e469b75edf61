"""AdaRound: learn, layer by layer, whether each weight rounds up or down (Nagel et al., 2020,
"Up or Down? Adaptive Rounding for Post-Training Quantization").

With ``s, z, quant_min, quant_max`` the layer's frozen weight qparams and ``V`` a learned tensor of the
weight's shape, the soft-quantized weight is

    W~ = s (clip(floor(W / s) + z + h(V), quant_min, quant_max) - z),   h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)

(the rectified sigmoid, ``zeta = 1.1``, ``gamma = -0.1``). Adam on ``V`` minimises

    mean((layer(x, W~) - layer(x, W))^2)  +  lam * sum(1 - |2 h(V) - 1|^beta)

on the layer's inputs ``x`` in the quantized model (earlier layers already rounded); the
regulariser is off for the first ``warmup`` fraction of the steps, then ``beta`` anneals
linearly from 20 to 2, pushing every ``h(V)`` to 0 or 1. At the end ``W`` becomes the hard
``s (clip(floor(W / s) + z + [h(V) >= 0.5]) - z)``, which lies on the frozen grid, so the
layer's fake quantizer leaves it unchanged. ``V`` starts where ``h(V)`` equals the fractional
part of ``W / s`` (so the start is the float weight).
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import functional as F
from ..nn.module import Module, Parameter
from ..optim import Adam
from .fake_quant import FakeQuantize
from .layers import QUANT_LAYERS, QuantConv2d
from .bias_correction import layer_inputs
from ..validate import check_fraction, check_int, check_positive

__all__ = ["ZETA", "GAMMA", "rectified_sigmoid", "adaround_layer", "adaround", "rtn_reconstruction_error"]

ZETA, GAMMA = 1.1, -0.1


def rectified_sigmoid(v):
    """``h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)`` (Tensor in, Tensor out)."""
    return (v.sigmoid() * (ZETA - GAMMA) + GAMMA).clip(0.0, 1.0)


def _grid(layer):
    s, z, quant_min, quant_max, axis = layer.weight_fake_quant.qparams()
    shape = (-1,) + (1,) * (layer.weight.ndim - 1)
    if axis is not None:
        s, z = np.asarray(s).reshape(shape), np.asarray(z).reshape(shape)
    return np.asarray(s, np.float32), np.asarray(z, np.float32), quant_min, quant_max


def _op(layer, x, w):
    if isinstance(layer, QuantConv2d):
        return F.conv2d(x, w, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
    return F.linear(x, w, layer.bias)


def adaround_layer(layer, x: np.ndarray, steps: int = 300, lr: float = 0.01, lam: float = 0.01,
                   warmup: float = 0.2, batch_size: int = 32, seed: int = 0) -> dict:
    """AdaRound one converted ``QuantConv2d`` / ``QuantLinear`` on its inputs ``x`` (``(N, ...)``), in place.

    Returns ``{"rtn": error of round-to-nearest, "adaround": error after, "losses": per step}``
    (errors: ``mean((layer(x, W_q) - layer(x, W))^2)`` on all of ``x``).
    """
    if not isinstance(layer, QUANT_LAYERS) or not isinstance(layer.weight_fake_quant, FakeQuantize):
        raise TypeError(f"layer must be a converted QuantConv2d / QuantLinear with a FakeQuantize weight, "
                        f"got {type(layer).__name__}")
    steps, batch_size = check_int(steps, "steps", lo=1), check_int(batch_size, "batch_size", lo=1)
    lr, lam, warmup = check_positive(lr, "lr"), check_positive(lam, "lam"), check_fraction(warmup, "warmup")
    x = np.asarray(x, np.float32)
    s, z, quant_min, quant_max = _grid(layer)
    w = layer.weight.data.astype(np.float32).copy()
    w_floor = np.floor(w / s)
    frac = np.clip(w / s - w_floor, 0.01, 0.99)
    v = Parameter(-np.log((ZETA - GAMMA) / (frac - GAMMA) - 1).astype(np.float32))
    base = (w_floor + z).astype(np.float32)

    def soft(h):
        return ((h + base).clip(quant_min, quant_max) - z) * s

    def hard(hv):
        return (s * (np.clip(base + hv, quant_min, quant_max) - z)).astype(np.float32)

    def error(wq):
        with no_grad():
            ref, out = _op(layer, Tensor(x), Tensor(w)).data, _op(layer, Tensor(x), Tensor(wq)).data
        return float(np.mean((out.astype(np.float64) - ref) ** 2))

    rtn = error(hard(np.rint(w / s - w_floor)))
    with no_grad():
        targets = _op(layer, Tensor(x), Tensor(w)).data
    opt, rng, losses = Adam([v], lr=lr), np.random.default_rng(seed), []
    for t in range(steps):
        idx = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        h = rectified_sigmoid(v)
        rec = ((_op(layer, Tensor(x[idx]), soft(h)) - targets[idx]) ** 2).mean()
        loss = rec
        if t >= warmup * steps:
            beta = 20 + (2 - 20) * (t - warmup * steps) / max(steps - warmup * steps, 1)
            loss = rec + lam * (1 - ((h * 2 - 1).abs() ** beta)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    with no_grad():
        w_hard = hard((rectified_sigmoid(v).data >= 0.5).astype(np.float32))
    after = error(w_hard)
    if after > rtn:  # AdaRound never hands back something worse than rounding to nearest
        w_hard, after = hard(np.rint(w / s - w_floor)), rtn
    layer.weight.data[...] = w_hard
    return {"rtn": rtn, "adaround": after, "losses": np.array(losses)}


def adaround(quant_model: Module, loader, num_batches: int | None = None, **kwargs) -> dict:
    """AdaRound every quantized layer of a converted model, in order, on its inputs from
    ``loader`` (real or synthetic data); ``kwargs`` go to ``adaround_layer``. Returns ``{name: result}``."""
    layers = [(n, m) for n, m in quant_model.named_modules() if isinstance(m, QUANT_LAYERS)]
    if not layers:
        raise ValueError("quant_model has no quantized layer: run prepare / calibrate / convert first")
    quant_model.eval()
    results = {}
    for name, layer in layers:
        results[name] = adaround_layer(layer, layer_inputs(quant_model, layer, loader, num_batches), **kwargs)
    return results


def rtn_reconstruction_error(layer, x) -> float:
    """``mean((layer(x, fq(W)) - layer(x, W))^2)``: the output error of round-to-nearest weights."""
    with no_grad():
        x = Tensor(np.asarray(x, np.float32))
        return float(np.mean((_op(layer, x, layer.quantized_weight()).data.astype(np.float64)
                              - _op(layer, x, layer.weight).data) ** 2))
