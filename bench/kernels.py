"""Benchmark the numba kernels against numpy: binary, bit-serial and int8 GEMM.

    python bench/kernels.py                 # n = 256 .. 4096, 1 and 2 threads
    python bench/kernels.py --quick         # n = 256, 512, 1024
    python bench/kernels.py --sizes 512 2048 --threads 1

Square n x n x n products. The table starts with a legend (LEGEND below) that explains
every column; each time is the best of k runs with the spread of the k runs beside it, and a
row where some column's spread is too large to trust is flagged.
"""
import argparse
import os
import sys
import time

import numpy as np
import numba
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from qnn_lite.kernels import (binary_matmul, bit_serial_matmul, int8_matmul,  # noqa: E402
                              pack_cols, pack_rows)

SKIP_SECONDS = 3.0      # skip a slow numpy baseline when one run would take longer
NOISY = 0.25            # flag a row when a column's median run is > 25% slower than its best run
LEGEND = """\
Times in ms for an n x n x n product, best of k runs; '+NN%' beside a time is its spread:
how much slower the median run was than the best (load from other processes shows up there).
  f32       numpy float32 matmul (BLAS, limited to the thread count via threadpoolctl)
  bitcnt    numpy on the same packed words: np.bitwise_count(a ^ b).sum() over row blocks
  binary    qnn_lite binary_matmul on packed operands (packing not included)
  2bx2b     qnn_lite bit_serial_matmul, 2-bit x 2-bit unsigned (plane packing included)
  int8      qnn_lite int8_matmul (int8 x int8 -> int32, repacking included)
  np_int8   numpy int32 matmul of the int8 data (int8 @ int8 would overflow); no BLAS
  pack      pack_rows(A) + pack_cols(B) from float32 +-1 matrices
Ratios (how many times faster ours is; > 1 = ours wins):
  f32/bin    f32 / binary        bitcnt/bin  bitcnt / binary     f32/2b2b  f32 / 2bx2b
  f32/int8   f32 / int8          npi8/i8     np_int8 / int8      pack%f32  pack as % of f32
bitcnt and np_int8 are single-threaded numpy code, measured once per n (shown in both thread
rows); '-' means skipped: predicted (2 x cubic scaling) to take over 3 s per run.
A row marked 'NOISY: cols' had a spread over {noisy:.0%} in those columns: rerun it on a quiet
machine before trusting its ratios.""".format(noisy=NOISY)


def summarize(samples):
    """(best, spread) of a list of run times: the minimum, and how much slower the median was."""
    best, median = min(samples), float(np.median(samples))
    return best, (median / best - 1.0) if best > 0 else 0.0


def race(fns, repeat):
    """(best time in ms, spread) of each function over `repeat` rounds. Runs are interleaved so
    that a burst of load from other processes hits every column alike; fast functions run
    several times per round (about 20 ms worth) and keep the round's best, so that every
    function contributes one sample per round."""
    first = {}
    for key, fn in fns.items():                    # warm up (and compile)
        t = time.perf_counter()
        fn()
        first[key] = time.perf_counter() - t
    inner = {key: min(20, max(1, int(0.02 / max(t, 1e-6)))) for key, t in first.items()}
    samples = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            best = float("inf")
            for _ in range(inner[key]):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            samples[key].append(1e3 * best)
    return {key: summarize(v) for key, v in samples.items()}


