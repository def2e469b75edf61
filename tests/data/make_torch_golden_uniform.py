"""Generate tests/data/torch_golden_uniform.npz: PyTorch 2.13 (CPU) outputs that
qnn_lite.quantizers.uniform / observers must reproduce bit for bit.

Run with the torch scratch venv (not part of the test suite):
    /tmp/torchvenv/bin/python tests/data/make_torch_golden_uniform.py
Keys: ``fq_*`` fake-quant cases (packed one after another; ``fq_meta`` rows give
qmin, qmax, axis (-99: per tensor), ndim, shape), ``qp_*`` qparams table, ``obs{i}_*`` observer sequences.
"""
import os
import warnings

import numpy as np
import torch
from torch.ao.quantization import observer as O

warnings.simplefilter("ignore")
rng = np.random.default_rng(2026)
out = {}
f32 = np.float32


def qr(bits, signed, narrow=False, reduce_range=False):
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    if narrow:
        qmin += 1
    if reduce_range:
        qmin, qmax = qmin // 2, qmax // 2
    return qmin, qmax


# ----- fake quantize -------------------------------------------------------------------
FQ = {k: [] for k in ("x", "y", "g", "grad", "scale", "zp", "meta")}


def fq_case(x, scale, zp, qmin, qmax, axis=None):
    """One fake-quant case, appended to the packed arrays fq_* (meta: qmin, qmax, axis, ndim, shape)."""
    x = np.asarray(x, f32)
    xt = torch.tensor(x, requires_grad=True)
    g = rng.standard_normal(x.shape).astype(f32)
    if axis is None:
        y = torch.fake_quantize_per_tensor_affine(xt, float(scale), int(zp), qmin, qmax)
    else:
        y = torch.fake_quantize_per_channel_affine(
            xt, torch.tensor(np.asarray(scale, f32)), torch.tensor(np.asarray(zp), dtype=torch.int32),
            axis % x.ndim, qmin, qmax)
    y.backward(torch.tensor(g))
    for k, v in (("x", x), ("y", y.detach().numpy()), ("g", g), ("grad", xt.grad.numpy()),
                 ("scale", np.asarray(scale, f32)), ("zp", np.asarray(zp, np.int64))):
        FQ[k].append(v.ravel())
    shape = list(x.shape) + [1] * (3 - x.ndim)
    FQ["meta"].append([qmin, qmax, -99 if axis is None else axis, x.ndim, *shape])


def halfway(n, s, z, qmin, qmax):
    """Values (k + 1/2) * s around and beyond the grid: ties for round-half-to-even."""
    k = rng.integers(qmin - z - 3, qmax - z + 3, n)
    return ((k + 0.5) * s).astype(f32)


cases = []
for bits, signed, narrow, rr in [(8, True, False, False), (8, False, False, False), (8, True, True, False),
                                  (2, True, False, False), (4, False, False, False), (16, True, False, False),
                                  (16, False, False, False), (8, True, False, True), (8, False, False, True)]:
    qmin, qmax = qr(bits, signed, narrow, rr)
    x = (rng.standard_normal(40) * 1.7 + 0.3).astype(f32)
    lo, hi = f32(min(x.min(), 0)), f32(max(x.max(), 0))
    s = f32((hi - lo) / f32(qmax - qmin))
    z = int(np.clip(qmin - np.rint(lo / s), qmin, qmax))
    x = np.concatenate([x * f32(1.3), halfway(24, s, z, qmin, qmax)])
    cases.append((x, s, z, qmin, qmax))
s = f32(0.1)
cases.append((np.array([np.inf, -np.inf, 1e30, -1e30, 3e9, -3e9, 12.7, 12.75, -12.85, -12.8], f32), s, 0, -128, 127))
cases.append((np.zeros(7, f32), f32(np.finfo(np.float32).eps), 0, -128, 127))
cases.append((np.full(5, 2.5, f32), f32(2.5 / 255), 0, 0, 255))
cases.append((np.array([0.30000001], f32), f32(0.2), 3, 0, 15))
cases.append((np.arange(-60, 60, dtype=f32) * f32(0.5 * 0.0078125), f32(0.0078125), -3, -8, 7))
for case in cases:
    fq_case(*case)
