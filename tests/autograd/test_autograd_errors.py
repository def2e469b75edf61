"""Bad input raises ValueError / TypeError naming the argument and the value received."""
from __future__ import annotations

import numpy as np
import pytest

import qnn_lite.autograd as ag
from qnn_lite.autograd import Tensor

X = Tensor(np.ones((2, 3), np.float32))


def test_matmul_shapes_not_aligned():
    with pytest.raises(ValueError, match=r"^matmul: shapes \(2, 3\) and \(4, 5\) are not aligned: "
                                         r"3 \(dim 1\) != 4 \(dim 0\)$"):
        ag.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(4,\) and \(2, 3, 5\) are not aligned: 4 \(dim 0\) != 3 \(dim 1\)"):
        ag.matmul(np.ones(4), np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match=r"batch dimensions of shapes \(2, 2, 3\) and \(3, 3, 5\)"):
        ag.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 5)))
    with pytest.raises(ValueError, match="at least 1-D"):
        ag.matmul(X, 2.0)


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) .* \(4,\)"):
        X.reshape(4)
    with pytest.raises(TypeError, match="shape must be ints"):
        ag.reshape(X, (2.0, 3))
    with pytest.raises(ValueError, match=r"dims must be a permutation of 0..1, got \(0, 0\)"):
        X.permute(0, 0)
    with pytest.raises(ValueError, match="dim1=5"):
        X.transpose(0, 5)
    with pytest.raises(ValueError, match="start_dim=1, end_dim=0"):
        X.flatten(1, 0)


def test_reduction_axis_errors():
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        X.sum(axis=2)
    with pytest.raises(TypeError, match="axis must be None, an int or a tuple of ints, got 'rows'"):
        ag.mean(X, axis="rows")
    with pytest.raises(TypeError, match="either axis or dim"):
        ag.max(X, axis=0, dim=1)
    with pytest.raises(ValueError, match=r"axis must be one int .* got \(0, 1\)"):
        ag.log_softmax(X, axis=(0, 1))


def test_concat_and_stack_errors():
    with pytest.raises(TypeError, match="tensors must be a list or tuple of tensors, got Tensor"):
        ag.concat(X, X)
    with pytest.raises(ValueError, match="tensors must be a non-empty"):
        ag.stack([])
    with pytest.raises(ValueError, match=r"concat: shapes must match except along axis 0, got \[\(2, 3\), \(2, 4\)\]"):
        ag.concat([X, np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape"):
        ag.stack([X, np.ones((3, 2))])
    with pytest.raises(ValueError, match="axis=3"):
        ag.concat([X, X], axis=3)


def test_where_and_clip_errors():
    with pytest.raises(TypeError, match="cond must be a boolean array or Tensor, got dtype float32"):
        ag.where(X, X, X)
    with pytest.raises(ValueError, match="at least one of min and max"):
        ag.clip(X)


def test_tensor_construction_errors():
    with pytest.raises(TypeError, match="data must be numeric"):
        Tensor("abc")
    with pytest.raises(TypeError, match="requires_grad needs a floating dtype"):
        Tensor(np.arange(3), requires_grad=True)
