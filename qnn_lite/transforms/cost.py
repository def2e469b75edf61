"""What a per-layer bit allocation costs: size, BitOPs, and cycles / energy / latency from ``qnn_lite.hw``.

A network is a list of :class:`LayerSpec` (the geometry of each Conv2d / Linear, traced from one
forward pass by :func:`layer_specs`). For a layer with ``w`` weight bits and ``a`` input bits:

* size    = n_weights * w + n_bias * 32                     bits (the bias stays int32)
* BitOPs  = MACs * w * a                                    (Zhou et al., 2016; Guo et al., 2020)
* cycles  = groups * BitFusionArray.conv_cycles(...)        (Sharma et al., 2018; ``hw/bitbrick.py``)
* energy  = hw.energy.layer_energy(MACs, ..., a, w).total   (Horowitz, 2014; ``hw/energy.py``), pJ
* latency = max(2 MACs / peak, bytes / bandwidth)           (roofline; ``hw/roofline.py``), seconds

A grouped (depthwise) conv is run on the array one group at a time: each group is a conv with
``in/groups`` input and ``out/groups`` output channels, so a depthwise 3x3 conv has one input and
one output channel per pass and keeps 1 of the ``N * M * pf`` multipliers busy. It is cheap in
BitOPs and expensive in cycles — the codesign warning that a low operation count is not speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..autograd.tensor import Tensor, no_grad
from ..hw.bitbrick import BitFusionArray, check_bits as check_fusion_bits
from ..hw.energy import layer_energy
from ..hw.roofline import get_device, peak_ops
from ..nn.layers import Conv2d, Linear
from ..validate import check_bits, check_choice

__all__ = ["LayerSpec", "layer_specs", "weight_layers", "check_layer_names", "layer_cost", "network_cost", "METRICS",
           "roofline_precision"]

METRICS = ("size", "bitops", "cycles", "energy", "latency")
BIAS_BITS = 32


@dataclass(frozen=True)
class LayerSpec:
    """Geometry of one Conv2d / Linear layer for a batch of ``batch`` inputs.

    ``in_hw``/``out_hw``: spatial sizes ((1, 1) for a Linear); ``kernel``, ``stride`` pairs;
    ``groups`` (1 for a Linear or a dense conv; ``in_channels`` for a depthwise conv).
    """
    name: str
    kind: str                      # "conv" or "linear"
    in_channels: int
    out_channels: int
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    in_hw: tuple = (1, 1)
    out_hw: tuple = (1, 1)
    groups: int = 1
    bias: bool = True
    batch: int = 1

    @property
    def n_weights(self) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]

    @property
    def macs(self) -> int:
        """batch * OH * OW * out_channels * (in_channels / groups) * KH * KW."""
        return self.batch * self.out_hw[0] * self.out_hw[1] * self.n_weights

    @property
    def in_elems(self) -> int:
        return self.batch * self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def out_elems(self) -> int:
        return self.batch * self.out_channels * self.out_hw[0] * self.out_hw[1]


def weight_layers(model) -> list:
    """``[(name, layer)]`` of every Conv2d / Linear of ``model`` in ``named_modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (Conv2d, Linear))]


def layer_specs(model, example_input, batch: int = 1) -> list:
    """A ``LayerSpec`` per Conv2d / Linear of ``model``, shapes traced from one forward of
    ``example_input`` (one sample or a batch; only its per-sample shape is used). The specs
    describe ``batch`` inputs. A conv's ``groups`` attribute is read if present (default 1)."""
    layers = weight_layers(model)
    if not layers:
        raise ValueError("model must contain at least one Conv2d or Linear layer, got none")
    x = getattr(example_input, "data", example_input)
    shapes = {}

    def tap(name, layer):
        original = layer.forward

        def forward(inp, *args, **kwargs):
            out = original(inp, *args, **kwargs)
            shapes[name] = (tuple(inp.shape), tuple(out.shape))
            return out
        return forward
    was_training = model.training
    try:
        for name, layer in layers:
            object.__setattr__(layer, "forward", tap(name, layer))
        model.eval()
        with no_grad():
            model(Tensor(x[:1]))
    finally:
        for _, layer in layers:
            layer.__dict__.pop("forward", None)
        model.train(was_training)
    specs = []
    for name, layer in layers:
        if name not in shapes:
            raise ValueError(f"layer {name!r} was not called by model(example_input); "
                             "cost models need every Conv2d / Linear on the forward path")
        (ins, outs) = shapes[name]
        if isinstance(layer, Conv2d):
            specs.append(LayerSpec(name, "conv", layer.in_channels, layer.out_channels, tuple(layer.kernel_size),
                                   tuple(layer.stride), tuple(ins[-2:]), tuple(outs[-2:]),
                                   int(getattr(layer, "groups", 1)), layer.bias is not None, batch))
        else:
            tokens = math.prod(ins[1:-1]) if len(ins) > 2 else 1   # Linear over (N, ..., in)
            specs.append(LayerSpec(name, "linear", layer.in_features, layer.out_features,
                                   bias=layer.bias is not None, batch=batch * tokens))
    return specs


