"""Integer-only inference: int8 x int8 -> int32 layers and the converter from a fake-quant model.

A converted model (Jacob et al., 2018; gemmlowp) quantizes its float input once, then runs
integers end to end, and dequantizes the logits. Each Linear / Conv2d layer computes::

    acc[c] = sum_k (q_x[k] - z_x) (q_w[c, k] - z_w[c]) + q_b[c]        int32
    q_y[c] = clip(z_y + M0[c] * 2**shift[c] / 2**31 * acc[c], quant_min', quant_max)   (requant.py)

with ``q_b = rint(b / (s_x s_w[c]))`` (int32, scale ``s_x s_w``, zero point 0) and one fixed-point
multiplier per output channel, ``M[c] = s_x s_w[c] / s_y``. A following ReLU is folded into the
clamp: ``quant_min' = max(quant_min, z_y)``. Max pooling commutes with the (monotone) quantizer, so it runs
on the codes; Flatten is a reshape.

**Zero points.** We subtract them before the GEMM (inputs become ``q - z`` in int32, and a conv's
zero padding is then the real 0). The expanded form ``int_linear_expanded`` instead runs the GEMM
on the raw codes and corrects with row / column sums:
``sum (x - z_x)(w - z_w) = sum x w - z_w sum_k x - z_x sum_k w + K z_x z_w`` — what gemmlowp does
so the inner loop stays uint8 x uint8; the sums over ``w`` are precomputed once per layer.

The GEMM is ``int_matmul``: the numba ``qnn_lite.kernels.int8_matmul`` when both operands fit
int8 (the layers use the expanded form so they do), else numpy's exact int64 matmul; set
``integer.GEMM_BACKEND = "numpy"`` to force numpy. Swap kernels by replacing that one function.
"""
from __future__ import annotations

import numpy as np

from ..autograd.conv import _check_geometry, _pair, pad2d, windows
from ..autograd.tensor import Tensor
from ..nn.containers import Sequential
from ..nn.layers import Dropout, Flatten, Identity, MaxPool2d, ReLU
from ..nn.module import Module
from ..nn.functional import im2col
from ..quantizers.base import FakeQuantizeBase
from .layers import QuantAct, QuantConv2d, QuantLinear, QuantReLU
from .requant import INT32_MAX, INT32_MIN, _multipliers, requantize
from ..quantizers.uniform import dequantize, quantize

__all__ = ["int_matmul", "int_linear_expanded", "IntegerLinear", "IntegerConv2d", "IntegerMaxPool2d",
           "IntegerReLU", "IntegerFlatten", "IntegerRequantize", "IntegerModel", "convert_to_integer"]


GEMM_BACKEND = "auto"  # "auto": numba int8 kernel when both operands fit int8; "numpy": always numpy


def _int8_kernel():
    try:
        from ..kernels.intgemm import int8_matmul
    except Exception:  # numba missing or no kernel: plain numpy
        return None
    return int8_matmul


_INT8_MAX_K = (2**31 - 1) // 2**14  # = kernels.intgemm.MAX_K: the int32 kernel is exact up to here


