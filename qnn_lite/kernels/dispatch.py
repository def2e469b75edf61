"""The one place where training chooses a compiled kernel over its numpy reference.

Two hot paths of training have a numba fast path, each bit-identical to a readable
numpy reference that stays where a reader looks for it (tests compare the two):

* the SGD update: ``sgd.sgd_update`` vs ``qnn_lite.optim.SGD._numpy_step``;
* the convolution's input gradient: ``col2im.col2im_nchw`` vs ``qnn_lite.autograd.conv.col2im``.

numba is imported here lazily (on the first optimizer step / conv backward), not
with the package.
"""
from __future__ import annotations

import numpy as np

_FUSED = (np.dtype(np.float32), np.dtype(np.float64))


def sgd_step(params: list, group: dict, state: dict) -> list:
    """SGD's update of ``params`` (one param group) by the compiled kernel where the arrays fit it;
    return the parameters it did not take (the caller runs the numpy reference on those).

    Fits: ``grad`` and ``data`` C-contiguous float32/float64 of one shape and dtype, ``data``
    writeable, ``lr`` a Python float, and a momentum buffer (if any) of the same layout.
    ``state`` is the optimizer's ``state`` dict (the buffer lives in ``state[id(p)]``).
    """
    from .sgd import sgd_update
    left, scalars = [], {}             # scalars: the hyper-parameters cast to each dtype, as numpy casts
    for p in params:
        g, data = p.grad, p.data
        dtype = data.dtype
        if not (type(g) is np.ndarray and g.dtype == dtype and dtype in _FUSED and g.shape == data.shape
                and g.flags.c_contiguous and data.flags.c_contiguous and data.flags.writeable
                and type(group["lr"]) is float):
            left.append(p)
            continue
        buf, first = data, False       # data stands in for the buffer without momentum
        if group["momentum"] != 0:
            slot = state.setdefault(id(p), {})
            buf = slot.get("momentum_buffer")
            if buf is None:
                buf = slot["momentum_buffer"] = np.empty_like(data)
                first = True
            elif not (buf.dtype == dtype and buf.shape == data.shape and buf.flags.c_contiguous):
                left.append(p)
                continue
        cast = scalars.get(dtype)
        if cast is None:
            f = dtype.type
            cast = scalars[dtype] = (f(group["lr"]), f(group["momentum"]), f(1 - group["dampening"]),
                                     f(group["weight_decay"]))
        sgd_update(data, g, buf, *cast, first, group["nesterov"])
    return left


def col2im_nchw(cols: np.ndarray, x_shape, kernel, stride, padding, out_size) -> np.ndarray:
    """``conv.col2im`` of the ``(N*OH*OW, KH*KW*C)`` column gradient, compiled: C-contiguous NCHW."""
    from .col2im import col2im_nchw as compiled
    return compiled(cols, x_shape, kernel, stride, padding, out_size)
