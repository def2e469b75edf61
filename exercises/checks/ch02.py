"""Chapter 02 (autograd): a Function's backward, unbroadcast, one SGD-with-momentum step."""
from __future__ import annotations

import numpy as np

from qnn_lite.autograd import Tensor
from qnn_lite.autograd.tensor import unbroadcast as unbroadcast_ref
from qnn_lite.optim import SGD

from ..runner import Fail
from ..expect import as_array, expect_close
from ..registry import exercise

# ----------------------------------------------------------------------------- 2.1
EX1 = exercise("2.1", "Sigmoid.backward: the gradient of the logistic function",
              adapt=lambda cls: lambda x, g: _run_sigmoid(cls, x, g))  # the cases call (x, g) -> x.grad


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _run_sigmoid(cls, x, g):
    if not hasattr(cls, "apply"):
        raise Fail(f"check('2.1', Sigmoid) needs your Function class, got {type(cls).__name__}")
    t = Tensor(x, requires_grad=True, dtype=np.float64)
    y = cls.apply(t)
    y.backward(g)
    if t.grad is None:
        raise Fail("x.grad is None after backward: does backward return the gradient?")
    return as_array(t.grad, "x.grad", x.shape)


def _check_sigmoid(cls, x, g):
    got = as_array(cls(x, g), "x.grad", x.shape)
    s = _sigmoid(x)
    expect_close(got, g * s * (1 - s), "x.grad", rtol=1e-6, atol=1e-9, mistakes={
        "the derivative is s(x) (1 - s(x)): you returned grad * s(x)": g * s,
        "the derivative is s(x) (1 - s(x)), with s(x) the saved output y: you used x": g * x * (1 - x),
        "chain rule: multiply the local derivative y (1 - y) by the incoming grad": s * (1 - s),
    }, hint="backward returns grad * y * (1 - y), with y = s(x) saved by forward")


@EX1.case("grad = 1: x.grad is s(x)(1 - s(x))")
def _(cls):
    x = np.linspace(-4, 4, 9)
    _check_sigmoid(cls, x, np.ones_like(x))


@EX1.case("chain rule: the incoming grad multiplies the local derivative")
def _(cls):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    _check_sigmoid(cls, x, rng.normal(size=(3, 4)))


@EX1.case("agrees with central finite differences")
def _(cls):
    rng = np.random.default_rng(1)
    x, g, h = rng.normal(size=6), rng.normal(size=6), 1e-6
    got = as_array(cls(x, g), "x.grad", x.shape)
    numeric = g * (_sigmoid(x + h) - _sigmoid(x - h)) / (2 * h)
    expect_close(got, numeric, "x.grad vs finite differences", rtol=1e-5, atol=1e-8)


# ----------------------------------------------------------------------------- 2.2
EX2 = exercise("2.2", "unbroadcast: sum a broadcast gradient back to the input's shape")


def _check_unbroadcast(fn, grad_shape, shape, seed=0):
    grad = np.random.default_rng(seed).normal(size=grad_shape)
    got = fn(grad.copy(), shape)
    want = unbroadcast_ref(grad, shape)
    what = f"unbroadcast(grad of shape {grad_shape}, {shape})"
    arr = np.asarray(got.data if isinstance(got, Tensor) else got) if got is not None else None
    if arr is not None and arr.shape != tuple(shape):
        raise Fail(f"{what} has shape {arr.shape}, expected {tuple(shape)}: sum over the leading axes "
                   "broadcasting added, and with keepdims=True over every axis where shape has 1")
    n_copies = grad.size / max(want.size, 1)
    expect_close(got, want, what, mistakes={
        "sum, not mean: every broadcast copy of the input sends its gradient back": want / n_copies,
    }, hint="grad.sum(axis=leading axes), then grad.sum(axis=stretched axes, keepdims=True)")


@EX2.case("same shape: unchanged")
def _(fn):
    _check_unbroadcast(fn, (2, 3), (2, 3))


@EX2.case("leading axis added: (3, 4) -> (4,)")
def _(fn):
    _check_unbroadcast(fn, (3, 4), (4,))


@EX2.case("size-1 axis stretched: (3, 4) -> (3, 1)")
def _(fn):
    _check_unbroadcast(fn, (3, 4), (3, 1))


