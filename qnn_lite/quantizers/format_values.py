"""The values a number format holds: how many lie in a range, which they are, how far apart they
are; and a model's weights rounded onto them.

* :func:`count_values` — how many values of a format lie in ``[lo, hi]`` (ints: grid points ``q * scale``).
* :func:`representable_values` — those values themselves, sorted (float formats).
* :func:`spacing` — the gap from ``|x|`` to the next larger value, $2^{k-m}$ (like ``np.spacing``).
* :func:`round_weights` — every weight tensor of a model rounded to a format, with its error.
* :func:`code_table` / :func:`decode_bits` — the value of every bit pattern; the bit fields of a value.

The formats themselves (layout, range, rounding) are :mod:`qnn_lite.quantizers.formats`.
"""
from __future__ import annotations

import functools

import numpy as np

from ..validate import as_array
from .formats import FORMATS, NumberFormat, get_format, round_to_format
from .uniform import qrange

__all__ = ["count_values", "representable_values", "spacing", "round_weights", "code_table", "decode_bits"]


# ----- the grid of representable values --------------------------------------------------------------
def _nonneg_count(a: np.ndarray, fmt: NumberFormat) -> np.ndarray:
    """Number of representable values in ``[0, a]`` for ``a >= 0`` (float formats)."""
    if fmt.bits == 32:
        a32 = np.minimum(a, np.float64(fmt.max)).astype(np.float32)
        a32 = np.where(a32.astype(np.float64) > a, np.nextafter(a32, np.float32(0)), a32)  # round down
        return a32.view(np.uint32).astype(np.int64) + 1      # positive float32 codes are in value order
    table = code_table(fmt)
    pos = np.sort(table[(table >= 0) & np.isfinite(table) & ~np.signbit(table)])
    return np.searchsorted(pos, a, side="right")


def count_values(fmt, lo: float, hi: float, scale: float = 1.0) -> int:
    """How many values of ``fmt`` lie in ``[lo, hi]`` (ints and binary: grid points $q \\cdot$ ``scale``)."""
    fmt = get_format(fmt)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"lo and hi must be finite with lo <= hi, got lo={lo}, hi={hi}")
    if fmt.kind != "float":
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        codes = np.array([-1, 1]) if fmt.kind == "binary" else np.arange(qrange(fmt.bits)[0], qrange(fmt.bits)[1] + 1)
        return int(np.sum((codes * scale >= lo) & (codes * scale <= hi)))
    def n(a):  # values in [0, a] for a >= 0
        return int(_nonneg_count(np.asarray(a, dtype=np.float64), fmt))
    if lo >= 0:
        return n(hi) - (n(np.nextafter(lo, -1.0)) if lo > 0 else 0)
    if hi <= 0:
        return n(-lo) - (n(np.nextafter(-hi, -1.0)) if hi < 0 else 0)
    return n(hi) + n(-lo) - 1                                  # zero counted once


def representable_values(fmt, lo: float, hi: float, limit: int = 100_000) -> np.ndarray:
    """The sorted values of a float format in ``[lo, hi]`` (float64); ValueError if more than ``limit``."""
    fmt = get_format(fmt)
    if fmt.kind != "float":
        raise ValueError(f"fmt must be a float format (ints need a scale: use round_to_format), got {fmt.name!r}")
    count = count_values(fmt, lo, hi)
    if count > limit:
        raise ValueError(f"{fmt.name} has {count} values in [{lo}, {hi}], more than limit={limit}")
    if fmt.bits == 32:
        def walk(a, b):   # float32 values in [a, b], 0 <= a <= b
            start = np.float32(a) if np.float32(a) >= a else np.nextafter(np.float32(a), np.float32(np.inf))
            n = count_values(fmt, float(start), b) if start <= b else 0
            return (start.view(np.uint32) + np.arange(n, dtype=np.uint32)).view(np.float32).astype(np.float64)
        neg = -walk(max(-hi, 0.0), -lo)[::-1] if lo < 0 else np.empty(0)
        pos = walk(max(lo, 0.0), hi) if hi >= 0 else np.empty(0)
        vals = np.concatenate([neg, pos])
    else:
        table = code_table(fmt)
        vals = table[np.isfinite(table)]
    vals = np.unique(vals + 0.0)                               # -0 + 0 = +0: one zero
    return vals[(vals >= lo) & (vals <= hi)]


def spacing(x, fmt) -> np.ndarray:
    """Gap from ``|x|`` to the next larger value of a float format: $2^{k - m}$, $k = \\max(\\lfloor\\log_2|x|\\rfloor, 1-\\text{bias})$.

    Like ``np.spacing`` (which it equals for FP16 and FP32 on finite non-negative values); ``x`` need
    not be representable. float64 out, ``x``'s shape.
    """
    fmt = get_format(fmt)
    if fmt.kind != "float":
        raise ValueError(f"fmt must be a float format (an int grid's spacing is its scale), got {fmt.name!r}")
    a = np.abs(as_array(x).astype(np.float64))
    if not np.isfinite(a).all():
        raise ValueError("x must be finite to have a spacing")
    _, e2 = np.frexp(a)
    return np.ldexp(1.0, np.maximum(e2 - 1, 1 - fmt.bias) - fmt.man_bits)



