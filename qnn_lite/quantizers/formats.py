"""Number formats: FP32, FP16, BF16, FP8 (E4M3, E5M2), INTb and binary — layout, range, rounding.

A float with 1 sign bit, ``e`` exponent bits and ``m`` mantissa bits stores
$x = (-1)^s \\, 1.f \\cdot 2^{E - \\text{bias}}$ with $\\text{bias} = 2^{e-1} - 1$ (IEEE-754, 2019).
The all-zeros exponent holds the subnormals $0.f \\cdot 2^{1 - \\text{bias}}$; the all-ones exponent
holds inf / NaN. So

* max $= (2 - 2^{-m})\\,2^{\\text{bias}}$, smallest normal $= 2^{1-\\text{bias}}$,
  smallest subnormal $= 2^{1-\\text{bias}-m}$, machine epsilon (gap after 1) $= 2^{-m}$.

FP8 (Micikevicius et al., 2022, "FP8 Formats for Deep Learning"; the OCP 8-bit float spec):
E5M2 is IEEE-like (max 57344, has inf). E4M3 ("fn": finite, NaN) gives up inf and keeps only
``S.1111.111`` as NaN, so the all-ones exponent holds normal numbers and max is
$1.75 \\cdot 2^8 = 448$ instead of 240. BF16 (Kalamkar et al., 2019) is the top 16 bits of FP32:
FP32's range with 7 mantissa bits.

Integers (``int8``, ``int4``, any ``intb``) are two's-complement codes $q \\in [-2^{b-1}, 2^{b-1}-1]$;
their "values" are in units of a scale $s$ (chapter 3): ``round_to_format`` picks $s$ from the
data with :mod:`qnn_lite.quantizers.uniform`. ``binary`` is one bit per weight: $\\pm 1$ (bit 1 = +1).

Rounding (:func:`round_to_format`) is round-to-nearest, ties-to-even everywhere, and agrees with
PyTorch 2.13's casts (``x.to(torch.bfloat16 / float16 / float8_e4m3fn / float8_e5m2)``):

* FP16: numpy's ``astype(np.float16)``;  BF16: integer rounding of the float32 bit pattern;
* FP8 and any float: the scaled-rint formula $\\hat x = \\operatorname{rint}(x / 2^{k-m})\\,2^{k-m}$,
  $k = \\max(\\lfloor\\log_2|x|\\rfloor, 1 - \\text{bias})$ (:func:`round_minifloat`).
* Overflow: formats with inf round to ±inf (IEEE); E4M3 *saturates* to ±448 (PyTorch 2.13, and
  Transformer Engine; ±inf inputs become ±448 too). ``saturate=True`` clips any format to
  ±max first (±inf included); ``saturate=False`` on E4M3 gives NaN (the OCP non-saturating mode).
  NaN stays NaN in float formats (a cast); integer formats reject NaN.

Counting, listing and spacing a format's values, the bit fields of a value (``decode_bits``), and
rounding a model's weights to a format, are :mod:`qnn_lite.quantizers.format_values`.
"""
from __future__ import annotations

from dataclasses import dataclass
import numbers
import re

import numpy as np

from ..validate import as_array
from .uniform import calc_qparams, fake_quantize, qrange

__all__ = ["NumberFormat", "FORMATS", "get_format", "int_format", "round_to_format", "round_minifloat",
           "model_size_bytes", "format_table"]