@EX2.case("both: (2, 3, 4) -> (3, 1) and (5,) -> () for a scalar")
def _(fn):
    _check_unbroadcast(fn, (2, 3, 4), (3, 1), seed=1)
    _check_unbroadcast(fn, (5,), (), seed=2)


# ----------------------------------------------------------------------------- 2.3
EX3 = exercise("2.3", "sgd_momentum_step: one SGD step with momentum, PyTorch's way")


def sgd_momentum_step_ref(param, grad, buf, lr, momentum, weight_decay=0.0):
    """torch.optim.SGD: g = grad + wd p; buf = g (first step) or m buf + g; p = p - lr buf."""
    g = grad + weight_decay * param
    buf = g.copy() if buf is None else momentum * buf + g
    return param - lr * buf, buf


def _ema_step(param, grad, buf, lr, momentum, weight_decay=0.0):
    g = grad + weight_decay * param
    buf = (1 - momentum) * g if buf is None else momentum * buf + (1 - momentum) * g
    return param - lr * buf, buf


def _lr_in_buffer_step(param, grad, buf, lr, momentum, weight_decay=0.0):
    g = grad + weight_decay * param
    buf = lr * g if buf is None else momentum * buf + lr * g
    return param - buf, buf


def _decay_after_step(param, grad, buf, lr, momentum, weight_decay=0.0):
    buf = grad.copy() if buf is None else momentum * buf + grad
    return param - lr * (buf + weight_decay * param), buf


def _trajectory(step, lrs, momentum, weight_decay, seed=0):
    rng = np.random.default_rng(seed)
    p, buf, params = rng.normal(size=5), None, []
    grads = rng.normal(size=(len(lrs), 5))
    for lr, g in zip(lrs, grads):
        out = step(p.copy(), g.copy(), None if buf is None else buf.copy(), lr, momentum, weight_decay)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Fail(f"sgd_momentum_step should return (new_param, new_buf), got {type(out).__name__}")
        p, buf = (as_array(v, name, (5,)) for v, name in zip(out, ("new_param", "new_buf")))
        params.append(p)
    return np.array(params)


def _library_trajectory(lrs, momentum, weight_decay, seed=0):
    """The same steps taken by qnn_lite.optim.SGD (the reference)."""
    rng = np.random.default_rng(seed)
    p = Tensor(rng.normal(size=5), requires_grad=True, dtype=np.float64)
    grads = rng.normal(size=(len(lrs), 5))
    opt = SGD([p], lr=lrs[0], momentum=momentum, weight_decay=weight_decay)
    params = []
    for lr, g in zip(lrs, grads):
        p.grad = g.copy()
        opt.param_groups[0]["lr"] = lr
        opt.step()
        params.append(p.data.copy())
    return np.array(params)


def _check_traj(fn, lrs, momentum, weight_decay):
    want = _library_trajectory(lrs, momentum, weight_decay)
    got = _trajectory(fn, lrs, momentum, weight_decay)
    expect_close(got, want, f"params after each of {len(lrs)} steps", mistakes={
        "PyTorch does not scale by (1 - momentum): buf = momentum * buf + g (and buf = g on the first step)":
            _trajectory(_ema_step, lrs, momentum, weight_decay),
        "PyTorch keeps lr outside the buffer: buf = momentum * buf + g, then p = p - lr * buf":
            _trajectory(_lr_in_buffer_step, lrs, momentum, weight_decay),
        "weight decay is added to the gradient before the buffer: g = grad + weight_decay * p":
            _trajectory(_decay_after_step, lrs, momentum, weight_decay),
    }, hint="g = grad + wd * p;  buf = g if buf is None else momentum * buf + g;  p = p - lr * buf")


@EX3.case("first step (buf is None): buf = grad, p = p - lr * grad")
def _(fn):
    _check_traj(fn, [0.1], 0.9, 0.0)


@EX3.case("three steps with momentum 0.9")
def _(fn):
    _check_traj(fn, [0.1, 0.1, 0.1], 0.9, 0.0)


@EX3.case("a changing learning rate (0.1, 0.05, 0.01)")
def _(fn):
    _check_traj(fn, [0.1, 0.05, 0.01], 0.9, 0.0)


@EX3.case("weight decay 0.01")
def _(fn):
    _check_traj(fn, [0.1, 0.1], 0.8, 0.01)
