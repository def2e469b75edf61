"""Quantize one tensor with a named scheme at ``b`` bits and measure the error: uniform, PoT, k-means, mu-law side by side.

Every scheme is the library's own quantizer; this module only lines them up at an
equal bit budget (``bits`` = the bits stored per weight) and reports

* $\\mathrm{MSE} = \\frac1n \\sum_i (w_i - \\hat w_i)^2$
* $\\mathrm{SQNR} = 10 \\log_{10} \\left( \\sum_i w_i^2 / \\sum_i (w_i - \\hat w_i)^2 \\right)$ dB.

Schemes (``SCHEMES``) and their level sets at ``b`` bits:

* ``"uniform"`` — affine min/max fake quantization on ``qrange(b)`` (Jacob et al., 2018): $2^b$ evenly spaced levels;
* ``"pot"``     — power of two, log-domain rounding (Miyashita et al., 2016): $0, \\pm 2^e$, $2^b - 1$ levels;
* ``"kmeans"``  — k-means weight sharing, linear init (Han et al., 2016): $2^b$ learned levels;
* ``"mulaw"``   — mu-law companding, $\\mu = 255$ (ITU-T G.711): $2^b - 1$ levels.

Shapes: ``w`` any shape (per-tensor quantization); ``w_hat`` like ``w``; ``levels`` 1-D, ascending.
"""
from __future__ import annotations

import numpy as np

from ..validate import as_float, check_bits, check_choice
from ..quantizers.cluster import kmeans_quantize, reconstruct
from ..quantizers.log import mu_law_expand, mu_law_quantize, pot_levels, pot_quantize, round_exponent
from ..quantizers.metrics import mse, sqnr_db
from ..quantizers.uniform import calc_qparams, fake_quantize, qrange

__all__ = ["SCHEMES", "SCHEME_NAMES", "quantize_scheme", "scheme_levels", "mse", "sqnr_db",
           "compare_schemes", "format_table"]

SCHEMES = ("uniform", "pot", "kmeans", "mulaw")
SCHEME_NAMES = {"uniform": "uniform", "pot": "power of two", "kmeans": "k-means", "mulaw": "mu-law"}


def _as_weights(w, name: str = "w") -> np.ndarray:
    """A non-empty, finite float32 array (Tensor or array-like in)."""
    return as_float(w, name).astype(np.float32, copy=False)


def quantize_scheme(w, scheme: str, bits: int, mu: float = 255.0, init="linear"):
    """``(w_hat, levels)``: ``w`` quantized with ``scheme`` at ``bits`` bits (2..16), and the level set it draws from.

    ``levels`` holds every value the scheme can output for this ``w`` (float64, ascending),
    except for ``"kmeans"``, whose ``2**bits`` is capped at the number of distinct values of ``w``;
    so ``np.isin(w_hat, levels)`` holds. ``mu`` is used by ``"mulaw"``, ``init`` by ``"kmeans"``.
    """
    w = _as_weights(w)
    scheme, bits = check_choice(scheme, "scheme", SCHEMES), check_bits(bits, "bits", 2)
    if scheme == "uniform":
        quant_min, quant_max = qrange(bits, signed=True)
        s, z = calc_qparams(float(w.min()), float(w.max()), quant_min, quant_max)
        w_hat = fake_quantize(w, s, z, quant_min, quant_max)
        levels = ((np.arange(quant_min, quant_max + 1, dtype=np.float32) - np.float32(z)) * s).astype(np.float64)
    elif scheme == "pot":
        top = float(np.abs(w).max())
        max_exp = int(round_exponent(top, "log")) if top > 0 else 0
        w_hat = pot_quantize(w, bits=bits, rounding="log", max_exp=max_exp).data
        pos = pot_levels(bits, max_exp)
        levels = np.concatenate([-pos[:0:-1], pos])
    elif scheme == "kmeans":
        k = min(2 ** bits, np.unique(w).size)  # never more centroids than distinct values
        codebook, idx = kmeans_quantize(w, n_clusters=k, init=init)
        w_hat = reconstruct(codebook, idx)
        levels = codebook.astype(np.float64)
    else:  # mulaw
        x_max = float(np.abs(w).max())
        w_hat = mu_law_quantize(w, bits=bits, mu=mu, x_max=x_max if x_max > 0 else None).data
        L = 2 ** (bits - 1) - 1
        levels = (mu_law_expand(np.arange(-L, L + 1, dtype=np.float32) / np.float32(L), mu) * x_max).astype(np.float64)
    return np.asarray(w_hat, dtype=np.float32), np.unique(levels)


def scheme_levels(w, scheme: str, bits: int, **kwargs) -> np.ndarray:
    """Just the level set of :func:`quantize_scheme` (1-D, ascending)."""
    return quantize_scheme(w, scheme, bits, **kwargs)[1]


def compare_schemes(w, bits=(2, 3, 4), schemes=SCHEMES) -> list[dict]:
    """One row per (bits, scheme): ``{"bits", "scheme", "levels", "mse", "sqnr_db"}`` (bits outer, schemes inner)."""
    w = _as_weights(w)
    bits = [check_bits(b, "bits", 2) for b in bits]
    schemes = [check_choice(s, "scheme", SCHEMES) for s in schemes]
    rows = []
    for b in bits:
        for s in schemes:
            w_hat, levels = quantize_scheme(w, s, b)
            rows.append({"bits": b, "scheme": s, "levels": int(levels.size),
                         "mse": mse(w, w_hat), "sqnr_db": sqnr_db(w, w_hat)})
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of :func:`compare_schemes` rows (MSE to 3 significant digits, SQNR to 0.01 dB)."""
    lines = [f"{'bits':>4}  {'scheme':<13} {'levels':>6}  {'MSE':>9}  {'SQNR (dB)':>9}"]
    for r in rows:
        lines.append(f"{r['bits']:>4}  {SCHEME_NAMES[r['scheme']]:<13} {r['levels']:>6}  "
                     f"{r['mse']:>9.3e}  {r['sqnr_db']:>9.2f}")
    return "\n".join(lines)
