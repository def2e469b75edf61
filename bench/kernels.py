"""Benchmark the numba kernels against numpy: binary, bit-serial and int8 GEMM.

    python bench/kernels.py                 # n = 256 .. 4096, 1 and 2 threads
    python bench/kernels.py --quick         # n = 256, 512, 1024
    python bench/kernels.py --sizes 512 2048 --threads 1

Square n x n x n products. Times are best-of-several in milliseconds (the
machine may be shared, so the minimum is the least noisy estimate).
Columns:
  f32       numpy float32 matmul (BLAS, limited to the thread count via threadpoolctl)
  bitcnt    numpy on the same packed words: np.bitwise_count(a ^ b).sum() over row blocks
  binary    qnn_lite binary_matmul on packed operands (packing not included)
  2bx2b     qnn_lite bit_serial_matmul, 2-bit x 2-bit unsigned (plane packing included)
  int8      qnn_lite int8_matmul (int8 x int8 -> int32, repacking included)
  np_int8   numpy int32 matmul of the int8 data (int8 @ int8 would overflow); no BLAS
  pack      pack_rows(A) + pack_cols(B) from float32 +-1 matrices
bitcnt and np_int8 are single-threaded numpy code, measured once per n (shown in both
thread rows); '-' means skipped: predicted (2 x cubic scaling) to take over 3 s per run.
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


def best_ms(fn, repeat):
    return race({"fn": fn}, repeat)["fn"]


def race(fns, repeat):
    """Best time in ms of each function. Runs are interleaved so that a burst of load
    from other processes hits every column alike; fast functions run several times
    per round (about 20 ms worth) so that they get as many chances as slow ones."""
    best = {}
    for key, fn in fns.items():                    # warm up (and compile)
        t = time.perf_counter()
        fn()
        best[key] = time.perf_counter() - t
    inner = {key: min(20, max(1, int(0.02 / max(t, 1e-6)))) for key, t in best.items()}
    for _ in range(repeat):
        for key, fn in fns.items():
            for _ in range(inner[key]):
                t = time.perf_counter()
                fn()
                best[key] = min(best[key], time.perf_counter() - t)
    return {key: 1e3 * t for key, t in best.items()}


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
            done = [(m, t) for (k, m), t in est.items() if k == key and np.isfinite(t)]
            m, t = max(done) if done else (n, 0.0)
            if 2 * t * (n / m) ** 3 > SKIP_SECONDS * 1e3 or (not done and n > 1024):
                est[key, n] = float("nan")
            else:
                est[key, n] = best_ms(fn, 2 if n >= 1024 else repeat)
        r[key] = est[key, n]
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n in 256, 512, 1024 only")
    p.add_argument("--sizes", type=int, nargs="+", help="matrix sizes n (default 256..4096)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    p.add_argument("--repeat", type=int, default=5, help="runs per measurement, best kept")
    args = p.parse_args(argv)
    sizes = args.sizes or ([256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"numba {numba.__version__}, numpy {np.__version__}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    cols = ["f32", "bitcnt", "binary", "2bx2b", "int8", "np_int8", "pack"]
    head = f"{'thr':>3} {'n':>5} " + " ".join(f"{c:>9}" for c in cols) + \
        "  | f32/bin bitcnt/bin f32/2b2b f32/int8 npi8/i8 pack%f32"
    fmt = lambda v: f"{v:9.2f}" if np.isfinite(v) else f"{'-':>9}"   # noqa: E731
    rat = lambda a, b, w: f"{a / b:{w}.1f}" if np.isfinite(a) and np.isfinite(b) else f"{'-':>{w}}"  # noqa: E731
    print(head)
    est = {}
    for threads in args.threads:
        for n in sizes:
            r = run(n, threads, args.repeat if n < 2048 else max(3, args.repeat // 2), est)
            print(f"{threads:>3} {n:>5} " + " ".join(fmt(r[c]) for c in cols) + "  | "
                  + rat(r["f32"], r["binary"], 7) + rat(r["bitcnt"], r["binary"], 11)
                  + rat(r["f32"], r["2bx2b"], 9) + rat(r["f32"], r["int8"], 9)
                  + rat(r["np_int8"], r["int8"], 8) + f"{100 * r['pack'] / r['f32']:9.1f}", flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores; other load inflates times)")


if __name__ == "__main__":
    main()
