"""Generate torch_golden.npz: PyTorch's values and gradients at the tricky points of our ops.

Run with an interpreter that has torch (the test suite never imports torch):
    /path/to/torch-venv/bin/python tests/autograd/data/make_torch_golden.py
Each case stores its float32 inputs (``<case>/in<i>``), a cotangent, PyTorch's output
and the gradient of every input. tests/autograd/test_autograd_torch_golden.py defines
the same cases with qnn_lite and compares.
"""
from pathlib import Path

import numpy as np
import torch

rng = np.random.default_rng(7)
f32 = np.float32
IDX = [0, 2, 0, 0, 1]
COND = np.array([[True, False, True, False], [False, True, True, False], [True, True, False, False]])

CASES = {
    "amax_three_ties": ([np.array([[1, 3, 3, 3], [2, 1, 0, 2]], f32)], lambda x: torch.amax(x, dim=1)),
    "amax_all_ties": ([np.array([[5, 1], [5, 5]], f32)], lambda x: torch.amax(x)),
    "amin_ties": ([np.array([[1, 3], [1, 0], [1, 0]], f32)], lambda x: torch.amin(x, dim=0)),
    "clamp_boundaries": ([np.array([-1, -0.5, 0, 0.5, 1], f32)], lambda x: torch.clamp(x, -0.5, 0.5)),
    "clamp_min_boundary": ([np.array([-1, 0, 1], f32)], lambda x: torch.clamp(x, min=0.0)),
    "abs_at_zero": ([np.array([-1, 0, 2], f32)], torch.abs),
    "relu_at_zero": ([np.array([-1, 0, 2], f32)], torch.relu),
    "sigmoid_extreme": ([np.array([-100, -20, -1, 0, 1, 20, 100], f32)], torch.sigmoid),
    "tanh": ([rng.standard_normal((3, 4)).astype(f32)], torch.tanh),
    "log_softmax_extreme": ([np.array([[1000, 0, -1000], [1, 2, 3], [-5, -5, -5]], f32)],
                            lambda x: torch.log_softmax(x, dim=1)),
    "softmax_axis0": ([rng.standard_normal((3, 4)).astype(f32)], lambda x: torch.softmax(x, dim=0)),
    "pow_square_at_zero": ([np.array([0, 1, -2], f32)], lambda x: x ** 2),
    "pow_zero_exponent": ([np.array([0, 1, -2], f32)], lambda x: x ** 0),
    "pow_tensor_tensor": ([np.array([0, 0, 2, 3], f32), np.array([2, 0, 0.5, -1], f32)],
                          lambda x, p: x ** p),
    "sqrt": ([np.array([0.25, 1, 4], f32)], torch.sqrt),
    "getitem_repeated": ([rng.standard_normal((3, 4)).astype(f32)], lambda x: x[IDX]),
    "matmul_batched_bcast": ([rng.standard_normal((2, 1, 3, 4)).astype(f32),
                              rng.standard_normal((5, 4, 2)).astype(f32)], torch.matmul),
    "where_bcast": ([rng.standard_normal(4).astype(f32), rng.standard_normal((3, 1)).astype(f32)],
                    lambda x, y: torch.where(torch.from_numpy(COND), x, y)),
    "mean_dim_keepdim": ([rng.standard_normal((2, 3, 4)).astype(f32)],
                         lambda x: x.mean(dim=(0, 2), keepdim=True)),
}


def main():
    out = {}
    for name, (inputs, fn) in CASES.items():
        ts = [torch.tensor(x, requires_grad=True) for x in inputs]
        y = fn(*ts)
        v = rng.standard_normal(tuple(y.shape)).astype(f32)
        y.backward(torch.from_numpy(v))
        for i, (x, t) in enumerate(zip(inputs, ts)):
            out[f"{name}/in{i}"] = x
            out[f"{name}/grad{i}"] = t.grad.numpy()
        out[f"{name}/cotangent"] = v
        out[f"{name}/out"] = y.detach().numpy()
    np.savez_compressed(Path(__file__).with_name("torch_golden.npz"), **out)
    print(f"wrote {len(CASES)} cases with torch {torch.__version__}")


if __name__ == "__main__":
    main()
