"""The engine's rules: accumulation, zero_grad, no_grad, detach, diamonds, deep graphs, dtypes."""
from __future__ import annotations

import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qnn_lite.autograd as ag
from qnn_lite.autograd import Function, Tensor, is_grad_enabled, no_grad


def leaf(values, dtype=np.float32):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True, dtype=dtype)


def test_hand_computed_gradient():
    # f = sum(x * y + x) -> df/dx = y + 1, df/dy = x
    x, y = leaf([1.0, -2.0, 3.0]), leaf([4.0, 5.0, -6.0])
    (x * y + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 6.0, -5.0])
    np.testing.assert_array_equal(y.grad, [1.0, -2.0, 3.0])


def test_second_backward_adds():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()           # dy/dx = 2x = [2, 4]
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    ((x * 3.0).sum()).backward()  # a different graph adds too
    np.testing.assert_array_equal(x.grad, [7.0, 11.0])


def test_accumulation_is_in_place_when_possible():
    x = leaf([1.0, 2.0])
    (x * 2.0).sum().backward()
    first = x.grad
    (x * 3.0).sum().backward()
    assert x.grad is first                      # same array, like PyTorch's AccumulateGrad
    np.testing.assert_array_equal(first, [5.0, 5.0])
    frozen = np.ones(2, np.float32)
    frozen.flags.writeable = False
    x.grad = frozen
    (x * 1.0).sum().backward()                  # a read-only .grad is replaced, not written
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    np.testing.assert_array_equal(frozen, [1.0, 1.0])


def test_zero_grad_clears():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_no_grad_records_nothing_and_restores():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0).relu().sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        with no_grad():
            1 / 0
    assert is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, x.data)
    (x * 2.0 + d * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])   # no 5 from the detached branch


def test_diamond_gets_summed_gradient():
    x = leaf([1.0, -2.0])
    y = x * 3.0
    z = (y * y + y).sum()       # dz/dx = (2y + 1) * 3
    z.backward()
    np.testing.assert_allclose(x.grad, (2 * np.array([3.0, -6.0]) + 1) * 3)
    a = leaf([2.0])
    (a * a * a).sum().backward()  # x used three times: 3x^2
    np.testing.assert_array_equal(a.grad, [12.0])


def test_each_function_backward_runs_once_in_a_diamond():
    calls = []

    class Counted(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            calls.append(1)
            return grad

    x = leaf([1.0, 2.0])
    h = Counted.apply(x)
    (h * 2.0 + h * 3.0 + h).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_5000_node_chain_does_not_recurse():
    x = leaf([1.0], dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 5000], rtol=1e-9)


def test_backward_of_non_scalar_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="grad"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        (x * 2.0).backward(np.ones(3))
    (x * 2.0).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_intermediate_tensors_keep_grad_none():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    out = h.relu().sum()
    out.backward()
    assert h.grad is None and out.grad is None and not h.is_leaf
    assert x.grad is not None and type(x.grad) is np.ndarray


def test_leaf_without_requires_grad_gets_nothing():
    x, c = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0], np.float32))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_broadcast_grads_are_reduced_to_the_leaf_shape():
    b = leaf(np.zeros((1, 4)))
    x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    (x + b).sum().backward()
    assert b.grad.shape == (1, 4)
    np.testing.assert_array_equal(b.grad, [[3.0, 3.0, 3.0, 3.0]])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3), data=st.data())
def test_unbroadcast_sums_stretched_axes(shape, data):
    """(x + b).backward(g) gives b.grad = g summed over every axis b was stretched along."""
    keep = data.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    drop = data.draw(st.integers(0, len(shape)))
    bshape = tuple(n if k else 1 for n, k in zip(shape, keep))[drop:]
    b = leaf(np.zeros(bshape), dtype=np.float64)
    g = np.random.default_rng(len(shape)).standard_normal(shape)
    (Tensor(np.zeros(shape), dtype=np.float64) + b).backward(g)
    expected = g.sum(axis=tuple(range(drop))) if drop else g
    expected = expected.sum(axis=tuple(i for i, n in enumerate(bshape) if n == 1), keepdims=True)
    np.testing.assert_allclose(b.grad, expected.reshape(bshape))


def test_python_scalars_keep_float32():
    x = leaf([0.25, 0.5, 2.0])
    mask = np.array([True, False, True])
    exprs = [x + 1, 1 + x, x - 0.5, 0.5 - x, x * 2.5, 2.5 * x, x / 3.0, 3.0 / x, x ** 2, x ** 0.5,
             2.0 ** x, -x, ag.clip(x, 0.0, 1.0), ag.where(mask, x, 0.0), ag.max(x) * 1e-3,
             x * np.float64(2.0), x + np.array([1.0, 2.0, 3.0])]
    for e in exprs:
        assert e.dtype == np.float32, e
        x.zero_grad()
        e.sum().backward()
        assert x.grad.dtype == np.float32
    assert (Tensor(np.ones(2, np.float64), dtype=np.float64) * 2.0).dtype == np.float64


