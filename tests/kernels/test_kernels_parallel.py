"""Shapes large enough for the kernels to run multi-threaded (small ones run on one thread)."""
import numba
import numpy as np

from qnn_lite.kernels import bit_serial_matmul, binary_matmul, int8_matmul, pack_cols, pack_rows
from qnn_lite.kernels._config import SMALL_WORK


def test_parallel_paths_match_numpy():
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    rng = np.random.default_rng(0)
    A = rng.choice(np.array([-1, 1], np.float32), (1030, 1100))      # > 2**20 elements to pack
    B = rng.choice(np.array([-1, 1], np.float32), (1100, 300))
    pa, pb = pack_rows(A), pack_cols(B)
    assert pa.shape[0] * pa.shape[1] * pb.shape[0] >= SMALL_WORK
    np.testing.assert_array_equal(binary_matmul(pa, pb, 1100), A @ B)
    np.testing.assert_array_equal(pack_cols(np.ascontiguousarray(A.T)), pa)

    A8 = rng.integers(-128, 128, (300, 130), dtype=np.int8)         # 300 * 257 * 65 > 2**22
    B8 = rng.integers(-128, 128, (130, 257), dtype=np.int8)
    np.testing.assert_array_equal(int8_matmul(A8, B8), A8.astype(np.int64) @ B8)

    A3 = rng.integers(-4, 4, (300, 260))
    B3 = rng.integers(0, 8, (260, 290))
    np.testing.assert_array_equal(bit_serial_matmul(A3, B3, 3, 3, True, False), A3 @ B3)
