"""Run small problems on one thread: waking numba's thread pool costs more than the work.

Measured here (numba 0.68, OpenMP layer, 2 busy cores): packing a 3 x 70 matrix takes
~5 us on one thread but 0.1-1.5 ms when the parallel kernel wakes a second thread.
`numba.set_num_threads` is per calling thread, so this is safe with other threads.
"""
import contextlib

import numba

SMALL_WORK = 1 << 21          # inner-loop steps below which a kernel runs serially (~100 us)


@contextlib.contextmanager
def threads_for(work, small=SMALL_WORK):
    """Context manager: one numba thread if `work < small`, else leave the setting alone."""
    if work >= small:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@contextlib.contextmanager
def limited_threads(n: int):
    """Context manager: numba and BLAS limited to ``n`` threads inside the block (for timings)."""
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    limits = threadpool_limits(n)
    try:
        yield
    finally:
        limits.restore_original_limits()
        numba.set_num_threads(previous)