for shape, axis, bits, signed in [((4, 30), 0, 8, True), ((3, 5, 6), 1, 8, False), ((2, 3, 7), -1, 4, True),
                                  ((5, 9), -2, 16, False)]:
    qmin, qmax = qr(bits, signed)
    C = shape[axis]
    bshape = [1] * len(shape)
    bshape[axis] = C
    sc = np.exp(rng.uniform(-6, 0, C)).astype(f32)
    zc = rng.integers(qmin, qmax + 1, C) if not signed else np.zeros(C, np.int64)
    x = (rng.standard_normal(shape) * (sc * (qmax - qmin) / 4).reshape(bshape)).astype(f32)
    tie = ((np.round(x / sc.reshape(bshape)) + 0.5) * sc.reshape(bshape)).astype(f32)
    x = np.where(rng.random(shape) < 0.3, tie, x)
    fq_case(x, sc, zc, qmin, qmax, axis)
for k, v in FQ.items():  # packed: case i's values follow case i-1's
    out[f"fq_{k}"] = np.array(v, np.int64) if k == "meta" else np.concatenate(v)


# ----- qparams (torch observers' _calculate_qparams) ------------------------------------
def torch_qparams(lo, hi, bits, signed, symmetric, rr, per_channel=False):
    if bits == 8:
        kw = dict(dtype=torch.qint8 if signed else torch.quint8, reduce_range=rr)
    else:
        qmin, qmax = qr(bits, signed)
        dt = (torch.int16 if signed else torch.uint16) if bits == 16 else (torch.qint8 if signed else torch.quint8)
        kw = dict(dtype=dt, quant_min=qmin, quant_max=qmax, reduce_range=rr)
    if per_channel:
        ob = O.PerChannelMinMaxObserver(
            ch_axis=0, qscheme=torch.per_channel_symmetric if symmetric else torch.per_channel_affine, **kw)
        ob(torch.tensor(np.stack([lo, hi], 1)))
    else:
        ob = O.MinMaxObserver(qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine, **kw)
        ob(torch.tensor([lo, hi], dtype=torch.float32))
    s, z = ob.calculate_qparams()
    return s.numpy().astype(f32), z.numpy().astype(np.int64)


pairs = [(-1.0, 2.0), (0.0, 0.0), (1.5, 1.5), (-3.25, -3.25), (-1e-9, 2e-9), (0.0, 6.0), (-6.0, 0.0),
         (-1e30, 1e30), (-0.7, 0.0031), (-12345.678, 0.5)]
pairs += [tuple(sorted(rng.standard_normal(2) * 10.0 ** rng.uniform(-6, 4))) for _ in range(14)]
lo = np.array([p[0] for p in pairs], f32)
hi = np.array([p[1] for p in pairs], f32)
rows = []  # bits, signed, symmetric, reduce_range
for bits in (2, 4, 8, 16):
    for signed in (True, False):
        for symmetric in (False, True):
            for rr in (False, True):
                if symmetric and not signed and (bits not in (8, 16) or rr):
                    continue  # torch: custom-range zero point differs from ours / raises (documented)
                if rr and bits != 8:
                    continue
                rows.append((bits, signed, symmetric, rr))
out["qp_lo"], out["qp_hi"], out["qp_rows"] = lo, hi, np.array(rows, np.int64)
out["qp_scale"] = np.stack([np.concatenate([torch_qparams(a, b, *r)[0] for a, b in zip(lo, hi)]) for r in rows])
out["qp_zp"] = np.stack([np.concatenate([torch_qparams(a, b, *r)[1] for a, b in zip(lo, hi)]) for r in rows])
out["qp_pc_scale"] = np.stack([torch_qparams(lo, hi, *r, per_channel=True)[0] for r in rows])
out["qp_pc_zp"] = np.stack([torch_qparams(lo, hi, *r, per_channel=True)[1] for r in rows])



# ----- observers: qparams after a sequence of batches -------------------------------------
def _torch_kw(signed, symmetric, rr, per_channel=False):
    kind = "channel" if per_channel else "tensor"
    scheme = getattr(torch, f"per_{kind}_{'symmetric' if symmetric else 'affine'}")
    return dict(dtype=torch.qint8 if signed else torch.quint8, qscheme=scheme, reduce_range=rr)


