"""The hardware simulators refuse what they cannot compute exactly (issue 15, no silent wrong answers)."""
import numpy as np
import pytest

from qnn_lite.hw import BitFusionArray, SystolicArray, estimate_cycles
from qnn_lite.hw import budget


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_run_gemm_int64_overflow_raises(dataflow):
    # 2**62 * 4 = 2**64 wrapped to 0 before
    with pytest.raises(ValueError, match=r"may reach \|C\| = 18446744073709551616.*int64"):
        SystolicArray(2, 2, dataflow).run_gemm(np.array([[2**62]]), np.array([[4]]))
    # a sum of two products each in range whose total is not: 2 * 2**62 = 2**63
    with pytest.raises(ValueError, match="int64"):
        SystolicArray(2, 2, dataflow).run_gemm(np.array([[2**62, 2**62]]), np.array([[1], [1]]))


def test_run_gemm_at_the_int64_edge_is_exact():
    A = np.array([[2**62, 2**62 - 1]], np.int64)
    B = np.array([[1], [1]], np.int64)
    C, _ = SystolicArray(2, 2, "ws").run_gemm(A, B)
    assert C[0, 0] == 2**63 - 1                                   # hand-computed, no wrap
    C, _ = SystolicArray(2, 2, "os").run_gemm(-A, B)
    assert C[0, 0] == -(2**63 - 1)


def test_run_gemm_uint64_beyond_int64_raises():
    with pytest.raises(ValueError, match=r"A must fit int64.*18446744073709551615"):
        SystolicArray(2, 2).run_gemm(np.array([[2**64 - 1]], np.uint64), np.array([[1]]))


def test_huge_array_refused_with_the_memory_it_needs():
    with pytest.raises(MemoryError, match=r"would need about [\d.]+ GiB.*estimate_cycles\(1, 1, 1, 100000, 1"):
        SystolicArray(100000, 1).run_gemm(np.ones((1, 1), int), np.ones((1, 1), int))


def test_check_fits_names_need_and_limit():
    need = budget.state_bytes(64, 64, 64, 8, 8, "ws")
    assert budget.check_fits(64, 64, 64, 8, 8, "ws", limit=need) == need
    with pytest.raises(MemoryError, match=r"more than the 0\.0 GiB available"):
        budget.check_fits(64, 64, 64, 8, 8, "ws", limit=need - 1)
    # record=True keeps rows*cols state per cycle: it needs more
    assert budget.state_bytes(64, 64, 64, 8, 8, "ws", record=True) > need + 64 * estimate_cycles(
        64, 64, 64, 8, 8, "ws")


def test_progress_bar_over_folds_for_long_runs(monkeypatch, capsys):
    monkeypatch.setattr(budget, "SLOW_CYCLES", 10)
    monkeypatch.setenv("QNN_LITE_QUIET", "0")
    A = np.arange(12).reshape(4, 3)
    B = np.arange(6).reshape(3, 2)
    C, rep = SystolicArray(2, 2, "ws").run_gemm(A, B)
    np.testing.assert_array_equal(C, A @ B)
    err = capsys.readouterr().err
    assert f"0/{rep.folds}" in err and "fold/s" in err
    monkeypatch.setenv("QNN_LITE_QUIET", "1")
    SystolicArray(2, 2, "ws").run_gemm(A, B)
    assert "fold" not in capsys.readouterr().err
    monkeypatch.setattr(budget, "SLOW_CYCLES", 10**9)     # short run: no bar even when not quiet
    monkeypatch.setenv("QNN_LITE_QUIET", "0")
    SystolicArray(2, 2, "ws").run_gemm(A, B)
    assert "fold" not in capsys.readouterr().err


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_progress_bar_counts_every_fold(monkeypatch, dataflow):
    import qnn_lite.hw.systolic as systolic

    class Bar:
        n, closed = 0, False

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    bars = []
    monkeypatch.setattr(systolic, "progress", lambda folds, cycles, desc: bars.append(Bar()) or bars[-1])
    _, rep = SystolicArray(2, 3, dataflow).run_gemm(np.ones((5, 4), int), np.ones((4, 7), int))
    assert bars[0].n == rep.folds > 1 and bars[0].closed


@pytest.mark.parametrize("arg", range(7))
def test_conv_cycles_rejects_non_positive_sizes(arg):
    sizes = [1, 16, 16, 4, 4, 3, 3]
    names = ["batch", "IC", "OC", "OH", "OW", "KH", "KW"]
    sizes[arg] = -1
    with pytest.raises(ValueError, match=f"{names[arg]} must be an int >= 1, got -1"):
        BitFusionArray(2, 2).conv_cycles(*sizes)
    sizes[arg] = 0
    with pytest.raises(ValueError, match=f"{names[arg]} must be an int >= 1, got 0"):
        BitFusionArray(2, 2).conv_cycles(*sizes)


def test_conv_cycles_hand_computed():
    # 1 * ceil(16/2) * 4 * 4 * 3 * 3 * ceil(16 / (2 * 1)) = 8 * 16 * 9 * 8
    assert BitFusionArray(2, 2).conv_cycles(1, 16, 16, 4, 4, 3, 3) == 8 * 16 * 9 * 8


@pytest.mark.parametrize("shape_a, shape_b, mkn", [((0, 3), (3, 2), "0, 3, 2"),
                                                    ((2, 0), (0, 2), "2, 0, 2"),
                                                    ((2, 3), (3, 0), "2, 3, 0")])
def test_bitfusion_gemm_empty_names_the_sizes(shape_a, shape_b, mkn):
    with pytest.raises(ValueError, match=f"must be non-empty, got M, K, N = {mkn}"):
        BitFusionArray(2, 2).gemm(np.zeros(shape_a, int), np.zeros(shape_b, int))


def test_bitfusion_conv2d_empty_axis_message():
    with pytest.raises(ValueError, match="no empty axis"):
        BitFusionArray(2, 2).conv2d(np.zeros((0, 2, 3, 3), int), np.zeros((1, 2, 2, 2), int))
