"""How much memory and time a cycle-by-cycle ``SystolicArray`` run needs, before it starts.

The stepping simulator keeps, per fold, the skewed edge schedules of both operands
(``n_stream x rows`` and ``n_stream x cols`` int64 values, ``n_stream = T + rows + cols - 2``),
a few ``rows x cols`` registers, the operands and the result, and one utilisation value per
cycle; ``record=True`` adds every PE's state in every cycle. ``state_bytes`` adds these up
(an upper estimate); ``check_fits`` refuses a run that needs more than the machine has, and
``progress`` gives a tqdm bar over the folds of a long run (off when ``QNN_LITE_QUIET=1``).
For layers too big to step through, ``qnn_lite.hw.estimate_cycles`` gives the same cycle
count in closed form.
"""
from __future__ import annotations

import os

import numpy as np

from ..validate import check_shape
from .estimate import estimate_cycles, scalesim_mapping

__all__ = ["state_bytes", "available_bytes", "check_fits", "SLOW_CYCLES", "progress", "check_int_matrix",
           "check_no_overflow", "INT64_MAX"]

INT64_MAX = 2**63 - 1

SLOW_CYCLES = 500_000   # ~2 s of stepping on an 8x8 array: show a progress bar from here on
_SCHEDULE_BYTES = 40    # per edge-schedule entry: value, tag, index, gathered value (int64), mask
_TRACE_BYTES = 8 * 6 + 1  # per PE per cycle with record=True: mac (3 int64), left, down, stat., busy


def state_bytes(M: int, K: int, N: int, rows: int, cols: int, dataflow: str,
                record: bool = False) -> int:
    """Upper estimate of the bytes ``SystolicArray(rows, cols, dataflow).run_gemm`` allocates."""
    T = scalesim_mapping(M, K, N, dataflow)[2]
    n_stream = T + rows + cols - 2
    cycles = estimate_cycles(M, K, N, rows, cols, dataflow)
    total = _SCHEDULE_BYTES * n_stream * (rows + cols)        # edge schedules of one fold
    total += 8 * (T * rows + T * cols + 12 * rows * cols)       # operand tiles, PE registers
    total += 8 * 3 * (M * K + K * N + M * N)                    # int64 operands, result, copies
    total += 40 * cycles                                        # utilisation list + array
    if record:
        total += (_TRACE_BYTES * rows * cols + 64) * cycles
    return total


def available_bytes() -> int:
    """Memory the OS says is available now (``MemAvailable``), else all physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits(M: int, K: int, N: int, rows: int, cols: int, dataflow: str,
               record: bool = False, limit: int | None = None) -> int:
    """Raise ``MemoryError`` naming the need when the run cannot fit in ``limit`` bytes.

    ``limit`` defaults to ``available_bytes()``. Returns the estimated need in bytes.
    """
    need = state_bytes(M, K, N, rows, cols, dataflow, record)
    limit = available_bytes() if limit is None else limit
    if need > limit:
        raise MemoryError(
            f"SystolicArray({rows}, {cols}, {dataflow!r}).run_gemm on an ({M}, {K}) x ({K}, {N}) GEMM"
            f"{' with record=True' if record else ''} would need about {_gib(need)} of simulator state, "
            f"more than the {_gib(limit)} available; use a smaller array or layer, or "
            f"qnn_lite.hw.estimate_cycles({M}, {K}, {N}, {rows}, {cols}, {dataflow!r}) "
            f"(= {estimate_cycles(M, K, N, rows, cols, dataflow)} cycles) for big layers")
    return need


def _quiet() -> bool:
    return os.environ.get("QNN_LITE_QUIET", "") not in ("", "0")


def progress(total_folds: int, cycles: int, desc: str):
    """A tqdm bar over ``total_folds`` folds when ``cycles >= SLOW_CYCLES`` and not quiet, else None."""
    if cycles < SLOW_CYCLES or _quiet():
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total_folds, desc=desc, unit="fold", leave=False)


def check_int_matrix(name: str, X) -> np.ndarray:
    """``X`` as a non-empty int64 matrix that fits the accumulators."""
    X = np.asarray(X)  # not validate.as_array: that imports autograd, and hw stays a leaf
    if X.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {X.dtype}")
    check_shape(X, name, 2, "(a matrix)")
    if X.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {X.shape}")
    if X.dtype == np.uint64 and X.max() > INT64_MAX:
        raise ValueError(f"{name} must fit int64 (the simulator's accumulators), got a value "
                         f"{int(X.max())} > 2**63 - 1")
    return X.astype(np.int64)


def check_no_overflow(A: np.ndarray, B: np.ndarray) -> None:
    """Raise if a partial sum of A @ B could leave int64: bound = sum_k max|A[:, k]| max|B[k, :]|."""
    a = [max(-lo, hi) for lo, hi in zip(A.min(axis=0).tolist(), A.max(axis=0).tolist())]
    b = [max(-lo, hi) for lo, hi in zip(B.min(axis=1).tolist(), B.max(axis=1).tolist())]
    bound = sum(x * y for x, y in zip(a, b))                 # Python ints: exact
    if bound > INT64_MAX:
        raise ValueError(f"A @ B may reach |C| = {bound} (sum_k max|A[:, k]| * max|B[k, :]|), beyond "
                         f"the int64 accumulators' 2**63 - 1: the result would wrap; use smaller values")