OBS_CONFIGS = [  # (name, torch class, extra kwargs, signed, symmetric, reduce_range)
    ("minmax_u8", O.MinMaxObserver, {}, False, False, False),
    ("minmax_s8_sym", O.MinMaxObserver, {}, True, True, False),
    ("minmax_s8_rr", O.MinMaxObserver, {}, True, False, True),
    ("movavg_u8", O.MovingAverageMinMaxObserver, {}, False, False, False),
    ("movavg_s8_sym_c03", O.MovingAverageMinMaxObserver, {"averaging_constant": 0.3}, True, True, False),
    ("perch0_s8_sym", O.PerChannelMinMaxObserver, {"ch_axis": 0}, True, True, False),
    ("perch1_u8", O.PerChannelMinMaxObserver, {"ch_axis": 1}, False, False, False),
    ("perchm1_u8_rr", O.PerChannelMinMaxObserver, {"ch_axis": -1}, False, False, True),
    ("mavperch0_s8", O.MovingAveragePerChannelMinMaxObserver, {"ch_axis": 0, "averaging_constant": 0.25},
     True, False, False),
]
HIST_CONFIGS = [  # (bins, signed, symmetric, reduce_range)
    (2048, False, False, False), (2048, True, True, False), (2048, True, False, True), (256, False, False, False),
    (2048, False, False, False)]


def observer_cases():
    res = {}
    # three batches (8, 16); the third has a wider range than the first two
    b = rng.standard_normal((3, 8, 16)).astype(f32) * f32(1.5)
    b[0, :, :4] = 0.0  # some channels' values all zero in batch 0 (exercise min'=0 / max'=0)
    b[2] *= f32(2.5)
    res["obs_batches"] = b
    for name, cls, extra, signed, symmetric, rr in OBS_CONFIGS:
        ob = cls(**extra, **_torch_kw(signed, symmetric, rr, per_channel="ch_axis" in extra))
        for x in b:
            ob(torch.tensor(x))
        s, z = ob.calculate_qparams()
        res.update({f"obs_{name}_min": ob.min_val.numpy(), f"obs_{name}_max": ob.max_val.numpy(),
                    f"obs_{name}_scale": s.numpy(), f"obs_{name}_zp": z.numpy().astype(np.int64)})
    for k, (bins, signed, symmetric, rr) in enumerate(HIST_CONFIGS):
        ob = O.HistogramObserver(bins=bins, **_torch_kw(signed, symmetric, rr))
        batches = [rng.standard_normal(150) * 0.8, rng.laplace(0.2, 1.0, 150), rng.standard_normal(150) * 3.0]
        if k == 1:
            batches[1] = np.concatenate([batches[1], [np.inf, -np.inf]])  # dropped by the observer
        if k == 3:
            batches[0] = np.full(40, 0.75)  # a constant first batch: a one-value histogram
        if k == 4:  # twelve batches, each widening the range: re-binning again and again
            batches = [rng.standard_normal(20) * 1.3 ** j + rng.uniform(-1, 1) for j in range(12)]
        for x in batches:
            ob(torch.tensor(x.astype(f32)))
        res[f"hist{k}_x"] = np.concatenate(batches).astype(f32)  # the batches, one after another
        res[f"hist{k}_sizes"] = np.array([len(x) for x in batches])
        new_min, new_max = ob._non_linear_param_search()
        s, z = ob.calculate_qparams()
        res.update({f"hist{k}_cfg": np.array([bins, signed, symmetric, rr]),
                    f"hist{k}_histogram": ob.histogram.numpy(), f"hist{k}_minmax": np.array([ob.min_val, ob.max_val], f32),
                    f"hist{k}_search": np.array([new_min, new_max], f32),
                    f"hist{k}_scale": s.numpy(), f"hist{k}_zp": z.numpy().astype(np.int64)})
    res["hist_count"] = np.array(len(HIST_CONFIGS))
    # the observer's building blocks: torch.linspace and torch.histc in float32
    lin = [(-1.3, 2.7, 38), (0.1, 0.9, 257)] + [(*np.sort(rng.standard_normal(2) * 3), 101) for _ in range(4)]
    res["lin_args"] = np.array(lin, np.float64)
    res["lin_out"] = np.concatenate([torch.linspace(torch.tensor(f32(a)), torch.tensor(f32(b)), int(n)).numpy()
                                     for a, b, n in lin])
    x = np.concatenate([rng.standard_normal(400) * 2, [-3.0, 3.0, 0.0, 3.5, -4.0]]).astype(f32)
    x = np.concatenate([x, np.linspace(-3, 3, 37 * 4 + 1).astype(f32)])  # values on (float32) bin edges
    res["histc_x"] = x
    res["histc_out"] = np.concatenate([torch.histc(torch.tensor(x), b, min=-3.0, max=3.0).numpy() for b in (37, 256)])
    return res


out.update(observer_cases())

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_golden_uniform.npz")
np.savez_compressed(path, **out)
print("wrote", path, os.path.getsize(path), "bytes,", len(out), "arrays")
