"""SGD's update fused into one compiled pass over each parameter (numba, imported lazily).

``optim.SGD`` written with numpy makes four passes over every parameter
(``b *= momentum``, ``b += g``, ``lr * b``, ``p -= ...``), each a separate call;
for the small layers of this book the passes and the calls, not the arithmetic,
are the cost. This loop does the same float operations, in the same order and
the same precision (the scalars arrive already cast to the arrays' dtype, as
numpy casts Python floats), rounding after each one: numba does not contract
``a * b + c`` into an FMA. So the result is bit-identical to the numpy update
(a test checks every option). The numpy reference is ``qnn_lite.optim.SGD._numpy_step``;
``kernels/dispatch.py`` decides when this kernel runs instead.
"""
from __future__ import annotations

import numba


@numba.njit(cache=True)
def sgd_update(data, grad, buf, lr, momentum, damp1, weight_decay, first, nesterov):  # pragma: no cover
    """One SGD step in place on C-contiguous ``data`` (and ``buf``, the momentum buffer).

    ``damp1 = 1 - dampening``; ``first`` marks the step that creates the buffer (``b = g``);
    with ``momentum == 0`` the buffer is not touched (any array of the right size will do).
    """
    p, g_in, b_out = data.reshape(-1), grad.reshape(-1), buf.reshape(-1)
    use_wd, use_damp, use_mom = weight_decay != 0, damp1 != 1, momentum != 0
    for i in range(p.size):
        g = g_in[i]
        if use_wd:
            g = g + weight_decay * p[i]
        if use_mom:
            if first:
                b = g
            elif use_damp:
                b = b_out[i] * momentum + damp1 * g
            else:
                b = b_out[i] * momentum + g
            b_out[i] = b
            g = g + momentum * b if nesterov else b
        p[i] = p[i] - lr * g
