"""Post-training quantization: fold BatchNorm, insert fake quantizers, calibrate, freeze, correct bias.

The pipeline (torch's eager mode in miniature; Jacob et al., 2018; Krishnamoorthi, 2018)::

    fused = fuse_modules(model)               # Conv-BN -> Conv with folded weights
    qm = prepare(fused, default_qconfig())    # Quant* layers + observers (fake quant off)
    calibrate(qm, loader, num_batches=8)      # observers watch the activations
    qm = convert(qm)                          # qparams frozen, fake quant on
    bias_correction(fused, qm, loader)        # optional (Nagel et al., 2019)

**Where activations are quantized** (one quantizer per tensor an integer kernel would store):
at the model input (``quant_in``), and at the output of every Linear / Conv2d — after the
ReLU when one follows (``QuantReLU``, ReLU folded into the integer clamp), else inside the
layer (``output_fake_quant``); a ReLU6 is folded the same way (``QuantReLU6``). A residual
``Add`` becomes ``QuantAdd`` and a global average pool ``QuantAdaptiveAvgPool2d`` (each with an
output quantizer). MaxPool2d and Flatten keep the quantization grid, so they need no quantizer. Weights are quantized inside ``QuantLinear`` / ``QuantConv2d``.

Per-layer configs (mixed precision): ``qconfig`` may be a dict ``{name or type: QConfig or
None}``; a module's entry is looked up by its name in ``model.named_modules()``, then by its
type, then under ``""`` (the default). Layers with no entry (or ``None``) stay float.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np

from ..autograd.tensor import no_grad
from ..nn.containers import Sequential
from ..nn.layers import (Add, AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Identity, Linear,
                         ReLU, ReLU6)
from ..nn.module import Module, Parameter
from ..quantizers.base import FakeQuantizeBase
from .fake_quant import FakeQuantize, QConfig
from .layers import (QUANT_LAYERS, QuantAct, QuantAdaptiveAvgPool2d, QuantAdd, QuantConv2d, QuantLinear,
                     QuantReLU, QuantReLU6)

__all__ = ["fuse_conv_bn", "fuse_linear_bn", "fuse_modules", "prepare", "calibrate", "convert",
           "bias_correction", "ptq"]


def _replace(module: Module, name: str, new: Module) -> None:
    """Swap child ``name`` for ``new`` keeping its place (``setattr`` would move it to the end)."""
    module._modules[name] = new
    object.__setattr__(module, name, new)


# ----- BatchNorm folding ----------------------------------------------------------------------
def fuse_conv_bn(conv, bn):
    """A new layer computing ``bn(conv(x))`` in eval mode (BatchNorm folding; Jacob et al., 2018).

    ``w' = w * gamma / sqrt(var + eps)`` (per output channel),
    ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``. Works for Conv2d + BatchNorm2d and
    Linear + BatchNorm1d; the inputs are not modified.
    """
    pairs = ((Conv2d, BatchNorm2d), (Linear, BatchNorm1d))
    if not any(isinstance(conv, c) and isinstance(bn, b) for c, b in pairs):
        raise TypeError("fuse_conv_bn needs (Conv2d, BatchNorm2d) or (Linear, BatchNorm1d), "
                        f"got ({type(conv).__name__}, {type(bn).__name__})")
    n_out = conv.weight.shape[0]
    if bn.num_features != n_out:
        raise ValueError(f"bn.num_features must equal the layer's {n_out} output channels, got {bn.num_features}")
    if bn.running_mean is None:
        raise ValueError("bn must track running statistics (track_running_stats=True) to be folded")
    mean, var = bn.running_mean.astype(np.float64), bn.running_var.astype(np.float64)
    gamma = bn.weight.data.astype(np.float64) if bn.weight is not None else np.ones(n_out)
    beta = bn.bias.data.astype(np.float64) if bn.bias is not None else np.zeros(n_out)
    factor = gamma / np.sqrt(var + bn.eps)
    fused = copy.deepcopy(conv)
    w = conv.weight.data.astype(np.float64)
    fused.weight = Parameter((w * factor.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32))
    b = conv.bias.data.astype(np.float64) if conv.bias is not None else np.zeros(n_out)
    fused.bias = Parameter(((b - mean) * factor + beta).astype(np.float32))
    return fused


fuse_linear_bn = fuse_conv_bn


def fuse_modules(model: Module) -> Module:
    """A copy of ``model`` with every Conv2d-BatchNorm2d / Linear-BatchNorm1d pair inside a
    ``Sequential`` folded (``fuse_conv_bn``); the BatchNorm becomes ``Identity`` so names stay.
    A ReLU after the pair is left in place (``prepare`` fuses it into ``QuantReLU``)."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    for m in list(model.modules()):
        if not isinstance(m, Sequential):
            continue
        names = list(m._modules)
        for a, b in zip(names, names[1:]):
            layer, bn = m._modules[a], m._modules[b]
            if (isinstance(layer, Conv2d) and isinstance(bn, BatchNorm2d)) or \
                    (isinstance(layer, Linear) and isinstance(bn, BatchNorm1d)):
                _replace(m, a, fuse_conv_bn(layer, bn))
                _replace(m, b, Identity())
    return model


