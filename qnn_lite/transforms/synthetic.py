"""Synthetic calibration data from a network's BatchNorm statistics: ZeroQ and DSG.

**ZeroQ** (Cai et al., 2020, "ZeroQ: A Novel Zero Shot Quantization Framework"): start from
Gaussian noise ``x`` and minimise, with Adam on ``x`` (gradients by our autograd),

    L(x) = sum over BN layers l of  ||mu_l(x) - mu_l||_2 + ||sigma_l(x) - sigma_l||_2

where ``mu_l(x)``, ``sigma_l(x)`` are the per-channel batch mean / std of the BN's input and
``mu_l``, ``sigma_l = sqrt(running_var)`` its running statistics (model in eval mode).

**DSG** (Zhang et al., 2021, "Diversifying Sample Generation for Accurate Data-Free
Quantization"): ZeroQ's samples come out alike. Two fixes, in our reading of the paper:

* slack distribution alignment — no penalty inside a margin:
  ``||max(|mu_l(x) - mu_l| - delta_l, 0)||^2 + ||max(|sigma_l(x) - sigma_l| - gamma_l, 0)||^2``,
  here with ``delta_l = gamma_l = slack * sigma_l`` (the margin as a fraction of each channel's std);
* layerwise sample enhancement — sample ``i`` additionally matches, with its *own* per-channel
  statistics (over H, W), layer ``i mod L``, so each sample is pulled towards a different layer.

Shapes: ``x`` is ``(N, *input_shape)``; the returned array is float32 of that shape.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.layers import BatchNorm2d
from ..nn.module import Module, Parameter
from ..optim import Adam
from ..validate import check_int, check_number, check_positive

__all__ = ["bn_statistics_loss", "synthesize_zeroq", "synthesize_dsg", "bn_match_error"]


class _Recorder(Module):
    """Wraps a BatchNorm2d: stores its input's batch (and per-sample) statistics, then applies it."""

    def __init__(self, bn: BatchNorm2d):
        super().__init__()
        self.bn = bn
        self.stats = None

    def forward(self, x):
        mean = x.mean(axis=(0, 2, 3))
        var = ((x - mean.reshape(1, -1, 1, 1)) ** 2).mean(axis=(0, 2, 3))
        s_mean = x.mean(axis=(2, 3))                                               # (N, C)
        s_var = ((x - s_mean.reshape(*s_mean.shape, 1, 1)) ** 2).mean(axis=(2, 3))  # (N, C)
        self.stats = (mean, var, s_mean, s_var)
        return self.bn(x)


def _wrap(model: Module):
    """Replace every BatchNorm2d of ``model`` by a ``_Recorder`` (in place); return the recorders."""
    recs = []
    for m in list(model.modules()):
        for name, child in list(m._modules.items()):
            if isinstance(child, BatchNorm2d):
                if child.running_mean is None:
                    raise ValueError(f"BatchNorm2d {name!r} has no running statistics to match")
                r = _Recorder(child)
                m._modules[name] = r
                object.__setattr__(m, name, r)
                recs.append((m, name, r))
    if not recs:
        raise ValueError(f"model has no BatchNorm2d layer: {type(model).__name__} carries no statistics "
                         "to synthesise data from (ZeroQ / DSG need BN layers)")
    return recs


def _unwrap(recs) -> None:
    for m, name, r in recs:
        m._modules[name] = r.bn
        object.__setattr__(m, name, r.bn)


def _gap(diff, margin):
    """``max(|diff| - margin, 0)`` as a Tensor (``margin`` an array, no gradient)."""
    return (diff.abs() - margin).relu()


def bn_statistics_loss(recs, slack: float = 0.0, enhance: bool = False):
    """The loss of the last forward: ZeroQ's (``slack=0``, no enhancement) or DSG's; a scalar Tensor."""
    total = None
    n_layers = len(recs)
    for l, (_, _, r) in enumerate(recs):
        mean, var, s_mean, s_var = r.stats
        mu = r.bn.running_mean.astype(np.float32)
        sd = np.sqrt(r.bn.running_var.astype(np.float32) + np.float32(r.bn.eps))
        std = (var + float(r.bn.eps)).sqrt()
        if slack == 0:
            term = ((mean - mu) ** 2).sum().sqrt() + ((std - sd) ** 2).sum().sqrt()
        else:
            margin = np.float32(slack) * sd
            term = (_gap(mean - mu, margin) ** 2).sum() + (_gap(std - sd, margin) ** 2).sum()
        if enhance:
            rows = np.arange(s_mean.shape[0]) % n_layers == l
            if rows.any():
                idx = np.flatnonzero(rows)
                sm, ss = s_mean[idx], (s_var[idx] + float(r.bn.eps)).sqrt()
                term = term + ((sm - mu) ** 2).mean(axis=0).sum() + ((ss - sd) ** 2).mean(axis=0).sum()
        total = term if total is None else total + term
    return total


def _synthesize(model, shape, steps, lr, seed, slack, enhance):
    shape = tuple(check_int(v, "shape[i]", lo=1) for v in shape)
    steps, seed = check_int(steps, "steps", lo=1), check_int(seed, "seed", lo=0)
    lr = check_positive(lr, "lr")
    if not isinstance(model, Module):
        raise TypeError(f"model must be a Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    recs = _wrap(model)
    try:
        x = Parameter(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
        opt = Adam([x], lr=lr)
        losses = []
        for _ in range(steps):
            model(x)
            loss = bn_statistics_loss(recs, slack, enhance)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
        for p in model.parameters():  # the model's own gradients are a by-product
            p.grad = None
    finally:
        _unwrap(recs)
        model.train(was_training)
    return x.data.astype(np.float32), np.array(losses)


def synthesize_zeroq(model: Module, shape, steps: int = 200, lr: float = 0.1, seed: int = 0):
    """ZeroQ's distilled data (Cai et al., 2020): ``(x (shape), losses per step)``."""
    return _synthesize(model, shape, steps, lr, seed, 0.0, False)


def synthesize_dsg(model: Module, shape, steps: int = 200, lr: float = 0.1, seed: int = 0,
                   slack: float = 0.1, enhance: bool = True):
    """DSG's diversified data (Zhang et al., 2021): slack margin ``slack * sigma`` and layerwise
    sample enhancement; ``(x (shape), losses per step)``."""
    slack = check_number(slack, "slack", lo=0.0)
    return _synthesize(model, shape, steps, lr, seed, slack, bool(enhance))


def bn_match_error(model: Module, x) -> float:
    """Largest ``|mu_l(x) - mu_l| / sigma_l`` and ``|sigma_l(x) - sigma_l| / sigma_l`` over all BN
    channels: how far ``x``'s batch statistics are from the running ones, in running stds."""
    model.eval()
    recs = _wrap(model)
    try:
        model(Tensor(np.asarray(x, np.float32)))
        worst = 0.0
        for _, _, r in recs:
            mean, var = r.stats[0].data, r.stats[1].data
            sd = np.sqrt(r.bn.running_var + r.bn.eps)
            worst = max(worst, float(np.max(np.abs(mean - r.bn.running_mean) / sd)),
                        float(np.max(np.abs(np.sqrt(var + r.bn.eps) - sd) / sd)))
    finally:
        _unwrap(recs)
    return worst
