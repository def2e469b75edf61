"""Chapter 10's widget and figures: systolic dataflows, bit-bricks, roofline, energy.

* :func:`dataflow_widget` — a small GEMM stepped cycle by cycle on a systolic array
  (:class:`qnn_lite.hw.SystolicArray`, ``record=True``): which PEs are busy, what each one
  multiplies, and the busy-PE count over time. Drive it without a browser::

      w = dataflow_widget()                   # 4x4 array, M=5, K=4, N=3, WS
      w.controls["cycle"].value = 7           # update() runs on every change
      w.readout["busy"], w.readout["macs_done"], w.readout["phase"]
      w.step()                                # what the "step" button does
      w.readout_at("os", 3)                   # any state, without moving the controls

* :func:`cycle_agreement` — stepping simulator vs closed form vs SCALE-Sim v3 golden cycles.
* :func:`utilization_vs_array_size` / :func:`plot_utilization_vs_array_size`.
* :func:`bitbrick_terms` / :func:`plot_bitbrick_decomposition` — a signed product as 2-bit bricks.
* :func:`throughput_table` — Bit Fusion products per cycle at 1/2/4/8 bits.
* :func:`roofline_table` / :func:`plot_roofline` — layers on the T4 and Zynq-7020 rooflines.
* :func:`energy_by_precision` / :func:`plot_energy_bars` — Horowitz (2014) energy of one layer.
* :func:`integer_layer_on` — one integer layer of ``convert_to_integer``'s model with its
  GEMM run on a ``SystolicArray`` or a ``BitFusionArray`` (gemmlowp's zero-point expansion).

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook
shows each exactly once (the cell's value).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..hw import (DEVICES, BitFusionArray, FusionUnit, SystolicArray, attainable, conv2d_intensity,
                  estimate_cycles, gemm_intensity, layer_energy, mult_energy, add_energy,
                  products_per_cycle, roofline_points)
from ..hw.bitbrick import BitBrick, slices
from ..hw.estimate import DATAFLOWS, conv_gemm_shape
from ..hw.roofline import get_device
from ..hw.systolic import im2col

__all__ = ["DataflowWidget", "dataflow_widget", "cycle_agreement", "utilization_vs_array_size",
           "plot_utilization_vs_array_size", "bitbrick_terms", "plot_bitbrick_decomposition",
           "throughput_table", "PRECISIONS", "roofline_table", "plot_roofline", "energy_by_precision",
           "plot_energy_bars", "integer_layer_on"]

_DF_NAMES = {"ws": "weight stationary", "os": "output stationary", "is": "input stationary"}
_DF_COLORS = {"ws": "tab:blue", "os": "tab:orange", "is": "tab:green"}


def _pos_int(name, v, lo=1, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
        allowed = f"an int >= {lo}" if hi is None else f"an int in {lo}..{hi}"
        raise ValueError(f"{name} must be {allowed}, got {v!r}")
    return int(v)


# --------------------------------------------------------------------------- the widget
class DataflowWidget:
    """A GEMM ``C = A @ B`` on a ``rows x cols`` systolic array, one clock cycle at a time.

    ``controls``: ``{"dataflow": Dropdown, "cycle": IntSlider, "play": Play, "step": Button}``;
    changing ``dataflow`` or ``cycle`` calls :meth:`update`. ``cycle = t`` is the state *after*
    ``t`` clock ticks: ``t = 0`` is the reset state (nothing loaded, no PE busy), ``t = cycles``
    the end of the run. ``readout``: ``dataflow``, ``cycle``, ``total_cycles``, ``estimate``
    (``estimate_cycles``), ``busy`` (PEs doing a MAC in this cycle), ``macs_done`` (MACs in cycles
    1..t), ``macs_total`` (M*K*N), ``phase`` ("reset", "load" or "stream"), ``fold``, ``folds``,
    ``utilization`` (busy / PEs this cycle), ``correct`` (the array's C equals ``A @ B``);
    :meth:`readout_at` gives the same dict for any dataflow and cycle without redrawing.
    ``fig``: left the PE grid (orange = MAC this cycle, blue = holds a stationary value; each
    busy PE shows the MAC it does and the value it passes on), right busy PEs per cycle.
    """

    def __init__(self, rows: int = 4, cols: int = 4, M: int = 5, K: int = 4, N: int = 3,
                 dataflow: str = "ws", cycle: int | None = None, seed: int = 0):
        import ipywidgets as widgets

        self.rows, self.cols = _pos_int("rows", rows, 1, 8), _pos_int("cols", cols, 1, 8)
        self.M, self.K, self.N = (_pos_int(n, v, 1, 9) for n, v in (("M", M), ("K", K), ("N", N)))
        if dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
        rng = np.random.default_rng(seed)
        self.A = rng.integers(-3, 4, (self.M, self.K))
        self.B = rng.integers(-3, 4, (self.K, self.N))
        self.runs = {df: SystolicArray(self.rows, self.cols, df).run_gemm(self.A, self.B, record=True)
                     for df in DATAFLOWS}
        total = self.runs[dataflow][1].cycles
        cycle = min(total, 2 * self.rows) if cycle is None else _pos_int("cycle", cycle, 0, total)
        self.controls = {
            "dataflow": widgets.Dropdown(options=[(f"{df.upper()} ({_DF_NAMES[df]})", df) for df in DATAFLOWS],
                                         value=dataflow, description="dataflow"),
            "cycle": widgets.IntSlider(value=cycle, min=0, max=total, description="cycle"),
            "play": widgets.Play(value=cycle, min=0, max=total, interval=700, description="play"),
            "step": widgets.Button(description="step", tooltip="advance one clock cycle"),
        }
        widgets.jslink((self.controls["play"], "value"), (self.controls["cycle"], "value"))
        self.controls["step"].on_click(lambda _: self.step())
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox([self.controls["dataflow"], self.controls["play"],
                                               self.controls["cycle"], self.controls["step"]]), self.text])
        self.fig = Figure(figsize=(9.5, 3.8), layout="constrained")
        self.ax_grid, self.ax_time = self.fig.subplots(1, 2, width_ratios=[1.15, 1])
        self.readout: dict = {}
        self._handle = None
        self._silent = False
        self.controls["dataflow"].observe(self._on_dataflow, names="value")
        self.controls["cycle"].observe(lambda change: None if self._silent else self.update(), names="value")
        self.update()

    # ---- controls
    def _on_dataflow(self, change) -> None:
        """New dataflow: the slider and the player get its cycle range; the cycle is clamped to it."""
        total = self.runs[change["new"]][1].cycles
        self._silent = True     # one redraw, not one per trait change
        try:
            for c in (self.controls["cycle"], self.controls["play"]):
                c.max = max(c.max, total)
                c.value = min(c.value, total)
                c.max = total
        finally:
            self._silent = False
        self.update()

    def step(self) -> None:
        """Advance one clock cycle (wraps to 0 after the last one)."""
        c = self.controls["cycle"]
        c.value = 0 if c.value >= c.max else c.value + 1

    # ---- state at the current cycle
    def readout_at(self, dataflow: str, cycle: int) -> dict:
        """The readout the widget shows at ``dataflow`` and ``cycle`` (no drawing, controls untouched)."""
        if dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
        C, rep = self.runs[dataflow]
        t = _pos_int("cycle", cycle, 0, rep.cycles)
        tr = rep.trace
        busy_per_cycle = tr["busy"].sum(axis=(1, 2))
        return {
            "dataflow": dataflow, "cycle": t, "total_cycles": rep.cycles,
            "estimate": estimate_cycles(self.M, self.K, self.N, self.rows, self.cols, dataflow),
            "busy": int(busy_per_cycle[t - 1]) if t else 0,
            "macs_done": int(busy_per_cycle[:t].sum()), "macs_total": self.M * self.K * self.N,
            "phase": str(tr["phase"][t - 1]) if t else "reset",
            "fold": int(tr["fold"][t - 1]) if t else 0, "folds": rep.folds,
            "utilization": float(rep.utilization[t - 1]) if t else 0.0,
            "correct": bool(np.array_equal(C, self.A @ self.B)),
        }

    def update(self) -> None:
        """Recompute the readout for the current dataflow and cycle and redraw the figure."""
        df = self.controls["dataflow"].value
        _, rep = self.runs[df]
        tr = rep.trace
        busy_per_cycle = tr["busy"].sum(axis=(1, 2))
        t = min(int(self.controls["cycle"].value), rep.cycles)
        self.readout = self.readout_at(df, t)
        self._draw_grid(df, t, tr)
        self._draw_timeline(df, t, busy_per_cycle, tr)
        r = self.readout
        self.text.value = (f"<b>{df.upper()}</b>: cycle {r['cycle']} / {r['total_cycles']} "
                           f"(closed form {r['estimate']}) &nbsp; phase <b>{r['phase']}</b>, fold "
                           f"{r['fold'] + 1} / {r['folds']} &nbsp; busy PEs {r['busy']} / "
                           f"{self.rows * self.cols} &nbsp; MACs done {r['macs_done']} / {r['macs_total']}")
        if self._handle is not None:
            self._handle.update(self.fig)

    def _draw_grid(self, df, t, tr) -> None:
        ax = self.ax_grid
        ax.clear()
        R, Cc = self.rows, self.cols
        stat_name = {"ws": "B", "is": "A", "os": "C"}[df]
        for i in range(R):
            for j in range(Cc):
                busy = bool(tr["busy"][t - 1, i, j]) if t else False
                stat = int(tr["stationary"][t - 1, i, j]) if t else 0
                holds = t > 0 and df != "os" and stat != 0
                color = "tab:orange" if busy else ("lightsteelblue" if holds else "white")
                ax.add_patch(Rectangle((j, R - 1 - i), 0.94, 0.94, facecolor=color, edgecolor="0.3"))
                if busy:
                    m, k, n = (int(v) for v in tr["mac"][t - 1, i, j])
                    passed = int(tr["down"][t - 1, i, j]) if df != "os" else stat
                    label = f"A{m}{k}·B{k}{n}\n" + ("Σ=" if df != "os" else "C=") + f"{passed}"
                elif holds:
                    label = f"{stat_name}={stat}"
                elif df == "os" and t and stat:
                    label = f"C={stat}"
                else:
                    label = ""
                ax.text(j + 0.47, R - 1 - i + 0.47, label, ha="center", va="center", fontsize=7)
        moving_left = "B (cols) →" if df == "is" else "A (rows) →"
        moving_down = "B ↓" if df == "os" else "partial sums ↓"
        ax.text(-0.08, R / 2, moving_left, rotation=90, ha="right", va="center", fontsize=8)
        ax.text(Cc / 2, R + 0.05, moving_down, ha="center", va="bottom", fontsize=8)
        ax.set_xlim(-0.5, Cc + 0.1)
        ax.set_ylim(-0.1, R + 0.45)
        ax.set_aspect("equal")
        ax.axis("off")
        r = self.readout
        ax.set_title(f"{df.upper()}, cycle {t}: {r['phase']}, {r['busy']} busy PEs", fontsize=10)

    def _draw_timeline(self, df, t, busy_per_cycle, tr) -> None:
        ax = self.ax_time
        ax.clear()
        x = np.arange(1, len(busy_per_cycle) + 1)
        self.bars = ax.bar(x, busy_per_cycle, width=0.85, color=_DF_COLORS[df])
        for c in np.flatnonzero(tr["phase"] == "load"):
            ax.axvspan(c + 0.5, c + 1.5, color="0.85", lw=0)
        for b in np.flatnonzero(np.diff(tr["fold"])):
            ax.axvline(b + 1.5, color="0.4", ls="--", lw=0.8)
        ax.axvline(t, color="k", lw=1.5)
        ax.set_xlim(0, len(x) + 1)
        ax.set_ylim(0, self.rows * self.cols)
        ax.set_xlabel("cycle (grey: loading the stationary tile; dashed: new fold)")
        ax.set_ylabel("busy PEs")
        r = self.readout
        ax.set_title(f"MACs done {r['macs_done']} / {r['macs_total']}", fontsize=10)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
        self._handle = display(self.fig, display_id=True)


def dataflow_widget(rows: int = 4, cols: int = 4, M: int = 5, K: int = 4, N: int = 3, dataflow: str = "ws",
                    cycle: int | None = None, seed: int = 0) -> DataflowWidget:
    """Build the chapter-10 widget: see :class:`DataflowWidget`."""
    return DataflowWidget(rows, cols, M, K, N, dataflow, cycle, seed)


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
    sizes = [_pos_int("sizes[i]", s) for s in sizes]
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
            ax.plot(sizes, 100 * util[df], "o-", color=_DF_COLORS[df], label=df.upper())
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [f"{s}×{s}" for s in sizes], fontsize=7)
        ax.set_xlabel("array size")
        ax.set_title(f"{name}: M={M}, K={K}, N={N}", fontsize=9)
    axes[0].set_ylabel("utilisation (%)")
    axes[0].legend(fontsize=8)
    return fig


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


# ------------------------------------------------------- integer layers on the hardware
def integer_layer_on(layer, q, hw) -> dict:
    """Run an ``IntegerLinear`` / ``IntegerConv2d`` (``convert_to_integer``) with its GEMM on ``hw``.

    ``hw``: a ``SystolicArray`` or a ``BitFusionArray``. The array multiplies the *raw* input codes
    (uint8 or int8, no subtraction, gemmlowp's form) by the int8 weights ``w_q - z_w``; the zero
    point enters afterwards as a per-channel constant:
    ``acc = q_x @ W - z_x * sum_k W + q_b`` (int32), then ``requantize(acc, M0, shift, ...)``.
    A conv's padding is the code of the real 0 (``z_x``), so padded windows add ``z_x * w``
    and the correction removes it again. Returns ``{"acc", "out", "report"}``; ``out`` equals
    ``layer(q)`` and ``acc`` is laid out like it (``(M, O)`` or ``(B, O, OH, OW)``).
    """
    from ..quant.integer import IntegerConv2d, IntegerLinear
    from ..quant.requant import requantize

    if not isinstance(hw, (SystolicArray, BitFusionArray)):
        raise TypeError(f"hw must be a SystolicArray or a BitFusionArray, got {type(hw).__name__}")
    q = np.asarray(q)
    z_x = layer.in_qp.zero_point
    W = (layer.w_q.astype(np.int64) - layer.w_z[:, None]).T          # (K, O), int8 constants
    a_signed = layer.in_qp.qmin < 0
    if isinstance(layer, IntegerLinear):
        if isinstance(hw, SystolicArray):
            raw, report = hw.run_gemm(q.astype(np.int64), W)
        else:
            raw, report = hw.gemm(q, W, a_bits=8, w_bits=8, a_signed=a_signed, w_signed=True)
        acc = raw - z_x * W.sum(axis=0) + layer.bias_q
        out = requantize(acc, layer.M0, layer.shift, layer.out_qp.zero_point, layer.qmin, layer.out_qp.qmax)
        return {"acc": acc, "out": out, "report": report}
    if not isinstance(layer, IntegerConv2d):
        raise TypeError(f"layer must be an IntegerLinear or IntegerConv2d, got {type(layer).__name__}")
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    if sh != sw:
        raise ValueError(f"layer.stride must be square for the systolic lowering, got {layer.stride}")
    x = np.pad(q.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=z_x)
    w4 = W.T.reshape(-1, q.shape[1], kh, kw)                          # (O, C, KH, KW)
    OH, OW = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    if isinstance(hw, SystolicArray):
        raw, report = hw.run_conv2d(x, w4, sh)
        raw = raw[:, :, :OH, :OW]          # SCALE-Sim's ceil() may add a partial window: drop it
    else:
        raw, report = hw.conv2d(x, w4, sh, a_bits=8, w_bits=8, a_signed=a_signed, w_signed=True)
    acc = raw - (z_x * W.sum(axis=0) - layer.bias_q)[None, :, None, None]
    out = requantize(acc.transpose(0, 2, 3, 1), layer.M0, layer.shift, layer.out_qp.zero_point,
                     layer.qmin, layer.out_qp.qmax).transpose(0, 3, 1, 2)
    return {"acc": acc, "out": np.ascontiguousarray(out), "report": report}
