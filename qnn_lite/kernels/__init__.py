"""Compiled kernels (numba), each beside or pointing to the short numpy reference it is tested against:
bit packing, XNOR-popcount GEMM / conv, bit-serial GEMM, int8 GEMM, the fused SGD update
(`sgd.py`), the conv input gradient's col2im (`col2im.py`); `dispatch.py` is where training
chooses them."""
from .bitpack import (num_words, pack_rows, pack_cols, unpack_rows, unpack_cols,  # noqa: F401
                      pack_bitplanes_rows, pack_bitplanes_cols)
from .bgemm import binary_matmul, binary_linear, binary_conv2d  # noqa: F401
from .bitserial import bit_serial_matmul, plane_weights  # noqa: F401
from .intgemm import int8_matmul  # noqa: F401
from ._config import limited_threads  # noqa: F401
