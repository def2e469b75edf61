"""Comparison helpers for check cases: each raises `Fail` with a message a student can act on."""
from __future__ import annotations

import numpy as np

from .runner import Fail


def as_array(got, what: str, shape=None) -> np.ndarray:
    """The student's value as a float64 array, with the expected shape."""
    if got is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    if hasattr(got, "data") and isinstance(getattr(got, "data"), np.ndarray):
        got = got.data  # a qnn_lite Tensor
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{what} should be numbers, got {type(got).__name__}") from None
    if shape is not None and arr.shape != tuple(shape):
        raise Fail(f"{what} has shape {arr.shape}, expected {tuple(shape)}")
    return arr


def matches(arr, value, rtol=1e-6, atol=1e-8) -> bool:
    value = np.asarray(value, dtype=np.float64)
    return arr.shape == value.shape and bool(np.allclose(arr, value, rtol=rtol, atol=atol, equal_nan=True))


def expect_close(got, want, what: str, rtol=1e-6, atol=1e-8, hint: str = "",
                 mistakes: dict | None = None) -> np.ndarray:
    """Fail unless `got` matches `want` elementwise; reports the worst element.

    `mistakes` maps a hint to the value a known mistake produces: if `got` equals
    one of them, that hint is given instead of the generic `hint`.
    """
    want = np.asarray(want, dtype=np.float64)
    arr = as_array(got, what, want.shape)
    if not matches(arr, want, rtol, atol):
        for mistake_hint, value in (mistakes or {}).items():
            if matches(arr, value, rtol, atol):
                hint = mistake_hint
                break
    if np.any(np.isnan(arr)) and not np.any(np.isnan(want)):
        raise Fail(f"{what} contains NaN" + (f": {hint}" if hint else ""))
    bad = ~np.isclose(arr, want, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, np.abs(arr - want), -1)), arr.shape) if arr.ndim else ()
        where = f" at index {tuple(int(k) for k in i)}" if arr.ndim else ""
        msg = f"{what}: got {arr[i]:.6g}, expected {want[i]:.6g}{where} ({int(bad.sum())} of {bad.size} wrong)"
        raise Fail(msg + (f"\n{hint}" if hint else ""))
    return arr


def expect_equal(got, want, what: str, hint: str = ""):
    """Fail unless `got == want` (tuples/ints compared as Python values)."""
    try:
        same = type(got) is not bool and got == want
        if isinstance(same, np.ndarray):
            same = bool(same.all())
    except Exception:  # noqa: BLE001
        same = False
    if not same:
        raise Fail(f"{what}: got {got!r}, expected {want!r}" + (f"\n{hint}" if hint else ""))
