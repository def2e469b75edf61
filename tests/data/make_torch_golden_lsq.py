"""Generate tests/data/torch_golden_lsq.npz: PyTorch's LSQ (learnable fake quant) numerics.

Run by hand with a PyTorch environment (not by the test suite):

    /tmp/torchvenv/bin/python tests/data/make_torch_golden_lsq.py

For every case ``KEY``: ``KEY/elem`` stacks [x, dY, y, dX, dscale_elem, dzero_elem];
``KEY/sums`` holds [dscale, dzero] (per channel: [dscale, dzero, scale, zero_point]);
``KEY/params`` is [scale, zero_point, qmin, qmax, grad_factor, axis (-1: per tensor)].
The scale / zero-point gradients are stored both *per element* (each element run on its own, so no summation
order is involved and the comparison can be bit for bit) and *summed* (one call
on the whole tensor, compared with a tight tolerance since float32 sums depend
on the order of additions).
"""
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).with_name("torch_golden_lsq.npz")
rng = np.random.default_rng(2019)  # Esser et al., 2019


def make_x(scale, zp, qmin, qmax, n_random=12):
    """Random values plus the interesting points: halfway, range ends, beyond."""
    k = np.arange(qmin, qmax + 1)
    pick = rng.choice(k, size=min(8, k.size), replace=False)
    special = np.concatenate([
        (pick - zp + 0.5) * scale, (pick - zp - 0.5) * scale,            # halfway points
        [(qmin - zp) * scale, (qmax - zp) * scale],                      # range ends
        [(qmax - zp + 0.3) * scale, (qmin - zp - 0.3) * scale],          # half-step bands
        [(qmax - zp + 0.5) * scale, (qmin - zp - 0.5) * scale],
        [(qmax - zp + 3) * scale, (qmin - zp - 3) * scale, 0.0],         # clipped, zero
    ])
    spread = (qmax - qmin) * scale
    center = ((qmin + qmax) / 2 - zp) * scale
    random = center + rng.uniform(-0.7 * spread, 0.7 * spread, n_random)
    return np.concatenate([special, random]).astype(np.float32)


def run_tensor(x, dy, scale, zp, qmin, qmax, gf):
    xt = torch.tensor(x, requires_grad=True)
    st = torch.tensor([scale], dtype=torch.float32, requires_grad=True)
    zt = torch.tensor([zp], dtype=torch.float32, requires_grad=True)
    y = torch._fake_quantize_learnable_per_tensor_affine(xt, st, zt, qmin, qmax, gf)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), xt.grad.numpy(), st.grad.numpy(), zt.grad.numpy()


def run_channel(x, dy, scale, zp, axis, qmin, qmax, gf):
    xt = torch.tensor(x, requires_grad=True)
    st = torch.tensor(scale, dtype=torch.float32, requires_grad=True)
    zt = torch.tensor(zp, dtype=torch.float32, requires_grad=True)
    y = torch._fake_quantize_learnable_per_channel_affine(xt, st, zt, axis, qmin, qmax, gf)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), xt.grad.numpy(), st.grad.numpy(), zt.grad.numpy()


def main():
    torch.set_num_threads(1)
    data = {}
    tensor_cases = [  # name, scale, zero_point, qmin, qmax
        ("t_int8", 0.0371, 0.0, -128, 127),
        ("t_uint8", 0.0213, 3.0, 0, 255),
        ("t_int4_pow2", 0.25, 0.0, -8, 7),
        ("t_int4_zp", 0.1, 2.0, -8, 7),
        ("t_zp_half", 1.0, 2.5, -4, 3),     # forward rounds 2.5 -> 2, backward uses 3
        ("t_zp_neg", 0.3, -0.7, -8, 7),     # forward rint -> -1, backward int(-0.2) -> 0
    ]
    for name, scale, zp, qmin, qmax in tensor_cases:
        x = make_x(np.float32(scale), round(zp), qmin, qmax)
        dy = rng.normal(size=x.shape).astype(np.float32)
        for scaled in (False, True):
            gf = 1.0 / (x.size * qmax) ** 0.5 if scaled else 1.0
            key = f"{name}_gs{int(scaled)}"
            y, dx, ds, dz = run_tensor(x, dy, scale, zp, qmin, qmax, gf)
            per = [run_tensor(x[i:i + 1], dy[i:i + 1], scale, zp, qmin, qmax, gf) for i in range(x.size)]
            ds_e, dz_e = np.concatenate([p[2] for p in per]), np.concatenate([p[3] for p in per])
            data[f"{key}/elem"] = np.stack([x, dy, y, dx, ds_e, dz_e])
            data[f"{key}/sums"] = np.concatenate([ds, dz])
            data[f"{key}/params"] = np.array([scale, zp, qmin, qmax, gf, -1], dtype=np.float64)

    channel_cases = [  # name, shape, axis, qmin, qmax
        ("c_axis0", (4, 3, 4), 0, -8, 7),
        ("c_axis1_u8", (2, 3, 4), 1, 0, 255),
    ]
    for name, shape, axis, qmin, qmax in channel_cases:
        c = shape[axis]
        scale = rng.uniform(0.02, 0.5, c).astype(np.float32)
        zp = np.array([0.0, 1.5, 2.5, 3.2][:c], dtype=np.float32)  # torch.round: half to even
        if qmin == 0:
            zp = np.abs(zp) + 1
        view = [1] * len(shape)
        view[axis] = c
        spread = (qmax - qmin) * scale.reshape(view)
        x = (rng.uniform(-0.7, 0.7, shape) * spread).astype(np.float32)
        xc = np.moveaxis(x, axis, 0).reshape(c, -1)  # a view: channel-major
        xc[:, 0] = (qmax - np.rint(zp) + 0.5) * scale   # band edges above / below the range
        xc[:, 1] = (qmin - np.rint(zp) - 0.5) * scale
        xc[:, 2] = (np.rint(zp) * 0 + 1.5) * scale       # a halfway point
        dy = rng.normal(size=shape).astype(np.float32)
        s_full = np.broadcast_to(scale.reshape(view), shape).ravel().copy()
        z_full = np.broadcast_to(zp.reshape(view), shape).ravel().copy()
        for scaled in (False, True):
            gf = 1.0 / (x.size * qmax) ** 0.5 if scaled else 1.0
            key = f"{name}_gs{int(scaled)}"
            y, dx, ds, dz = run_channel(x, dy, scale, zp, axis, qmin, qmax, gf)
            # every element its own channel (shape (N, 1): torch sums 1-D inputs over everything)
            _, _, ds_e, dz_e = run_channel(x.reshape(-1, 1), dy.reshape(-1, 1), s_full, z_full, 0, qmin, qmax, gf)
            data[f"{key}/elem"] = np.stack([x, dy, y, dx, ds_e.reshape(shape), dz_e.reshape(shape)])
            data[f"{key}/sums"] = np.stack([ds, dz, scale, zp])
            data[f"{key}/params"] = np.array([0, 0, qmin, qmax, gf, axis], dtype=np.float64)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(data)} arrays), torch {torch.__version__}")


if __name__ == "__main__":
    main()