# ----- prepare ----------------------------------------------------------------------------------
def _resolver(qconfig):
    if isinstance(qconfig, QConfig):
        return lambda name, module: qconfig
    if isinstance(qconfig, dict):
        for k, v in qconfig.items():
            if v is not None and not isinstance(v, QConfig):
                raise TypeError(f"qconfig[{k!r}] must be a QConfig or None, got {type(v).__name__}")

        def look(name, module):
            if name in qconfig:
                return qconfig[name]
            for t in type(module).__mro__:
                if t in qconfig:
                    return qconfig[t]
            return qconfig.get("")
        return look
    raise TypeError(f"qconfig must be a QConfig or a dict {{name or type: QConfig}}, got {type(qconfig).__name__}")


def _quant_layer(layer, cfg, quantize_output):
    cls = QuantConv2d if isinstance(layer, Conv2d) else QuantLinear
    return cls(layer, cfg, quantize_output=quantize_output and cfg.activation is not None)


def _prepare_children(module: Module, prefix: str, look) -> None:
    """Replace, in place, the Linear / Conv2d / Add / AdaptiveAvgPool2d children of ``module`` (recursively)."""
    names = list(module._modules)
    seq = isinstance(module, Sequential)
    for i, name in enumerate(names):
        child = module._modules[name]
        full = f"{prefix}{name}"
        if isinstance(child, (Linear, Conv2d)):
            cfg = look(full, child)
            if cfg is None:
                continue
            nxt = None  # the next child that is not an Identity / Dropout (Sequentials only)
            if seq:
                for later in names[i + 1:]:
                    if not isinstance(module._modules[later], (Identity, Dropout)):
                        nxt = later
                        break
            act = None if nxt is None else {ReLU: QuantReLU, ReLU6: QuantReLU6}.get(type(module._modules[nxt]))
            _replace(module, name, _quant_layer(child, cfg, quantize_output=act is None))
            if act is not None and cfg.activation is not None:
                _replace(module, nxt, act(cfg))
        elif type(child) in (Add, AdaptiveAvgPool2d):
            cfg = look(full, child)
            if cfg is not None and cfg.activation is not None:
                _replace(module, name, QuantAdd(cfg) if type(child) is Add
                         else QuantAdaptiveAvgPool2d(cfg, child.output_size))
        elif child is not None and not isinstance(child, (FakeQuantizeBase, *QUANT_LAYERS, QuantAct)):
            _prepare_children(child, f"{full}.", look)


