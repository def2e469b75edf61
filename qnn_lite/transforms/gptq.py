r"""GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, 2023): quantize a layer's weights column by column,
pushing each column's rounding error onto the columns not yet quantized.

For a Linear ``W (out, in)`` and calibration inputs ``X (N, in)`` the layer-wise objective is
$\|X W^\top - X \hat W^\top\|^2$, whose Hessian (w.r.t. each row) is $H = \tfrac{2}{N} X^\top X$.
Quantizing column $j$ to $q_j$ and updating the rest optimally (Optimal Brain Surgeon; Hassibi & Stork,
1993; OBQ, Frantar & Alistarh, 2022) is
$\delta = (w_j - q_j) / [H_F^{-1}]_{jj}$,  $w_F \mathrel{-}= \delta\, [H_F^{-1}]_{j,F}$,
with $F$ the columns not yet quantized. GPTQ's three tricks, all here:

* one fixed column order for every row, so the rows of $[H_F^{-1}]_{j, F}$ are the rows of the upper
  Cholesky factor $U$ of $H^{-1}$ ($H^{-1} = U^\top U$; row $j$ of $U$ divided by $U_{jj}$): no
  re-inversion per column;
* *lazy batches*: updates inside a block of ``block_size`` columns are applied at once to the columns
  after the block (one matrix product instead of ``block_size`` rank-1 updates);
* *damping*: $H + \lambda\,\mathrm{mean}(\mathrm{diag}\,H)\,I$, ``percdamp`` $= \lambda$ (1 % by default),
  and optional *act-order*: columns with the largest $H_{jj}$ first.

Groups (``group_size``) take their min/max qparams from the *already updated* weights of the group,
as the reference code does; here a group never straddles a lazy block (``block_size`` must be a
multiple of ``group_size``), so the result equals the dense OBS recursion exactly (tested).
Dead inputs ($H_{jj} = 0$) get $H_{jj} = 1$ and zero weights, as in the reference.
Shapes: ``weight (out, in)``, ``H (in, in)``, ``X (N, in)``.
"""
from __future__ import annotations

import copy

import numpy as np

from ..quantizers.uniform import calc_qparams, qrange
from ..validate import as_float, check_bits, check_bool, check_int, check_number, check_shape
from .capture import capture_inputs, get_module, linear_names


def hessian(X, in_features: int | None = None) -> np.ndarray:
    """$H = \\tfrac{2}{N} X^\\top X$ (float64) from calibration inputs ``X (N, in)`` (or ``(..., in)``)."""
    X = as_float(X, "X")
    if X.ndim < 2:
        raise ValueError(f"X must be (N, in_features) calibration inputs, got shape {X.shape}")
    X = X.reshape(-1, X.shape[-1]).astype(np.float64)
    if in_features is not None and X.shape[1] != in_features:
        raise ValueError(f"calibration inputs X have width {X.shape[1]}, but the layer has "
                         f"in_features={in_features}")
    return 2.0 / X.shape[0] * (X.T @ X)


def _qparams(cols: np.ndarray, bits: int, symmetric: bool):
    quant_min, quant_max = qrange(bits, signed=symmetric)
    s, z = calc_qparams(cols.min(axis=1), cols.max(axis=1), quant_min, quant_max, symmetric)
    return s.astype(np.float64), z.astype(np.float64), quant_min, quant_max


def _quant(w, s, z, quant_min, quant_max):
    return (np.clip(np.rint(w / s) + z, quant_min, quant_max) - z) * s


