"""Argument checks used everywhere in qnn_lite: one module, one message style.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, value not allowed) with a message that names the argument, shows the
value received and says what is allowed, e.g.
``ValueError: bits must be an int in 1..16, got 0``.  Each returns the value
converted to its plain Python / numpy form, so a caller writes
``bits = check_int(bits, "bits", 1, 16)``.

This module imports only numpy (and, lazily, ``Tensor`` to unwrap it), so any
layer of the library may use it.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "as_array", "as_float", "as_float32_no_nan", "check_float_array", "check_int", "check_bits", "check_number", "check_positive",
    "check_fraction", "check_bool", "check_choice", "check_quant_range", "check_scale",
    "check_zero_point", "check_shape", "check_rng", "as_tensor",
]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def as_array(x, name: str = "x") -> np.ndarray:
    """``x`` (a Tensor, array or nested list of numbers) as a numpy array of a numeric dtype."""
    from .autograd.tensor import Tensor  # lazy: autograd may itself use this module

    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    return x


def as_float(x, name: str = "x", *, allow_empty: bool = False, finite: bool = True) -> np.ndarray:
    """``x`` as a floating array (ints/bools become float32); non-empty and finite unless told otherwise."""
    x = as_array(x, name)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if x.size == 0 and not allow_empty:
        raise ValueError(f"{name} must have at least one element, got shape {x.shape}")
    if finite:
        bad = ~np.isfinite(x)
        if bad.any():
            raise ValueError(f"{name} must be finite (no NaN or inf), got {int(bad.sum())} non-finite value(s)")
    return x


def check_float_array(x, name: str = "x") -> np.ndarray:
    """``x`` (a Tensor or array) as a floating array without NaN; +-inf pass (a quantizer clips them)."""
    x = as_array(x, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating array, got dtype {x.dtype}")
    nan = np.isnan(x)
    if nan.any():
        raise ValueError(f"{name} must not contain NaN, got {int(nan.sum())} NaN value(s)")
    return x


def as_float32_no_nan(x, who: str = "quantization") -> np.ndarray:
    """``x`` (Tensor or array) as float32 with no NaN (+-inf allowed): what quantizers and observers take."""
    from .autograd.tensor import Tensor  # lazy: autograd may itself use this module

    data = np.asarray(x.data if isinstance(x, Tensor) else x)
    if data.dtype.kind not in "fiub":
        raise TypeError(f"x must be a numeric array or Tensor, got dtype {data.dtype}")
    data = data.astype(np.float32, copy=False)
    if np.isnan(data).any():
        raise ValueError(f"x contains NaN ({int(np.isnan(data).sum())} of {data.size} values); "
                         f"{who} needs real numbers")
    return data


def check_int(value, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``lo..hi`` (either bound may be None; bools are rejected)."""
    allowed = ("an int" if lo is None and hi is None else
               f"an int >= {lo}" if hi is None else
               f"an int <= {hi}" if lo is None else f"an int in {lo}..{hi}")
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def check_bits(bits, name: str = "bits", lo: int = 1, hi: int = 16, *, allow_32: bool = False) -> int:
    """A bit-width: an int in ``lo..hi`` (1..16 unless told otherwise); ``allow_32``: 32 (full precision) too."""
    if not allow_32:
        return check_int(bits, name, lo, hi)
    allowed = f"an int in {lo}..{hi} or 32 (full precision)"
    if not _is_int(bits):
        raise TypeError(f"{name} must be {allowed}, got {bits!r}")
    if not (lo <= bits <= hi or bits == 32):
        raise ValueError(f"{name} must be {allowed}, got {bits}")
    return int(bits)


def check_number(value, name: str, lo: float | None = None, hi: float | None = None,
                 *, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite float in the interval given by ``lo``/``hi`` (open ends if told)."""
    left = "" if lo is None else ("(" if lo_open else "[") + f"{lo}"
    right = "" if hi is None else f"{hi}" + (")" if hi_open else "]")
    allowed = ("a finite number" if lo is None and hi is None else
               f"a number {'>' if lo_open else '>='} {lo}" if hi is None else
               f"a number {'<' if hi_open else '<='} {hi}" if lo is None else
               f"a number in {left}, {right}")
    if not _is_number(value):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return v


def check_positive(value, name: str) -> float:
    """A finite number > 0."""
    return check_number(value, name, 0.0, lo_open=True)


def check_fraction(value, name: str, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """A number in [0, 1] (ends open if told)."""
    return check_number(value, name, 0.0, 1.0, lo_open=lo_open, hi_open=hi_open)


def check_bool(value, name: str) -> bool:
    """A real ``bool`` (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value, name: str, choices) -> str:
    """One of ``choices`` (compared with ==; the message lists them)."""
    choices = tuple(choices)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_quant_range(quant_min, quant_max) -> tuple[int, int]:
    """An integer grid ``quant_min < quant_max`` (ints, so bit codes fit)."""
    quant_min = check_int(quant_min, "quant_min")
    quant_max = check_int(quant_max, "quant_max")
    if quant_min >= quant_max:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    return quant_min, quant_max


def check_scale(scale, name: str = "scale") -> np.ndarray:
    """A scale (scalar or per-channel array): finite and > 0, as float32."""
    s = as_float(scale, name)
    if (s <= 0).any():
        raise ValueError(f"{name} must be > 0 everywhere, got min {float(s.min())!r}")
    return s.astype(np.float32)


def check_zero_point(zero_point, quant_min: int, quant_max: int, name: str = "zero_point") -> np.ndarray:
    """A zero point (scalar or per-channel): integer-valued and inside ``quant_min..quant_max``."""
    z = as_array(zero_point, name)
    if z.dtype.kind == "f" and (not np.isfinite(z).all() or (z != np.rint(z)).any()):
        raise ValueError(f"{name} must hold whole numbers, got {z.ravel()[:4].tolist()}")
    z = z.astype(np.int64)
    if z.size and ((z < quant_min).any() or (z > quant_max).any()):
        raise ValueError(f"{name} must lie in quant_min..quant_max = {quant_min}..{quant_max}, "
                         f"got values in {int(z.min())}..{int(z.max())}")
    return z


def check_shape(x: np.ndarray, name: str, ndim: int | tuple[int, ...], what: str = "") -> np.ndarray:
    """``x`` with ``ndim`` dimensions (an int or a tuple of allowed counts)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        dims = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must be {dims}-D{' ' + what if what else ''}, got shape {tuple(x.shape)}")
    return x


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """A random generator: a ``np.random.Generator`` passes through, an int seed >= 0 makes one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if _is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a np.random.Generator or an int seed >= 0, got {rng!r}")


def as_tensor(x, name: str = "x"):
    """``x`` as a float Tensor (checked like :func:`as_float`): a float Tensor passes through itself."""
    from .autograd.tensor import Tensor  # lazy: autograd may itself use this module

    if isinstance(x, Tensor):
        data = as_float(x.data, name)
        return x if data is x.data else Tensor(data)
    return Tensor(as_float(x, name))
