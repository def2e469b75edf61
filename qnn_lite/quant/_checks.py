"""Input checks shared by the quantizers: errors name the argument, the value and what is allowed."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor


def as_float(x, name: str = "x") -> np.ndarray:
    """``x`` (Tensor or array-like) as a non-empty, finite floating array; ints/bools become float32."""
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if x.size == 0:
        raise ValueError(f"{name} must have at least one element, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name} must be finite (no NaN or inf), got {int(bad.sum())} non-finite value(s)")
    return x


def check_int(value, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value}")
    return int(value)
