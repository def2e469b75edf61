"""Hessian trace per layer by Hutchinson's estimator, the HAWQ-v2 sensitivity (Dong et al., 2020).

Hutchinson (1989): for a Rademacher vector ``v`` (entries +-1, each with probability 1/2),
``E[v^T H v] = Tr(H)``; averaging ``n`` samples gives an unbiased estimate with standard error
``std / sqrt(n)`` (the variance of one sample is ``2 sum_{i != j} H_ij^2``).

**Hessian-vector products.** ``qnn_lite.autograd`` has no double backward, so ``Hv`` is the
central finite difference of two gradients from the autograd (Pearlmutter, 1994, gives the exact
``Hv`` as a second backward; this is its numerical stand-in)::

    H v  ~=  (g(theta + eps v) - g(theta - eps v)) / (2 eps),   error O(eps^2)

computed in float64 on a copy of the model, so rounding stays ~1e-16 / eps. ReLU networks are
piecewise linear in their inputs: keep ``eps`` small so the two gradients see the same kinks.

**Per layer.** With ``v`` over the weights of all layers, ``v_l . (Hv)_l`` estimates the diagonal
block's trace ``Tr(H_ll)``: the cross terms ``v_l^T H_lm v_m`` average to 0 (``v_l``, ``v_m``
independent), so one HVP per sample serves every layer (``blockwise=True`` perturbs one layer at
a time instead: lower variance, ``L`` times the work). HAWQ-v2's score for quantizing layer ``l``
is ``Omega_l = Tr(H_ll) / n_l * ||Q(W_l) - W_l||^2`` (:func:`hawq_sensitivity`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.loss import CrossEntropyLoss
from .ptq import fuse_modules
from ..quantizers.uniform import fake_quantize
from ..quantizers.observers import MinMaxObserver, PerChannelMinMaxObserver
from ..validate import check_bool, check_int, check_positive
from .cost import weight_layers

__all__ = ["hutchinson_trace", "HessianProbe", "hessian_matrix", "TraceEstimate", "layer_hessian_traces",
           "hawq_sensitivity"]


def _rademacher(rng, shape) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1


def hutchinson_trace(matvec, dim: int, n_samples: int = 100, seed: int = 0) -> np.ndarray:
    """The ``n_samples`` Hutchinson samples ``v_k^T A v_k`` of a linear map ``matvec: (dim,) -> (dim,)``;
    their running mean converges to ``Tr(A)`` (``samples.mean()``, error ``samples.std() / sqrt(n)``)."""
    dim, n_samples = check_int(dim, "dim", 1), check_int(n_samples, "n_samples", 1)
    rng = np.random.default_rng(seed)
    out = np.empty(n_samples)
    for k in range(n_samples):
        v = _rademacher(rng, dim)
        out[k] = v @ np.asarray(matvec(v), np.float64).reshape(dim)
    return out


class HessianProbe:
    """Gradients and Hessian-vector products of ``loss_fn(model(X), y)`` w.r.t. the weights of the
    Conv2d / Linear layers (float64 copy of ``model``, eval mode, BatchNorm folded if ``fuse``)."""

    def __init__(self, model, X, y, loss_fn=None, eps: float = 1e-4, fuse: bool = True):
        m = fuse_modules(model) if check_bool(fuse, "fuse") else copy.deepcopy(model)
        for p in m.parameters():
            p.data = p.data.astype(np.float64)
        for mod in m.modules():   # BatchNorm statistics (unfused models) in float64 too
            for k, v in list(mod._buffers.items()):
                if isinstance(v, np.ndarray) and v.dtype == np.float32:
                    setattr(mod, k, v.astype(np.float64))
        self.model = m.eval()
        self.layers = weight_layers(m)
        self.X, self.y = Tensor(np.asarray(getattr(X, "data", X), np.float64)), np.asarray(y)
        self.loss_fn = loss_fn or CrossEntropyLoss()
        self.eps = check_positive(eps, "eps")

    @property
    def names(self) -> list:
        return [n for n, _ in self.layers]

    def gradients(self) -> dict:
        """``{layer: dL/dW}`` at the current weights."""
        self.model.zero_grad()
        self.loss_fn(self.model(self.X), self.y).backward()
        return {n: m.weight.grad.astype(np.float64).copy() for n, m in self.layers}

    def hvp(self, v: dict) -> dict:
        """``{layer: (H v)_layer}`` by central differences; ``v``: ``{layer: array like the weight}``
        (layers left out are not perturbed)."""
        w0 = {n: m.weight.data.copy() for n, m in self.layers}
        try:
            grads = []
            for sign in (1, -1):
                for n, m in self.layers:
                    if n in v:
                        m.weight.data = w0[n] + sign * self.eps * v[n]
                grads.append(self.gradients())
        finally:
            for n, m in self.layers:
                m.weight.data = w0[n]
        return {n: (grads[0][n] - grads[1][n]) / (2 * self.eps) for n in grads[0]}


def hessian_matrix(probe: HessianProbe, layer: str) -> np.ndarray:
    """The exact (up to O(eps^2)) diagonal Hessian block of ``layer``, column by column:
    column ``j`` is ``H e_j``. ``(n, n)`` with ``n`` the layer's weight count; for tiny layers."""
    w = dict(probe.layers)[layer].weight.data
    n = w.size
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        H[:, j] = probe.hvp({layer: e.reshape(w.shape)})[layer].ravel()
    return H


