"""Chapter 10's hardware figures and tables: cycle counts, utilisation, roofline, energy.

* :func:`cycle_agreement` — stepping simulator vs closed form vs SCALE-Sim v3 golden cycles.
* :func:`utilization_vs_array_size` / :func:`plot_utilization_vs_array_size`.
* :func:`roofline_table` / :func:`plot_roofline` — layers on the T4 and Zynq-7020 rooflines.
* :func:`energy_by_precision` / :func:`plot_energy_bars` — Horowitz (2014) energy of one layer.

The dataflow widget is :mod:`qnn_lite.viz.systolic`; the bit-brick figures are
:mod:`qnn_lite.viz.bitfusion`. Figures are ``matplotlib.figure.Figure`` objects not registered
with pyplot, so a notebook shows each exactly once (the cell's value).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..hw import (DEVICES, SystolicArray, attainable, conv2d_intensity, estimate_cycles,
                  gemm_intensity, layer_energy, mult_energy, add_energy, roofline_points)
from ..hw.estimate import DATAFLOWS, conv_gemm_shape
from ..hw.roofline import get_device
from ..hw.lowering import im2col
from ..validate import check_int

__all__ = ["DATAFLOW_COLORS", "cycle_agreement", "utilization_vs_array_size", "plot_utilization_vs_array_size", "PRECISIONS",
           "roofline_table", "plot_roofline", "energy_by_precision", "plot_energy_bars"]

DATAFLOW_COLORS = {"ws": "tab:blue", "os": "tab:orange", "is": "tab:green"}




# ----------------------------------------------------------------- cycle-count agreement
def cycle_agreement(cases, seed: int = 0) -> list[dict]:
    """For each SCALE-Sim golden case: stepping-simulator cycles, closed form, SCALE-Sim "Total Cycles".

    ``cases``: dicts with ``H, W, R, S, C, F, stride, rows, cols, dataflow, total_cycles`` (the
    ``cases`` of ``tests/data/scalesim_cycles.json``). The layer runs on random int8 data with
    ``SystolicArray.run_conv2d`` (a GEMM is a 1x1 conv on a 1 x M image); the product is
    checked against numpy. Row keys: ``layer, M, K, N, rows, cols, dataflow, simulated,
    closed_form, scalesim, agree`` (``simulated == closed_form == scalesim + 1``).
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in cases:
        x = rng.integers(-128, 128, (c["C"], c["H"], c["W"]))
        w = rng.integers(-128, 128, (c["F"], c["C"], c["R"], c["S"]))
        M, K, N = conv_gemm_shape(c["H"], c["W"], c["C"], c["F"], c["R"], c["S"], c["stride"])
        arr = SystolicArray(c["rows"], c["cols"], c["dataflow"])
        y, rep = arr.run_conv2d(x, w, c["stride"])
        A, B, _ = im2col(x, w, c["stride"])
        if not np.array_equal(y.transpose(1, 2, 0).reshape(-1, N), A @ B):
            raise RuntimeError(f"systolic product differs from numpy for {c}")
        est = estimate_cycles(M, K, N, c["rows"], c["cols"], c["dataflow"])
        out.append({"layer": c.get("layer", ""), "M": M, "K": K, "N": N, "rows": c["rows"], "cols": c["cols"],
                    "dataflow": c["dataflow"], "simulated": rep.cycles, "closed_form": est,
                    "scalesim": int(c["total_cycles"]),
                    "agree": rep.cycles == est == int(c["total_cycles"]) + 1})
    return out


# ------------------------------------------------------------- utilisation vs array size
def utilization_vs_array_size(M: int, K: int, N: int, sizes=(8, 16, 32, 64, 128),
                              dataflows=DATAFLOWS) -> dict:
    """``{dataflow: array}`` of overall utilisation ``M*K*N / (size^2 * cycles)`` on square arrays.

    Cycles from ``estimate_cycles`` (equal to the stepping simulator's, see :func:`cycle_agreement`).
    """
    sizes = [check_int(s, "sizes[i]", 1) for s in sizes]
    return {df: np.array([M * K * N / (s * s * estimate_cycles(M, K, N, s, s, df)) for s in sizes])
            for df in dataflows}


