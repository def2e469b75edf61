"""A cycle-by-cycle systolic array: weight, input and output stationary dataflows.

``SystolicArray(rows, cols, dataflow).run_gemm(A, B)`` computes ``A @ B`` (A: (M, K),
B: (K, N), integers) by stepping the array one clock cycle at a time. Each cycle
every PE updates its registers at once, as numpy operations over the whole
``rows x cols`` grid (no Python loop over PEs):

* WS / IS (Kung & Leiserson 1979; Jouppi et al. 2017, the TPU): the stationary tile
  (B for WS, A^T for IS) is shifted in from the top edge, one row per cycle
  (``rows`` cycles). Then the streamed operand enters from the left edge, row i
  delayed by i cycles (the skew), moves one PE right per cycle, and each PE adds
  ``a * w`` to the partial sum coming from the PE above and passes it down; a
  finished dot product leaves the bottom edge of each column.
* OS: A enters from the left and B from the top, both skewed; operands move right
  / down one PE per cycle and each PE accumulates its own output C[i, j].

The mapping, fold order (column folds outer, row folds inner) and cycle accounting
are SCALE-Sim v3's (Samajdar et al., ISPASS 2020); see ``qnn_lite.hw.estimate``.
Each fold runs for a fixed number of cycles on the whole array (the last cycle is
the one where the bottom-right PE finishes), so our cycle count is SCALE-Sim's
"Total Cycles" + 1: SCALE-Sim prints the 0-based index of the last cycle (its
GitHub issue #125). SRAM reads of A and B and writes of C count the elements that
cross the array edges; they equal SCALE-Sim's counts except OS output writes
(SCALE-Sim adds rows + cols per fold there).

Stepping costs time and memory: 512^3 on the default 8x8 array is 2.2 million cycles (10 s
to a minute), 4096^3 is 1.1 billion (hours, and ~40 GiB for the per-cycle utilisation alone).
``run_gemm`` refuses a layer whose simulator state cannot fit in memory (``MemoryError`` with
the size it would need, see ``qnn_lite.hw.budget``), shows a tqdm bar over the folds of a long
run (silent with ``QNN_LITE_QUIET=1``), and refuses operands whose exact product could
overflow the int64 accumulators. For big layers use ``qnn_lite.hw.estimate_cycles``: the
same cycle count in closed form.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np

from .budget import check_fits, check_int_matrix, check_no_overflow, progress
from .lowering import im2col
from .estimate import (check_dataflow, check_positive_int,
                       cycles_per_fold, estimate_cycles, fold_counts, scalesim_mapping)

@dataclass
class SystolicReport:
    """What one run cost. ``cycles`` = SCALE-Sim "Total Cycles" + 1.

    utilization[t] = busy PEs / (rows*cols) in cycle t; overall_utilization =
    M*K*N / (rows*cols*cycles); mapping_efficiency = mean over folds of mapped PEs /
    (rows*cols) (SCALE-Sim's "Mapping Efficiency", as a fraction).
    """
    dataflow: str
    rows: int
    cols: int
    M: int
    K: int
    N: int
    cycles: int
    row_folds: int
    col_folds: int
    cycles_per_fold: int
    macs: int
    utilization: np.ndarray
    overall_utilization: float
    mapping_efficiency: float
    a_reads: int
    b_reads: int
    c_writes: int
    trace: dict | None = field(default=None, repr=False)

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def scalesim_total_cycles(self) -> int:
        """What SCALE-Sim prints as "Total Cycles" (0-based index of the last cycle)."""
        return self.cycles - 1


class SystolicArray:
    """A rows x cols grid of multiply-accumulate PEs with a ws / os / is dataflow."""

    def __init__(self, rows: int = 8, cols: int = 8, dataflow: str = "ws"):
        self.rows = check_positive_int("rows", rows)
        self.cols = check_positive_int("cols", cols)
        self.dataflow = check_dataflow(dataflow)

    def __repr__(self):
        return f"SystolicArray(rows={self.rows}, cols={self.cols}, dataflow={self.dataflow!r})"

    # ------------------------------------------------------------------ GEMM
    def run_gemm(self, A, B, record: bool = False):
        """C = A @ B (int64) computed cycle by cycle; returns (C, SystolicReport).

        A: (M, K), B: (K, N) integer arrays. ``record=True`` keeps the per-cycle state
        in ``report.trace`` (arrays indexed [cycle, row, col]): ``busy`` (PE did a MAC),
        ``mac`` (the (m, k, n) it did, -1 if idle), ``left`` (the operand moving right:
        A for WS / OS, B for IS), ``down`` (what moves down: partial sums for WS / IS,
        B for OS, the stationary tile while it loads), ``stationary`` (the stationary
        tile, or OS accumulators), ``phase`` ("load" or "stream") and ``fold``.
        Recording costs memory proportional to cycles*rows*cols: use small layers.
        Raises ``MemoryError`` (naming the bytes needed) when the simulator state cannot fit,
        and ``ValueError`` when the product could overflow int64. Long runs show a tqdm bar
        (``QNN_LITE_QUIET=1`` silences it); for big layers ``qnn_lite.hw.estimate_cycles`` gives
        the cycle count in closed form.
        """
        A, B = check_int_matrix("A", A), check_int_matrix("B", B)
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"A and B shapes do not match for A @ B: A is {A.shape}, "
                             f"B is {B.shape} (A.shape[1] must equal B.shape[0])")
        M, K = A.shape
        N = B.shape[1]
        check_no_overflow(A, B)
        check_fits(M, K, N, self.rows, self.cols, self.dataflow, record)
        fr, fc = fold_counts(M, K, N, self.rows, self.cols, self.dataflow)
        self._bar = progress(fr * fc, estimate_cycles(M, K, N, self.rows, self.cols, self.dataflow),
                             f"{self!r} ({M}x{K}x{N})")
        try:
            C = self._run(A, B, record)
        finally:
            if self._bar is not None:
                self._bar.close()
        return C, self._report(M, K, N)

    def _run(self, A, B, record):
        self._stats = {"a_reads": 0, "b_reads": 0, "c_writes": 0}
        self._util, self._mapping = [], []
        self._trace = {k: [] for k in ("busy", "mac", "left", "down", "stationary", "phase",
                                       "fold")} if record else None
        if self.dataflow == "ws":    # stream rows of A through stationary B
            C = self._run_stationary(A, B, lambda t, k, c: (t, k, c), ("a_reads", "b_reads"))
        elif self.dataflow == "is":  # stream columns of B through stationary A^T; get C^T
            C = self._run_stationary(B.T, A.T, lambda t, k, c: (c, k, t),
                                     ("b_reads", "a_reads")).T
        else:
            C = self._run_output_stationary(A, B)
        return C

    def _tick(self):
        if getattr(self, "_bar", None) is not None:
            self._bar.update(1)

    def _record(self, n_busy, left, down, stationary, phase, fold, busy_mac=None):
        """Log one cycle: utilisation always; with record=True the full PE state."""
        self._util.append(n_busy / (self.rows * self.cols))
        if self._trace is not None:
            busy, mac = busy_mac() if busy_mac else (np.zeros((self.rows, self.cols), bool),
                                                     np.full((self.rows, self.cols, 3), -1))
            for key, val in zip(("busy", "mac", "left", "down", "stationary", "phase", "fold"),
                                (busy, mac, left, down, stationary, phase, fold)):
                self._trace[key].append(np.copy(val))

    def _mac_state(self, busy, m, k, n):
        """(busy, mac) for the trace: mac[i, j] = (m, k, n) of PE (i, j)'s MAC, -1 if idle."""
        mac = np.stack(np.broadcast_arrays(m, k, n), axis=-1)
        return busy, np.where(busy[..., None], mac, -1)

    @staticmethod
    def _skewed(X, n_cycles):
        """Edge schedule: lane i gets X[tau - i, i] in cycle tau (0 and tag -1 outside)."""
        t = np.arange(n_cycles)[:, None] - np.arange(X.shape[1])[None, :]
        ok = (t >= 0) & (t < X.shape[0])
        vals = np.where(ok, X[np.clip(t, 0, X.shape[0] - 1), np.arange(X.shape[1])], 0)
        return vals, np.where(ok, t, -1), ok

    def _run_stationary(self, X, W, to_mkn, read_keys):
        """Y = X @ W with W (Sr, Sc) held in the PEs and X (T, Sr) streamed in (WS / IS)."""
        R, C = self.rows, self.cols
        T, Sr = X.shape
        Sc = W.shape[1]
        Y = np.zeros((T, Sc), dtype=np.int64)
        i_idx, j_idx = np.arange(R)[:, None], np.arange(C)[None, :]
        n_stream = T + R + C - 2
        for fc in range(math.ceil(Sc / C)):
            for fr in range(math.ceil(Sr / R)):
                fold = fc * math.ceil(Sr / R) + fr
                k0, c0 = fr * R, fc * C
                kk, cc = min(R, Sr - k0), min(C, Sc - c0)
                self._mapping.append(kk * cc / (R * C))
                W_tile = np.zeros((R, C), dtype=np.int64)
                W_tile[:kk, :cc] = W[k0:k0 + kk, c0:c0 + cc]
                X_tile = np.zeros((T, R), dtype=np.int64)
                X_tile[:, :kk] = X[:, k0:k0 + kk]
                # load: the tile enters from the top edge, bottom row first; R cycles
                w = np.zeros((R, C), dtype=np.int64)
                for t in range(R):
                    w[1:] = w[:-1]
                    w[0] = W_tile[R - 1 - t]
                    self._record(0, np.zeros_like(w), w, w, "load", fold)
                self._stats[read_keys[1]] += kk * cc
                # stream: lane i of the left edge gets X[tau - i, i]; partial sums flow down
                x_in, tag_in, ok = self._skewed(X_tile, n_stream)
                self._stats[read_keys[0]] += int(np.count_nonzero(ok[:, :kk]))
                x = np.zeros((R, C), dtype=np.int64)
                tag = np.full((R, C), -1)                  # which row of X each PE holds
                psum = np.zeros((R, C), dtype=np.int64)
                bottom_val = np.empty((n_stream, C), dtype=np.int64)
                bottom_tag = np.empty((n_stream, C), dtype=np.int64)
                for tau in range(n_stream):
                    x[:, 1:] = x[:, :-1]                   # operands move one PE right
                    x[:, 0] = x_in[tau]
                    tag[:, 1:] = tag[:, :-1]
                    tag[:, 0] = tag_in[tau]
                    psum[1:] = psum[:-1]                   # partial sums move one PE down
                    psum[0] = 0
                    psum += x * w
                    bottom_val[tau] = psum[R - 1]          # what leaves the bottom edge
                    bottom_tag[tau] = tag[R - 1]
                    busy_mac = None
                    if self._trace is not None:
                        busy_mac = lambda: self._mac_state(  # noqa: E731
                            (tag >= 0) & (i_idx < kk) & (j_idx < cc),
                            *to_mkn(tag, k0 + i_idx, c0 + j_idx))
                    self._record(np.count_nonzero(tag[:kk, :cc] >= 0), x, psum, w, "stream", fold,
                                 busy_mac)
                # the output buffer adds each finished dot product at its (row, column)
                done = bottom_tag[:, :cc] >= 0
                cols_out = np.broadcast_to(c0 + np.arange(cc), done.shape)
                np.add.at(Y, (bottom_tag[:, :cc][done], cols_out[done]), bottom_val[:, :cc][done])
                self._stats["c_writes"] += int(np.count_nonzero(done))
                self._tick()
        return Y

    def _run_output_stationary(self, A, B):
        """C = A @ B with C[i, j] accumulating in PE (i, j); A from the left, B from the top."""
        R, C = self.rows, self.cols
        M, K = A.shape
        N = B.shape[1]
        out = np.zeros((M, N), dtype=np.int64)
        i_idx, j_idx = np.arange(R)[:, None], np.arange(C)[None, :]
        n_stream = K + R + C - 2
        for fc in range(math.ceil(N / C)):
            for fr in range(math.ceil(M / R)):
                fold = fc * math.ceil(M / R) + fr
                m0, n0 = fr * R, fc * C
                mm, nn = min(R, M - m0), min(C, N - n0)
                self._mapping.append(mm * nn / (R * C))
                A_tile = np.zeros((R, K), dtype=np.int64)
                A_tile[:mm] = A[m0:m0 + mm]
                B_tile = np.zeros((K, C), dtype=np.int64)
                B_tile[:, :nn] = B[:, n0:n0 + nn]
                a_in, ka_in, ok_a = self._skewed(A_tile.T, n_stream)   # row i: A[i, tau - i]
                b_in, _, ok_b = self._skewed(B_tile, n_stream)         # col j: B[tau - j, j]
                self._stats["a_reads"] += int(np.count_nonzero(ok_a[:, :mm]))
                self._stats["b_reads"] += int(np.count_nonzero(ok_b[:, :nn]))
                a = np.zeros((R, C), dtype=np.int64)
                b = np.zeros((R, C), dtype=np.int64)
                ka = np.full((R, C), -1)                   # k index of the A element in each PE
                acc = np.zeros((R, C), dtype=np.int64)
                for tau in range(n_stream):
                    a[:, 1:] = a[:, :-1]                   # A moves right
                    a[:, 0] = a_in[tau]
                    ka[:, 1:] = ka[:, :-1]
                    ka[:, 0] = ka_in[tau]
                    b[1:] = b[:-1]                         # B moves down
                    b[0] = b_in[tau]
                    acc += a * b
                    busy_mac = None
                    if self._trace is not None:
                        busy_mac = lambda: self._mac_state(  # noqa: E731
                            (ka >= 0) & (i_idx < mm) & (j_idx < nn), m0 + i_idx, ka, n0 + j_idx)
                    self._record(np.count_nonzero(ka[:mm, :nn] >= 0), a, b, acc, "stream", fold,
                                 busy_mac)
                # PE (i, j) finished in cycle K-1+i+j; its result is written out once
                out[m0:m0 + mm, n0:n0 + nn] = acc[:mm, :nn]
                self._stats["c_writes"] += mm * nn
                self._tick()
        return out

    def _report(self, M, K, N):
        fr, fc = fold_counts(M, K, N, self.rows, self.cols, self.dataflow)
        T = scalesim_mapping(M, K, N, self.dataflow)[2]
        util = np.asarray(self._util)
        trace = None
        if self._trace is not None:
            trace = {k: np.asarray(v) for k, v in self._trace.items()}
        return SystolicReport(
            dataflow=self.dataflow, rows=self.rows, cols=self.cols, M=M, K=K, N=N,
            cycles=len(util), row_folds=fr, col_folds=fc,
            cycles_per_fold=cycles_per_fold(T, self.rows, self.cols, self.dataflow),
            macs=M * K * N, utilization=util,
            overall_utilization=M * K * N / (self.rows * self.cols * len(util)),
            mapping_efficiency=float(np.mean(self._mapping)), trace=trace, **self._stats)

    # ------------------------------------------------------------ convolution
    def run_conv2d(self, x, w, stride: int = 1, record: bool = False):
        """Convolution lowered to GEMM by im2col as SCALE-Sim does; returns (y, report).

        x: (C_in, H, W) or (batch, C_in, H, W); w: (C_out, C_in, R, S) (PyTorch layout).
        No padding, E = ceil((H - R + stride) / stride) (SCALE-Sim's formula: when
        (H - R) % stride != 0 the last window runs past the bottom/right edge and reads
        zeros, as SCALE-Sim marks those addresses invalid). GEMM: A (batch*E_h*E_w, R*S*C_in)
        with column index (r*S + s)*C_in + c (SCALE-Sim's window order), B (R*S*C_in,
        C_out). y: (C_out, E_h, E_w) or (batch, C_out, E_h, E_w), int64.
        """
        A, B, out_shape = im2col(x, w, stride)
        C, report = self.run_gemm(A, B, record=record)
        batch, E_h, E_w = out_shape
        y = C.reshape(batch, E_h, E_w, -1).transpose(0, 3, 1, 2)
        return (y[0] if np.ndim(x) == 3 else y), report