def test_ndarray_on_the_left_calls_tensor_ops():
    x = leaf([1.0, 2.0])
    cases = ((np.ones(2, np.float32) + x, [2.0, 3.0], [1.0, 1.0]),
             (np.float32(3.0) * x, [3.0, 6.0], [3.0, 3.0]),
             (np.ones(2, np.float32) @ x, 3.0, [1.0, 1.0]))
    for y, value, grad in cases:
        assert isinstance(y, Tensor) and y.requires_grad
        np.testing.assert_array_equal(y.data, value)
        x.grad = None
        y.sum().backward()  # the graph reaches x: the Tensor op ran, not numpy's
        np.testing.assert_array_equal(x.grad, grad)


def test_function_needs_input_grad_and_none_grads():
    seen = {}

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, s):
            seen["needs"] = ctx.needs_input_grad
            ctx.save_for_backward(s)
            return x * s

        @staticmethod
        def backward(ctx, grad):
            (s,) = ctx.saved_tensors
            return grad * s, None

    x = leaf([1.0, 2.0])
    Scale.apply(x, 3.0).sum().backward()
    assert seen["needs"] == (True, False)
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


@pytest.mark.parametrize("batch", [(), (3,)])
def test_matmul_grad_reaches_whichever_operand_needs_it(batch):
    # C = A B: dA = G B^T, dB = A^T G (batch summed); with G = ones, hand-checkable column / row sums
    A = np.arange(1, 1 + np.prod(batch + (2, 3)), dtype=np.float32).reshape(batch + (2, 3))
    B = np.array([[1.0, -1.0], [2.0, 0.0], [0.5, 3.0]], np.float32)
    b = leaf(B)
    (Tensor(A) @ b).sum().backward()              # only the right operand is a leaf
    np.testing.assert_array_equal(b.grad, A.reshape(-1, 3).sum(0)[:, None] * np.ones((1, 2)))
    a = leaf(A)
    (a @ Tensor(B)).sum().backward()              # only the left operand is a leaf
    np.testing.assert_array_equal(a.grad, np.broadcast_to(B.sum(1), A.shape))


def test_backward_returning_wrong_count_is_an_error():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad  # one gradient for two arguments

    with pytest.raises(RuntimeError, match="Bad.backward returned 1 gradients for 2"):
        Bad.apply(leaf([1.0]), leaf([2.0])).sum().backward()


def test_leaf_grad_is_a_private_copy():
    x = leaf([1.0, 2.0])
    g = np.array([1.0, 1.0], np.float32)
    (x + 0.0).backward(g)
    x.grad += 1
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_leaves_sharing_one_gradient_array_get_separate_grads():
    """Add sends the same array to both operands: each leaf must end with its own memory."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_a_gradient_the_function_keeps_is_not_the_leafs_grad():
    """Whatever a backward holds on to, the leaf's .grad is its own memory."""
    kept = []

    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            out = grad * 2
            kept.append(out)
            return out

    x = leaf([1.0, 2.0])
    Double.apply(x).sum().backward()
    assert not np.shares_memory(x.grad, kept[0])
    kept[0][:] = -1                                   # the Function's array changes; x.grad does not
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_backward_twice_through_one_graph_doubles_like_pytorch_retain_graph():
    """micrograd's "flaw" is our documented rule: a second backward adds (PyTorch with retain_graph)."""
    w = leaf([3.0])
    loss = (w * w * w).sum()                          # d/dw = 3 w^2 = 27
    loss.backward()
    np.testing.assert_array_equal(w.grad, [27.0])
    loss.backward()
    np.testing.assert_array_equal(w.grad, [54.0])
    w.zero_grad()
    loss.backward()                                   # the graph is kept: same answer after clearing
    np.testing.assert_array_equal(w.grad, [27.0])


def test_a_leaf_used_by_two_graphs_and_twice_in_one_sums_every_path():
    x = leaf([2.0])
    a, b = x * x, x * 3.0                             # two consumers of one leaf
    (a + b + x).sum().backward()                      # 2x + 3 + 1 = 8
    np.testing.assert_array_equal(x.grad, [8.0])
    (x * 5.0).sum().backward()                        # a second graph accumulates
    np.testing.assert_array_equal(x.grad, [13.0])


def test_view_gradients_are_copied_into_the_leaf():
    """A gradient that is a view (reshape's backward) never becomes a leaf's .grad as it is."""
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    g = np.ones(4, np.float32)
    x.reshape(4).backward(g)
    assert not np.shares_memory(x.grad, g)
    x.grad += 1
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0, 1.0])


