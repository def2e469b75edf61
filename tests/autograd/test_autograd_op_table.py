"""One table of every autograd op: gradcheck, forward vs numpy, and float32 in -> float32 out.

Each row is (id, fn, ref, shapes/arrays): ``fn`` takes Tensors and uses qnn_lite,
``ref`` takes the same arrays and uses numpy only. Inputs are drawn away from the
kinks of relu / abs / clip / max (where a central difference is not a derivative),
except the max rows, which hold exactly two tied maxima per reduced group: there
the even split 1/2 equals the central difference, so gradcheck tests the tie rule.
"""
from __future__ import annotations

import numpy as np
import pytest

import qnn_lite.autograd as ag
from qnn_lite.autograd import Tensor, gradcheck

RNG = np.random.default_rng(1234)


def rand(*shape):
    """Standard normal values with |x| >= 0.1 (away from 0, the kink of relu and abs)."""
    x = RNG.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


def pos(*shape):
    """Values in [0.5, 2): safe for log, sqrt, division and real powers."""
    return RNG.uniform(0.5, 2.0, shape)


def softmax_np(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


COND = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])
IDX = np.array([0, 2, 0, 0, 1])                  # repeated rows: their gradients must add up
MASK = np.array([True, False, True, True])
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, -1.0, 0.5, 0.25], [2.0, 2.0, -1.0, 1.5]])
# exactly two maxima per row (axis=1) and two minima per column below
TIES_MIN = np.array([[1.0, 3.0, -2.0, 0.5], [1.0, 0.7, -2.0, 0.4], [2.0, 0.7, 1.0, 0.4]])
CLIP_X = np.array([[-1.2, -0.3, 0.1, 0.45], [0.7, -0.6, 0.2, 1.3], [-0.2, 0.3, -0.8, 0.05]])

