"""Weight initialisation, in place, from one seeded random generator.

Randomness in ``qnn_lite.nn`` (default layer init, ``Dropout``) draws from a
single module-level ``np.random.Generator``; ``manual_seed(seed)`` resets it,
like ``torch.manual_seed``. Every ``*_`` function here also takes an explicit
``generator=`` for code that wants its own stream.

* Kaiming / He (He et al., 2015): ``std = gain / sqrt(fan)``, uniform bound ``sqrt(3) * std``.
* Xavier / Glorot (Glorot & Bengio, 2010): ``std = gain * sqrt(2 / (fan_in + fan_out))``.
* ``gain``: 1 for linear, ``sqrt(2)`` for ReLU, ``sqrt(2 / (1 + a^2))`` for leaky ReLU.

PyTorch's default for Linear / Conv2d weights is ``kaiming_uniform_(w, a=sqrt(5))``,
i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and the same bound for the bias.
Shapes: ``fan_in = in * KH * KW`` and ``fan_out = out * KH * KW`` for weights
``(out, in, KH, KW)`` (``(out, in)`` for Linear).
"""
from __future__ import annotations

import math

import numpy as np
from ..validate import check_int

from ..autograd.tensor import Tensor

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the generator behind default inits and Dropout; returns it."""
    global _generator
    _generator = np.random.default_rng(check_int(seed, "seed", 0))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when no ``generator=`` is given."""
    return _generator


def _gen(generator):
    if generator is None:
        return _generator
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be an np.random.Generator or None, got {type(generator).__name__}")
    return generator


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.data[...] = values.astype(tensor.data.dtype, copy=False)
    tensor._version += 1  # an in-place change: graphs that saved the old values cannot backward
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(f"nonlinearity must be one of linear, sigmoid, tanh, relu, leaky_relu, got {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"tensor must have at least 2 dims to compute fans, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with ``U(a, b)``."""
    return _fill(tensor, _gen(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with ``N(mean, std^2)``."""
    return _fill(tensor, _gen(generator).normal(mean, std, size=tensor.shape))


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, np.zeros(tensor.shape))


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, np.ones(tensor.shape))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He uniform: ``U(-bound, bound)``, ``bound = gain * sqrt(3 / fan)`` (He et al., 2015)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He normal: ``N(0, std^2)``, ``std = gain / sqrt(fan)`` (He et al., 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: ``bound = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def default_init_(weight: Tensor, bias: Tensor | None, generator=None) -> None:
    """PyTorch's Linear / Conv2d reset: ``kaiming_uniform_(w, a=sqrt(5))``, bias ``U(+-1/sqrt(fan_in))``."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, generator)
