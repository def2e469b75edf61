"""Closed-form cycle and SRAM-access counts of a systolic array (SCALE-Sim's model).

A GEMM ``C = A @ B`` with ``A: (M, K)`` and ``B: (K, N)`` is mapped onto a
``rows x cols`` array as SCALE-Sim v3 does (Samajdar et al., 2018/2020):

==========  =============================  ====  ====  ====
dataflow    stationary operand             Sr    Sc    T
==========  =============================  ====  ====  ====
``"ws"``    B (weights), rows = K          K     N     M
``"is"``    A (inputs, transposed)         K     M     N
``"os"``    C (outputs accumulate in PEs)  M     N     K
==========  =============================  ====  ====  ====

``Sr`` is spread over the array rows, ``Sc`` over its columns and ``T`` is streamed
through time. The layer is cut into ``ceil(Sr/rows) * ceil(Sc/cols)`` folds, each run
on the whole array one after another. Cycles per fold:

* WS / IS: ``rows`` cycles to load the stationary tile, then ``T + rows + cols - 2``
  cycles to stream T vectors through the skewed array and drain the last partial
  sum out of the bottom-right PE: ``2*rows + cols + T - 2``.
* OS: nothing to preload; operands enter skewed from the left and the top and the
  last PE finishes after ``T + rows + cols - 2`` cycles.

SCALE-Sim's "Total Cycles" is the 0-based index of the last cycle, so it prints
``estimate_cycles(...) - 1`` (SCALE-Sim issue #125). The SRAM counts below are the
ones SCALE-Sim reports, except OS output writes, where SCALE-Sim adds ``rows + cols``
per fold (a counting quirk of ``systolic_compute_os``); we count each output once.
"""
from __future__ import annotations

import math

from ..validate import check_choice, check_int

DATAFLOWS = ("ws", "os", "is")


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise naming ``name``."""
    return check_int(value, name, 1)


def check_dataflow(dataflow) -> str:
    """Return the dataflow name, or raise ValueError naming the allowed ones."""
    return check_choice(dataflow, "dataflow", DATAFLOWS)


def scalesim_mapping(M: int, K: int, N: int, dataflow: str) -> tuple[int, int, int]:
    """(Sr, Sc, T): the GEMM dimension on array rows, on array columns, and in time."""
    dataflow = check_dataflow(dataflow)
    return {"ws": (K, N, M), "is": (K, M, N), "os": (M, N, K)}[dataflow]


def fold_counts(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> tuple[int, int]:
    """(row_folds, col_folds) = (ceil(Sr / rows), ceil(Sc / cols))."""
    Sr, Sc, _ = scalesim_mapping(M, K, N, dataflow)
    return math.ceil(Sr / rows), math.ceil(Sc / cols)


def cycles_per_fold(T: int, rows: int, cols: int, dataflow: str) -> int:
    """2*rows + cols + T - 2 for WS/IS (load + stream + drain), rows + cols + T - 2 for OS."""
    preload = 0 if check_dataflow(dataflow) == "os" else rows
    return preload + T + rows + cols - 2


def estimate_cycles(M: int, K: int, N: int, rows: int, cols: int, dataflow: str = "ws") -> int:
    """Total cycles of an (M,K) x (K,N) GEMM on a rows x cols array, stall-free.

    cycles = ceil(Sr/rows) * ceil(Sc/cols) * cycles_per_fold(T); equals the stepping
    simulator ``SystolicArray.run_gemm`` and SCALE-Sim v3's "Total Cycles" + 1.
    """
    M, K, N = (check_positive_int(n, v) for n, v in (("M", M), ("K", K), ("N", N)))
    rows, cols = check_positive_int("rows", rows), check_positive_int("cols", cols)
    fr, fc = fold_counts(M, K, N, rows, cols, dataflow)
    T = scalesim_mapping(M, K, N, dataflow)[2]
    return fr * fc * cycles_per_fold(T, rows, cols, dataflow)


def estimate_sram_accesses(M: int, K: int, N: int, rows: int, cols: int,
                           dataflow: str = "ws") -> dict[str, int]:
    """SRAM reads of A and B and writes of C (one access = one element).

    A streamed or broadcast operand is re-read once per fold along the other array
    axis; partial sums of C are written once per row fold (WS/IS) or once (OS).
    """
    fr, fc = fold_counts(M, K, N, rows, cols, dataflow)
    if dataflow == "ws":
        return {"a_reads": fc * M * K, "b_reads": K * N, "c_writes": fr * M * N}
    if dataflow == "is":
        return {"a_reads": M * K, "b_reads": fc * K * N, "c_writes": fr * M * N}
    return {"a_reads": fc * M * K, "b_reads": fr * K * N, "c_writes": M * N}


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """E = ceil((H - R + stride) / stride), SCALE-Sim's output size (no padding)."""
    return math.ceil((size - kernel + stride) / stride)


def conv_gemm_shape(H: int, W: int, C_in: int, C_out: int, R: int, S: int,
                    stride: int = 1, batch: int = 1) -> tuple[int, int, int]:
    """(M, K, N) = (batch*E_h*E_w, R*S*C_in, C_out): the im2col GEMM of a convolution."""
    E_h, E_w = conv_output_size(H, R, stride), conv_output_size(W, S, stride)
    return batch * E_h * E_w, R * S * C_in, C_out
