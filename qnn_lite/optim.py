"""Optimizers (SGD, Adam) and learning-rate schedules (StepLR, CosineAnnealingLR), PyTorch's rules.

Every update works in place on ``p.data`` (never building a graph), bumps
``p._version`` (so a graph that saved the old values refuses to run backward,
as PyTorch's version counter does) and skips parameters whose ``.grad`` is None. Parameters live in ``param_groups``: a list
of dicts ``{"params": [...], "lr": ..., <hyper-parameters>}``; schedules change
``group["lr"]``.

SGD (with PyTorch's momentum convention, Sutskever et al., 2013)::

    g = grad + weight_decay * p
    b = g                                 (first step)
    b = momentum * b + (1 - dampening) * g
    g = g + momentum * b   if nesterov else   b
    p = p - lr * g

Adam (Kingma & Ba, 2015)::

    g = grad + weight_decay * p;  t = t + 1
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
from __future__ import annotations

import math

import numpy as np

from .validate import check_int, check_number


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``; subclasses define ``step``."""

    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("params must be a non-empty iterable of Parameters (or of param-group dicts), got an empty one")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict = {}  # id(param) -> dict of buffers
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not getattr(p, "requires_grad", False):
                    raise ValueError(f"params must be tensors with requires_grad=True, got {type(p).__name__}"
                                     f" with requires_grad={getattr(p, 'requires_grad', None)}")
            self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (None by default, like PyTorch 2)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters per group and copies of the state buffers (by parameter index)."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        return {"param_groups": [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups],
                "state": {index[k]: {n: (b.copy() if isinstance(b, np.ndarray) else b) for n, b in s.items()}
                          for k, s in self.state.items() if k in index}}

    def load_state_dict(self, state_dict: dict) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(state_dict['param_groups'])} param groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            group.update(saved)
        self.state = {id(params[i]): {n: (b.copy() if isinstance(b, np.ndarray) else b) for n, b in s.items()}
                      for i, s in state_dict["state"].items()}

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=check_number(lr, "lr", 0.0), momentum=check_number(momentum, "momentum", 0.0),
                        dampening=check_number(dampening, "dampening", 0.0),
                        weight_decay=check_number(weight_decay, "weight_decay", 0.0), nesterov=bool(nesterov))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov=True needs momentum > 0 and dampening == 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, defaults)

    def step(self) -> None:
        from .kernels.dispatch import sgd_step   # a compiled, bit-identical update where it fits
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                p._version += 1
            for p in sgd_step(params, group, self.state):   # the ones the kernel does not take
                self._numpy_step(p, group)

    def _numpy_step(self, p, group) -> None:
        """The update exactly as the module docstring writes it, one numpy operation at a time:
        the reference that ``kernels/sgd.py``'s fused loop equals bit for bit (chosen in
        ``kernels/dispatch.py``; this path takes the dtypes and layouts the kernel does not)."""
        lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
        g, data = p.grad, p.data
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * data
        if mom != 0:
            state = self.state.setdefault(id(p), {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=data.dtype)
            else:
                buf *= mom
                buf += (1 - damp) * g if damp != 0 else g
            g = g + mom * buf if group["nesterov"] else buf
        data -= lr * g


class Adam(Optimizer):
    """Adam: per-parameter steps from bias-corrected running moments of the gradient."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        b1 = check_number(betas[0], "betas[0]", 0.0, 1.0, hi_open=True)
        b2 = check_number(betas[1], "betas[1]", 0.0, 1.0, hi_open=True)
        defaults = dict(lr=check_number(lr, "lr", 0.0), betas=(b1, b2), eps=check_number(eps, "eps", 0.0),
                        weight_decay=check_number(weight_decay, "weight_decay", 0.0))
        super().__init__(params, defaults)

    def step(self) -> None:
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if wd != 0:
                    g = g + wd * p.data
                state = self.state.get(id(p))
                if state is None:
                    state = self.state[id(p)] = {"step": 0, "exp_avg": np.zeros_like(p.data),
                                                 "exp_avg_sq": np.zeros_like(p.data)}
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                step_size = lr / (1 - b1 ** t)
                denom = np.sqrt(v)
                denom /= math.sqrt(1 - b2 ** t)
                denom += eps
                p.data -= step_size * m / denom
                p._version += 1


class _LRScheduler:
    """Base of the schedules: ``step()`` once per epoch sets every group's lr from ``get_lr()``."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a qnn_lite.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class StepLR(_LRScheduler):
    """$lr_e = lr_0 \\, \\gamma^{\\lfloor e / step\\_size \\rfloor}$"""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_number(gamma, "gamma", 0.0)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(_LRScheduler):
    """$lr_e = \\eta_{min} + (lr_0 - \\eta_{min}) (1 + \\cos(\\pi e / T_{max})) / 2$ (Loshchilov & Hutter, 2017)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max, self.eta_min = check_int(T_max, "T_max", 1), check_number(eta_min, "eta_min", 0.0)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        cos = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cos for base in self.base_lrs]
