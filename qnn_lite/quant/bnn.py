"""Binary and ternary networks: layers with a chosen weight quantizer, 1..k-bit activations, a training recipe.

The quantizers live in :mod:`~qnn_lite.quant.binary`, :mod:`~qnn_lite.quant.ternary` and
:mod:`~qnn_lite.quant.learned`; this module puts them into ``nn`` layers. Every layer keeps
a full-precision *latent* weight (the ``Parameter`` the optimizer updates) and multiplies
with its quantized copy ``quantized_weight()``; the gradient reaches the latent weight
through the quantizer's straight-through estimator (Courbariaux et al., 2015).

Weight quantizers (``weight_quant=``):

* binary: ``"sign"`` (BinaryConnect), ``"xnor"`` ($\\alpha\\,\\mathrm{sign}(W)$, $\\alpha$ = mean|W| per
  output channel; Rastegari et al., 2016), ``"libra_pb"`` (IR-Net; Qin et al., 2020);
* ternary: ``"twn"`` (Li et al., 2016), ``"ttq"`` (learned $W_p$, $W_n$; Zhu et al., 2017);
* k-bit: :class:`KBitLinear` (DoReFa weights; Zhou et al., 2016).

Activations: :class:`SignActivation` ($\\pm 1$, any sign estimator), :class:`Binary01Activation`
($\\{0, 1\\}$), :class:`KBitActivation` (``bits`` uniform levels on [0, 1], DoReFa).
The estimator ``"ede"`` reads ``t`` and ``k`` from the module; :class:`EDESchedule` sets them each epoch.
Shapes: Linear ``(N, in) -> (N, out)``; Conv2d NCHW.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import autograd as ag
from ..autograd.tensor import Tensor
from ..nn import functional as F
from ..nn.containers import Sequential
from ..nn.layers import BatchNorm1d, Conv2d, Linear
from ..nn.module import Module, Parameter
from .binary import binarize, binarize01, libra_pb, xnor_binarize
from .learned import dorefa_act, dorefa_weight
from .ste import ede_schedule
from .ternary import ttq_ternarize, twn_params, twn_ternarize

__all__ = ["BINARY_WEIGHTS", "TERNARY_WEIGHTS", "SIGN_ESTIMATORS", "BinaryLinear", "BinaryConv2d",
           "TernaryLinear", "KBitLinear", "SignActivation", "Binary01Activation", "KBitActivation",
           "set_ede", "EDESchedule", "quantized_mlp", "TrainResult", "train_quantized_mlp",
           "bit_width_table", "format_bit_table"]

BINARY_WEIGHTS = ("sign", "xnor", "libra_pb")
TERNARY_WEIGHTS = ("twn", "ttq")
SIGN_ESTIMATORS = ("identity", "clipped", "approx_sign", "ede", "swish_sign")


def _choice(value, allowed, name):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _bits(value, name, allow_32=True):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or not (1 <= value <= 16 or (allow_32 and value == 32)):
        raise ValueError(f"{name} must be an int in 1..16{' or 32 (full precision)' if allow_32 else ''}, got {value!r}")
    return int(value)


class _SignEstimator:
    """The ``estimator`` keyword arguments of :func:`binarize`; ``ede`` uses the module's current ``t``, ``k``."""

    def _init_estimator(self, estimator, beta=5.0):
        self.estimator = _choice(estimator, SIGN_ESTIMATORS, "estimator")
        self.t, self.k, self.beta = 1.0, 1.0, float(beta)

    def _params(self) -> dict:
        if self.estimator == "ede":
            return {"t": self.t, "k": self.k}
        return {"beta": self.beta} if self.estimator == "swish_sign" else {}


# ----- layers with quantized weights ----------------------------------------------------------
class _BinaryWeight(_SignEstimator):
    def quantized_weight(self) -> Tensor:
        """The binary weight the layer multiplies with (differentiable w.r.t. the latent ``weight``)."""
        if self.weight_quant == "xnor":
            return xnor_binarize(self.weight, axis=0, grad="paper")   # XNOR-Net's own backward
        if self.weight_quant == "libra_pb":
            return libra_pb(self.weight, axis=0, estimator=self.estimator, **self._params())
        return binarize(self.weight, self.estimator, **self._params())

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_quant={self.weight_quant!r}, estimator={self.estimator!r}"