# ----- rounding a model's weights -------------------------------------------------------------------
def round_weights(model, fmt, scheme: str = "symmetric") -> dict:
    """Round every weight tensor of ``model`` (parameters named ``*weight`` with ndim >= 2: Linear and
    Conv weights; biases and BatchNorm stay float) to ``fmt`` in place, one scale per tensor.

    Returns ``{name: {"numel", "mse", "sqnr_db", "max_abs_error"}}`` per rounded tensor, and
    ``"all"`` pooling the errors of every tensor (SQNR of the concatenated weights).
    """
    from .metrics import mse, sqnr_db

    fmt = get_format(fmt)
    stats, ws, hats = {}, [], []
    for name, p in model.named_parameters():
        if not name.endswith("weight") or p.data.ndim < 2:
            continue
        w = p.data.astype(np.float32).ravel()
        w_hat = round_to_format(w, fmt, scheme=scheme)
        stats[name] = {"numel": w.size, "mse": mse(w, w_hat), "sqnr_db": sqnr_db(w, w_hat),
                       "max_abs_error": float(np.abs(w_hat.astype(np.float64) - w).max())}
        p.data[...] = w_hat.reshape(p.data.shape)
        ws.append(w)
        hats.append(w_hat)
    if not ws:
        raise ValueError(f"model has no weight tensor with ndim >= 2 to round, got {type(model).__name__}")
    w, w_hat = np.concatenate(ws), np.concatenate(hats)
    stats["all"] = {"numel": w.size, "mse": mse(w, w_hat), "sqnr_db": sqnr_db(w, w_hat),
                    "max_abs_error": float(np.abs(w_hat.astype(np.float64) - w).max())}
    return stats


# ----- bit patterns --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def code_table(fmt: NumberFormat) -> np.ndarray:
    """Value of every bit pattern of a float format of <= 16 bits, indexed by the code (float64)."""
    codes = np.arange(2 ** fmt.bits)
    s = codes >> (fmt.bits - 1)
    e = (codes >> fmt.man_bits) & (2 ** fmt.exp_bits - 1)
    f = codes & (2 ** fmt.man_bits - 1)
    mag = np.where(e == 0, f * 2.0 ** (1 - fmt.bias - fmt.man_bits),
                   (1 + f * 2.0 ** -fmt.man_bits) * 2.0 ** (e - fmt.bias))
    top = e == 2 ** fmt.exp_bits - 1
    if fmt.ieee:
        mag = np.where(top, np.where(f == 0, np.inf, np.nan), mag)
    else:
        mag = np.where(top & (f == 2 ** fmt.man_bits - 1), np.nan, mag)
    return np.where(s == 1, -mag, mag)


def _code(v: float, fmt: NumberFormat) -> int:
    """The bit pattern (as an int) of a value already rounded to ``fmt``."""
    if fmt.bits == 32:
        return int(np.float32(v).view(np.uint32))
    if fmt == FORMATS["bf16"]:
        return int(np.float32(v).view(np.uint32)) >> 16
    if np.isnan(v):   # the canonical quiet NaN: exponent all ones, mantissa 10...0 (E4M3: 111)
        f = 2 ** fmt.man_bits - 1 if not fmt.ieee else 2 ** (fmt.man_bits - 1)
        return ((2 ** fmt.exp_bits - 1) << fmt.man_bits) | f
    table = code_table(fmt)
    hits = np.flatnonzero((table == v) & (np.signbit(table) == np.signbit(v)))
    return int(hits[0])


def decode_bits(x, fmt) -> dict:
    """The bit fields of the scalar ``x`` in ``fmt``, as strings, most significant bit first.

    ``x`` is first rounded to ``fmt`` (:func:`round_to_format`). Floats: ``{"sign", "exponent",
    "mantissa"}`` — 1.0 in FP32 is ``"0"``, ``"01111111"``, ``"000...0"`` (23 zeros). Ints: ``x`` must
    be an integer code in ``[-2^{b-1}, 2^{b-1}-1]``; ``{"sign", "value"}`` of its two's complement
    (the sign bit weighs $-2^{b-1}$). Binary: ``{"value": "1"}`` for $x \\ge 0$ (+1), ``"0"`` for −1.
    ``"".join(d.values())`` is the whole bit pattern.
    """
    fmt = get_format(fmt)
    v = np.asarray(getattr(x, "data", x))
    if v.size != 1 or v.dtype.kind not in "fiub":
        raise ValueError(f"x must be a single number, got {v!r}")
    v = float(v.reshape(()))
    if fmt.kind == "binary":
        if np.isnan(v):
            raise ValueError("x must be a number (not NaN) for the binary format, got nan")
        return {"value": "1" if v >= 0 else "0"}
    if fmt.kind == "int":
        lo, hi = qrange(fmt.bits)
        if not np.isfinite(v) or v != int(v) or not lo <= v <= hi:
            raise ValueError(f"x must be an integer code in [{lo}, {hi}] for {fmt.name}, got {x!r}")
        bits = format(int(v) & (2 ** fmt.bits - 1), f"0{fmt.bits}b")
        return {"sign": bits[0], "value": bits[1:]}
    r = float(round_to_format(np.array(v), fmt))
    bits = format(_code(r, fmt), f"0{fmt.bits}b")
    return {"sign": bits[0], "exponent": bits[1:1 + fmt.exp_bits], "mantissa": bits[1 + fmt.exp_bits:]}
