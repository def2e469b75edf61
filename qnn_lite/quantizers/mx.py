r"""OCP Microscaling (MX) block formats v1.0: 32 elements share one power-of-two (E8M0) scale.

A block $V_1..V_k$ ($k = 32$) is stored as one scale $X = 2^{e}$ (E8M0: 8 exponent bits, bias 127,
$e \in [-127, 127]$, code 0xFF = NaN) and $k$ elements $P_i$ in a small format; $V_i \approx X P_i$.
Conversion (OCP MX spec v1.0, §6.3; the reference code github.com/microsoft/microxcaling):

* $e = \lfloor \log_2 \max_i |V_i| \rfloor - e_{max}$, where $e_{max}$ is the exponent of the element
  format's largest normal number (E4M3: 8, E5M2: 15, E3M2: 4, E2M3: 2, E2M1: 2, INT8: 0);
  clamped below at -127; an all-zero block gets the smallest scale.
* $P_i = \mathrm{round}(V_i / X)$ to the element format (ties to even; subnormals kept), and a
  finite value beyond the element's max normal *saturates* to $\pm$max.
* A block holding a NaN or $\pm\infty$, or whose $e$ exceeds 127, gets the NaN scale: every value
  of that block decodes to NaN.

MXINT8's element is a two's-complement int8 with an implicit scale $2^{-6}$ (values $q/64$),
saturated symmetrically to $\pm 127/64$ as in the reference code.
Cost: $b_{elem} + 8/32$ bits per value (MXFP4: 4.25, MXFP8/MXINT8: 8.25).
Shapes: blocks run along ``axis`` (default last); its length must be a multiple of ``block_size``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validate import as_array, check_choice, check_int

SCALE_EMIN, SCALE_EMAX = -127, 127   # E8M0's exponent range; 0xFF is NaN


@dataclass(frozen=True)
class MXElement:
    """An MX element format: ``exp_bits``/``man_bits`` (int: ``exp_bits=0``), ``emax``, largest normal ``max``."""
    name: str
    exp_bits: int
    man_bits: int
    emax: int
    max: float

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits if self.exp_bits else 8

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal ($1 - \\text{bias}$)."""
        return 2 - 2 ** (self.exp_bits - 1)


MX_FORMATS = {
    "mxfp8_e4m3": MXElement("mxfp8_e4m3", 4, 3, 8, 448.0),
    "mxfp8_e5m2": MXElement("mxfp8_e5m2", 5, 2, 15, 57344.0),
    "mxfp6_e3m2": MXElement("mxfp6_e3m2", 3, 2, 4, 28.0),
    "mxfp6_e2m3": MXElement("mxfp6_e2m3", 2, 3, 2, 7.5),
    "mxfp4": MXElement("mxfp4", 2, 1, 2, 6.0),
    "mxint8": MXElement("mxint8", 0, 6, 0, 127 / 64),
}
_ALIASES = {"mxfp8": "mxfp8_e4m3", "mxfp6": "mxfp6_e2m3", "mxfp4_e2m1": "mxfp4"}


def get_mx_format(fmt) -> MXElement:
    """An :class:`MXElement` from itself or a name in ``MX_FORMATS`` (``'mxfp8'`` = E4M3, ``'mxfp6'`` = E2M3)."""
    if isinstance(fmt, MXElement):
        return fmt
    key = _ALIASES.get(fmt, fmt) if isinstance(fmt, str) else fmt
    return MX_FORMATS[check_choice(key, "fmt", sorted(MX_FORMATS))]


def round_element(x: np.ndarray, fmt) -> np.ndarray:
    """Round (already scaled) values to the element format: ties to even, saturating at ±max."""
    fmt = get_mx_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    if fmt.exp_bits == 0:                               # MXINT8: a fixed-point grid of step 2**-6
        step = 2.0 ** -fmt.man_bits
        return np.clip(np.rint(x / step) * step, -fmt.max, fmt.max)
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e2 = np.frexp(a)                             # floor(log2 a) = e2 - 1
        step = np.ldexp(1.0, np.maximum(e2 - 1, fmt.emin) - fmt.man_bits)
        y = np.minimum(np.rint(a / step) * step, fmt.max)
    return np.copysign(y, x)


def _blocks(x, block_size, axis):
    x = as_array(x, "x").astype(np.float64)
    if x.ndim == 0:
        raise ValueError("x must have at least one axis, got a 0-d array")
    block_size = check_int(block_size, "block_size", 1)
    axis = check_int(axis, "axis", -x.ndim, x.ndim - 1) % x.ndim
    n = x.shape[axis]
    if n % block_size:
        raise ValueError(f"the length of axis {axis} ({n}) must be a multiple of block_size={block_size}, "
                         f"got shape {x.shape}")
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(*moved.shape[:-1], n // block_size, block_size), axis


def mx_encode(x, fmt="mxfp4", block_size: int = 32, axis: int = -1):
    """``(scale_exp, elements)``: E8M0 exponents ``(..., n // block_size)`` (float: NaN = the NaN scale)
    and the element values ``(..., n // block_size, block_size)`` (floats on the element grid), blocks
    along ``axis`` moved last."""
    fmt = get_mx_format(fmt)
    b, _ = _blocks(x, block_size, axis)
    with np.errstate(invalid="ignore"):
        amax = np.max(np.abs(b), axis=-1)
    bad = ~np.isfinite(amax)                            # NaN or inf somewhere in the block
    with np.errstate(divide="ignore"):
        _, e2 = np.frexp(np.where(bad, 1.0, amax))
    e = np.where(amax > 0, e2 - 1, SCALE_EMIN + fmt.emax) - fmt.emax
    e = np.maximum(e, SCALE_EMIN).astype(np.float64)
    e[bad | (e > SCALE_EMAX)] = np.nan
    scale = np.ldexp(1.0, np.nan_to_num(e, nan=0).astype(np.int64))[..., None]
    with np.errstate(invalid="ignore"):
        elems = round_element(np.where(bad[..., None], 0.0, b / scale), fmt)
    return e, elems


def mx_decode(scale_exp, elements, axis: int = -1, shape=None) -> np.ndarray:
    """$V_i = 2^{e} P_i$ (NaN for a NaN scale); blocks are put back along ``axis`` (float32)."""
    scale_exp, elements = np.asarray(scale_exp, np.float64), np.asarray(elements, np.float64)
    if elements.shape[:-1] != scale_exp.shape:
        raise ValueError(f"elements (..., n_blocks, block_size) and scale_exp (..., n_blocks) do not match: "
                         f"{elements.shape} vs {scale_exp.shape}")
    nan = np.isnan(scale_exp)
    v = np.ldexp(elements, np.nan_to_num(scale_exp, nan=0).astype(np.int64)[..., None])
    v[nan] = np.nan
    v = v.reshape(*v.shape[:-2], -1)
    return np.moveaxis(v, -1, axis).astype(np.float32)


def mx_fake_quantize(x, fmt="mxfp4", block_size: int = 32, axis: int = -1) -> np.ndarray:
    """Encode to MX and decode again: what an MX tensor really holds (float32, ``x``'s shape)."""
    e, p = mx_encode(x, fmt, block_size, axis)
    return mx_decode(e, p, axis)


def mx_bits_per_value(fmt, block_size: int = 32) -> float:
    """$b_{elem} + 8 / \\text{block\\_size}$: element bits plus the shared E8M0 scale."""
    return get_mx_format(fmt).bits + 8 / check_int(block_size, "block_size", 1)