def prepare(model: Module, qconfig, inplace: bool = False) -> Module:
    """A copy of ``model`` ready for calibration: Quant* layers, activation quantizers (see the
    module docstring for the placement), observers on and fake quant **off**.

    ``qconfig``: a ``QConfig`` for every layer, or a dict ``{name or type: QConfig or None}``.
    A ``Sequential`` model gets ``quant_in`` as its first child (the other names are kept);
    any other model ``m`` comes back as ``Sequential(quant_in=..., model=m)``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    look = _resolver(qconfig)
    model = model if inplace else copy.deepcopy(model)
    _prepare_children(model, "", look)
    in_cfg = look("", model) if isinstance(qconfig, dict) else qconfig
    if in_cfg is None:  # no global default: use the first quantized layer's config
        in_cfg = next((m.qconfig for m in model.modules() if isinstance(m, QUANT_LAYERS)), None)
    if in_cfg is not None and in_cfg.activation is not None:
        quant_in = QuantAct(in_cfg)
        if isinstance(model, Sequential):
            model = Sequential(OrderedDict([("quant_in", quant_in), *model._modules.items()]))
        else:
            model = Sequential(OrderedDict([("quant_in", quant_in), ("model", model)]))
    for m in model.modules():
        if isinstance(m, FakeQuantizeBase):
            m.enable_observer()
            m.disable_fake_quant() if isinstance(m, FakeQuantize) else m.enable_fake_quant()
    return model


# ----- calibrate / convert -----------------------------------------------------------------------
def _batches(loader, num_batches):
    if num_batches is not None and (isinstance(num_batches, bool) or not isinstance(num_batches, int)
                                    or num_batches < 1):
        raise ValueError(f"num_batches must be a positive int or None, got {num_batches!r}")
    for i, batch in enumerate(loader):
        if num_batches is not None and i >= num_batches:
            return
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def calibrate(model: Module, loader, num_batches: int | None = None) -> Module:
    """Run ``model`` (eval mode, no graph) on ``num_batches`` batches (all if None) with every
    observer on, so they see the activations; fake-quant flags are left as they are."""
    model.eval()
    for m in model.modules():
        if isinstance(m, FakeQuantizeBase):
            m.enable_observer()
    seen = 0
    with no_grad():
        for X in _batches(loader, num_batches):
            model(X)
            seen += 1
    if seen == 0:
        raise ValueError("loader must yield at least one batch, got none")
    return model


def convert(model: Module, inplace: bool = False) -> Module:
    """The calibrated model with every quantizer frozen: qparams from ``calculate_qparams()``,
    observers off, fake quant on. Weight qparams come from the current weights."""
    model = model if inplace else copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, QUANT_LAYERS) and isinstance(m.weight_fake_quant, FakeQuantize):
            m.weight_fake_quant.enable_observer()
            with no_grad():
                m.quantized_weight()   # observe the weight once
    for m in model.modules():
        if isinstance(m, FakeQuantizeBase):
            m.freeze()
    return model.eval()


# ----- bias correction ---------------------------------------------------------------------------
def bias_correction(float_model: Module, quant_model: Module, loader, num_batches: int | None = None) -> Module:
    """Empirical bias correction (Nagel et al., 2019, "Data-Free Quantization Through Weight
    Equalization and Bias Correction"), in place on ``quant_model``.

    Quantizing W shifts each output's mean by ``E[(W_q - W) x] = (W_q - W) E[x]``. Layer by layer
    (earlier corrections already applied), we measure ``E[x]`` — the mean of the layer's GEMM
    input (im2col columns for a conv) in ``quant_model`` on calibration data — and subtract the
    shift from the bias. ``W`` is the weight of the matching float layer of ``float_model``
    (the k-th Linear / Conv2d of each model are matched, in ``modules()`` order).
    """
    qlayers = [m for m in quant_model.modules() if isinstance(m, QUANT_LAYERS)]
    flayers = [m for m in float_model.modules() if isinstance(m, (Linear, Conv2d))
               and not isinstance(m, QUANT_LAYERS)]
    if len(qlayers) != len(flayers):
        raise ValueError(f"float_model has {len(flayers)} Linear/Conv2d layers but quant_model has "
                         f"{len(qlayers)} quantized layers; pass the float model quant_model was made from")
    quant_model.eval()
    for q, f in zip(qlayers, flayers):
        if q.weight.shape != f.weight.shape:
            raise ValueError(f"layer shapes differ: float {f.weight.shape}, quantized {q.weight.shape}")
        q._input_stats = (0.0, 0)
        try:
            with no_grad():
                for X in _batches(loader, num_batches):
                    quant_model(X)
            total, n = q._input_stats
        finally:
            q._input_stats = None
        if n == 0:
            raise ValueError("loader must yield at least one batch, got none")
        with no_grad():
            w_q = q.quantized_weight().data.astype(np.float64)
        # im2col columns run over (c, kh, kw), the order of weight.reshape(O, -1); a grouped conv's
        # output o reads only the columns of its group's input channels
        w_err = (w_q - f.weight.data.astype(np.float64)).reshape(w_q.shape[0], -1)
        groups = getattr(q, "groups", 1)
        mean_in = (total / n).reshape(groups, -1)
        shift = np.einsum("gok,gk->go", w_err.reshape(groups, -1, w_err.shape[1]), mean_in).reshape(-1)
        if q.bias is None:
            q.bias = Parameter(np.zeros(w_q.shape[0], np.float32))
        q.bias.data[...] = (q.bias.data - shift).astype(np.float32)
    return quant_model


def ptq(model: Module, qconfig, loader, num_batches: int | None = None, fuse: bool = True,
        correct_bias: bool = False) -> Module:
    """``fuse_modules`` -> ``prepare`` -> ``calibrate`` -> ``convert`` (-> ``bias_correction``).

    Returns the fake-quantized model (a new one; ``model`` is untouched), in eval mode.
    """
    fused = fuse_modules(model) if fuse else copy.deepcopy(model)
    qm = convert(calibrate(prepare(fused, qconfig), loader, num_batches), inplace=True)
    if correct_bias:
        bias_correction(fused, qm, loader, num_batches)
    return qm
