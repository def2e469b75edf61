"""Golden casts from PyTorch 2.13 (CPU) for tests/test_formats.py: float32 -> bf16 / fp16 / fp8.

    /tmp/torchvenv/bin/python tests/data/make_torch_golden_formats.py

Writes tests/data/torch_golden_formats.npz: for each format, float32 inputs ``x_<fmt>`` and
``torch.tensor(x).to(dtype).float()`` as ``y_<fmt>``. Inputs: random float32 bit patterns
(every exponent, subnormals, inf, NaN), exact midpoints between neighbouring values of the
format (ties), values just either side of the midpoints, and values around the overflow threshold.
Not run by the test suite (it imports torch).
"""
from pathlib import Path

import numpy as np
import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp8_e4m3": torch.float8_e4m3fn,
          "fp8_e5m2": torch.float8_e5m2}


def inputs(dtype, rng):
    # every finite positive value of the format (via torch's own decode of all bit patterns)
    nbits = 8 if dtype in (torch.float8_e4m3fn, torch.float8_e5m2) else 16
    codes = torch.arange(2 ** nbits, dtype=torch.int32).to(torch.int16 if nbits == 16 else torch.uint8)
    vals = codes.view(dtype).float().numpy().astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals) & (vals >= 0)])
    mids = (vals[:-1] + vals[1:]) / 2
    mids = rng.choice(mids, size=min(200, mids.size), replace=False)
    over = vals[-1] + np.array([0.25, 0.5, 0.75, 1.0, 2.0]) * (vals[-1] - vals[-2])
    mids32 = mids.astype(np.float32)
    near = np.concatenate([np.nextafter(mids32, np.float32(0)), np.nextafter(mids32, np.float32(np.inf))])
    rand = rng.integers(0, 2 ** 32, size=200, dtype=np.uint64).astype(np.uint32).view(np.float32)
    logu = np.exp(rng.uniform(np.log(vals[1] / 4), np.log(vals[-1] * 1.2), size=200))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0])
    x = np.concatenate([mids, near[rng.choice(near.size, 100, replace=False)], over, logu]).astype(np.float32)
    sign = np.where(rng.random(x.size) < 0.5, -1, 1).astype(np.float32)
    with np.errstate(over="ignore"):
        return np.concatenate([x * sign, rand, special.astype(np.float32)])


def main():
    rng = np.random.default_rng(0)
    out = {}
    for name, dtype in DTYPES.items():
        x = inputs(dtype, rng)
        out[f"x_{name}"] = x
        out[f"y_{name}"] = torch.from_numpy(x).to(dtype).float().numpy()
    path = Path(__file__).with_name("torch_golden_formats.npz")
    np.savez_compressed(path, torch_version=np.array(torch.__version__), **out)
    print(path, {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
