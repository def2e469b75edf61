"""Chapter 10's Bit Fusion figures: a signed product split into 2-bit BitBricks, and throughput.

* :func:`bitbrick_terms` / :func:`plot_bitbrick_decomposition` — a signed product as 2-bit bricks.
* :func:`throughput_table` — Bit Fusion products per cycle at 1/2/4/8 bits.

The array itself is :mod:`qnn_lite.hw.bitbrick` (Sharma et al., 2018). Figures are
``matplotlib.figure.Figure`` objects not registered with pyplot.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..hw import FusionUnit, products_per_cycle
from ..hw.bitbrick import BitBrick, slices

__all__ = ["bitbrick_terms", "plot_bitbrick_decomposition", "throughput_table"]


# ---------------------------------------------------------------------------- bit-bricks
def _slice_value(pattern: int, signed: bool) -> int:
    """A 2-bit slice read as unsigned 0..3 or, when it is a signed top slice, -2..1."""
    return pattern - 4 if signed and pattern >= 2 else pattern


def bitbrick_terms(a: int, w: int, a_bits: int = 4, w_bits: int = 4, a_signed: bool = True,
                   w_signed: bool = True) -> list[dict]:
    """The BitBrick partial products of ``a * w``: one dict per (a slice s, w slice t).

    ``a = sum_s a_s 4^s``, ``w = sum_t w_t 4^t`` (top slice signed for a signed operand),
    ``a*w = sum_{s,t} (a_s w_t) << 2(s+t)``; each ``a_s w_t`` is ``BitBrick.multiply``.
    Keys: ``s, t, a_pattern, w_pattern, a_slice, w_slice, product, shift, contribution``.
    """
    unit = FusionUnit(a_bits, w_bits, a_signed, w_signed)
    unit.multiply(a, w)     # validates the operands' ranges
    sa, sw = slices(a, a_bits), slices(w, w_bits)
    na, nw = len(sa), len(sw)
    rows = []
    for s in range(na):
        for t in range(nw):
            sgn_a, sgn_w = a_signed and s == na - 1, w_signed and t == nw - 1
            p = int(BitBrick.multiply(sa[s], sw[t], x_signed=sgn_a, y_signed=sgn_w))
            rows.append({"s": s, "t": t, "a_pattern": int(sa[s]), "w_pattern": int(sw[t]),
                         "a_slice": _slice_value(int(sa[s]), sgn_a), "w_slice": _slice_value(int(sw[t]), sgn_w),
                         "product": p, "shift": 2 * (s + t), "contribution": p << (2 * (s + t))})
    return rows


def _bits_str(x: int, bits: int) -> str:
    return format(x & ((1 << bits) - 1), f"0{bits}b")


def plot_bitbrick_decomposition(a: int = -7, w: int = 6, a2: int = -5, w_pair=(-2, 1),
                                figsize=(10, 3.6)) -> Figure:
    """Left: a signed 4b x 4b product ``a * w`` on four 2b x 2b BitBricks (a 2 x 2 grid of bricks).
    Right: the same four bricks fused as two 4b x 2b multipliers, ``a2 * w_pair[0]`` and
    ``a2 * w_pair[1]`` (bricks assigned by ``FusionUnit(4, 2).brick_map()``)."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    # --- 4b x 4b: brick (s, t) at row s (a slice), column t (w slice)
    terms = bitbrick_terms(a, w, 4, 4)
    for d in terms:
        x, y = 1 - d["t"], d["s"]
        ax1.add_patch(Rectangle((x, y), 0.92, 0.92, facecolor="moccasin", edgecolor="0.3"))
        ax1.text(x + 0.46, y + 0.46,
                 f"a{d['s']}·w{d['t']} = ({d['a_slice']})·({d['w_slice']})\n= {d['product']}  "
                 f"<< {d['shift']}\n→ {d['contribution']:+d}", ha="center", va="center", fontsize=8)
    for t in range(2):
        v = terms[t]["w_slice"]
        ax1.text(1 - t + 0.46, 2.02, f"w{t} = {_bits_str(terms[t]['w_pattern'], 2)} ({v:+d})",
                 ha="center", va="bottom", fontsize=8)
    for s in range(2):
        d = terms[2 * s]
        ax1.text(-0.05, s + 0.46, f"a{s} = {_bits_str(d['a_pattern'], 2)}\n({d['a_slice']:+d})",
                 ha="right", va="center", fontsize=8)
    total = sum(d["contribution"] for d in terms)
    ax1.set_title(f"4b×4b: a = {a} ({_bits_str(a, 4)}), w = {w} ({_bits_str(w, 4)})\n"
                  f"sum of 4 bricks = {total} = a·w", fontsize=9)
    # --- two 4b x 2b products on the same four bricks
    unit = FusionUnit(4, 2)
    colors = ["lightsteelblue", "palegreen"]
    for b, (p, s, t) in enumerate(unit.brick_map()[:4]):
        wv = w_pair[p]
        d = bitbrick_terms(a2, wv, 4, 2)[s]
        x, y = b % 2, 1 - b // 2
        ax2.add_patch(Rectangle((x, y), 0.92, 0.92, facecolor=colors[p], edgecolor="0.3"))
        ax2.text(x + 0.46, y + 0.46, f"product {p}: a{s}·w\n({d['a_slice']})·({d['w_slice']}) = {d['product']}"
                 f"  << {d['shift']}\n→ {d['contribution']:+d}", ha="center", va="center", fontsize=8)
    res = [int(unit.multiply(a2, wv)) for wv in w_pair]
    ax2.set_title(f"two 4b×2b on the same bricks: a = {a2}\n"
                  f"{a2}·({w_pair[0]}) = {res[0]} (blue), {a2}·({w_pair[1]}) = {res[1]} (green)", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xlim(-0.75, 2.05)
        ax.set_ylim(-0.1, 2.3)
        ax.set_aspect("equal")
        ax.axis("off")
    return fig


def throughput_table(bits=(1, 2, 4, 8)) -> list[dict]:
    """Bit Fusion products per fusion unit per cycle for every (a_bits, w_bits) pair.

    Keys: ``a_bits, w_bits, pf`` (``products_per_cycle``), ``ideal`` = 64 / (a_bits w_bits), and
    ``speedup`` = pf / pf(8, 8) (1-bit operands still use a 2-bit slice, so pf(1, 1) = pf(2, 2)).
    """
    return [{"a_bits": a, "w_bits": w, "pf": products_per_cycle(a, w), "ideal": 64 / (a * w),
             "speedup": products_per_cycle(a, w) / products_per_cycle(8, 8)} for a in bits for w in bits]