@dataclass
class TraceEstimate:
    """Hutchinson samples of ``Tr(H_ll)`` for one layer: ``trace`` (mean), ``stderr``, ``n_params``."""
    samples: np.ndarray
    n_params: int

    @property
    def trace(self) -> float:
        return float(self.samples.mean())

    @property
    def stderr(self) -> float:
        n = len(self.samples)
        return float(self.samples.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")

    @property
    def mean_trace(self) -> float:
        """``Tr(H_ll) / n_l``, HAWQ-v2's average Hessian trace."""
        return self.trace / self.n_params


def layer_hessian_traces(model, X, y, n_samples: int = 32, loss_fn=None, eps: float = 1e-4, seed: int = 0,
                         blockwise: bool = False, fuse: bool = True) -> dict:
    """``{layer: TraceEstimate}``: Hutchinson estimates of each weight block's Hessian trace."""
    n_samples = check_int(n_samples, "n_samples", 1)
    probe = HessianProbe(model, X, y, loss_fn, eps, fuse)
    rng = np.random.default_rng(seed)
    shapes = {n: m.weight.shape for n, m in probe.layers}
    samples = {n: [] for n in shapes}
    for _ in range(n_samples):
        v = {n: _rademacher(rng, s) for n, s in shapes.items()}
        if check_bool(blockwise, "blockwise"):
            for n in shapes:
                samples[n].append(float(np.sum(v[n] * probe.hvp({n: v[n]})[n])))
        else:
            hv = probe.hvp(v)
            for n in shapes:
                samples[n].append(float(np.sum(v[n] * hv[n])))
    return {n: TraceEstimate(np.array(samples[n]), int(np.prod(shapes[n]))) for n in shapes}


def hawq_sensitivity(model, traces: dict, options, per_channel: bool = False, fuse: bool = True) -> dict:
    """``{layer: {(w, a): Tr(H_ll)/n_l * ||Q_w(W_l) - W_l||^2}}`` (Dong et al., 2020), weights only:
    the score does not depend on ``a`` (HAWQ-v2 allocates weight bits). ``Q_w``: symmetric signed
    MinMax at ``w`` bits, per channel if asked, as ``default_qconfig``."""
    m = fuse_modules(model) if fuse else model
    out = {}
    for name, layer in weight_layers(m):
        if name not in traces:
            raise ValueError(f"traces has no estimate for layer {name!r}; it has {sorted(traces)}")
        W = layer.weight.data
        out[name] = {}
        for w_bits, a_bits in options:
            obs = (PerChannelMinMaxObserver(ch_axis=0, bits=w_bits, signed=True, symmetric=True) if per_channel
                   else MinMaxObserver(bits=w_bits, signed=True, symmetric=True))
            obs(W)
            s, z = obs.calculate_qparams()
            Wq = fake_quantize(Tensor(W), s, z, obs.quant_min, obs.quant_max, 0 if per_channel else None).data
            err = float(np.sum((Wq.astype(np.float64) - W) ** 2))
            out[name][(w_bits, a_bits)] = traces[name].mean_trace * err
    return out
