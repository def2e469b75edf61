r"""AWQ, activation-aware weight quantization (Lin, Tang, Tang, Yang, Chen, Wang, Xiao, Dang, Gan & Han, 2024).

A few input channels carry large activations; their weights matter most. AWQ scales those weight
columns *up* before group-wise rounding (and the activations down by the same factor, folded into
the op in front), which shrinks their relative rounding error. The scale is searched on calibration
data, one exponent per layer group:
$s = \bar{|x|}^{\,r} / \sqrt{\max(\bar{|x|}^{\,r}) \min(\bar{|x|}^{\,r})}$, $r \in \{0, \tfrac1{n}, \dots, \tfrac{n-1}{n}\}$,
keeping the $r$ that minimises $\sum \|X W^\top - X (Q(W \mathrm{diag}\, s)\, \mathrm{diag}\, s^{-1})^\top\|^2$
over the Linears that share the input ($\bar{|x|}$ = mean |x| per channel, as in llm-awq's
``auto_scale``). Simplifications: the loss is measured at the Linears' outputs (llm-awq measures the
whole attention / MLP block) and the weight-clipping search (``auto_clip``) is not done.
For TinyGPT the groups are ``ln_1 -> c_attn``, ``ln_2 -> c_fc`` and ``v -> attn.c_proj``
(the value rows of ``c_attn`` absorb $1/s$); ``mlp.c_proj`` follows a GELU, which a scale cannot
pass, so it is only rounded. Shapes: ``X (N, in)``, weights ``(out, in)``.
"""
from __future__ import annotations

import copy

import numpy as np

from ..autograd.tensor import no_grad
from ..quantizers.groupwise import fake_quantize_groupwise
from ..validate import as_float, check_int
from .capture import capture_inputs, linear_names


def search_scale(X, weights, bits: int = 4, group_size: int | None = 128, n_grid: int = 20):
    """``(s (in,), best_ratio, losses (n_grid,))``: AWQ's grid search for one group of Linears."""
    X = as_float(X, "X").astype(np.float32)
    n_grid = check_int(n_grid, "n_grid", 1)
    ws = [as_float(w, "weight").astype(np.float32) for w in weights]
    for w in ws:
        if X.ndim != 2 or w.ndim != 2 or w.shape[1] != X.shape[1]:
            raise ValueError(f"calibration inputs X (N, in) must match each weight (out, in): "
                             f"X {X.shape}, weight {w.shape}")
    x_mean = np.abs(X).mean(axis=0)
    G = X.T.astype(np.float64) @ X                   # ||X D^T||^2 = sum((D G) * D): one (in, in) product per try
    losses, best = np.empty(n_grid), None
    for k in range(n_grid):
        r = k / n_grid
        s = np.maximum(x_mean ** r, 1e-4)
        s = s / np.sqrt(s.max() * s.min())
        losses[k] = 0.0
        for w in ws:
            d = (w - fake_quantize_groupwise(w * s, bits, group_size) / s).astype(np.float64)
            losses[k] += float(np.sum((d @ G) * d)) / (X.shape[0] * w.shape[0])
        if best is None or losses[k] < losses[best[1]]:
            best = (s.astype(np.float32), k)
    return best[0], best[1] / n_grid, losses


def awq_model(model, run, bits: int = 4, group_size: int | None = 128, n_grid: int = 20):
    """A copy of a TinyGPT with AWQ scales folded in and every Linear group-wise RTN-quantized."""
    model = copy.deepcopy(model)
    with no_grad():
        X = capture_inputs(model, linear_names(model), run)
    for i, block in enumerate(model.h):
        attn, C = block.attn, block.attn.n_embd
        for ln, lin, name in ((block.ln_1, attn.c_attn, f"h.{i}.attn.c_attn"),
                              (block.ln_2, block.mlp.c_fc, f"h.{i}.mlp.c_fc")):
            s = search_scale(X[name], [lin.weight.data], bits, group_size, n_grid)[0]
            ln.weight.data[...] /= s
            ln.bias.data[...] /= s
            lin.weight.data[...] *= s
        s = search_scale(X[f"h.{i}.attn.c_proj"], [attn.c_proj.weight.data], bits, group_size, n_grid)[0]
        attn.c_attn.weight.data[2 * C:] /= s[:, None]       # v = rows 2C..3C of c_attn
        attn.c_attn.bias.data[2 * C:] /= s
        attn.c_proj.weight.data[...] *= s
    for name, m in model.named_modules():
        if name in X:
            m.weight.data[...] = fake_quantize_groupwise(m.weight.data, bits, group_size)
    return model
