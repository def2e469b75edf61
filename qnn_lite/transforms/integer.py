"""Integer-only inference: ``convert_to_integer`` turns a fake-quant model into an integer one.

A converted model (Jacob et al., 2018; gemmlowp) quantizes its float input once, then runs
integers end to end, and dequantizes the logits. Every tensor between two layers is stored as
codes with the qparams of the fake quantizer that produced it in the fake-quant model; the
integer layers (``integer_layers.py``) reproduce each fake-quant step with integers only:

=========================================  ==================================================
fake-quant model (``ptq`` / ``convert``)   integer layer
=========================================  ==================================================
QuantLinear / QuantConv2d (+ QuantReLU,    ``IntegerLinear`` / ``IntegerConv2d`` (int32 GEMM,
QuantReLU6 or QuantAct after it)           one per group for depthwise), ReLU / ReLU6 in the clamp
QuantAdd (residual sum)                    ``IntegerAdd``: both inputs requantized to the output scale
QuantAdaptiveAvgPool2d (output size 1)     ``IntegerGlobalAvgPool``
QuantAct on an integer tensor              ``IntegerRequantize``
ReLU, MaxPool2d, Flatten                   on codes; Identity and Dropout vanish
=========================================  ==================================================

A chain of (nested) ``Sequential`` s converts from its modules alone. Any other model (the zoo's
ResNet and MobileNet, whose blocks add a shortcut) is **traced**: one forward on
``example_input`` records which module reads which tensor, so the integer model replays the
same graph (``IntegerModel.inputs``).

**Agreement with fake quant** (``tests/transforms/test_integer_zoo.py``; the zoo's shipped
checkpoints, PTQ with per-channel weights): at W8A8 and W4A8 the integer-only ResNet, MobileNet
and VGG predict the fake-quant class on 99.2-100 % of 500 distorted-digit test images, with logits
at most 1-4 output steps apart. Codes first differ where the int32 bias or float32 rounding moves a
value across a tie; deeper nets carry such a flip further.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn.containers import Sequential
from ..nn.layers import Dropout, Flatten, Identity, MaxPool2d, ReLU
from ..nn.module import Module
from ..quantizers.uniform import dequantize, quantize
from ..quantizers.base import FakeQuantizeBase
from .integer_layers import (IntegerAdd, IntegerConv2d, IntegerFlatten, IntegerGlobalAvgPool, IntegerLinear,
                             IntegerMaxPool2d, IntegerReLU, IntegerRequantize, _Qp, int_linear_expanded,
                             int_matmul)
from .layers import QuantAct, QuantAdaptiveAvgPool2d, QuantAdd, QuantConv2d, QuantLinear, QuantReLU, QuantReLU6

__all__ = ["IntegerModel", "convert_to_integer", "int_matmul", "int_linear_expanded", "IntegerLinear",
           "IntegerConv2d", "IntegerMaxPool2d", "IntegerReLU", "IntegerFlatten", "IntegerRequantize",
           "IntegerAdd", "IntegerGlobalAvgPool"]


class IntegerModel:
    """``forward(x float) -> logits float``: quantize once, integer layers, dequantize once.

    ``layers``: list of ``(name, integer layer)``; ``inputs[i]``: the indices of the values layer
    i reads (value 0 is the quantized input, value j + 1 the output of layer j; ``None``: a
    chain, each layer reads the one before); ``output``: the value returned (default: the last). ``in_qp`` /
    ``out_qp``: input and output activation qparams (``scale``, ``zero_point``, ``quant_min``, ``quant_max``).
    """

    def __init__(self, layers, in_qp: _Qp, out_qp: _Qp, inputs=None, output: int | None = None):
        self.layers, self.in_qp, self.out_qp = layers, in_qp, out_qp
        self.inputs = [(i,) for i in range(len(layers))] if inputs is None else [tuple(i) for i in inputs]
        self.output = len(layers) if output is None else output

    def quantize_input(self, x) -> np.ndarray:
        x = x.data if isinstance(x, Tensor) else np.asarray(x, np.float32)
        p = self.in_qp
        return quantize(x, np.float32(p.scale), p.zero_point, p.quant_min, p.quant_max)

    def forward_values(self, q) -> list:
        """Every value for input codes ``q``: ``[q, output of layer 0, output of layer 1, ...]``."""
        values = [q]
        for (_, layer), ins in zip(self.layers, self.inputs):
            values.append(layer(*[values[i] for i in ins]))
        return values

    def forward_int(self, q) -> np.ndarray:
        """Integer codes in -> integer codes of the output (qparams ``self.out_qp``)."""
        return self.forward_values(q)[self.output]

    def forward(self, x) -> np.ndarray:
        q = self.forward_int(self.quantize_input(x))
        return dequantize(q, np.float32(self.out_qp.scale), self.out_qp.zero_point)

    __call__ = forward

    def __repr__(self):
        body = "\n  ".join(f"({n}): {type(m).__name__}" for n, m in self.layers)
        return f"IntegerModel(in={self.in_qp}, out={self.out_qp}\n  {body}\n)"


# ----- which module reads which tensor --------------------------------------------------------
_LEAVES = (QuantAct, QuantLinear, QuantConv2d, Identity, Dropout, ReLU, MaxPool2d, Flatten)


def _leaves(module: Module, prefix: str = "", chain_only: bool = True):
    """The leaf modules (a converter step, or a module without children), with dotted names.
    ``chain_only``: descend into Sequentials only (other containers are yielded as they are)."""
    descend = isinstance(module, Sequential) if chain_only else \
        not isinstance(module, _LEAVES) and len(module._modules) > 0
    if descend:
        for name, child in module._modules.items():
            if child is not None:
                yield from _leaves(child, f"{prefix}{name}.", chain_only)
    else:
        yield prefix.rstrip("."), module


def _chain_calls(model):
    """``[(name, module, input ids, output id)]`` of a chain: module i reads value i."""
    return [(n, m, (i,), i + 1) for i, (n, m) in enumerate(_leaves(model))], 0


def _traced_calls(model, example_input):
    """The same list, recorded by running ``model(example_input)`` with every leaf's forward wrapped."""
    calls, keep = [], []
    leaves = list(_leaves(model, chain_only=False))

    def wrap(name, m, fwd):
        def traced(*args):
            out = fwd(*args)
            keep.extend((*args, out))        # keep them alive: ids stay unique
            calls.append((name, m, tuple(id(a) for a in args), id(out)))
            return out
        return traced

    for name, m in leaves:
        if "forward" not in m.__dict__:      # a module registered twice is wrapped once
            m.__dict__["forward"] = wrap(name, m, m.forward)
    x = Tensor(np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input, np.float32))
    try:
        with no_grad():
            model.eval()(x)
    finally:
        for _, m in leaves:
            m.__dict__.pop("forward", None)
    return calls, id(x)


