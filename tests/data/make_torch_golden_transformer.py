"""Generate tests/data/torch_golden_transformer.npz: PyTorch reference values for the transformer ops.

Not run by the suite (it imports torch). Regenerate with:
    /work/torchvenv/bin/python tests/data/make_torch_golden_transformer.py
Holds, in float64 on fixed random inputs: embedding, layer_norm, rms_norm, gelu (exact and tanh),
scaled_dot_product_attention (causal and with a bool mask) — outputs and the gradients of
sum(out * g) for a fixed random cotangent g.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(2026)
out = {}


def grads(fn, name, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    g = rng.standard_normal(tuple(y.shape))
    (y * torch.tensor(g)).sum().backward()
    out[f"{name}_g"] = g
    out[f"{name}_out"] = y.detach().numpy()
    for i, (a, t) in enumerate(zip(arrays, ts)):
        out[f"{name}_in{i}"] = a
        out[f"{name}_grad{i}"] = t.grad.numpy()


idx = rng.integers(0, 7, size=(2, 5))
out["embedding_idx"] = idx
grads(lambda w: F.embedding(torch.tensor(idx), w), "embedding", rng.standard_normal((7, 4)))
grads(lambda x, w, b: F.layer_norm(x, (6,), w, b, 1e-5), "layer_norm",
      rng.standard_normal((2, 3, 6)) * 3 + 1, rng.standard_normal(6), rng.standard_normal(6))
grads(lambda x, w: F.rms_norm(x, (6,), w, 1e-6), "rms_norm", rng.standard_normal((2, 3, 6)) * 2, rng.standard_normal(6))
grads(lambda x: F.gelu(x), "gelu_none", rng.standard_normal((3, 7)) * 3)
grads(lambda x: F.gelu(x, approximate="tanh"), "gelu_tanh", rng.standard_normal((3, 7)) * 3)
q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), "sdpa_causal", q, k, v)
mask = rng.random((5, 6)) < 0.7
mask[:, 0] = True
out["sdpa_mask_mask"] = mask
grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(mask), scale=0.3),
      "sdpa_mask", rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 6, 4)), rng.standard_normal((2, 6, 3)))

path = os.path.join(os.path.dirname(__file__), "torch_golden_transformer.npz")
np.savez_compressed(path, torch_version=np.array(torch.__version__), **out)
print("wrote", path, len(out), "arrays")
