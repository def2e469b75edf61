"""The integer-only layers ``convert_to_integer`` builds: int8 x int8 -> int32 GEMMs and integer glue.

Each Linear / Conv2d layer computes (Jacob et al., 2018; gemmlowp)::

    acc[c] = sum_k (q_x[k] - z_x) (q_w[c, k] - z_w[c]) + q_b[c]        int32
    q_y[c] = clip(z_y + M0[c] * 2**shift[c] / 2**31 * acc[c], quant_min', quant_max')   (requant.py)

with ``q_b = rint(b / (s_x s_w[c]))`` (int32, scale ``s_x s_w``, zero point 0) and one fixed-point
multiplier per output channel, ``M[c] = s_x s_w[c] / s_y``. A following ReLU is folded into the
clamp, ``quant_min' = max(quant_min, z_y)``; a ReLU6 also sets ``quant_max' = min(quant_max,
z_y + rint(6 / s_y))``. A grouped conv (depthwise: ``groups = C``) runs one GEMM per group.

Between the GEMMs: max pooling runs on the codes (the quantizer is monotone); ``IntegerAdd``
requantizes both inputs of a residual sum to the output scale (TFLite's ``Add``);
``IntegerGlobalAvgPool`` sums the codes of each channel and rescales the sum by
``s_x / (H W s_y)``; ``IntegerRequantize`` moves codes to another scale; Flatten is a reshape.

**Zero points.** We subtract them before the GEMM (inputs become ``q - z`` in int32, and a conv's
zero padding is then the real 0). The expanded form ``int_linear_expanded`` instead runs the GEMM
on the raw codes and corrects with row / column sums:
``sum (x - z_x)(w - z_w) = sum x w - z_w sum_k x - z_x sum_k w + K z_x z_w`` — what gemmlowp does
so the inner loop stays uint8 x uint8; the sums over ``w`` are precomputed once per layer.

The GEMM is ``int_matmul``: the numba ``qnn_lite.kernels.int8_matmul`` when both operands fit
int8 (the layers use the expanded form so they do), else numpy's exact int64 matmul; set
``integer_layers.GEMM_BACKEND = "numpy"`` to force numpy. Swap kernels by replacing that one function.
"""
from __future__ import annotations

import numpy as np

from ..autograd.conv import _check_geometry, _pair, pad2d, windows
from ..nn.functional import im2col
from ..quantizers.uniform import quantize
from .requant import INT32_MAX, INT32_MIN, _multipliers, quantized_add, requantize

__all__ = ["int_matmul", "int_linear_expanded", "IntegerLinear", "IntegerConv2d", "IntegerMaxPool2d",
           "IntegerReLU", "IntegerFlatten", "IntegerRequantize", "IntegerAdd", "IntegerGlobalAvgPool"]


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
    """Exact integer ``a (M, K) @ b (K, N)`` (or stacks ``(G, M, K) @ (G, K, N)``) as int64, checked to fit int32.

    With ``GEMM_BACKEND == "auto"``, 2-D operands and both in int8 range it runs
    ``qnn_lite.kernels.int8_matmul`` (numba, int32 accumulators); otherwise numpy's int64 matmul.
    """
    if GEMM_BACKEND == "auto" and np.ndim(a) == np.ndim(b) == 2 and np.shape(a)[-1] <= _INT8_MAX_K \
            and _fits_int8(a) and _fits_int8(b):
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


def _clamp(out_qp: _Qp, act: str | None) -> tuple[int, int]:
    """The output clamp with an activation folded in: ``None``, ``"relu"`` or ``"relu6"``.

    ``rint(6 * (1 / s))`` in float32 is the code fake quantization gives the real 6."""
    lo, hi = out_qp.quant_min, out_qp.quant_max
    if act in ("relu", "relu6"):
        lo = max(lo, out_qp.zero_point)
    if act == "relu6":
        six = int(np.rint(np.float32(6) * (np.float32(1) / np.float32(out_qp.scale))))
        hi = min(hi, out_qp.zero_point + six)
    elif act is not None and act != "relu":
        raise ValueError(f"act must be None, 'relu' or 'relu6', got {act!r}")
    return lo, hi