def _qp_of(fq: FakeQuantizeBase) -> _Qp:
    s, z, quant_min, quant_max, axis = fq.qparams()
    if axis is not None or np.size(s) != 1:
        raise ValueError("activation quantizers must be per tensor for integer conversion, got axis="
                         f"{axis}")
    return _Qp(np.float32(s), int(np.asarray(z)), quant_min, quant_max)


_ACT = {QuantReLU: "relu", QuantReLU6: "relu6", QuantAct: None}


def convert_to_integer(model: Module, example_input=None) -> IntegerModel:
    """An ``IntegerModel`` from a converted fake-quant model (``ptq`` / ``convert`` output).

    ``model``: a (nested) ``Sequential`` of QuantAct, QuantConv2d, QuantLinear, QuantReLU(6),
    ReLU, MaxPool2d, Flatten, Identity, Dropout, QuantAdd, QuantAdaptiveAvgPool2d; any other
    model needs ``example_input`` (a batch, e.g. ``X[:2]``) to trace its forward. Every Quant
    layer needs an output quantizer (its own ``output_fake_quant``, or a QuantReLU / QuantReLU6 /
    QuantAct reading it); an activation quantizer met on an integer tensor becomes an ``IntegerRequantize``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    if example_input is not None:
        calls, x_id = _traced_calls(model, example_input)
    elif isinstance(model, Sequential) and all(isinstance(m, _LEAVES) or not m._modules
                                               for _, m in _leaves(model)):
        calls, x_id = _chain_calls(model)
    else:
        raise TypeError(f"model must be a Sequential (as prepare() returns) of the supported layers, got "
                        f"{type(model).__name__}; pass example_input to trace any other model")
    layers, inputs, val = [], [], {x_id: ("float",)}   # tensor id -> ("float",) | ("int", index, qp) | ("acc", ...)
    in_qp = None

    def emit(name, layer, args, qp):
        layers.append((name, layer))
        inputs.append(tuple(a[1] for a in args))
        return ("int", len(layers), qp)

    def need_int(name, m, v):
        if v[0] == "int":
            return v
        if v[0] == "acc":
            raise ValueError(f"{v[1]}: {type(v[2]).__name__} has no output quantizer (needs "
                             "output_fake_quant or a QuantReLU / QuantAct right after it)")
        raise ValueError(f"{name}: cannot convert {type(m).__name__} before the input quantizer")

    def weight_layer(name, m, x, qp, act):
        cls = IntegerConv2d if isinstance(m, QuantConv2d) else IntegerLinear
        try:
            return emit(name, cls(m, x[2], qp, act), [x], qp)
        except OverflowError as e:
            raise OverflowError(f"{name} ({type(m).__name__}): {e}") from None

    for name, m, ins, out in calls:
        args = [val.get(i, ("float", "unknown")) for i in ins]
        if any(a == ("float", "unknown") for a in args):
            raise ValueError(f"{name}: {type(m).__name__} reads a tensor made outside any module "
                             "(use nn.Add for residual sums, not +)")
        if isinstance(m, (Identity, Dropout)):
            val[out] = args[0]
        elif isinstance(m, QuantAdd):
            a, b = (need_int(name, m, v) for v in args)
            qp = _qp_of(m.fake_quant)
            val[out] = emit(name, IntegerAdd(a[2], b[2], qp), [a, b], qp)
        elif isinstance(m, QuantAdaptiveAvgPool2d):
            if m.output_size not in (1, (1, 1)):
                raise ValueError(f"{name}: integer average pooling needs output_size 1, got {m.output_size!r}")
            x, qp = need_int(name, m, args[0]), _qp_of(m.fake_quant)
            val[out] = emit(name, IntegerGlobalAvgPool(x[2], qp), [x], qp)
        elif type(m) in _ACT:
            x, qp, act = args[0], _qp_of(m.fake_quant), _ACT[type(m)]
            if x[0] == "float":
                if act is not None or in_qp is not None:
                    raise ValueError(f"{name}: a {type(m).__name__} cannot be the first quantizer")
                in_qp, val[out] = qp, ("int", 0, qp)
            elif x[0] == "acc":
                val[out] = weight_layer(x[1], x[2], x[3], qp, act)   # the accumulator's output quantizer
            else:
                val[out] = emit(name, IntegerRequantize(x[2], qp, act), [x], qp)
        elif isinstance(m, (QuantLinear, QuantConv2d)):
            x = args[0]
            if m.input_fake_quant is not None:
                qp = _qp_of(m.input_fake_quant)
                if x[0] == "float" and in_qp is None:
                    in_qp, x = qp, ("int", 0, qp)
                elif x[0] == "int":
                    x = emit(name + ".input", IntegerRequantize(x[2], qp), [x], qp)
            if x[0] != "int":
                raise ValueError(f"{name}: the input of {type(m).__name__} is not quantized "
                                 "(prepare() puts a QuantAct 'quant_in' first)")
            if m.output_fake_quant is not None:
                qp = _qp_of(m.output_fake_quant)
                val[out] = weight_layer(name, m, x, qp, None)
            else:
                val[out] = ("acc", name, m, x)
        elif isinstance(m, ReLU):
            x = need_int(name, m, args[0])
            val[out] = emit(name, IntegerReLU(x[2].zero_point), [x], x[2])
        elif isinstance(m, MaxPool2d):
            x = need_int(name, m, args[0])
            val[out] = emit(name, IntegerMaxPool2d(m.kernel_size, m.stride, m.padding), [x], x[2])
        elif isinstance(m, Flatten):
            x = need_int(name, m, args[0])
            val[out] = emit(name, IntegerFlatten(m.start_dim, m.end_dim), [x], x[2])
        else:
            where = "before the input quantizer" if in_qp is None else \
                "unsupported module; prepare() makes Add / AdaptiveAvgPool2d Quant modules"
            raise ValueError(f"{name}: cannot convert {type(m).__name__} to integers ({where})")
    if in_qp is None:
        raise ValueError("model has no activation quantizer: run prepare / convert first")
    result = need_int(calls[-1][0], calls[-1][1], val[calls[-1][3]])
    return IntegerModel(layers, in_qp, result[2], inputs, output=result[1])
