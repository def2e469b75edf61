"""Systolic array: exact products, cycle counts vs closed form and SCALE-Sim v3, traces."""
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite.hw import SystolicArray, estimate_cycles, estimate_sram_accesses, im2col
from qnn_lite.hw.estimate import conv_gemm_shape

DATAFLOWS = ["ws", "os", "is"]
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "scalesim_cycles.json")


def conv_reference(x, w, stride):
    """Direct convolution, (B, C, H, W) x (F, C, R, S) -> (B, F, E_h, E_w), with
    E = ceil((H - R + stride) / stride): windows past the bottom/right edge read zeros."""
    E_h = math.ceil((x.shape[2] - w.shape[2] + stride) / stride)
    E_w = math.ceil((x.shape[3] - w.shape[3] + stride) / stride)
    x = np.pad(x, ((0, 0), (0, 0), (0, (E_h - 1) * stride + w.shape[2] - x.shape[2]),
                   (0, (E_w - 1) * stride + w.shape[3] - x.shape[3])))
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    return np.einsum("bchwrs,fcrs->bfhw", win.astype(np.int64), w.astype(np.int64))


# ---------------------------------------------------------------- exact products
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (1, 7, 1), (6, 1, 5), (5, 3, 7), (9, 10, 11)])
@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 3), (4, 4)])
def test_gemm_exact_int8(dataflow, M, K, N, rows, cols):
    rng = np.random.default_rng(M * 100 + K * 10 + N)
    A = rng.integers(-128, 128, (M, K), dtype=np.int8)
    B = rng.integers(-128, 128, (K, N), dtype=np.int8)
    C, rep = SystolicArray(rows, cols, dataflow).run_gemm(A, B)
    assert C.dtype == np.int64
    np.testing.assert_array_equal(C, A.astype(np.int64) @ B.astype(np.int64))
    assert rep.macs == M * K * N


@settings(max_examples=30, deadline=None)
@given(M=st.integers(1, 9), K=st.integers(1, 9), N=st.integers(1, 9),
       rows=st.integers(1, 5), cols=st.integers(1, 5), dataflow=st.sampled_from(DATAFLOWS),
       seed=st.integers(0, 2**16))
def test_gemm_property(M, K, N, rows, cols, dataflow, seed):
    rng = np.random.default_rng(seed)
    A = rng.integers(-128, 128, (M, K))
    B = rng.integers(-128, 128, (K, N))
    C, rep = SystolicArray(rows, cols, dataflow).run_gemm(A, B)
    np.testing.assert_array_equal(C, A @ B)
    assert rep.cycles == estimate_cycles(M, K, N, rows, cols, dataflow)
    assert np.all((rep.utilization >= 0) & (rep.utilization <= 1))
    # every MAC happens exactly once: busy PE-cycles = M*K*N
    assert round(rep.utilization.sum() * rows * cols) == M * K * N


def test_gemm_zero_and_extreme_values():
    A = np.full((3, 4), -128, dtype=np.int8)
    B = np.full((4, 2), -128, dtype=np.int8)
    for df in DATAFLOWS:
        C, _ = SystolicArray(2, 2, df).run_gemm(A, B)
        assert np.all(C == 4 * 128 * 128)
        Z, _ = SystolicArray(2, 2, df).run_gemm(np.zeros((3, 4), int), B)
        assert np.all(Z == 0)


# ------------------------------------------------------------------ cycle counts
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_cycles_equal_closed_form_on_grid(dataflow):
    rng = np.random.default_rng(0)
    for M, K, N in [(1, 1, 1), (3, 8, 2), (8, 3, 9), (12, 5, 4)]:
        for rows, cols in [(1, 1), (1, 4), (3, 2), (4, 4), (8, 5)]:
            A, B = rng.integers(-3, 4, (M, K)), rng.integers(-3, 4, (K, N))
            _, rep = SystolicArray(rows, cols, dataflow).run_gemm(A, B)
            assert rep.cycles == estimate_cycles(M, K, N, rows, cols, dataflow)
            assert len(rep.utilization) == rep.cycles
            assert rep.cycles == rep.folds * rep.cycles_per_fold
            acc = estimate_sram_accesses(M, K, N, rows, cols, dataflow)
            assert (rep.a_reads, rep.b_reads, rep.c_writes) == \
                (acc["a_reads"], acc["b_reads"], acc["c_writes"])


def test_closed_form_hand_values():
    # WS, 4x4 array, M=10, K=6, N=5: ceil(6/4)*ceil(5/4) = 4 folds of 2*4+4+10-2 = 20
    assert estimate_cycles(10, 6, 5, 4, 4, "ws") == 80
    # IS: Sr=K=6, Sc=M=10 -> 2*3 folds of 2*4+4+5-2 = 15
    assert estimate_cycles(10, 6, 5, 4, 4, "is") == 90
    # OS: Sr=M=10, Sc=N=5 -> 3*2 folds of 6+4+4-2 = 12
    assert estimate_cycles(10, 6, 5, 4, 4, "os") == 72