def _check(weight, H, bits, group_size, block_size, percdamp):
    W = check_shape(as_float(weight, "weight"), "weight", 2, "(out_features, in_features)")
    n = W.shape[1]
    H = as_float(H, "H")
    if H.shape != (n, n):
        raise ValueError(f"H must be (in_features, in_features) = ({n}, {n}) for weight {W.shape}, got {H.shape}")
    bits = check_bits(bits, "bits", 2, 8)
    block_size = check_int(block_size, "block_size", 1)
    if group_size is not None:
        group_size = check_int(group_size, "group_size", 1)
        if n % group_size:
            raise ValueError(f"group_size must divide in_features={n}, got group_size={group_size}")
        if block_size % group_size:
            raise ValueError(f"block_size must be a multiple of group_size so a group never straddles a "
                             f"lazy block, got block_size={block_size}, group_size={group_size}")
    percdamp = check_number(percdamp, "percdamp", 0.0)
    return W.astype(np.float64), H.astype(np.float64), bits, group_size, block_size, percdamp


def gptq_quantize(weight, H, bits: int = 4, group_size: int | None = None, block_size: int = 128,
                  percdamp: float = 0.01, act_order: bool = False, symmetric: bool = False):
    """GPTQ one layer: ``(w_hat (out, in) float32, info)``; ``info`` holds ``perm`` and the OBS ``loss``.

    ``w_hat`` is the dequantized weight (codes times scales), in the layer's original column order.
    A Hessian that is not positive definite after damping (e.g. fewer calibration tokens than
    inputs with ``percdamp=0``) raises ValueError.
    """
    W, H, bits, group_size, block_size, percdamp = _check(weight, H, bits, group_size, block_size, percdamp)
    act_order, symmetric = check_bool(act_order, "act_order"), check_bool(symmetric, "symmetric")
    H = H.copy()
    n = W.shape[1]
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if group_size is None:
        s, z, quant_min, quant_max = _qparams(W, bits, symmetric)
    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(n)
    W, H = W[:, perm], H[np.ix_(perm, perm)]
    H[np.diag_indices(n)] += percdamp * np.mean(np.diag(H))
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise ValueError(f"H is singular or not positive definite (percdamp={percdamp}); use percdamp > 0 "
                         "(GPTQ's default 0.01) or more calibration tokens than in_features") from None
    Linv = np.linalg.inv(L)
    U = np.linalg.cholesky(Linv.T @ Linv).T          # H^{-1} = U^T U, U upper triangular
    Q = np.zeros_like(W)
    loss = 0.0
    for i1 in range(0, n, block_size):
        i2 = min(i1 + block_size, n)
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        for i in range(i2 - i1):
            col = i1 + i
            if group_size is not None and col % group_size == 0:
                s, z, quant_min, quant_max = _qparams(W1[:, i:i + group_size], bits, symmetric)
            w = W1[:, i]
            q = _quant(w, s, z, quant_min, quant_max)
            Q[:, col] = q
            d = U[col, col]
            err = (w - q) / d
            loss += float(np.sum(err * err)) / 2
            W1[:, i:] -= np.outer(err, U[col, col:i2])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    Q = Q[:, np.argsort(perm)]
    return Q.astype(np.float32), {"perm": perm, "loss": loss}


def gptq_model(model, run, bits: int = 4, group_size: int | None = 128, groups=None, **kwargs):
    """A copy of ``model`` whose Linear layers are GPTQ-quantized one group after another.

    ``run(model)`` feeds the calibration data (e.g. ``lambda m: m(x_calib)``). ``groups``: a list of
    lists of Linear names; the layers of one group are calibrated on the inputs they see when every
    earlier group is already quantized (default: one layer per group, the reference's
    ``--true-sequential``; one group per transformer block costs one calibration pass per block).
    ``kwargs`` go to :func:`gptq_quantize`.
    """
    from ..autograd.tensor import no_grad
    model = copy.deepcopy(model)
    groups = [[n] for n in linear_names(model)] if groups is None else groups
    for names in groups:
        with no_grad():
            X = capture_inputs(model, names, run)
        for name in names:
            layer = get_module(model, name)
            layer.weight.data[...] = gptq_quantize(layer.weight.data, hessian(X[name], layer.in_features),
                                                   bits, group_size, **kwargs)[0]
    return model