def roofline_precision(w_bits: int, a_bits: int) -> str:
    """The device precision a (w, a) layer runs at: ``"int8"`` above 4 bits, ``"int4"`` for 2..4
    bits (2-bit operands use the 4-bit units), ``"binary"`` for 1 bit (both operands)."""
    b = max(w_bits, a_bits)
    return "int8" if b > 4 else "int4" if b > 1 else "binary"


def _fusion_cycles(spec: LayerSpec, w_bits: int, a_bits: int, array: BitFusionArray) -> int:
    g = spec.groups
    return g * array.conv_cycles(spec.batch, spec.in_channels // g, spec.out_channels // g, spec.out_hw[0],
                                 spec.out_hw[1], spec.kernel[0], spec.kernel[1], a_bits=a_bits, w_bits=w_bits)


def layer_cost(spec: LayerSpec, w_bits: int, a_bits: int, metric: str = "bitops", array=None,
               device="Tesla T4", out_bits: int = 32):
    """The cost of one layer at ``w_bits`` weights x ``a_bits`` input activations (see the module
    docstring). ``metric`` in :data:`METRICS`; ``array`` a ``BitFusionArray`` (default 16 x 16) for
    ``"cycles"``; ``device`` a roofline ``Device`` or its name for ``"latency"``; ``out_bits`` the
    width the outputs are written at (energy, latency). Ints for size / bitops / cycles."""
    metric = check_choice(metric, "metric", METRICS)
    w_bits, a_bits = check_bits(w_bits, "w_bits", lo=1, hi=32), check_bits(a_bits, "a_bits", lo=1, hi=32)
    if metric == "size":
        return spec.n_weights * w_bits + (spec.out_channels * BIAS_BITS if spec.bias else 0)
    if metric == "bitops":
        return spec.macs * w_bits * a_bits
    if metric == "cycles":
        try:
            check_fusion_bits("w_bits", w_bits), check_fusion_bits("a_bits", a_bits)
        except ValueError as e:
            raise ValueError(f"the BitFusion array cannot run layer {spec.name!r} at w={w_bits}, "
                             f"a={a_bits} bits: {e}") from None
        return _fusion_cycles(spec, w_bits, a_bits, array or BitFusionArray())
    if metric == "energy":
        return layer_energy(spec.macs, spec.in_elems, spec.n_weights, spec.out_elems, a_bits=a_bits,
                            w_bits=w_bits, acc_bits=out_bits).total
    device = get_device(device)
    peak = peak_ops(device, roofline_precision(w_bits, a_bits))
    moved = (spec.in_elems * a_bits + spec.n_weights * w_bits + spec.out_elems * out_bits) / 8
    return max(2 * spec.macs / peak, moved / device.bandwidth)


def check_layer_names(given, names, what: str = "bits", of: str = "the model") -> None:
    """Raise ValueError unless the keys of ``given`` are exactly the layer ``names`` (missing ones
    first: a layer left out of a config would silently stay float or go uncosted)."""
    missing = [n for n in names if n not in given]
    if missing:
        raise ValueError(f"{what} is missing layers {missing} of {of}")
    extra = [n for n in given if n not in names]
    if extra:
        raise ValueError(f"{what} names layers {extra} that {of} does not have; its layers are {list(names)}")


def network_cost(specs, bits, metric: str = "bitops", **kwargs):
    """Sum of ``layer_cost`` over ``specs`` with ``bits = {name: (w_bits, a_bits)}`` (every layer)."""
    check_layer_names(bits, [s.name for s in specs])
    return sum(layer_cost(s, *bits[s.name], metric=metric, **kwargs) for s in specs)