class BinaryLinear(_BinaryWeight, Linear):
    """$y = x\\,Q(W)^\\top + b$ with $Q$ = ``weight_quant`` in ("sign", "xnor", "libra_pb").

    ``estimator`` is the sign's backward for "sign" and "libra_pb" (``"xnor"`` uses XNOR-Net's
    rule $1/n + \\alpha 1\\{|W| \\le 1\\}$). Shapes ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_quant: str = "xnor",
                 estimator: str = "clipped", generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.weight_quant = _choice(weight_quant, BINARY_WEIGHTS, "weight_quant")
        self._init_estimator(estimator)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)


class BinaryConv2d(_BinaryWeight, Conv2d):
    """2-D convolution with binary weights $Q(W)$, ``weight (out, in, KH, KW)``; see :class:`BinaryLinear`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 weight_quant: str = "xnor", estimator: str = "clipped", generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias, generator=generator)
        self.weight_quant = _choice(weight_quant, BINARY_WEIGHTS, "weight_quant")
        self._init_estimator(estimator)

    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), self.bias, self.stride, self.padding)


class TernaryLinear(Linear):
    """$y = x\\,T(W)^\\top + b$ with ternary weights: ``"twn"`` $\\{-\\alpha, 0, \\alpha\\}$, $\\Delta$ = ``delta_factor`` mean|W|,
    or ``"ttq"`` $\\{-W_n, 0, W_p\\}$, $\\Delta$ = ``threshold`` max|W|, with learned ``wp``, ``wn`` (``Parameter`` s of
    shape ``(1,)``, started at TWN's $\\alpha$ of the initial weight). Shapes ``(N, in) -> (N, out)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_quant: str = "twn",
                 delta_factor: float = 0.7, threshold: float = 0.05, generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.weight_quant = _choice(weight_quant, TERNARY_WEIGHTS, "weight_quant")
        self.delta_factor, self.threshold = delta_factor, threshold
        twn_params(self.weight, axis=None, delta_factor=delta_factor)   # validates delta_factor
        if weight_quant == "ttq":
            if not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
                raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
            alpha = float(twn_params(self.weight, axis=None)[1])
            self.wp = Parameter(np.array([alpha], dtype=np.float32))
            self.wn = Parameter(np.array([alpha], dtype=np.float32))

    def quantized_weight(self) -> Tensor:
        """The ternary weight the layer multiplies with."""
        if self.weight_quant == "ttq":
            return ttq_ternarize(self.weight, self.wp, self.wn, threshold=self.threshold)
        return twn_ternarize(self.weight, axis=None, delta_factor=self.delta_factor)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_quant={self.weight_quant!r}"


class KBitLinear(Linear):
    """$y = x\\,Q_k(W)^\\top + b$ with DoReFa's ``bits``-bit weights (Zhou et al., 2016); ``bits=32``: float."""

    def __init__(self, in_features: int, out_features: int, bits: int, bias: bool = True, generator=None):
        super().__init__(in_features, out_features, bias=bias, generator=generator)
        self.bits = _bits(bits, "bits")

    def quantized_weight(self) -> Tensor:
        return dorefa_weight(self.weight, self.bits)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", bits={self.bits}"


# ----- activations -----------------------------------------------------------------------------
class SignActivation(_SignEstimator, Module):
    """$y = \\mathrm{sign}(x) \\in \\{-1, +1\\}$ with the backward of ``estimator`` (see :data:`SIGN_ESTIMATORS`)."""

    def __init__(self, estimator: str = "clipped", beta: float = 5.0):
        Module.__init__(self)
        self._init_estimator(estimator, beta)

    def forward(self, x):
        return binarize(x, self.estimator, **self._params())

    def extra_repr(self) -> str:
        return f"estimator={self.estimator!r}"


