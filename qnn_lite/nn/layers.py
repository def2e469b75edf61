"""The layers: each holds its parameters/buffers and calls one function of ``nn.functional``.

``Linear``, ``Conv2d`` (with ``groups``/``dilation``), ``BatchNorm1d/2d``,
``ReLU``/``ReLU6``/``Hardswish``/``Sigmoid``/``Tanh``, ``Flatten``,
``MaxPool2d``/``AvgPool2d``/``AdaptiveAvgPool2d``, ``Dropout``, ``Identity`` and ``Add``
(a residual sum as a module, so quantization passes can find and requantize it). Names,
arguments, default initialisation and reprs follow PyTorch's.
"""
from __future__ import annotations

import numpy as np

from ..autograd.conv import _pair
from . import functional as F
from . import init
from .module import Module, Parameter
from ..validate import check_fraction, check_int, check_positive


class Identity(Module):
    """$y = x$ (a placeholder, e.g. where a removed BatchNorm was)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """$y = x W^\\top + b$ with ``weight (out_features, in_features)``, ``bias (out_features,)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, generator=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        self.out_features = check_int(out_features, "out_features", 1)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """PyTorch's default init (see ``init.default_init_``)."""
        init.default_init_(self.weight, self.bias, generator)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-D convolution (im2col + GEMM): ``weight (out, in / groups, KH, KW)``, ``bias (out,)``; NCHW.

    ``groups = in_channels`` (with ``out_channels`` a multiple of it) is a depthwise convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, generator=None):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", 1)
        self.out_channels = check_int(out_channels, "out_channels", 1)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.groups = check_int(groups, "groups", 1)
        if min(self.kernel_size) < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size!r}")
        if min(self.stride) < 1:
            raise ValueError(f"stride must be >= 1, got {stride!r}")
        if min(self.padding) < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        if min(self.dilation) < 1:
            raise ValueError(f"dilation must be >= 1, got {dilation!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size),
                                         dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        init.default_init_(self.weight, self.bias, generator)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d (Ioffe & Szegedy, 2015); see ``autograd/norm.py`` for the math."""

    _ndim = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", 1)
        self.eps = check_positive(eps, "eps")
        self.momentum = None if momentum is None else check_fraction(momentum, "momentum")
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        if x.ndim != self._ndim:
            expected = "(N, C)" if self._ndim == 2 else "(N, C, H, W)"
            raise ValueError(f"input to {type(self).__name__} must be {self._ndim}-D {expected}, "
                             f"got shape {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average, as in PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` inputs (statistics per feature over the batch)."""
    _ndim = 2


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` inputs (statistics per channel over N, H, W)."""
    _ndim = 4


class ReLU(Module):
    """$\\max(x, 0)$"""

    def forward(self, x):
        return F.relu(x)


class ReLU6(Module):
    """$\\min(\\max(x, 0), 6)$ (MobileNetV2; Sandler et al., 2018)"""

    def forward(self, x):
        return F.relu6(x)


class Hardswish(Module):
    """$x \\, \\mathrm{ReLU6}(x + 3) / 6$ (MobileNetV3; Howard et al., 2019)"""

    def forward(self, x):
        return F.hardswish(x)


class Add(Module):
    """$y = a + b$: the residual sum of a ResNet / MobileNetV2 block, as a module.

    A plain ``a + b`` inside ``forward`` is invisible to quantization passes that walk
    the modules; an ``Add`` child is where PTQ/QAT put an observer on the output and
    where integer-only inference requantizes both inputs to one scale.
    """

    def forward(self, a, b):
        return a + b


class Sigmoid(Module):
    """$1 / (1 + e^{-x})$"""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """$\\tanh x$"""

    def forward(self, x):
        return F.tanh(x)


class Flatten(Module):
    """Merge axes ``start_dim..end_dim``: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over each ``kernel_size`` window (stride defaults to the kernel size)."""

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each ``kernel_size`` window (zero padding counted, as in PyTorch)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average ``(N, C, H, W)`` down to ``output_size`` (``1``: global average pooling -> ``(N, C, 1, 1)``)."""

    def __init__(self, output_size=1):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Dropout(Module):
    """Zero elements with probability ``p`` in training, scaling the rest by ``1/(1-p)``; identity in eval.

    Draws from ``qnn_lite.nn.init.default_generator()`` (seed it with
    ``qnn_lite.nn.init.manual_seed``) unless a ``generator`` is given.
    """

    def __init__(self, p: float = 0.5, generator=None):
        super().__init__()
        self.p = check_fraction(p, "p")
        self.generator = generator

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
