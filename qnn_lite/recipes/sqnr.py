"""Chapter 3's SQNR table: measured vs predicted SQNR of min/max quantization, one row per bit width.

The measurement is :func:`qnn_lite.quantizers.metrics.quant_error`; the prediction is the
$\\Delta^2/12$ noise model (:func:`~qnn_lite.quantizers.metrics.rounding_noise_power`) and the
$6.02\\,b$ dB rule (:func:`~qnn_lite.quantizers.metrics.sqnr_theory_db`).
"""
from __future__ import annotations

import math

import numpy as np

from ..quantizers.metrics import quant_error, rounding_noise_power, sqnr_theory_db
from ..validate import as_float

__all__ = ["sqnr_table", "format_sqnr_table"]


def sqnr_table(x, bits=range(2, 9), symmetric: bool = False) -> list[dict]:
    """Measured vs predicted SQNR of min/max (per-tensor) quantization of ``x``, one row per bit width.

    Row: ``bits``, ``step`` (the scale $\\Delta$), ``mse`` (measured), ``noise_model`` ($\\Delta^2/12$),
    ``sqnr_db`` (measured), ``model_db`` ($10\\log_{10}(\\overline{x^2} / (\\Delta^2/12))$, the noise
    model with the actual step) and ``rule_db`` ($6.02\\,b$).
    """
    x = as_float(x, "x").astype(np.float32, copy=False)
    power = float(np.mean(x.astype(np.float64) ** 2))
    if power == 0:
        raise ValueError("x must not be all zeros: its SQNR is undefined")
    rows = []
    for b in bits:
        r = quant_error(x, bits=b, symmetric=symmetric)
        noise = rounding_noise_power(float(r["scale"]))
        rows.append({"bits": int(b), "step": float(r["scale"]), "mse": r["mse"], "noise_model": noise,
                     "sqnr_db": r["sqnr_db"], "model_db": 10 * math.log10(power / noise),
                     "rule_db": sqnr_theory_db(int(b))})
    return rows


def format_sqnr_table(rows: list[dict]) -> str:
    """Fixed-width text of :func:`sqnr_table` rows (MSE to 3 significant digits, dB to 0.01)."""
    lines = [f"{'bits':>4}  {'step':>9}  {'MSE':>9}  {'step^2/12':>9}  {'SQNR':>7}  {'model':>7}  {'6.02 b':>7}"]
    for r in rows:
        lines.append(f"{r['bits']:>4}  {r['step']:>9.3e}  {r['mse']:>9.3e}  {r['noise_model']:>9.3e}  "
                     f"{r['sqnr_db']:>7.2f}  {r['model_db']:>7.2f}  {r['rule_db']:>7.2f}")
    return "\n".join(lines)
