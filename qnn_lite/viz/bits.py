"""Chapter 09's figures: bit packing, bit planes, kernel benchmarks.

* :func:`plot_packing` — a $\\pm 1$ row and the uint64 words ``pack_rows`` makes of it (LSB first,
  zero padding in the last word hatched).
* :func:`plot_bitplanes` — two small integer vectors split into bit planes, and the table of plane
  pairs whose weighted AND-popcounts add up to the dot product (Umuroglu & Jahre, 2017).
* :func:`plot_benchmark` / :func:`plot_bitserial_cost` — the timings of
  :mod:`qnn_lite.recipes.kernel_bench` as bar and line charts.

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot (a notebook shows each
once, as the cell's value). Each carries what it drew in ``fig.drawn`` (a dict) so tests can check it.
"""
from __future__ import annotations


import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..validate import check_int

__all__ = ["plot_packing", "bitplanes", "plot_bitplanes", "plot_benchmark", "plot_bitserial_cost"]

WORD = 64
_ONE, _ZERO, _PAD = "#2b6cb0", "#e2e8f0", "#ffffff"


# ----- bit packing ----------------------------------------------------------------------------
def plot_packing(row, figsize=(10, 2.6)) -> Figure:
    """Top: the $\\pm 1$ row (k cells). Below: its ceil(k/64) uint64 words, bit t of word w = (row[64w + t] >= 0).

    Bits are drawn least significant first (the order ``pack_rows`` uses); the padding bits of the
    last word are hatched and are 0. ``fig.drawn = {"k", "words", "pad_bits", "ones", "hex"}``.
    """
    row = np.asarray(row)
    if row.ndim != 1 or row.size == 0 or row.dtype.kind not in "biuf":
        raise ValueError(f"row must be a non-empty 1-D numeric array, got shape {row.shape} dtype {row.dtype}")
    if row.dtype.kind == "f" and np.isnan(row).any():
        raise ValueError("row contains NaN; packing needs a sign for every element")
    k = row.size
    words = (k + WORD - 1) // WORD
    bits = np.zeros(words * WORD, bool)
    bits[:k] = row >= 0
    hexes = [f"0x{int(sum(int(b) << t for t, b in enumerate(bits[w * WORD:(w + 1) * WORD]))):016x}"
             for w in range(words)]
    width = words * WORD
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for j in range(k):                                           # the +-1 row
        ax.add_patch(Rectangle((j, 2.2), 1, 0.8, facecolor=_ONE if bits[j] else "#c53030", edgecolor="white",
                               lw=0.3, gid="value"))
    for j in range(width):                                       # the packed bits
        pad = j >= k
        ax.add_patch(Rectangle((j, 0), 1, 0.8, facecolor=_PAD if pad else (_ONE if bits[j] else _ZERO),
                               edgecolor="#a0aec0", lw=0.3, hatch="////" if pad else None,
                               gid="pad" if pad else ("bit1" if bits[j] else "bit0")))
    for w in range(words):
        ax.add_patch(Rectangle((w * WORD, 0), WORD, 0.8, fill=False, edgecolor="black", lw=1.2, gid="word"))
        ax.text(w * WORD + WORD / 2, -0.35, f"word {w}: {hexes[w]}", ha="center", va="top", fontsize=8)
        ax.text(w * WORD, 0.95, f"bit 0 of word {w} (element {w * WORD}) ->", fontsize=6, ha="left", va="bottom")
    for j in range(min(k, width)):
        if j % WORD in (0, WORD - 1) or j == k - 1:
            ax.plot([j + 0.5, j + 0.5], [2.2, 0.8], color="#718096", lw=0.5)
    ax.text(0, 3.15, f"a row of k = {k} values in {{-1, +1}} (blue +1, red -1)", fontsize=9)
    ax.text(0, 1.45, f"packed: {words} uint64 word{'s' * (words > 1)}, +1 -> 1, -1 -> 0, "
                     f"{width - k} zero padding bits", fontsize=9)
    ax.set_xlim(-1, width + 1)
    ax.set_ylim(-1.1, 3.6)
    ax.axis("off")
    fig.drawn = {"k": k, "words": words, "pad_bits": width - k, "ones": int(bits.sum()), "hex": hexes}
    return fig


# ----- bit planes -----------------------------------------------------------------------------
def bitplanes(x, bits: int, signed: bool = False) -> np.ndarray:
    """Bit planes $c_m(x)$ of integers ``x`` (two's complement if signed): ``(bits,) + x.shape`` uint8."""
    bits = check_int(bits, "bits", 1, 8)
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"x must be an integer array, got {x.dtype}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"x must lie in the {bits}-bit {'signed' if signed else 'unsigned'} range {lo}..{hi}, "
                         f"got min {x.min()}, max {x.max()}")
    return np.stack([((x.astype(np.int64) >> m) & 1).astype(np.uint8) for m in range(bits)])