class _IntegerWeightLayer:
    """Holds int weight codes, int32 bias, per-channel (M0, shift) and the output clamp."""

    groups = 1

    def __init__(self, layer, in_qp: _Qp, out_qp: _Qp, act: str | None = None):
        if layer.weight_fake_quant is None:
            raise ValueError(f"{type(layer).__name__} has no weight quantizer (qconfig.weight is None); "
                             "integer inference needs quantized weights")
        s_w, z_w, wqmin, wqmax, axis = layer.weight_fake_quant.qparams()
        w = layer.weight.data
        self.w_q = quantize(w, s_w, z_w, wqmin, wqmax, ch_axis=axis).reshape(w.shape[0], -1)
        self.w_z = np.broadcast_to(np.asarray(z_w, np.int64), (w.shape[0],)).copy()
        s_w = np.broadcast_to(np.asarray(s_w, np.float64), (w.shape[0],))
        self.in_qp, self.out_qp, self.act = in_qp, out_qp, act
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
        self.quant_min, self.quant_max = _clamp(out_qp, act)

    def _gemm(self, x):
        """``x (M, K)``: input codes minus their zero point -> requantized output codes ``(M, O)``.

        Expanded form so both GEMM operands are int8: with ``o = qmin_x + 128``,
        ``sum_k x w = sum_k (x + z_x - o) w + (o - z_x) sum_k w`` and ``x + z_x - o = q_x - o``
        lies in [-128, 127] for 8-bit inputs (zero padding, x = 0, gives ``z_x - o``, also in range).
        With ``groups = G`` the columns and the output channels split into G blocks: G GEMMs.
        """
        w = self.w_q - self.w_z[:, None]                         # (O, K), int8 range for 8-bit weights
        o = self.in_qp.quant_min + 128
        offset = self.in_qp.zero_point - o
        G, M = self.groups, x.shape[0]
        if G == 1:
            acc = int_matmul(x + offset, w.T)
        else:   # (G, M, K/G) @ (G, K/G, O/G) -> (M, O); channel c belongs to group c // (O/G)
            xg = (x + offset).reshape(M, G, -1).transpose(1, 0, 2)
            acc = int_matmul(xg, w.reshape(G, -1, w.shape[1]).transpose(0, 2, 1)).transpose(1, 0, 2).reshape(M, -1)
        acc = acc - offset * w.sum(axis=1) + self.bias_q
        return requantize(acc, self.M0, self.shift, self.out_qp.zero_point, self.quant_min, self.quant_max)


class IntegerLinear(_IntegerWeightLayer):
    """Integer ``Linear``: ``q_x (N, in)`` int -> ``q_y (N, out)`` int32 (see the module docstring)."""

    def __call__(self, q):
        return self._gemm(q.astype(np.int64) - self.in_qp.zero_point)


class IntegerConv2d(_IntegerWeightLayer):
    """Integer ``Conv2d`` by im2col + ``int_matmul`` (one GEMM per group): ``(N, C, H, W)`` -> ``(N, O, OH, OW)`` int32."""

    def __init__(self, layer, in_qp, out_qp, act=None):
        super().__init__(layer, in_qp, out_qp, act)
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self.dilation, self.groups = getattr(layer, "dilation", (1, 1)), getattr(layer, "groups", 1)

    def __call__(self, q):
        N = q.shape[0]
        _, _, _, (oh, ow) = _check_geometry(q.shape, self.kernel_size, self.stride, self.padding,
                                            dilation=self.dilation)
        x = q.astype(np.int64) - self.in_qp.zero_point          # zero padding = the real 0
        cols = im2col(x, self.kernel_size, self.stride, self.padding, self.dilation)
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