def plot_utilization_vs_array_size(layers: dict, sizes=(8, 16, 32, 64, 128), dataflows=DATAFLOWS,
                                   figsize=(9, 3)) -> Figure:
    """One panel per layer ``{name: (M, K, N)}``: utilisation (%) vs array side, a line per dataflow."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(layers), sharey=True))
    for ax, (name, (M, K, N)) in zip(axes, layers.items()):
        util = utilization_vs_array_size(M, K, N, sizes, dataflows)
        for df in dataflows:
            ax.plot(sizes, 100 * util[df], "o-", color=DATAFLOW_COLORS[df], label=df.upper())
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [f"{s}×{s}" for s in sizes], fontsize=7)
        ax.set_xlabel("array size")
        ax.set_title(f"{name}: M={M}, K={K}, N={N}", fontsize=9)
    axes[0].set_ylabel("utilisation (%)")
    axes[0].legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------------ roofline
PRECISIONS = {32: "fp32", 8: "int8", 4: "int4", 1: "binary"}


def roofline_table(layers: dict, devices=("Tesla T4", "Zynq-7020"), bits=(32, 8, 4, 1)) -> list[dict]:
    """Each layer at each bit-width on each device: intensity, attainable ops/s, the bound.

    ``layers``: ``{name: ("gemm", M, K, N)}`` or ``{name: ("conv", C_in, H, W, C_out, R, S, padding,
    batch)}``. Activations, weights and outputs all use ``bits`` (the output is the next layer's
    input); the device's peak for that precision is ``PRECISIONS[bits]``.
    Keys: ``layer, bits, device, intensity (ops/byte), attainable (ops/s), peak, bound``.
    """
    rows = []
    for name, spec in layers.items():
        for b in bits:
            if b not in PRECISIONS:
                raise ValueError(f"bits must be among {sorted(PRECISIONS)}, got {b!r}")
            if spec[0] == "gemm":
                I = gemm_intensity(*spec[1:], a_bits=b, w_bits=b, out_bits=b)
            elif spec[0] == "conv":
                C_in, H, W, C_out, R, S, pad, batch = spec[1:]
                I = conv2d_intensity(C_in, H, W, C_out, R, S, padding=pad, batch=batch,
                                     a_bits=b, w_bits=b, out_bits=b)
            else:
                raise ValueError(f"layers[{name!r}] must start with 'gemm' or 'conv', got {spec[0]!r}")
            for dev in devices:
                d = get_device(dev)
                peak = d.peak[PRECISIONS[b]]
                att = float(attainable(I, peak, d.bandwidth))
                rows.append({"layer": name, "bits": b, "device": d.name, "intensity": I, "attainable": att,
                             "peak": peak, "bound": "compute" if att >= peak else "memory"})
    return rows


def plot_roofline(rows: list[dict], figsize=(10, 3.6)) -> Figure:
    """One log-log panel per device: a roof per precision and a point per (layer, bits) of ``rows``."""
    devices = list(dict.fromkeys(r["device"] for r in rows))
    layer_names = list(dict.fromkeys(r["layer"] for r in rows))
    bits = list(dict.fromkeys(r["bits"] for r in rows))
    markers = dict(zip(layer_names, "osD^vP*X"))
    colors = dict(zip(bits, ["tab:gray", "tab:blue", "tab:green", "tab:red", "tab:purple"]))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(devices)))
    self_points = {}
    for ax, dev in zip(axes, devices):
        d = DEVICES[dev]
        pts = [r for r in rows if r["device"] == dev]
        lo = min(r["intensity"] for r in pts) / 3
        hi = max(max(r["intensity"] for r in pts), max(d.peak[PRECISIONS[b]] for b in bits) / d.bandwidth) * 3
        grid = np.logspace(np.log10(lo), np.log10(hi), 200)
        for b in bits:
            I, perf = roofline_points(d, PRECISIONS[b], grid)
            ax.loglog(I, perf / 1e9, color=colors[b], lw=1.2, label=f"{PRECISIONS[b]} roof")
        self_points[dev] = []
        for r in pts:
            ln, = ax.loglog(r["intensity"], r["attainable"] / 1e9, markers[r["layer"]], color=colors[r["bits"]],
                            ms=7, mec="k", mew=0.5, ls="none")
            self_points[dev].append(ln)
        ax.set_xlabel("arithmetic intensity (ops / byte)")
        ax.set_ylabel("attainable (GOPS)")
        ax.set_title(dev, fontsize=10)
    axes[0].legend(fontsize=7, loc="upper left")
    handles = [Line2D([], [], marker=markers[n], color="w", mec="k", ls="none", label=n) for n in layer_names]
    axes[-1].legend(handles=handles, fontsize=7, loc="lower right", title="layers", title_fontsize=7)
    fig.points = self_points      # {device: [Line2D per point]} for tests
    return fig


# -------------------------------------------------------------------------------- energy
def energy_by_precision(macs: int, a_elems: int, w_elems: int, out_elems: int,
                        formats=("fp32", "fp16", "int8", "int4", "int2", "int1"),
                        sram_reads_per_mac: float = 1.0, sram_kb: int = 32) -> dict:
    """``{format: LayerEnergy}`` of one layer (``qnn_lite.hw.layer_energy``, Horowitz 2014, 45 nm).

    ``fpB``: operands and accumulator in fpB. ``intB``: B-bit operands, int32 accumulator.
    """
    out = {}
    for f in formats:
        if f.startswith("fp"):
            b = int(f[2:])
            out[f] = layer_energy(macs, a_elems, w_elems, out_elems, b, b, b, kind="fp", sram_kb=sram_kb,
                                  sram_reads_per_mac=sram_reads_per_mac)
        elif f.startswith("int"):
            b = int(f[3:])
            out[f] = layer_energy(macs, a_elems, w_elems, out_elems, b, b, 32, kind="int", sram_kb=sram_kb,
                                  sram_reads_per_mac=sram_reads_per_mac)
        else:
            raise ValueError(f"formats must be names like 'fp32' or 'int4', got {f!r}")
    return out


def _mac_energy(fmt: str) -> float:
    if fmt.startswith("fp"):
        b = int(fmt[2:])
        return mult_energy(b, b, kind="fp") + add_energy(b, kind="fp")
    b = int(fmt[3:])
    return mult_energy(b, b) + add_energy(32)


def plot_energy_bars(energies: dict, figsize=(9.5, 3.2)) -> Figure:
    """Left: pJ per MAC (multiply + accumulate) per format. Right: the layer's energy stacked as
    compute / SRAM / DRAM per format (``energies`` from :func:`energy_by_precision`), in nJ."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.4])
    names = list(energies)
    x = np.arange(len(names))
    per_mac = [_mac_energy(n) for n in names]
    ax1.bar(x, per_mac, color="tab:purple")
    for xi, v in zip(x, per_mac):
        ax1.text(xi, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
    ax1.set_yscale("log")
    ax1.set_xticks(x, names)
    ax1.set_ylabel("pJ per MAC")
    ax1.set_title("one multiply-accumulate", fontsize=10)
    bottom = np.zeros(len(names))
    for part, color in (("compute", "tab:purple"), ("sram", "tab:cyan"), ("dram", "tab:brown")):
        vals = np.array([getattr(energies[n], part) for n in names]) / 1e3
        ax2.bar(x, vals, bottom=bottom, color=color, label=part.upper() if part != "compute" else "compute")
        bottom += vals
    for xi, tot in zip(x, bottom):
        ax2.text(xi, tot, f"{tot:.1f}", ha="center", va="bottom", fontsize=7)
    ax2.set_xticks(x, names)
    ax2.set_ylabel("nJ for the layer")
    ax2.set_title("the whole layer", fontsize=10)
    ax2.legend(fontsize=8)
    return fig