def _golden_cases():
    with open(GOLDEN) as f:
        return json.load(f)["cases"]


def test_matches_scalesim_golden_table():
    """Cycles = SCALE-Sim "Total Cycles" + 1; SRAM counts and mapping efficiency equal."""
    cases = _golden_cases()
    assert len(cases) > 200
    rng = np.random.default_rng(1)
    for case in cases:
        assert case["stall_cycles"] == 0
        x = rng.integers(-128, 128, (case["C"], case["H"], case["W"]))
        w = rng.integers(-128, 128, (case["F"], case["C"], case["R"], case["S"]))
        arr = SystolicArray(case["rows"], case["cols"], case["dataflow"])
        y, rep = arr.run_conv2d(x, w, stride=case["stride"])
        where = f"{case['layer']} {case['rows']}x{case['cols']} {case['dataflow']}"
        np.testing.assert_array_equal(y, conv_reference(x[None], w, case["stride"])[0], where)
        assert rep.cycles == case["total_cycles"] + 1, where
        assert rep.scalesim_total_cycles == case["total_cycles"], where
        M, K, N = conv_gemm_shape(case["H"], case["W"], case["C"], case["F"], case["R"],
                                  case["S"], case["stride"])
        assert estimate_cycles(M, K, N, case["rows"], case["cols"], case["dataflow"]) \
            == case["total_cycles"] + 1, where
        assert rep.a_reads == case["ifmap_reads"], where
        assert rep.b_reads == case["filter_reads"], where
        extra = rep.folds * (case["rows"] + case["cols"]) if case["dataflow"] == "os" else 0
        assert rep.c_writes + extra == case["ofmap_writes"], where
        assert rep.mapping_efficiency * 100 == pytest.approx(case["mapping_eff"], abs=1e-5)
        # SCALE-Sim's overall util divides by its 0-based cycle count
        assert rep.overall_utilization * rep.cycles / (rep.cycles - 1) * 100 \
            == pytest.approx(case["overall_util"], abs=1e-5), where


# --------------------------------------------------------------- utilisation, trace
def test_utilization_tiny_ws_hand_computed():
    # 2x2 WS, 1x1x1: 2 load cycles, then the single MAC in PE (0,0) at stream cycle 0,
    # then 2+2+1-2-1 = 2 drain cycles: 5 cycles, utilisation [0, 0, 1/4, 0, 0]
    C, rep = SystolicArray(2, 2, "ws").run_gemm(np.array([[3]]), np.array([[-5]]))
    assert C[0, 0] == -15
    np.testing.assert_allclose(rep.utilization, [0, 0, 0.25, 0, 0])
    assert rep.overall_utilization == pytest.approx(1 / 20)
    assert rep.mapping_efficiency == pytest.approx(0.25)


def test_utilization_tiny_os_hand_computed():
    # 2x2 OS, 2x2 @ 2x2: the wavefront covers 1, 3, 3, 1 PEs
    A, B = np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]])
    C, rep = SystolicArray(2, 2, "os").run_gemm(A, B)
    np.testing.assert_array_equal(C, [[19, 22], [43, 50]])
    np.testing.assert_allclose(rep.utilization, [0.25, 0.75, 0.75, 0.25])
    assert rep.overall_utilization == pytest.approx(8 / 16)
    assert rep.mapping_efficiency == 1.0


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_trace_covers_every_mac_once(dataflow):
    rng = np.random.default_rng(2)
    M, K, N, R, C = 5, 4, 3, 3, 2
    A, B = rng.integers(-9, 9, (M, K)), rng.integers(-9, 9, (K, N))
    _, rep = SystolicArray(R, C, dataflow).run_gemm(A, B, record=True)
    tr = rep.trace
    assert tr["busy"].shape == (rep.cycles, R, C)
    assert tr["mac"].shape == (rep.cycles, R, C, 3)
    macs = tr["mac"][tr["busy"]]
    assert len(macs) == M * K * N
    assert len({tuple(m) for m in macs}) == M * K * N
    assert macs.min() == 0 and tuple(macs.max(axis=0)) == (M - 1, K - 1, N - 1)
    np.testing.assert_allclose(tr["busy"].mean(axis=(1, 2)), rep.utilization)
    n_load = np.count_nonzero(tr["phase"] == "load")
    assert n_load == (0 if dataflow == "os" else R * rep.folds)
    if dataflow == "ws":   # at the end of the first load the tile of B sits in the PEs
        np.testing.assert_array_equal(tr["stationary"][R - 1][:R, :C], B[:R, :C])


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_trace_registers_hold_the_right_operands(dataflow):
    rng = np.random.default_rng(4)
    M, K, N, R, C = 4, 5, 3, 2, 3
    A, B = rng.integers(1, 99, (M, K)), rng.integers(1, 99, (K, N))
    _, rep = SystolicArray(R, C, dataflow).run_gemm(A, B, record=True)
    tr = rep.trace
    m, k, n = tr["mac"][tr["busy"]].T
    left, down, stat = tr["left"][tr["busy"]], tr["down"][tr["busy"]], tr["stationary"][tr["busy"]]
    if dataflow == "ws":      # A moves right past stationary B
        np.testing.assert_array_equal(left, A[m, k])
        np.testing.assert_array_equal(stat, B[k, n])
    elif dataflow == "is":    # B moves right past stationary A
        np.testing.assert_array_equal(left, B[k, n])
        np.testing.assert_array_equal(stat, A[m, k])
    else:                     # A moves right, B moves down
        np.testing.assert_array_equal(left, A[m, k])
        np.testing.assert_array_equal(down, B[k, n])