OPS = [
    # ----- arithmetic, broadcasting and Python scalars -----
    ("add", lambda a, b: ag.add(a, b), np.add, [rand(3, 4), rand(3, 4)]),
    ("add_bcast_3x1_1x4", lambda a, b: a + b, np.add, [rand(3, 1), rand(1, 4)]),
    ("add_scalar", lambda a: a + 2.5, lambda a: a + 2.5, [rand(3, 4)]),
    ("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, [rand(3, 4)]),
    ("add_0d", lambda a, b: a + b, np.add, [rand(3, 4), np.array(0.7)]),
    ("sub_bcast", lambda a, b: ag.sub(a, b), np.subtract, [rand(3, 4), rand(4)]),
    ("rsub_scalar", lambda a: 1 - a, lambda a: 1 - a, [rand(3, 4)]),
    ("mul_2x3_3", lambda a, b: ag.mul(a, b), np.multiply, [rand(2, 3), rand(3)]),
    ("mul_self", lambda a: a * a, lambda a: a * a, [rand(2, 3)]),
    ("mul_scalar", lambda a: a * -1.5, lambda a: a * -1.5, [rand(2, 3)]),
    ("div_bcast", lambda a, b: ag.div(a, b), np.divide, [rand(3, 4), pos(3, 1)]),
    ("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, [pos(3, 4)]),
    ("neg", lambda a: ag.neg(a), np.negative, [rand(3, 4)]),
    ("neg_op", lambda a: -a, np.negative, [rand(3, 4)]),
    ("pow_int", lambda a: a ** 3, lambda a: a ** 3, [rand(3, 4)]),
    ("pow_half", lambda a: ag.pow(a, 0.5), np.sqrt, [pos(3, 4)]),
    ("pow_zero", lambda a: a ** 0, lambda a: np.ones_like(a), [rand(3, 4)]),
    ("pow_tensor_tensor", lambda a, b: a ** b, np.power, [pos(3, 4), rand(4)]),
    ("rpow_scalar_base", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [rand(3, 4)]),
    # ----- matmul -----
    ("matmul_2d", lambda a, b: ag.matmul(a, b), np.matmul, [rand(3, 4), rand(4, 5)]),
    ("matmul_1d_1d", lambda a, b: a @ b, np.matmul, [rand(4), rand(4)]),
    ("matmul_1d_2d", lambda a, b: a @ b, np.matmul, [rand(4), rand(4, 3)]),
    ("matmul_2d_1d", lambda a, b: a @ b, np.matmul, [rand(3, 4), rand(4)]),
    ("matmul_batched_bcast", lambda a, b: a @ b, np.matmul, [rand(2, 1, 3, 4), rand(5, 4, 2)]),
    ("matmul_batch_2d", lambda a, b: a @ b, np.matmul, [rand(2, 3, 4), rand(4, 2)]),
    ("matmul_2d_batch", lambda a, b: a @ b, np.matmul, [rand(3, 4), rand(2, 4, 2)]),
    ("matmul_1d_batch", lambda a, b: a @ b, np.matmul, [rand(4), rand(2, 4, 3)]),
    ("matmul_method", lambda a, b: a.matmul(b), np.matmul, [rand(3, 4), rand(4, 2)]),
    # ----- unary math -----
    ("exp", lambda a: ag.exp(a), np.exp, [rand(3, 4)]),
    ("log", lambda a: ag.log(a), np.log, [pos(3, 4)]),
    ("sqrt", lambda a: ag.sqrt(a), np.sqrt, [pos(3, 4)]),
    ("sqrt_method", lambda a: a.sqrt(), np.sqrt, [pos(3, 4)]),
    ("abs", lambda a: ag.abs(a), np.abs, [rand(3, 4)]),
    ("abs_builtin", lambda a: abs(a), np.abs, [rand(3, 4)]),
    # ----- reductions -----
    ("sum_all", lambda a: ag.sum(a), np.sum, [rand(3, 4)]),
    ("sum_axis1", lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), [rand(3, 4)]),
    ("sum_axes_keepdims", lambda a: ag.sum(a, axis=(0, 2), keepdims=True),
     lambda a: a.sum(axis=(0, 2), keepdims=True), [rand(2, 3, 4)]),
    ("sum_dim_neg", lambda a: a.sum(dim=-1), lambda a: a.sum(axis=-1), [rand(2, 3, 4)]),
    ("mean_all", lambda a: ag.mean(a), np.mean, [rand(3, 4)]),
    ("mean_axis0_keepdim", lambda a: a.mean(dim=0, keepdim=True),
     lambda a: a.mean(axis=0, keepdims=True), [rand(3, 4)]),
    ("max_all", lambda a: ag.max(a), np.max, [rand(3, 4)]),
    ("max_axis1_two_ties", lambda a: a.max(axis=1), lambda a: a.max(axis=1), [TIES]),
    ("max_all_two_ties", lambda a: ag.max(a), np.max, [np.array([[1.0, 5.0], [5.0, -1.0]])]),
    ("max_keepdims", lambda a: ag.max(a, axis=0, keepdims=True),
     lambda a: a.max(axis=0, keepdims=True), [rand(3, 4)]),
    ("min_axis0_two_ties", lambda a: ag.min(a, axis=0), lambda a: a.min(axis=0), [TIES_MIN]),
    # ----- shapes -----
    ("reshape", lambda a: ag.reshape(a, (4, 3)), lambda a: a.reshape(4, 3), [rand(3, 4)]),
    ("reshape_method_neg1", lambda a: a.reshape(2, -1), lambda a: a.reshape(2, -1), [rand(3, 4)]),
    ("view", lambda a: a.view(12), lambda a: a.reshape(12), [rand(3, 4)]),
    ("transpose", lambda a: ag.transpose(a, 0, 2), lambda a: a.swapaxes(0, 2), [rand(2, 3, 4)]),
    ("permute", lambda a: ag.permute(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), [rand(2, 3, 4)]),
    ("permute_method", lambda a: a.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0), [rand(2, 3, 4)]),
    ("T", lambda a: a.T, lambda a: a.T, [rand(3, 4)]),
    ("flatten", lambda a: a.flatten(start_dim=1), lambda a: a.reshape(2, -1), [rand(2, 3, 4)]),
    ("flatten_fn_mid", lambda a: ag.flatten(a, 0, 1), lambda a: a.reshape(6, 4), [rand(2, 3, 4)]),
    ("getitem_basic", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [rand(3, 4)]),
    ("getitem_int_none", lambda a: a[1, None, ..., -1], lambda a: a[1, None, ..., -1], [rand(3, 4, 2)]),
    ("getitem_repeated", lambda a: ag.getitem(a, IDX), lambda a: a[IDX], [rand(3, 4)]),
    ("getitem_pairs", lambda a: a[IDX, np.array([0, 1, 0, 0, 3])],
     lambda a: a[IDX, np.array([0, 1, 0, 0, 3])], [rand(3, 4)]),
    ("getitem_mixed", lambda a: a[IDX, 1:3], lambda a: a[IDX, 1:3], [rand(3, 4)]),
    ("getitem_bool", lambda a: a[:, MASK], lambda a: a[:, MASK], [rand(3, 4)]),
    ("concat", lambda a, b, c: ag.concat([a, b, c], axis=1),
     lambda a, b, c: np.concatenate([a, b, c], axis=1), [rand(2, 3), rand(2, 1), rand(2, 2)]),
    ("concat_axis0", lambda a, b: ag.concat((a, b)), lambda a, b: np.concatenate([a, b]),
     [rand(2, 3), rand(1, 3)]),
    ("stack", lambda a, b: ag.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
     [rand(2, 3), rand(2, 3)]),
    ("stack_axis0", lambda a, b: ag.stack([a, b]), lambda a, b: np.stack([a, b]), [rand(3), rand(3)]),
    # ----- selection -----
    ("where", lambda a, b: ag.where(COND, a, b), lambda a, b: np.where(COND, a, b),
     [rand(3, 4), rand(3, 4)]),
    ("where_bcast", lambda a, b: ag.where(COND, a, b), lambda a, b: np.where(COND, a, b),
     [rand(4), rand(3, 1)]),
    ("where_scalar", lambda a: ag.where(Tensor(COND), a, 0.0), lambda a: np.where(COND, a, 0.0),
     [rand(3, 4)]),
    ("clip", lambda a: ag.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), [CLIP_X]),
    ("clip_min", lambda a: a.clip(min=0.0), lambda a: np.maximum(a, 0.0), [CLIP_X]),
    ("clip_max", lambda a: a.clip(max=0.25), lambda a: np.minimum(a, 0.25), [CLIP_X]),
    # ----- activations -----
    ("relu", lambda a: ag.relu(a), lambda a: np.maximum(a, 0), [rand(3, 4)]),
    ("sigmoid", lambda a: ag.sigmoid(a), lambda a: 1 / (1 + np.exp(-a)), [3 * rand(3, 4)]),
    ("tanh", lambda a: ag.tanh(a), np.tanh, [rand(3, 4)]),
    ("act_methods", lambda a: a.relu() + a.sigmoid() * a.tanh() + a.exp() * a.abs(),
     lambda a: np.maximum(a, 0) + np.tanh(a) / (1 + np.exp(-a)) + np.exp(a) * np.abs(a), [rand(3, 4)]),
    ("log_softmax", lambda a: ag.log_softmax(a), lambda a: np.log(softmax_np(a, -1)), [rand(3, 4)]),
    ("log_softmax_axis0", lambda a: ag.log_softmax(a, dim=0), lambda a: np.log(softmax_np(a, 0)),
     [rand(3, 4)]),
    ("softmax", lambda a: ag.softmax(a, axis=1), lambda a: softmax_np(a, 1), [rand(3, 4)]),
    # ----- a small composite: one MLP layer and a loss -----
    ("mlp_layer", lambda x, w, b: -ag.log_softmax((x @ w.T + b).relu(), 1)[np.arange(3), [0, 2, 1]].mean(),
     lambda x, w, b: -np.log(softmax_np(np.maximum(x @ w.T + b, 0), 1))[np.arange(3), [0, 2, 1]].mean(),
     [rand(3, 4), rand(5, 4), rand(5)]),
]
IDS = [row[0] for row in OPS]


