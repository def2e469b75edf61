"""``qnn_lite.nn.functional``: the stateless layer functions, PyTorch-style (``import ... as F``).

Each name is the same function that lives next to its Function in
``qnn_lite.autograd`` (conv.py, pool.py, norm.py, linear.py, loss.py and the
generic ops); this module only gathers them under PyTorch's names, plus
``dropout``, ``flatten`` and ``adaptive_avg_pool2d``, which are built from existing ops.
"""
from __future__ import annotations

import numpy as np
from ..validate import check_fraction

from .. import autograd as _ag
from ..autograd.activation import hardswish, relu6  # noqa: F401
from ..autograd.conv import _pair, conv2d, im2col  # noqa: F401
from ..autograd.linear import linear  # noqa: F401
from ..autograd.loss import cross_entropy, mse_loss  # noqa: F401
from ..autograd.norm import batch_norm  # noqa: F401
from ..autograd.pool import avg_pool2d, max_pool2d  # noqa: F401
from ..autograd.tensor import Tensor
from . import init as _init


def relu(x: Tensor) -> Tensor:
    """$\\max(x, 0)$ (``qnn_lite.autograd.relu``)."""
    return _ag.relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """$1 / (1 + e^{-x})$ (``qnn_lite.autograd.sigmoid``)."""
    return _ag.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """$\\tanh x$ (``qnn_lite.autograd.tanh``)."""
    return _ag.tanh(x)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """$x_i - \\log \\sum_j e^{x_j}$ along ``dim`` (``qnn_lite.autograd.log_softmax``)."""
    return _ag.log_softmax(x, dim)


def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)`` by default."""
    nd = x.ndim
    s = start_dim + nd if start_dim < 0 else start_dim
    e = end_dim + nd if end_dim < 0 else end_dim
    if not (0 <= s < max(nd, 1) and 0 <= e < max(nd, 1)) or s > e:
        raise ValueError(f"start_dim={start_dim}, end_dim={end_dim} are not a valid axis range "
                         f"for an input with shape {x.shape}")
    shape = x.shape[:s] + (-1,) + x.shape[e + 1:]
    return x.reshape(shape)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (Srivastava et al., 2014).

    Identity when ``training=False``. Random draws come from ``generator`` or the
    seeded ``qnn_lite.nn.init.default_generator()`` (see ``qnn_lite.nn.init.manual_seed``).
    """
    p = check_fraction(p, "p")
    x = x if isinstance(x, Tensor) else Tensor(x)
    if not training or p == 0.0:
        return x
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=dtype)
    else:
        gen = _init.default_generator() if generator is None else generator
        mask = (gen.random(x.shape) >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))
    return x * Tensor(mask)


def adaptive_avg_pool2d(x: Tensor, output_size=1) -> Tensor:
    """Average ``(N, C, H, W)`` down to ``(N, C, OH, OW)`` = ``output_size``.

    ``output_size=1`` is global average pooling (the mean over H and W, Lin et al., 2014,
    "Network in Network"). Other sizes must divide H and W evenly (then every window has
    ``H/OH x W/OW`` pixels, as in PyTorch); uneven windows are not supported.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    oh, ow = _pair(output_size, "output_size")
    H, W = x.shape[2:]
    if oh < 1 or ow < 1 or H % oh or W % ow:
        raise ValueError(f"output_size must be positive and divide the input's (H, W) = {(H, W)}, "
                         f"got {(oh, ow)}")
    if (oh, ow) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    return avg_pool2d(x, (H // oh, W // ow))