class Binary01Activation(Module):
    """$y = 1\\{x \\ge \\theta\\} \\in \\{0, 1\\}$, STE inside $|x - \\theta| \\le$ ``window`` (sparse 0/1 activations; Wang et al., 2020)."""

    def __init__(self, threshold: float = 0.5, window: float = 0.5):
        super().__init__()
        self.threshold, self.window = threshold, window
        binarize01(np.zeros(1, np.float32), threshold, window)   # validates both

    def forward(self, x):
        return binarize01(x, self.threshold, self.window)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, window={self.window}"


class KBitActivation(Module):
    """$y = \\mathrm{rint}((2^k - 1)\\,\\mathrm{clip}(x, 0, 1)) / (2^k - 1)$ (DoReFa); ``bits=32``: the clip alone.

    ``bits=1`` is the 0/1 activation of :func:`~qnn_lite.quant.binary.binarize01` with the same STE on $[0, 1]$,
    except at the tie $x = 1/2$, which ``rint`` (half to even) sends to 0 and ``binarize01`` to 1.
    """

    def __init__(self, bits: int):
        super().__init__()
        self.bits = _bits(bits, "bits")

    def forward(self, x):
        return ag.clip(x, 0.0, 1.0) if self.bits == 32 else dorefa_act(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


# ----- IR-Net's EDE schedule -------------------------------------------------------------------
def set_ede(model: Module, t: float, k: float) -> int:
    """Set ``t``, ``k`` on every module of ``model`` whose estimator is ``"ede"``; returns how many."""
    n = 0
    for m in model.modules():
        if getattr(m, "estimator", None) == "ede":
            m.t, m.k = float(t), float(k)
            n += 1
    return n


class EDESchedule:
    """IR-Net's error-decay schedule as an epoch scheduler: ``step()`` moves ``(t, k)`` = ``ede_schedule(epoch, epochs)``.

    Construction sets epoch 0. Pass it as ``fit(..., scheduler=EDESchedule(model, epochs))``; an optional
    ``lr_scheduler`` is stepped with it.
    """

    def __init__(self, model: Module, epochs: int, t_min: float = 1e-3, t_max: float = 10.0, lr_scheduler=None):
        self.model, self.epochs, self.t_min, self.t_max = model, epochs, t_min, t_max
        self.lr_scheduler, self.epoch = lr_scheduler, 0
        self._apply()

    def _apply(self):
        self.t, self.k = ede_schedule(self.epoch, self.epochs, self.t_min, self.t_max)
        set_ede(self.model, self.t, self.k)

    def step(self) -> None:
        self.epoch = min(self.epoch + 1, self.epochs)
        self._apply()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()


# ----- a quantized MLP and its training recipe -----------------------------------------------
def _weight_layer(n_in, n_out, w_bits, weight_quant, estimator, gen):
    if weight_quant is None:
        weight_quant = {32: "fp", 1: "xnor"}.get(w_bits, "dorefa")
    if weight_quant == "fp":
        return Linear(n_in, n_out, generator=gen)
    if weight_quant == "dorefa":
        return KBitLinear(n_in, n_out, w_bits, generator=gen)
    if weight_quant in TERNARY_WEIGHTS:
        return TernaryLinear(n_in, n_out, weight_quant=weight_quant, generator=gen)
    return BinaryLinear(n_in, n_out, weight_quant=weight_quant, estimator=estimator, generator=gen)


def _act_layer(a_bits, act_quant, estimator):
    if act_quant is None:
        act_quant = "kbit"
    if act_quant == "kbit":
        return KBitActivation(a_bits)
    if act_quant == "01":
        return Binary01Activation()
    return SignActivation(estimator)


def quantized_mlp(w_bits: int = 32, a_bits: int = 32, in_features: int = 64, hidden: int = 64,
                  num_classes: int = 10, depth: int = 2, first_last_fp: bool = True, weight_quant=None,
                  act_quant=None, estimator: str = "clipped", seed: int = 0) -> Sequential:
    """An MLP of ``depth`` hidden blocks ``Linear_q -> BatchNorm1d -> Act_q``, then a ``Linear`` classifier.

    Weights: ``weight_quant`` in ("fp", "dorefa", "sign", "xnor", "libra_pb", "twn", "ttq"); by default
    "fp" for ``w_bits=32``, "xnor" for 1, "dorefa" (``w_bits``-bit) otherwise. Activations:
    ``act_quant`` in ("kbit", "01", "sign"), default "kbit" (``a_bits`` levels on [0, 1]; 32 = clip).
    ``first_last_fp=True`` keeps the first and the last ``Linear`` full precision (as in XNOR-Net, DoReFa).
    Initial weights from ``np.random.default_rng(seed)``. Shapes ``(N, in_features) -> (N, num_classes)``.
    """
    w_bits, a_bits = _bits(w_bits, "w_bits"), _bits(a_bits, "a_bits")
    _choice(weight_quant, (None, "fp", "dorefa") + BINARY_WEIGHTS + TERNARY_WEIGHTS, "weight_quant")
    _choice(act_quant, (None, "kbit", "01", "sign"), "act_quant")
    _choice(estimator, SIGN_ESTIMATORS, "estimator")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int >= 1, got {depth!r}")
    gen = np.random.default_rng(seed)
    layers, n_in = [], in_features
    for i in range(depth):
        fp = first_last_fp and i == 0
        layers += [_weight_layer(n_in, hidden, 32 if fp else w_bits, "fp" if fp else weight_quant, estimator, gen),
                   BatchNorm1d(hidden), _act_layer(a_bits, act_quant, estimator)]
        n_in = hidden
    layers.append(Linear(hidden, num_classes, generator=gen) if first_last_fp
                  else _weight_layer(hidden, num_classes, w_bits, weight_quant, estimator, gen))
    return Sequential(*layers)


class TrainResult(NamedTuple):
    model: Sequential
    test_acc: float | None      # None when training diverged
    history: dict
    diverged: bool


def train_quantized_mlp(w_bits: int = 32, a_bits: int = 32, data=None, epochs: int = 10, lr: float = 0.01,
                        batch_size: int = 64, seed: int = 0, **model_kwargs) -> TrainResult:
    """Train :func:`quantized_mlp` with Adam on ``data = (X_train, y_train, X_test, y_test)`` (flat ``X``).

    ``data=None``: ``load_digits(flat=True)``. Estimator "ede" follows :class:`EDESchedule`.
    A non-finite loss stops training and is reported as ``diverged=True`` with ``test_acc=None``.
    Deterministic for a fixed ``seed`` (BLAS on one thread).
    """
    from threadpoolctl import threadpool_limits

    from ..data import DataLoader, load_digits
    from ..nn.loss import CrossEntropyLoss
    from ..optim import Adam
    from ..train import evaluate, fit

    X_train, y_train, X_test, y_test = load_digits(flat=True) if data is None else data
    model = quantized_mlp(w_bits, a_bits, in_features=X_train.shape[1],
                          num_classes=int(max(y_train.max(), y_test.max())) + 1, seed=seed, **model_kwargs)
    loader = DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    schedule = EDESchedule(model, epochs) if model_kwargs.get("estimator") == "ede" else None
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            history = fit(model, loader, CrossEntropyLoss(), Adam(model.parameters(), lr=lr), epochs,
                          scheduler=schedule, progress=False)
        except (FloatingPointError, ValueError) as err:      # fit's check, or the loss refusing inf logits
            if isinstance(err, ValueError) and "finite" not in str(err):
                raise
            return TrainResult(model, None, {}, True)
        acc = evaluate(model, DataLoader(X_test, y_test, batch_size=512))
    return TrainResult(model, acc, history, False)


def bit_width_table(configs, data=None, **train_kwargs) -> list:
    """``[(w_bits, a_bits, test accuracy or None if diverged), ...]``: one :func:`train_quantized_mlp` per ``(w, a)``."""
    return [(w, a, train_quantized_mlp(w, a, data, **train_kwargs).test_acc) for w, a in configs]


def format_bit_table(rows, title: str = "test accuracy") -> str:
    """The rows of :func:`bit_width_table` as a fixed-width text table (accuracy in %, 2 decimals)."""
    lines = [f"{'W/A':>6}  {title:>14}", "-" * 22]
    for w, a, acc in rows:
        lines.append(f"{f'{w}/{a}':>6}  {'diverged' if acc is None else f'{100 * acc:.2f} %':>14}")
    return "\n".join(lines)