def numpy_bitcount_matmul(Ap, Bp, k):
    """The best plain-numpy XNOR-popcount: a block of rows against all columns at once."""
    M, W = Ap.shape
    N = Bp.shape[0]
    out = np.empty((M, N), np.int32)
    rows = max(1, (1 << 19) // max(1, N * W))     # ~4 MB of uint64 temporaries per block
    for i in range(0, M, rows):
        x = np.bitwise_xor(Ap[i:i + rows, None, :], Bp[None, :, :])
        out[i:i + rows] = k - 2 * np.bitwise_count(x).sum(axis=2, dtype=np.int32)
    return out


def run(n, threads, repeat, est):
    rng = np.random.default_rng(0)
    A = rng.choice(np.array([-1.0, 1.0], np.float32), (n, n))
    B = rng.choice(np.array([-1.0, 1.0], np.float32), (n, n))
    Ap, Bp = pack_rows(A), pack_cols(B)
    A2, B2 = rng.integers(0, 4, (n, n), dtype=np.int8), rng.integers(0, 4, (n, n), dtype=np.int8)
    A8, B8 = rng.integers(-128, 128, (n, n), dtype=np.int8), rng.integers(-128, 128, (n, n), dtype=np.int8)
    with threadpool_limits(threads):
        numba.set_num_threads(threads)
        r = race({"f32": lambda: A @ B,
                  "binary": lambda: binary_matmul(Ap, Bp, n),
                  "2bx2b": lambda: bit_serial_matmul(A2, B2, 2, 2),
                  "int8": lambda: int8_matmul(A8, B8),
                  "pack": lambda: (pack_rows(A), pack_cols(B))}, repeat)
    # numpy's bitwise_count and integer matmul are single-threaded: measure once per n
    for key, fn in (("bitcnt", lambda: numpy_bitcount_matmul(Ap, Bp, n)),
                    ("np_int8", lambda: A8.astype(np.int32) @ B8.astype(np.int32))):
        if (key, n) not in est:
            # predict from the largest size measured so far: O(n^3), x2 for falling out of cache
            done = [(m, t) for (k, m), (t, _) in est.items() if k == key and np.isfinite(t)]
            m, t = max(done) if done else (n, 0.0)
            if 2 * t * (n / m) ** 3 > SKIP_SECONDS * 1e3 or (not done and n > 1024):
                est[key, n] = (float("nan"), 0.0)
            else:
                est[key, n] = race({key: fn}, 3 if n >= 1024 else repeat)[key]
        r[key] = est[key, n]
    return r


def cell(best, spread):
    """'  12.34 +5%' for a time and its spread; '-' for a skipped measurement."""
    return f"{best:9.2f} {f'+{100 * spread:.0f}%':>4}" if np.isfinite(best) else f"{'-':>14}"


def ratio(a, b, width):
    return f"{a / b:{width}.1f}" if np.isfinite(a) and np.isfinite(b) else f"{'-':>{width}}"


def row(threads, n, r, cols):
    """One line of the table: times with spreads, ratios of the best times, and a NOISY flag."""
    t = {c: r[c][0] for c in cols}
    noisy = [c for c in cols if np.isfinite(r[c][0]) and r[c][1] > NOISY]
    return (f"{threads:>3} {n:>5} " + " ".join(cell(*r[c]) for c in cols) + "  | "
            + ratio(t["f32"], t["binary"], 7) + ratio(t["bitcnt"], t["binary"], 11)
            + ratio(t["f32"], t["2bx2b"], 9) + ratio(t["f32"], t["int8"], 9)
            + ratio(t["np_int8"], t["int8"], 8) + ratio(100 * t["pack"], t["f32"], 9)
            + (f"  NOISY: {' '.join(noisy)}" if noisy else ""))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n in 256, 512, 1024 only")
    p.add_argument("--sizes", type=int, nargs="+", help="matrix sizes n (default 256..4096)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    p.add_argument("--repeat", type=int, default=5, help="runs per measurement (k): the best is shown, with the spread")
    args = p.parse_args(argv)
    sizes = args.sizes or ([256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"numba {numba.__version__}, numpy {np.__version__}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    cols = ["f32", "bitcnt", "binary", "2bx2b", "int8", "np_int8", "pack"]
    print(LEGEND)
    print(f"k = {args.repeat} runs for n < 2048, {max(3, args.repeat // 2)} above; numpy baselines 3 runs from n = 1024")
    print()
    print(f"{'thr':>3} {'n':>5} " + " ".join(f"{c:>14}" for c in cols) +
          "  | f32/bin bitcnt/bin f32/2b2b f32/int8 npi8/i8 pack%f32")
    est = {}
    for threads in args.threads:
        for n in sizes:
            r = run(n, threads, args.repeat if n < 2048 else max(3, args.repeat // 2), est)
            print(row(threads, n, r, cols), flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores; other load inflates times)")


if __name__ == "__main__":
    main()
