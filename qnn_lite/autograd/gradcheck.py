"""`gradcheck`: compare a backward pass with central finite differences in float64.

For a random cotangent $v$ (seeded) the analytic gradient of $L = \\langle v, f(x) \\rangle$
comes from ``backward(v)``; the numeric one from

    $\\partial L / \\partial x_j \\approx (L(x + \\epsilon e_j) - L(x - \\epsilon e_j)) / (2 \\epsilon)$.

They must agree elementwise within ``atol + rtol * |numeric|`` (``np.isclose``'s rule).
The failure message follows minitorch's: "received f'=..., expecting f'=...".
"""
from __future__ import annotations

import numpy as np
from ..validate import check_positive

from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _prepare(x):
    """Floating arrays/Tensors -> fresh float64 leaf Tensors; anything else untouched."""
    if isinstance(x, Tensor):
        data = x.data
    elif isinstance(x, (np.ndarray, list, tuple)):
        data = np.asarray(x)
    else:
        return x  # Python numbers, None, ... are constants
    if data.dtype.kind != "f":
        return x
    return Tensor(np.array(data, dtype=np.float64, copy=True), requires_grad=True, dtype=np.float64)


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check ``fn``'s gradients w.r.t. every floating input; return True or raise `GradcheckError`.

    ``inputs`` that are floating arrays or Tensors become float64 Tensors with
    ``requires_grad=True`` (copies: the caller's arrays are never perturbed); other
    inputs (integer index arrays, bool masks, Python numbers) are passed through.
    ``fn(*inputs)`` must return a Tensor. Cost: two calls of ``fn`` per input element.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    eps, atol = check_positive(eps, "eps"), float(atol)
    rtol = float(rtol)
    if atol < 0 or rtol < 0:
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
    args = [_prepare(x) for x in inputs]
    wrt = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: inputs must include at least one floating array or Tensor, "
                         f"got types {[type(x).__name__ for x in inputs]}")

    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:
        out.backward(v)

    def loss() -> float:
        with no_grad():
            return float(np.sum(np.asarray(fn(*args).data, dtype=np.float64) * v))

    for i in wrt:
        t = args[i]
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad, dtype=np.float64)
        numeric = np.empty(t.shape)
        flat, num_flat = t.data.reshape(-1), numeric.reshape(-1)  # views of C-contiguous copies
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = loss()
            flat[j] = orig - eps
            down = loss()
            flat[j] = orig
            num_flat[j] = (up - down) / (2 * eps)
        err = np.abs(analytic - numeric)
        excess = err - (atol + rtol * np.abs(numeric))
        bad = ~(excess <= 0)  # NaN anywhere counts as a failure
        if bad.any():
            worst = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -np.inf))),
                                     t.shape)
            a, n = analytic[worst], numeric[worst]
            rel = err[worst] / np.abs(n) if n != 0 else float("inf")
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {t.shape}) at index {tuple(int(k) for k in worst)}: "
                f"received f'={a:.6g}, expecting f'={n:.6g} (abs error {err[worst]:.3g}, "
                f"rel error {rel:.3g}; atol={atol:g}, rtol={rtol:g}; {int(bad.sum())} of {bad.size} "
                f"elements fail)")
    return True