@pytest.mark.parametrize("name, fn, ref, inputs", OPS, ids=IDS)
def test_gradcheck(name, fn, ref, inputs):
    assert gradcheck(fn, *inputs) is True


@pytest.mark.parametrize("name, fn, ref, inputs", OPS, ids=IDS)
def test_forward_matches_numpy(name, fn, ref, inputs):
    out = fn(*[Tensor(x, dtype=np.float64) for x in inputs])
    expected = np.asarray(ref(*inputs))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, fn, ref, inputs", OPS, ids=IDS)
def test_float32_in_float32_out(name, fn, ref, inputs):
    """float32 inputs (mixed with Python scalars and constant arrays) give float32 values and grads."""
    ts = [Tensor(x.astype(np.float32), requires_grad=True) for x in inputs]
    out = fn(*ts)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    for t in ts:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


def test_table_covers_every_exported_op():
    import inspect
    source = "\n".join(inspect.getsource(row[1]) for row in OPS)
    ops = ["add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "abs", "sum",
           "mean", "max", "min", "reshape", "transpose", "permute", "getitem", "concat", "stack",
           "where", "clip", "flatten", "relu", "sigmoid", "tanh", "log_softmax", "softmax"]
    missing = [op for op in ops if f"ag.{op}(" not in source]
    assert missing == []