@dataclass(frozen=True)
class NumberFormat:
    """One number format. ``kind``: ``"float"``, ``"int"`` or ``"binary"``; widths in bits.

    For ints ``man_bits`` is the number of value bits below the sign bit (``bits - 1``);
    ``ieee`` says whether the all-ones exponent is reserved for inf/NaN (False only for E4M3).
    """
    name: str
    kind: str
    exp_bits: int
    man_bits: int
    ieee: bool = True

    @property
    def bits(self) -> int:
        """Total width: 1 (+ exponent) + mantissa; 1 for binary."""
        return 1 if self.kind == "binary" else 1 + self.exp_bits + self.man_bits

    @property
    def fields(self) -> tuple:
        """``(name, width)`` of each bit field, most significant first (what :func:`~qnn_lite.quantizers.format_values.decode_bits` returns)."""
        if self.kind == "float":
            return (("sign", 1), ("exponent", self.exp_bits), ("mantissa", self.man_bits))
        if self.kind == "int":
            return (("sign", 1), ("value", self.man_bits))
        return (("value", 1),)

    @property
    def bias(self) -> int | None:
        """Exponent bias $2^{e-1} - 1$ (floats only)."""
        return 2 ** (self.exp_bits - 1) - 1 if self.kind == "float" else None

    @property
    def has_inf(self) -> bool:
        return self.kind == "float" and self.ieee

    @property
    def max(self) -> float:
        """Largest finite value (ints: the largest code $2^{b-1} - 1$, in units of the scale)."""
        if self.kind == "float":
            top = 2 ** self.exp_bits - 1 - (1 if self.ieee else 0) - self.bias   # largest normal exponent
            frac = 2.0 - 2.0 ** -self.man_bits if self.ieee else 2.0 - 2.0 ** (1 - self.man_bits)
            return frac * 2.0 ** top   # E4M3: mantissa 111 at the top exponent is NaN, so 1.110b
        return float(2 ** self.man_bits - 1) if self.kind == "int" else 1.0

    @property
    def min_normal(self) -> float | None:
        """Smallest positive normal $2^{1 - \\text{bias}}$ (None for ints and binary)."""
        return 2.0 ** (1 - self.bias) if self.kind == "float" else None

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value: $2^{1-\\text{bias}-m}$ for floats, 1 (one step) for ints and binary."""
        return 2.0 ** (1 - self.bias - self.man_bits) if self.kind == "float" else 1.0

    @property
    def eps(self) -> float | None:
        """Gap between 1 and the next larger value: $2^{-m}$ for floats, 1 for ints, None for binary."""
        if self.kind == "float":
            return 2.0 ** -self.man_bits
        return 1.0 if self.kind == "int" else None

    @property
    def num_values(self) -> int:
        """Distinct finite values (+0 and -0 counted once): bit patterns minus inf/NaN codes minus one."""
        if self.kind != "float":
            return 2 ** self.bits
        specials = 2 ** (self.man_bits + 1) if self.ieee else 2   # E4M3: only S.1111.111 is NaN
        return 2 ** self.bits - specials - 1

    def __repr__(self) -> str:
        return f"NumberFormat({self.name!r}, {self.kind}, {self.bits} bits)"


def int_format(bits: int) -> NumberFormat:
    """The signed ``bits``-bit integer format (two's complement), ``bits`` in 2..16."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in 2..16 for an integer format, got {bits!r}")
    return NumberFormat(f"int{int(bits)}", "int", 0, int(bits) - 1)


FORMATS = {
    "fp32": NumberFormat("fp32", "float", 8, 23),
    "fp16": NumberFormat("fp16", "float", 5, 10),
    "bf16": NumberFormat("bf16", "float", 8, 7),
    "fp8_e4m3": NumberFormat("fp8_e4m3", "float", 4, 3, ieee=False),
    "fp8_e5m2": NumberFormat("fp8_e5m2", "float", 5, 2),
    "int8": int_format(8),
    "int4": int_format(4),
    "int2": int_format(2),
    "binary": NumberFormat("binary", "binary", 0, 0),
}
_ALIASES = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "e4m3": "fp8_e4m3",
            "e5m2": "fp8_e5m2", "fp8 e4m3": "fp8_e4m3", "fp8 e5m2": "fp8_e5m2"}


def get_format(fmt) -> NumberFormat:
    """A :class:`NumberFormat` from itself or a name: ``"fp32"``, ``"FP16"``, ``"bf16"``, ``"fp8_e4m3"``
    (or ``"e4m3"``), ``"fp8_e5m2"``, ``"int8"`` / ``"int4"`` / any ``"int<b>"`` (b in 2..16), ``"binary"``."""
    if isinstance(fmt, NumberFormat):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format name or a NumberFormat, got {type(fmt).__name__}")
    key = _ALIASES.get(fmt.strip().lower(), fmt.strip().lower())
    if key in FORMATS:
        return FORMATS[key]
    m = re.fullmatch(r"int(\d+)", key)
    if m:
        return int_format(int(m.group(1)))
    raise ValueError(f"fmt must be one of {sorted(FORMATS)} or 'int<b>' with b in 2..16, got {fmt!r}")


# ----- rounding ------------------------------------------------------------------------------------
def round_minifloat(x, fmt, saturate: bool | None = None) -> np.ndarray:
    """Round to any float format by the scaled-rint formula, ties to even; float64 out.

    $k = \\max(\\lfloor \\log_2 |x| \\rfloor,\\ 1 - \\text{bias})$ (the binade; clamped for subnormals),
    $\\hat x = \\operatorname{rint}(x / 2^{k-m})\\, 2^{k-m}$. Dividing by a power of two is exact, and
    the integer ``rint`` picks is the significand, so "ties to even" is the IEEE rule (mantissa LSB 0);
    a value that rounds up past $2^{k+1}$ lands correctly on the next binade. Overflow: see module doc.
    Exact for formats with up to 52 mantissa bits and input magnitudes in float64's range.
    """
    fmt = get_format(fmt)
    if fmt.kind != "float":
        raise ValueError(f"fmt must be a float format for round_minifloat, got {fmt.name!r}")
    with np.errstate(invalid="ignore"):                 # signalling-NaN bit patterns warn on the cast
        x = as_array(x).astype(np.float64)
    saturate = (not fmt.ieee) if saturate is None else bool(saturate)
    if saturate:
        x = np.clip(x, -fmt.max, fmt.max)             # NaN passes through np.clip
    a = np.abs(x)
    with np.errstate(invalid="ignore", over="ignore"):
        _, e2 = np.frexp(a)                           # a = f * 2**e2, f in [0.5, 1): floor(log2 a) = e2 - 1
        k = np.maximum(e2 - 1, 1 - fmt.bias)
        step = np.ldexp(1.0, k - fmt.man_bits)
        y = np.rint(a / step) * step
        over = y > fmt.max                            # rounded past the largest finite value (inf included)
        y = np.where(over, np.inf if fmt.has_inf else np.nan, y)
    return np.copysign(y, x)


