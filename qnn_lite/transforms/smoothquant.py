r"""SmoothQuant (Xiao, Lin, Seznec, Wu, Demouth & Han, 2023): move activation outliers into the weights.

For a Linear fed by a LayerNorm, $Y = X W^\top = (X \,\mathrm{diag}(s)^{-1})(W \mathrm{diag}(s))^\top$
for any per-input-channel $s > 0$. Choosing
$s_j = \max|X_j|^{\alpha} / \max|W_{:,j}|^{1-\alpha}$
splits the quantization difficulty between activations and weights (``alpha`` = the migration
strength; 0.5 in the paper, larger for models with stronger outliers). $1/s$ is folded into the
LayerNorm's weight and bias, $s$ into the Linear's columns, so the float model is unchanged
(up to rounding). Shapes: ``act_absmax (in,)``, weights ``(out, in)``.
"""
from __future__ import annotations

import copy

import numpy as np

from ..validate import as_float, check_fraction


def smooth_scales(act_absmax, weights, alpha: float = 0.5, eps: float = 1e-5) -> np.ndarray:
    """$s_j = \\max|X_j|^\\alpha / \\max_{W \\in weights} \\max_o |W_{oj}|^{1-\\alpha}$, ``(in,)`` (float32)."""
    a = as_float(act_absmax, "act_absmax").astype(np.float64)
    alpha = check_fraction(alpha, "alpha")
    if a.ndim != 1 or (a < 0).any():
        raise ValueError(f"act_absmax must be a 1-D array of per-channel max |x| (>= 0), got shape {a.shape}")
    ws = [as_float(w, "weight") for w in weights]
    for w in ws:
        if w.ndim != 2 or w.shape[1] != a.shape[0]:
            raise ValueError(f"each weight must be (out, {a.shape[0]}) to match act_absmax, got {w.shape}")
    wmax = np.max([np.abs(w).max(axis=0) for w in ws], axis=0).astype(np.float64)
    s = np.maximum(a, eps) ** alpha / np.maximum(wmax, eps) ** (1 - alpha)
    return s.astype(np.float32)


def fold_scales(norm, linears, s) -> None:
    """In place: ``norm.weight, norm.bias /= s``; each ``linear.weight[:, j] *= s_j``."""
    s = np.asarray(s, np.float32)
    norm.weight.data[...] = norm.weight.data / s
    if norm.bias is not None:
        norm.bias.data[...] = norm.bias.data / s
    for lin in linears:
        lin.weight.data[...] = lin.weight.data * s


def smooth_model(model, act_absmax: dict, alpha: float = 0.5):
    """A copy of a TinyGPT with ``ln_1 -> attn.c_attn`` and ``ln_2 -> mlp.c_fc`` smoothed.

    ``act_absmax``: ``{'h.0.attn.c_attn': (in,) max |x|, ...}`` from calibration (see
    ``transforms.llm_quant.act_absmax``). The other two Linears of a block have no LayerNorm in
    front and are left as they are (as in the paper's OPT/BLOOM recipe).
    """
    model = copy.deepcopy(model)
    for i, block in enumerate(model.h):
        for ln, lin, name in ((block.ln_1, block.attn.c_attn, f"h.{i}.attn.c_attn"),
                              (block.ln_2, block.mlp.c_fc, f"h.{i}.mlp.c_fc")):
            if name not in act_absmax:
                raise ValueError(f"act_absmax has no entry for {name!r}; got {sorted(act_absmax)}")
            fold_scales(ln, [lin], smooth_scales(act_absmax[name], [lin.weight.data], alpha))
    return model
