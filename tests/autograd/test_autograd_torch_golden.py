"""Values and gradients agree with PyTorch at the tricky points (ties, clamp boundaries, kinks,
extreme logits, 0 ** p). Golden values: data/torch_golden.npz, made by data/make_torch_golden.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qnn_lite.autograd as ag
from qnn_lite.autograd import Tensor

GOLDEN = np.load(Path(__file__).with_name("data") / "torch_golden.npz")
IDX = [0, 2, 0, 0, 1]
COND = np.array([[True, False, True, False], [False, True, True, False], [True, True, False, False]])

CASES = {
    "amax_three_ties": lambda x: ag.max(x, dim=1),
    "amax_all_ties": lambda x: ag.max(x),
    "amin_ties": lambda x: ag.min(x, dim=0),
    "clamp_boundaries": lambda x: ag.clip(x, -0.5, 0.5),
    "clamp_min_boundary": lambda x: ag.clip(x, min=0.0),
    "abs_at_zero": ag.abs,
    "relu_at_zero": ag.relu,
    "sigmoid_extreme": ag.sigmoid,
    "tanh": ag.tanh,
    "log_softmax_extreme": lambda x: ag.log_softmax(x, dim=1),
    "softmax_axis0": lambda x: ag.softmax(x, dim=0),
    "pow_square_at_zero": lambda x: x ** 2,
    "pow_zero_exponent": lambda x: x ** 0,
    "pow_tensor_tensor": lambda x, p: x ** p,
    "sqrt": ag.sqrt,
    "getitem_repeated": lambda x: x[IDX],
    "matmul_batched_bcast": ag.matmul,
    "where_bcast": lambda x, y: ag.where(COND, x, y),
    "mean_dim_keepdim": lambda x: x.mean(dim=(0, 2), keepdim=True),
}


def test_every_golden_case_is_checked():
    assert {k.split("/")[0] for k in GOLDEN.files} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name):
    n_inputs = sum(1 for k in GOLDEN.files if k.startswith(f"{name}/in"))
    ts = [Tensor(GOLDEN[f"{name}/in{i}"], requires_grad=True) for i in range(n_inputs)]
    out = CASES[name](*ts)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, GOLDEN[f"{name}/out"], rtol=2e-6, atol=1e-6)
    out.backward(GOLDEN[f"{name}/cotangent"])
    for i, t in enumerate(ts):
        np.testing.assert_allclose(t.grad, GOLDEN[f"{name}/grad{i}"], rtol=2e-6, atol=1e-6,
                                   err_msg=f"{name}: gradient of input {i}")


def test_tie_rule_hand_computed():
    """Tied maxima share the gradient evenly (torch.amax's rule): 3 ties -> 1/3 each."""
    x = Tensor(np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 1.0, 0.0, 2.0]], np.float32), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0, 0.5]], rtol=1e-7)
    c = Tensor(np.full((2, 2), 4.0, np.float32), requires_grad=True)
    (ag.min(c) * 8.0).backward()
    np.testing.assert_array_equal(c.grad, np.full((2, 2), 2.0))
