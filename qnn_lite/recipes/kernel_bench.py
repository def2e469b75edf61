"""Chapter 9's kernel timings: a quick version of ``bench/kernels.py`` the chapter prints.

* :func:`benchmark_table` / :func:`format_benchmark` — numpy float32 matmul against the binary,
  2x2-bit bit-serial and int8 kernels, one row per size (:data:`BENCH_COLUMNS`).
* :func:`bitserial_cost` — bit-serial time against bit width: O(bits) when one operand is
  binary, O(bits^2) when both grow.

Times are best-of-``repeat`` wall clock in milliseconds (:func:`best_ms`); they are noisy on a
shared machine, so the chapter marks them ``NBVAL_IGNORE_OUTPUT``.
"""
from __future__ import annotations

import time

import numpy as np

from ..validate import check_int as _check_int
from ..kernels import limited_threads

__all__ = ["best_ms", "benchmark_table", "format_benchmark", "bitserial_cost", "BENCH_COLUMNS"]

BENCH_COLUMNS = ("n", "f32_ms", "binary_ms", "bitserial_ms", "int8_ms", "pack_ms",
                 "binary_x", "bitserial_x", "int8_x", "pack_pct")


def best_ms(fn, repeat: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeat`` runs (after one warm-up run), in milliseconds."""
    repeat = _check_int(repeat, "repeat", 1)
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1e3 * best


def benchmark_table(sizes=(256, 512, 1024), repeat: int = 3, threads: int = 1, seed: int = 0) -> list:
    """One dict per n with :data:`BENCH_COLUMNS`: times (ms) of square n x n x n products and ratios.

    f32: numpy float32 ``A @ B``; binary: ``binary_matmul`` on packed operands; bitserial:
    ``bit_serial_matmul`` 2-bit x 2-bit unsigned (plane packing included); int8: ``int8_matmul``;
    pack: ``pack_rows(A) + pack_cols(B)``. ``*_x`` = f32 time / kernel time, ``pack_pct`` = 100 pack / f32.
    The full table (up to n = 4096, 1 and 2 threads) is ``bench/kernels.py`` (``make bench``).
    """
    from ..kernels import bit_serial_matmul, binary_matmul, int8_matmul, pack_cols, pack_rows

    if isinstance(sizes, (int, np.integer)) or len(sizes) == 0:
        raise ValueError(f"sizes must be a non-empty sequence of ints >= 1, got {sizes!r}")
    sizes = [_check_int(n, "sizes", 1) for n in sizes]
    repeat, threads = _check_int(repeat, "repeat", 1), _check_int(threads, "threads", 1)
    rng = np.random.default_rng(seed)
    rows = []
    with limited_threads(threads):
        for n in sizes:
            A = rng.choice(np.array([-1.0, 1.0], np.float32), (n, n))
            B = rng.choice(np.array([-1.0, 1.0], np.float32), (n, n))
            Ap, Bp = pack_rows(A), pack_cols(B)
            A2, B2 = rng.integers(0, 4, (n, n), dtype=np.int8), rng.integers(0, 4, (n, n), dtype=np.int8)
            A8, B8 = rng.integers(-128, 128, (n, n), dtype=np.int8), rng.integers(-128, 128, (n, n), dtype=np.int8)
            r = {"n": n,
                 "f32_ms": best_ms(lambda: A @ B, repeat),
                 "binary_ms": best_ms(lambda: binary_matmul(Ap, Bp, n), repeat),
                 "bitserial_ms": best_ms(lambda: bit_serial_matmul(A2, B2, 2, 2), repeat),
                 "int8_ms": best_ms(lambda: int8_matmul(A8, B8), repeat),
                 "pack_ms": best_ms(lambda: (pack_rows(A), pack_cols(B)), repeat)}
            for key in ("binary", "bitserial", "int8"):
                r[f"{key}_x"] = r["f32_ms"] / r[f"{key}_ms"]
            r["pack_pct"] = 100 * r["pack_ms"] / r["f32_ms"]
            rows.append(r)
    return rows


def format_benchmark(rows) -> str:
    """The rows of :func:`benchmark_table` as a fixed-width text table (ms, and speed-ups over float32)."""
    head = (f"{'n':>5} {'f32 ms':>8} {'binary':>8} {'2bx2b':>8} {'int8':>8} {'pack':>8}  |"
            f" {'f32/bin':>7} {'f32/2b2b':>8} {'f32/int8':>8} {'pack %':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['n']:>5} {r['f32_ms']:>8.2f} {r['binary_ms']:>8.2f} {r['bitserial_ms']:>8.2f} "
                     f"{r['int8_ms']:>8.2f} {r['pack_ms']:>8.2f}  | {r['binary_x']:>7.1f} {r['bitserial_x']:>8.1f} "
                     f"{r['int8_x']:>8.1f} {r['pack_pct']:>7.1f}")
    return "\n".join(lines)


def bitserial_cost(n: int = 512, bits=(1, 2, 3, 4), repeat: int = 3, threads: int = 1, seed: int = 0) -> list:
    """Time of ``bit_serial_matmul`` on n x n x n for each b in ``bits``, two ways.

    ``"a_only"``: a_bits = b, b_bits = 1 (b plane pairs: cost O(bits));
    ``"both"``: a_bits = b_bits = b (b^2 plane pairs: cost O(bits^2)). Unsigned operands.
    Returns dicts ``{"bits", "mode", "pairs", "ms"}``.
    """
    from ..kernels import bit_serial_matmul

    n, repeat, threads = _check_int(n, "n", 1), _check_int(repeat, "repeat", 1), _check_int(threads, "threads", 1)
    bits = [_check_int(b, "bits", 1, 8) for b in bits]
    rng = np.random.default_rng(seed)
    rows = []
    with limited_threads(threads):
        for b in bits:
            A = rng.integers(0, 1 << b, (n, n), dtype=np.int16)
            for mode, bb in (("a_only", 1), ("both", b)):
                B = rng.integers(0, 1 << bb, (n, n), dtype=np.int16)
                ms = best_ms(lambda: bit_serial_matmul(A, B, b, bb), repeat)
                rows.append({"bits": b, "mode": mode, "pairs": b * bb, "ms": ms})
    return rows
