"""Chapter 10's widget: a small GEMM stepped cycle by cycle on a systolic array.

:func:`dataflow_widget` runs ``C = A @ B`` on a :class:`qnn_lite.hw.SystolicArray` (``record=True``)
and shows which PEs are busy, what each one multiplies, and the busy-PE count over time. Drive it
without a browser::

    w = dataflow_widget()                   # 4x4 array, M=5, K=4, N=3, WS
    w.controls["cycle"].value = 7           # update() runs on every change
    w.readout["busy"], w.readout["macs_done"], w.readout["phase"]
    w.step()                                # what the "step" button does
    w.readout_at("os", 3)                   # any state, without moving the controls

The chapter's other figures live in :mod:`qnn_lite.viz.hardware` (cycle agreement, utilisation,
roofline, energy, integer layers on the arrays) and :mod:`qnn_lite.viz.bitfusion` (bit-bricks).
The figure is a ``matplotlib.figure.Figure`` not registered with pyplot, so a notebook shows it
exactly once.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..hw import SystolicArray, estimate_cycles
from ..hw.estimate import DATAFLOWS
from ..validate import check_int
from .hardware import DATAFLOW_COLORS

__all__ = ["DataflowWidget", "dataflow_widget"]

_DF_NAMES = {"ws": "weight stationary", "os": "output stationary", "is": "input stationary"}


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

        self.rows, self.cols = check_int(rows, "rows", 1, 8), check_int(cols, "cols", 1, 8)
        self.M, self.K, self.N = (check_int(v, n, 1, 9) for n, v in (("M", M), ("K", K), ("N", N)))
        if dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
        rng = np.random.default_rng(seed)
        self.A = rng.integers(-3, 4, (self.M, self.K))
        self.B = rng.integers(-3, 4, (self.K, self.N))
        self.runs = {df: SystolicArray(self.rows, self.cols, df).run_gemm(self.A, self.B, record=True)
                     for df in DATAFLOWS}
        total = self.runs[dataflow][1].cycles
        cycle = min(total, 2 * self.rows) if cycle is None else check_int(cycle, "cycle", 0, total)
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
        t = check_int(cycle, "cycle", 0, rep.cycles)
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
        self.bars = ax.bar(x, busy_per_cycle, width=0.85, color=DATAFLOW_COLORS[df])
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