def _fits_int8(a: np.ndarray) -> bool:
    return a.size == 0 or (a.min() >= -128 and a.max() <= 127)


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer ``a (M, K) @ b (K, N)`` as int64, checked to fit int32.

    With ``GEMM_BACKEND == "auto"`` and both operands in int8 range it runs
    ``qnn_lite.kernels.int8_matmul`` (numba, int32 accumulators); otherwise numpy's int64 matmul.
    """
    if GEMM_BACKEND == "auto" and np.shape(a)[-1] <= _INT8_MAX_K and _fits_int8(a) and _fits_int8(b):
        kernel = _int8_kernel()   # exact for K <= 131071; longer K: numpy below checks the result
        if kernel is not None:
            return kernel(np.ascontiguousarray(a, np.int8), np.ascontiguousarray(b, np.int8)).astype(np.int64)
    acc = a.astype(np.int64) @ b.astype(np.int64)
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise OverflowError(f"int32 accumulator overflow: values in [{acc.min()}, {acc.max()}]")
    return acc


def int_linear_expanded(x_q, x_z: int, w_q, w_z) -> np.ndarray:
    """``sum_k (x - z_x)(w - z_w)`` from the raw codes plus row/column sums (gemmlowp's form).

    ``x_q (M, K)``, ``w_q (N, K)``, ``w_z`` scalar or ``(N,)`` -> ``(M, N)`` int64.
    """
    x, w = np.asarray(x_q, np.int64), np.asarray(w_q, np.int64)
    w_z = np.asarray(w_z, np.int64)
    K = x.shape[1]
    return (int_matmul(x, w.T) - x.sum(axis=1, keepdims=True) * w_z
            - x_z * w.sum(axis=1) + K * x_z * w_z)


class _Qp:
    """Activation qparams of an integer tensor: scale, zero point, integer range."""

    def __init__(self, scale, zero_point, quant_min, quant_max):
        self.scale, self.zero_point = float(scale), int(zero_point)
        self.quant_min, self.quant_max = int(quant_min), int(quant_max)

    def __repr__(self):
        return f"(s={self.scale:.4g}, z={self.zero_point}, [{self.quant_min}, {self.quant_max}])"


class _IntegerWeightLayer:
    """Holds int weight codes, int32 bias, per-channel (M0, shift) and the output clamp."""

    def __init__(self, layer, in_qp: _Qp, out_qp: _Qp, relu: bool):
        if layer.weight_fake_quant is None:
            raise ValueError(f"{type(layer).__name__} has no weight quantizer (qconfig.weight is None); "
                             "integer inference needs quantized weights")
        s_w, z_w, wqmin, wqmax, axis = layer.weight_fake_quant.qparams()
        w = layer.weight.data
        self.w_q = quantize(w, s_w, z_w, wqmin, wqmax, ch_axis=axis).reshape(w.shape[0], -1)
        self.w_z = np.broadcast_to(np.asarray(z_w, np.int64), (w.shape[0],)).copy()
        s_w = np.broadcast_to(np.asarray(s_w, np.float64), (w.shape[0],))
        self.in_qp, self.out_qp, self.relu = in_qp, out_qp, relu
        bias_scale = in_qp.scale * s_w                           # float64, per channel
        b = np.zeros(w.shape[0]) if layer.bias is None else layer.bias.data.astype(np.float64)
        bias_q = np.rint(b / bias_scale)                           # float64; checked before the cast
        bad = ~(np.abs(bias_q) <= INT32_MAX)                          # also catches inf / NaN
        if bad.any():
            c = int(np.argmax(bad))
            raise OverflowError(f"quantized bias does not fit int32: channel {c} has bias {b[c]:.6g} / "
                                f"(s_x s_w = {bias_scale[c]:.6g}) = {bias_q[c]:.6g}, beyond +-{INT32_MAX}")
        self.bias_q = bias_q.astype(np.int64)
        self.real_multiplier = bias_scale / out_qp.scale
        self.M0, self.shift = _multipliers(self.real_multiplier)
        self.quant_min = max(out_qp.quant_min, out_qp.zero_point) if relu else out_qp.quant_min

    def _gemm(self, x):
        """``x (M, K)``: input codes minus their zero point -> requantized output codes ``(M, O)``.

        Expanded form so both GEMM operands are int8: with ``o = qmin_x + 128``,
        ``sum_k x w = sum_k (x + z_x - o) w + (o - z_x) sum_k w`` and ``x + z_x - o = q_x - o``
        lies in [-128, 127] for 8-bit inputs (zero padding, x = 0, gives ``z_x - o``, also in range).
        """
        w = self.w_q - self.w_z[:, None]                         # (O, K), int8 range for 8-bit weights
        o = self.in_qp.quant_min + 128
        offset = self.in_qp.zero_point - o
        acc = int_matmul(x + offset, w.T) - offset * w.sum(axis=1) + self.bias_q
        return requantize(acc, self.M0, self.shift, self.out_qp.zero_point, self.quant_min, self.out_qp.quant_max)


class IntegerLinear(_IntegerWeightLayer):
    """Integer ``Linear``: ``q_x (N, in)`` int -> ``q_y (N, out)`` int32 (see the module docstring)."""

    def __call__(self, q):
        return self._gemm(q.astype(np.int64) - self.in_qp.zero_point)


class IntegerConv2d(_IntegerWeightLayer):
    """Integer ``Conv2d`` by im2col + ``int_matmul``: ``(N, C, H, W)`` -> ``(N, O, OH, OW)`` int32."""

    def __init__(self, layer, in_qp, out_qp, relu):
        super().__init__(layer, in_qp, out_qp, relu)
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding

    def __call__(self, q):
        N = q.shape[0]
        _, _, _, (oh, ow) = _check_geometry(q.shape, self.kernel_size, self.stride, self.padding)
        x = q.astype(np.int64) - self.in_qp.zero_point          # zero padding = the real 0
        cols = im2col(x, self.kernel_size, self.stride, self.padding)
        y = self._gemm(cols)
        return np.ascontiguousarray(y.reshape(N, oh, ow, -1).transpose(0, 3, 1, 2))


class IntegerMaxPool2d:
    """Max pooling on codes (the quantizer is monotone, so ``max`` commutes with it)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")

    def __call__(self, q):
        _, _, _, out = _check_geometry(q.shape, self.kernel, self.stride, self.padding)
        win = windows(pad2d(q, self.padding, np.iinfo(q.dtype).min), self.kernel, self.stride, out)
        return win.max(axis=(4, 5))


class IntegerReLU:
    """``max(q, z)``: a ReLU on codes (the real 0 is the zero point)."""

    def __init__(self, zero_point: int):
        self.zero_point = int(zero_point)

    def __call__(self, q):
        return np.maximum(q, self.zero_point).astype(np.int32)


class IntegerFlatten:
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def __call__(self, q):
        nd = q.ndim
        s, e = self.start_dim % nd, self.end_dim % nd
        return q.reshape(q.shape[:s] + (-1,) + q.shape[e + 1:])


class IntegerRequantize:
    """Move codes from ``in_qp`` to ``out_qp``: ``z_out + round(M (q - z_in))``, ``M = s_in / s_out``.

    Codes are small (|q - z| < 2**16), so ``SRDHM`` alone would round ``M (q - z)`` to a coarse
    grid first and the second rounding would often land on the wrong side of a tie (e.g. 8/17 -> 1).
    As TFLite's ``Add`` does, shift ``q - z`` left by ``left_shift`` bits (20, fewer if that
    would overflow int32) and use ``M / 2**left_shift``: the first rounding becomes negligible.
    """

    def __init__(self, in_qp: _Qp, out_qp: _Qp, relu: bool = False):
        self.in_qp, self.out_qp = in_qp, out_qp
        span = max(abs(in_qp.quant_max - in_qp.zero_point), abs(in_qp.quant_min - in_qp.zero_point), 1)
        real = in_qp.scale / out_qp.scale
        _, e = np.frexp(real)
        self.left_shift = int(max(0, min(20, 30 - int(span).bit_length(), 31 + int(e) - 1)))
        self.M0, self.shift = _multipliers(np.float64(real / 2 ** self.left_shift))
        self.quant_min = max(out_qp.quant_min, out_qp.zero_point) if relu else out_qp.quant_min

    def __call__(self, q):
        x = (q.astype(np.int64) - self.in_qp.zero_point) << self.left_shift
        return requantize(x, self.M0, self.shift, self.out_qp.zero_point, self.quant_min, self.out_qp.quant_max)


class IntegerModel:
    """``forward(x float) -> logits float``: quantize once, integer layers, dequantize once.

    ``layers``: list of ``(name, integer layer)``; ``in_qp`` / ``out_qp``: input and output
    activation qparams (``scale``, ``zero_point``, ``quant_min``, ``quant_max``).
    """

    def __init__(self, layers, in_qp: _Qp, out_qp: _Qp):
        self.layers, self.in_qp, self.out_qp = layers, in_qp, out_qp

    def quantize_input(self, x) -> np.ndarray:
        x = x.data if isinstance(x, Tensor) else np.asarray(x, np.float32)
        p = self.in_qp
        return quantize(x, np.float32(p.scale), p.zero_point, p.quant_min, p.quant_max)

    def forward_int(self, q) -> np.ndarray:
        """Integer codes in -> integer codes of the output (qparams ``self.out_qp``)."""
        for _, layer in self.layers:
            q = layer(q)
        return q

    def forward(self, x) -> np.ndarray:
        q = self.forward_int(self.quantize_input(x))
        return dequantize(q, np.float32(self.out_qp.scale), self.out_qp.zero_point)

    __call__ = forward

    def __repr__(self):
        body = "\n  ".join(f"({n}): {type(m).__name__}" for n, m in self.layers)
        return f"IntegerModel(in={self.in_qp}, out={self.out_qp}\n  {body}\n)"


def _leaves(module: Module, prefix: str = ""):
    """The modules of nested Sequentials, in forward order, with their dotted names."""
    if isinstance(module, Sequential):
        for name, child in module._modules.items():
            yield from _leaves(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip("."), module


def _qp_of(fq: FakeQuantizeBase) -> _Qp:
    s, z, quant_min, quant_max, axis = fq.qparams()
    if axis is not None or np.size(s) != 1:
        raise ValueError("activation quantizers must be per tensor for integer conversion, got axis="
                         f"{axis}")
    return _Qp(np.float32(s), int(np.asarray(z)), quant_min, quant_max)


def convert_to_integer(model: Module) -> IntegerModel:
    """An ``IntegerModel`` from a converted fake-quant model (``ptq`` / ``convert`` output).

    ``model``: (nested) ``Sequential`` of QuantAct, QuantConv2d, QuantLinear, QuantReLU, ReLU,
    MaxPool2d, Flatten, Identity, Dropout. Every Quant layer needs an output quantizer (its own
    ``output_fake_quant``, or a QuantReLU / QuantAct right after it); an activation quantizer met
    on an integer tensor becomes an ``IntegerRequantize``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential (as prepare() returns), got {type(model).__name__}")
    items = [(n, m) for n, m in _leaves(model) if not isinstance(m, (Identity, Dropout))]
    layers, in_qp, cur, i = [], None, None, 0

    def to(qp, name, relu=False):
        nonlocal cur, in_qp
        if cur is None:
            in_qp = cur = qp
        else:
            layers.append((name, IntegerRequantize(cur, qp, relu)))
            cur = qp

    while i < len(items):
        name, m = items[i]
        i += 1
        if isinstance(m, QuantReLU):
            if cur is None:
                raise ValueError(f"{name}: a QuantReLU cannot be the first quantizer")
            to(_qp_of(m.fake_quant), name, relu=True)
        elif isinstance(m, QuantAct):
            to(_qp_of(m.fake_quant), name)
        elif isinstance(m, (QuantLinear, QuantConv2d)):
            if m.input_fake_quant is not None:
                to(_qp_of(m.input_fake_quant), name + ".input")
            if cur is None:
                raise ValueError(f"{name}: the input of {type(m).__name__} is not quantized "
                                 "(prepare() puts a QuantAct 'quant_in' first)")
            relu = False
            if m.output_fake_quant is not None:
                out = _qp_of(m.output_fake_quant)
            elif i < len(items) and isinstance(items[i][1], QuantAct):
                relu = isinstance(items[i][1], QuantReLU)
                out = _qp_of(items[i][1].fake_quant)
                i += 1
            else:
                raise ValueError(f"{name}: {type(m).__name__} has no output quantizer (needs "
                                 "output_fake_quant or a QuantReLU / QuantAct right after it)")
            cls = IntegerConv2d if isinstance(m, QuantConv2d) else IntegerLinear
            try:
                layers.append((name, cls(m, cur, out, relu)))
            except OverflowError as e:
                raise OverflowError(f"{name} ({type(m).__name__}): {e}") from None
            cur = out
        elif isinstance(m, ReLU) and cur is not None:
            layers.append((name, IntegerReLU(cur.zero_point)))
        elif isinstance(m, MaxPool2d) and cur is not None:
            layers.append((name, IntegerMaxPool2d(m.kernel_size, m.stride, m.padding)))
        elif isinstance(m, Flatten) and cur is not None:
            layers.append((name, IntegerFlatten(m.start_dim, m.end_dim)))
        else:
            raise ValueError(f"{name}: cannot convert {type(m).__name__} to integers "
                             f"({'before the input quantizer' if cur is None else 'unsupported module'})")
    if cur is None:
        raise ValueError("model has no activation quantizer: run prepare / convert first")
    return IntegerModel(layers, in_qp, cur)