def plot_bitplanes(x, y, x_bits: int = 2, y_bits: int = 2, x_signed: bool = False, y_signed: bool = True,
                   figsize=(10, 3.2)) -> Figure:
    """Left: the bit planes of ``x`` and ``y`` (1-D, same length). Right: every plane pair (m, n),
    its weight $s_m t_n 2^{m+n}$ (minus on a signed operand's top plane) and popcount(c_m(x) AND c_n(y)).

    ``fig.drawn = {"pairs": [(m, n, weight, popcount), ...], "dot": sum of weight * popcount}``.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
    px, py = bitplanes(x, x_bits, x_signed), bitplanes(y, y_bits, y_signed)
    wx = [(-1 if x_signed and m == x_bits - 1 else 1) << m for m in range(x_bits)]
    wy = [(-1 if y_signed and n == y_bits - 1 else 1) << n for n in range(y_bits)]
    pairs = [(m, n, wx[m] * wy[n], int(np.sum(px[m] & py[n]))) for m in range(x_bits) for n in range(y_bits)]
    dot = sum(w * c for _, _, w, c in pairs)

    fig = Figure(figsize=figsize, layout="constrained")
    ax, tab = fig.subplots(1, 2, width_ratios=[1.2, 1])
    k = x.size
    rows = [("x = ", x, None)] + [(f"c{m}(x) ({wx[m]:+d})", px[m], m) for m in range(x_bits)] + \
        [("y = ", y, None)] + [(f"c{n}(y) ({wy[n]:+d})", py[n], n) for n in range(y_bits)]
    for r, (label, vals, plane) in enumerate(rows):
        yy = len(rows) - 1 - r
        ax.text(-0.3, yy + 0.5, label, ha="right", va="center", fontsize=9)
        for j in range(k):
            if plane is None:
                ax.text(j + 0.5, yy + 0.5, f"{int(vals[j])}", ha="center", va="center", fontsize=10,
                        fontweight="bold")
            else:
                ax.add_patch(Rectangle((j, yy + 0.08), 1, 0.84, facecolor=_ONE if vals[j] else _ZERO,
                                       edgecolor="white", gid=f"plane{int(vals[j])}"))
                ax.text(j + 0.5, yy + 0.5, f"{int(vals[j])}", ha="center", va="center", fontsize=8,
                        color="white" if vals[j] else "black")
    ax.set_xlim(-3.2, k + 0.2)
    ax.set_ylim(0, len(rows))
    ax.axis("off")
    ax.set_title("bit planes (weight of each plane in brackets)", fontsize=9)

    tab.axis("off")
    lines = [f"{'m':>2} {'n':>2} {'weight':>7} {'popcount':>9} {'term':>6}"]
    lines += [f"{m:>2} {n:>2} {w:>+7d} {c:>9d} {w * c:>+6d}" for m, n, w, c in pairs]
    lines += ["-" * 30, f"{'sum = x . y':>21} {dot:>+8d}"]
    tab.text(0.0, 0.95, "\n".join(lines), family="monospace", fontsize=9, va="top", transform=tab.transAxes)
    tab.set_title("popcount(c_m(x) AND c_n(y)) per plane pair", fontsize=9)
    fig.drawn = {"pairs": pairs, "dot": int(dot)}
    return fig


# ----- timing ---------------------------------------------------------------------------------


def plot_benchmark(rows, figsize=(9, 3.2)) -> Figure:
    """Left: time against n (log-log) per method. Right: speed-up over numpy float32 per n."""
    if not rows:
        raise ValueError("rows must be a non-empty list from benchmark_table, got an empty one")
    n = np.array([r["n"] for r in rows])
    fig = Figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    names = {"f32_ms": "numpy float32", "int8_ms": "int8 GEMM", "bitserial_ms": "bit-serial 2b x 2b",
             "binary_ms": "binary XNOR-popcount", "pack_ms": "packing A and B"}
    for key, label in names.items():
        left.loglog(n, [r[key] for r in rows], marker="o", label=label, ls="--" if key == "pack_ms" else "-")
    left.set_xticks(n, [str(v) for v in n])
    left.minorticks_off()
    left.set(xlabel="n (n x n x n product)", ylabel="best time (ms)", title="time")
    left.legend(fontsize=7)
    keys = [("binary_x", "binary"), ("bitserial_x", "2b x 2b"), ("int8_x", "int8")]
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        xs = np.arange(len(keys)) + (i - (len(rows) - 1) / 2) * width
        bars = right.bar(xs, [r[k] for k, _ in keys], width, label=f"n = {r['n']}")
        right.bar_label(bars, fmt="%.1f", fontsize=7)
    right.axhline(1, color="black", lw=0.8)
    right.set_xticks(np.arange(len(keys)), [lab for _, lab in keys])
    right.set(ylabel="speed-up over float32", title="f32 time / kernel time")
    right.legend(fontsize=7)
    fig.drawn = {"sizes": n.tolist(), "lines": len(names), "bars": len(rows) * len(keys)}
    return fig


def plot_bitserial_cost(rows, figsize=(8, 3.2)) -> Figure:
    """Left: time against bit width b for b x 1 and b x b products. Right: time against plane pairs."""
    if not rows:
        raise ValueError("rows must be a non-empty list from bitserial_cost, got an empty one")
    fig = Figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    labels = {"a_only": "b-bit x 1-bit (b pairs)", "both": "b-bit x b-bit (b^2 pairs)"}
    for mode, label in labels.items():
        sel = [r for r in rows if r["mode"] == mode]
        left.plot([r["bits"] for r in sel], [r["ms"] for r in sel], "o-", label=label)
        right.plot([r["pairs"] for r in sel], [r["ms"] for r in sel], "o", label=label)
    pairs = np.array([r["pairs"] for r in rows], float)
    ms = np.array([r["ms"] for r in rows])
    slope = float(np.sum(pairs * ms) / np.sum(pairs * pairs))        # least squares through 0
    grid = np.linspace(0, pairs.max(), 50)
    right.plot(grid, slope * grid, "k--", lw=0.8, label=f"{slope:.2f} ms per pair")
    left.set(xlabel="bit width b", ylabel="best time (ms)", title="time vs bit width")
    right.set(xlabel="plane pairs a_bits * b_bits", ylabel="best time (ms)", title="time vs plane pairs")
    left.set_xticks(sorted({r["bits"] for r in rows}))
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.drawn = {"slope_ms_per_pair": slope, "points": len(rows)}
    return fig