def _fine_multiplier(real: float, span: int):
    """``(left_shift, M0, shift)`` to compute ``round(real * x)`` for ``|x| <= span`` as
    ``requantize(x << left_shift, M0, shift)`` with ``M0 2**(shift-31) = real / 2**left_shift``.

    Codes are small, so ``SRDHM`` alone would round ``real * x`` to a coarse grid first and the
    second rounding would often land on the wrong side of a tie (e.g. 8/17 -> 1). As TFLite's
    ``Add`` does, shift ``x`` left (20 bits, fewer if ``span << left_shift`` would overflow int32):
    the first rounding becomes negligible."""
    _, e = np.frexp(real)
    left_shift = int(max(0, min(20, 30 - int(max(span, 1)).bit_length(), 31 + int(e) - 1)))
    M0, shift = _multipliers(np.float64(real / 2 ** left_shift))
    return left_shift, M0, shift


class IntegerRequantize:
    """Move codes from ``in_qp`` to ``out_qp``: ``z_out + round(M (q - z_in))``, ``M = s_in / s_out``,
    with an activation (``act``: None, "relu", "relu6") folded into the clamp."""

    def __init__(self, in_qp: _Qp, out_qp: _Qp, act: str | None = None):
        self.in_qp, self.out_qp = in_qp, out_qp
        span = max(abs(in_qp.quant_max - in_qp.zero_point), abs(in_qp.quant_min - in_qp.zero_point), 1)
        self.left_shift, self.M0, self.shift = _fine_multiplier(in_qp.scale / out_qp.scale, span)
        self.quant_min, self.quant_max = _clamp(out_qp, act)

    def __call__(self, q):
        x = (q.astype(np.int64) - self.in_qp.zero_point) << self.left_shift
        return requantize(x, self.M0, self.shift, self.out_qp.zero_point, self.quant_min, self.quant_max)


class IntegerAdd:
    """Residual sum ``q = z_y + round((s_a (a - z_a) + s_b (b - z_b)) / s_y)``: both inputs requantized
    to a common fine scale, summed in int32, requantized to the output (``requant.quantized_add``,
    TFLite's / gemmlowp's ``Add``). Inputs of any matching shape."""

    def __init__(self, a_qp: _Qp, b_qp: _Qp, out_qp: _Qp, act: str | None = None):
        self.a_qp, self.b_qp, self.out_qp = a_qp, b_qp, out_qp
        self.quant_min, self.quant_max = _clamp(out_qp, act)

    def __call__(self, a, b):
        A, B, Y = self.a_qp, self.b_qp, self.out_qp
        return quantized_add(a, A.scale, A.zero_point, b, B.scale, B.zero_point, Y.scale, Y.zero_point,
                             self.quant_min, self.quant_max)


class IntegerGlobalAvgPool:
    """``AdaptiveAvgPool2d(1)`` on codes: ``acc = sum_{h,w} (q - z_x)`` (int32), then
    ``q_y = z_y + round(acc * s_x / (H W s_y))``: ``(N, C, H, W) -> (N, C, 1, 1)``."""

    def __init__(self, in_qp: _Qp, out_qp: _Qp):
        self.in_qp, self.out_qp = in_qp, out_qp

    def __call__(self, q):
        n, c, h, w = q.shape
        acc = (q.astype(np.int64) - self.in_qp.zero_point).sum(axis=(2, 3), keepdims=True)
        span = h * w * max(self.in_qp.quant_max - self.in_qp.zero_point, self.in_qp.zero_point - self.in_qp.quant_min, 1)
        ls, M0, shift = _fine_multiplier(self.in_qp.scale / (h * w * self.out_qp.scale), span)
        return requantize(acc << ls, M0, shift, self.out_qp.zero_point, self.out_qp.quant_min, self.out_qp.quant_max)