def _round_bf16(x32: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 on the bit pattern: add 0x7FFF + (bit 16), clear the low 16 bits."""
    u = x32.view(np.uint32)
    lsb = (u >> np.uint32(16)) & np.uint32(1)            # the last bit that survives: ties go to it being 0
    r = (u + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)
    nan = np.isnan(x32)
    r = np.where(nan, (u & np.uint32(0xFFFF0000)) | np.uint32(0x00400000), r)   # keep NaN a (quiet) NaN
    return r.astype(np.uint32).view(np.float32)


def round_to_format(x, fmt, scheme: str = "symmetric", saturate: bool | None = None) -> np.ndarray:
    """``x`` rounded to ``fmt``, returned as float32 values of ``x``'s shape.

    ``x`` is taken as float32 first (a float32 tensor being cast).
    Floats: round to nearest, ties to even; FP32 is a float32 cast, FP16 ``astype(np.float16)``,
    BF16 integer rounding of the float32 bits, FP8 :func:`round_minifloat`. ``saturate``: None = the
    format's own rule (E4M3 saturates, the others overflow to inf); True clips to ±max first.
    Ints (``intb``) quantize per tensor with :func:`qnn_lite.quantizers.uniform.fake_quantize`:
    ``scheme="symmetric"``: $\\Delta = \\max|x| / (2^{b-1} - 1)$, codes $[-(2^{b-1}-1), 2^{b-1}-1]$
    ($2^b - 1$ levels, zero exact); ``"affine"``: $2^b$ levels spread over $[\\min(x,0), \\max(x,0)]$.
    Binary: $\\alpha\\,\\operatorname{sign}(x)$ with $\\alpha = \\operatorname{mean}|x|$ (Rastegari et al., 2016), sign(0) = +1.
    """
    fmt = get_format(fmt)
    x = as_array(x)
    if fmt.kind == "float":
        x = x.astype(np.float32)
        if saturate is not None and not isinstance(saturate, (bool, np.bool_)):
            raise TypeError(f"saturate must be None, True or False, got {saturate!r}")
        if fmt == FORMATS["fp32"] and not saturate:
            return x.copy()
        if fmt == FORMATS["fp16"] and not saturate:
            with np.errstate(over="ignore"):
                return x.astype(np.float16).astype(np.float32)
        if fmt == FORMATS["bf16"] and not saturate:
            return _round_bf16(x)
        return round_minifloat(x, fmt, saturate).astype(np.float32)
    if scheme not in ("symmetric", "affine"):
        raise ValueError(f"scheme must be 'symmetric' or 'affine', got {scheme!r}")
    x32 = x.astype(np.float32)
    if x32.size == 0:
        raise ValueError("x must have at least one element to choose a scale, got shape "
                         f"{x32.shape}")
    if not np.isfinite(x32).all():
        raise ValueError(f"x must be finite to quantize to {fmt.name} (the scale comes from min/max), "
                         f"got {int((~np.isfinite(x32)).sum())} non-finite value(s)")
    if fmt.kind == "binary":
        alpha = np.float32(np.abs(x32).mean())
        return np.where(x32 >= 0, alpha, -alpha).astype(np.float32)
    quant_min, quant_max = qrange(fmt.bits, signed=True, narrow=scheme == "symmetric")
    s, z = calc_qparams(x32.min(), x32.max(), quant_min, quant_max, symmetric=scheme == "symmetric")
    return fake_quantize(x32, s, z, quant_min, quant_max)


# ----- sizes and the summary table -------------------------------------------------------------------
def model_size_bytes(num_params: int, bits: int) -> int:
    """Bytes to store ``num_params`` values of ``bits`` bits each, packed: $\\lceil n \\cdot b / 8 \\rceil$."""
    for name, v, lo in (("num_params", num_params, 0), ("bits", bits, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    return -(-int(num_params) * int(bits) // 8)


def format_table(names=("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int4", "binary")) -> str:
    """A fixed-width text table: bits, sign/exponent/mantissa, max, smallest normal and positive, eps, # values."""
    def g(v):
        return "—" if v is None else f"{v:.4g}"
    head = (f"{'format':<9} {'bits':>4} {'s/e/m':>7} {'max':>10} {'min normal':>11} {'min > 0':>10} "
            f"{'eps':>10} {'# values':>14}")
    rows = [head, "-" * len(head)]
    for name in names:
        f = get_format(name)
        sem = f"1/{f.exp_bits}/{f.man_bits}" if f.kind == "float" else ("1/-/" + str(f.man_bits) if f.kind == "int" else "-/-/1")
        rows.append(f"{f.name:<9} {f.bits:>4} {sem:>7} {g(f.max):>10} {g(f.min_normal):>11} "
                    f"{g(f.min_subnormal):>10} {g(f.eps):>10} {f.num_values:>14,}")
    return "\n".join(rows)
