"""Properties (hypothesis) and degenerate inputs: zeros, constants, +-inf, one element."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import qnn_lite.autograd as ag
from qnn_lite.autograd import Tensor, gradcheck

finite32 = st.floats(-1e4, 1e4, width=32, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite32))
def test_softmax_rows_sum_to_one_and_log_softmax_agrees(x):
    t = Tensor(x)
    p = ag.softmax(t, axis=-1).data
    lp = ag.log_softmax(t, axis=-1).data
    assert np.all(np.isfinite(lp)) and np.all(lp <= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.exp(lp), p, rtol=1e-4, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=6),
                  elements=st.floats(-2.0 ** 100, 2.0 ** 100, width=32, allow_nan=False)))
def test_sigmoid_is_stable_and_symmetric(x):
    s = ag.sigmoid(Tensor(x)).data
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s + ag.sigmoid(Tensor(-x)).data, 1.0, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(batch_a=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), drop=st.integers(0, 2),
       data=st.data())
def test_batched_matmul_grads_match_gradcheck(batch_a, n, k, m, drop, data):
    """Any pair of broadcastable batch shapes: gradients reduced correctly (checked numerically)."""
    batch_b = tuple(data.draw(st.sampled_from([d, 1])) for d in batch_a)[drop:]
    rng = np.random.default_rng(n * 9 + k * 3 + m)
    a, b = rng.standard_normal(batch_a + (n, k)), rng.standard_normal(batch_b + (k, m))
    assert gradcheck(ag.matmul, a, b)


@settings(max_examples=30, deadline=None)
@given(idx=st.lists(st.integers(-4, 3), min_size=1, max_size=8))
def test_getitem_grad_counts_repeats(idx):
    x = Tensor(np.zeros(4, np.float32), requires_grad=True)
    x[np.array(idx)].sum().backward()
    np.testing.assert_array_equal(x.grad, np.bincount(np.array(idx) % 4, minlength=4))


def test_one_element_and_zero_inputs():
    x = Tensor(np.array([0.0], np.float32), requires_grad=True)
    y = ag.relu(x) + ag.abs(x) + x.max() + x.mean() + ag.sigmoid(x)
    y.sum().backward()
    # relu'(0) = 0, abs'(0) = 0 (PyTorch's choice), max' = 1, mean' = 1, sigmoid'(0) = 1/4
    np.testing.assert_allclose(x.grad, [2.25])


def test_constant_input_max_splits_evenly_and_log_softmax_is_uniform():
    c = Tensor(np.full((2, 5), 3.0, np.float32), requires_grad=True)
    c.max(axis=1).sum().backward()
    np.testing.assert_allclose(c.grad, np.full((2, 5), 0.2))
    np.testing.assert_allclose(ag.log_softmax(Tensor(np.full(5, 7.0, np.float32))).data, -np.log(5),
                               rtol=1e-6)


def test_infinities():
    x = Tensor(np.array([-np.inf, 0.0, np.inf], np.float32), requires_grad=True)
    s = ag.sigmoid(x)
    np.testing.assert_array_equal(s.data, [0.0, 0.5, 1.0])
    s.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])
    lp = ag.log_softmax(Tensor(np.array([0.0, -np.inf, 1.0], np.float32))).data
    assert lp[1] == -np.inf and np.all(np.isfinite(lp[[0, 2]]))
    np.testing.assert_array_equal(ag.clip(Tensor(np.array([-np.inf, np.inf])), -1.0, 1.0).data, [-1, 1])


def test_nan_propagates_not_hidden():
    out = ag.log_softmax(Tensor(np.array([0.0, np.nan], np.float32))).data
    assert np.isnan(out).all()


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
def test_sum_mean_max_shapes_match_numpy(axis):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for keep in (False, True):
        assert ag.sum(x, axis, keep).shape == x.sum(axis=axis, keepdims=keep).shape
        np.testing.assert_allclose(ag.mean(x, axis, keep).data, x.mean(axis=axis, keepdims=keep))
        np.testing.assert_array_equal(ag.max(x, axis, keep).data, x.max(axis=axis, keepdims=keep))