def test_reshape_and_transpose_are_views_of_the_input():
    x = Tensor(np.arange(6, dtype=np.float32))
    assert np.shares_memory(x.reshape(2, 3).data, x.data)
    assert np.shares_memory(x.reshape(2, 3).T.data, x.data)


def test_argmax_and_item():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], np.float32))
    np.testing.assert_array_equal(x.argmax(dim=1), [1, 0])
    assert x.max().item() == 7.0


def test_numbers_lists_and_arrays_are_accepted_as_inputs():
    assert ag.exp(0.0).dtype == np.float32 and ag.exp(0.0).item() == 1.0
    np.testing.assert_allclose(ag.log_softmax([0.0, 0.0]).data, np.log([0.5, 0.5]))
    assert ag.sum([1.0, 2.0, 3.0]).item() == 6.0
    assert ag.matmul([1.0, 2.0], np.eye(2)).dtype == np.float32  # float64 arrays are stored as float32
    x = leaf([1.0, 2.0, 3.0])
    x[[0, 0, 2]].sum().backward()                 # a list index is integer-array indexing
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])


# ----- in-place changes after a forward: PyTorch's version counter ---------------------------
def test_optimizer_step_between_forward_and_backward_raises_naming_the_op():
    from qnn_lite.nn import Parameter
    from qnn_lite.optim import SGD
    w = Parameter(np.array([1.0, 2.0], np.float32))
    x = Tensor(np.array([3.0, 4.0], np.float32))
    w.grad = np.ones(2, np.float32)
    loss = (w * x).sum()                         # Mul saved w's array
    SGD([w], lr=0.1).step()                      # changes it in place
    with pytest.raises(RuntimeError, match=r"Mul\.backward was modified by an in-place.*version is 1, it was 0"):
        loss.backward()


def test_adam_step_and_load_state_dict_bump_the_version():
    from qnn_lite import nn
    from qnn_lite.optim import Adam
    lin = nn.Linear(2, 1)
    w0, b0 = lin.weight._version, lin.bias._version       # nn.init's fills count too
    lin.weight.grad = np.ones_like(lin.weight.data)
    Adam([lin.weight]).step()
    assert lin.weight._version == w0 + 1
    lin.load_state_dict(lin.state_dict())
    assert lin.weight._version == w0 + 2 and lin.bias._version == b0 + 1


def test_ops_that_saved_nothing_of_the_input_still_run_backward():
    """Add keeps no input arrays, so changing them in place cannot corrupt its gradient (as in PyTorch)."""
    from qnn_lite.optim import SGD
    w = leaf([1.0, 2.0])
    w.grad = np.zeros(2, np.float32)
    out = (w + 1.0).sum()
    SGD([w], lr=0.1).step()
    w.grad = None
    out.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])


def test_writes_through_data_are_the_untracked_escape_hatch():
    """``.data`` bypasses the check, as in PyTorch: the gradient then uses the new values."""
    w, x = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    loss = (w * x).sum()
    x.data[0] = 10.0                             # not tracked: _version stays 0
    assert x._version == 0
    loss.backward()
    np.testing.assert_array_equal(w.grad, [10.0, 4.0])


# ----- comparisons and truth: PyTorch's rules ------------------------------------------------
@pytest.mark.parametrize("op, expected", [
    ("__eq__", [False, True, False]), ("__ne__", [True, False, True]), ("__lt__", [True, False, False]),
    ("__le__", [True, True, False]), ("__gt__", [False, False, True]), ("__ge__", [False, True, True])])
def test_comparisons_are_elementwise_boolean_tensors_without_grad(op, expected):
    a = leaf([1.0, 2.0, 3.0])
    for other in (2.0, Tensor(np.array([2.0, 2.0, 2.0], np.float32)), np.array([2.0, 2.0, 2.0])):
        out = getattr(a, op)(other)
        assert isinstance(out, Tensor) and out.dtype == np.bool_ and not out.requires_grad
        np.testing.assert_array_equal(out.data, expected)


def test_bool_of_one_element_is_its_value_and_of_several_is_ambiguous():
    assert bool(Tensor([2.0])) is True and bool(Tensor(0.0)) is False
    same, differ = Tensor([1.0, 2.0]) == Tensor([1.0, 2.0]), Tensor([1.0, 2.0]) == Tensor([1.0, 3.0])
    assert isinstance(same.all(), Tensor) and same.all().dtype == np.bool_
    assert bool(same.all()) and not differ.all() and differ.any()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(Tensor(np.zeros(0, np.float32)))
    assert (Tensor([1.0]) == None) is False  # noqa: E711  (not numeric: identity, like PyTorch)


def test_tensors_still_hash_by_identity_in_dicts_and_sets():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    assert len({a, b}) == 2 and {a: 1, b: 2}[b] == 2
    assert a in {a} and b not in {a}
