"""Generate tests/data/torch_golden_conv_groups.npz: PyTorch's grouped / depthwise / dilated conv2d.

Not run by the suite (it imports torch). Regenerate with:
    /work/torchvenv/bin/python tests/data/make_torch_golden_conv_groups.py
Holds, per case, the inputs (x, w, b, gy), the geometry and torch's output y and
gradients gx, gw, gb of sum(y * gy), all float64.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(2024)
out = {}
CASES = {  # tag: (x shape, out channels, kernel, stride, padding, dilation, groups)
    "grouped": ((2, 4, 6, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2),
    "depthwise": ((2, 8, 8, 8), 8, (3, 3), (1, 1), (1, 1), (1, 1), 8),
    "depthwise_s2": ((2, 6, 9, 8), 6, (3, 3), (2, 2), (1, 1), (1, 1), 6),
    "depthwise_mult2": ((1, 3, 7, 6), 6, (3, 2), (1, 2), (2, 1), (1, 1), 3),
    "dilated": ((2, 3, 9, 9), 4, (3, 3), (1, 1), (2, 2), (2, 2), 1),
    "dilated_depthwise": ((1, 4, 9, 8), 4, (3, 3), (2, 1), (1, 0), (2, 3), 4),
}
for tag, (xs, O, k, s, p, d, g) in CASES.items():
    x = torch.tensor(rng.standard_normal(xs), requires_grad=True)
    w = torch.tensor(rng.standard_normal((O, xs[1] // g, *k)), requires_grad=True)
    b = torch.tensor(rng.standard_normal(O), requires_grad=True)
    y = F.conv2d(x, w, b, s, p, d, g)
    gy = torch.tensor(rng.standard_normal(tuple(y.shape)))
    (y * gy).sum().backward()
    for name, v in (("x", x), ("w", w), ("b", b), ("gy", gy), ("y", y)):
        out[f"{tag}.{name}"] = v.detach().numpy()
    for name, v in (("gx", x.grad), ("gw", w.grad), ("gb", b.grad)):
        out[f"{tag}.{name}"] = v.numpy()
    out[f"{tag}.stride"], out[f"{tag}.padding"], out[f"{tag}.dilation"] = np.array(s), np.array(p), np.array(d)
    out[f"{tag}.groups"] = np.array(g)
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_golden_conv_groups.npz"), **out)
print(f"wrote {len(out)} arrays")