def test_trace_off_by_default():
    _, rep = SystolicArray(2, 2).run_gemm(np.ones((2, 2), int), np.ones((2, 2), int))
    assert rep.trace is None


# -------------------------------------------------------------------- convolution
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_conv2d_batch_exact(dataflow):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 3, 7, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 2), dtype=np.int8)
    y, rep = SystolicArray(4, 3, dataflow).run_conv2d(x, w, stride=2)
    ref = conv_reference(x, w, 2)
    assert y.shape == ref.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(y, ref)
    assert (rep.M, rep.K, rep.N) == (2 * 3 * 3, 3 * 3 * 2, 4)


def test_im2col_window_order_is_scalesim():
    # column index (r*S + s)*C + c: channel fastest
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    w = np.zeros((1, 2, 2, 2), int)
    A, B, shape = im2col(x, w)
    assert shape == (1, 2, 2)
    np.testing.assert_array_equal(A[0], [x[0, 0, 0], x[1, 0, 0], x[0, 0, 1], x[1, 0, 1],
                                         x[0, 1, 0], x[1, 1, 0], x[0, 1, 1], x[1, 1, 1]])
    assert math.ceil((7 - 3 + 2) / 2) == im2col(np.zeros((1, 7, 7), int),
                                                  np.zeros((1, 1, 3, 3), int), 2)[2][1]


# -------------------------------------------------------------------------- errors
def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="rows"):
        SystolicArray(0, 4)
    with pytest.raises(ValueError, match="cols"):
        SystolicArray(4, -1)
    with pytest.raises(TypeError, match="rows"):
        SystolicArray(2.5, 4)
    with pytest.raises(ValueError, match="dataflow"):
        SystolicArray(4, 4, "rs")
    with pytest.raises(ValueError, match="dataflow"):
        estimate_cycles(2, 2, 2, 4, 4, "xs")
    with pytest.raises(ValueError, match="M"):
        estimate_cycles(0, 2, 2, 4, 4)


def test_bad_operand_errors():
    arr = SystolicArray(2, 2)
    with pytest.raises(TypeError, match="A"):
        arr.run_gemm(np.ones((2, 2)), np.ones((2, 2), int))
    with pytest.raises(TypeError, match="B"):
        arr.run_gemm(np.ones((2, 2), int), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="shapes"):
        arr.run_gemm(np.ones((2, 3), int), np.ones((2, 2), int))
    with pytest.raises(ValueError, match="A"):
        arr.run_gemm(np.ones(3, int), np.ones((3, 2), int))
    with pytest.raises(ValueError, match="A"):
        arr.run_gemm(np.ones((0, 3), int), np.ones((3, 2), int))
    with pytest.raises(ValueError, match="channels"):
        arr.run_conv2d(np.ones((2, 4, 4), int), np.ones((1, 3, 2, 2), int))
    with pytest.raises(TypeError, match="x"):
        arr.run_conv2d(np.ones((2, 4, 4)), np.ones((1, 2, 2, 2), int))
    with pytest.raises(ValueError, match="stride"):
        arr.run_conv2d(np.ones((2, 4, 4), int), np.ones((1, 2, 2, 2), int), stride=0)
    with pytest.raises(ValueError, match="kernel"):
        arr.run_conv2d(np.ones((2, 2, 2), int), np.ones((1, 2, 3, 3), int))


def test_conv2d_window_past_edge_reads_zero():
    # H=1, W=3, kernel 1x2, stride 2: E_w = ceil((3-2+2)/2) = 2 (SCALE-Sim); the second
    # window covers x[2] and one column past the edge
    x = np.array([[[2, 3, 5]]])
    w = np.array([[[[7, 11]]]])
    for df in DATAFLOWS:
        y, rep = SystolicArray(2, 2, df).run_conv2d(x, w, stride=2)
        np.testing.assert_array_equal(y, [[[2 * 7 + 3 * 11, 5 * 7]]])
        assert (rep.M, rep.K, rep.N) == (2, 2, 1)
