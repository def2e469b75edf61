"""Chapter 03's figures and widget: uniform grids, rounding vs clipping, SQNR, per-channel ranges.

* :func:`plot_integer_grid` — a real number line with the ``bits``-bit levels and their integer codes.
* :func:`plot_clipping_curve` — MSE against the clipping range, rounding and clipping parts, optimum marked.
* :func:`plot_sqnr_vs_bits` — measured SQNR, the $\\Delta^2/12$ model and the $6.02\\,b$ rule.
* :func:`plot_channel_ranges` — each output channel's [min, max] next to the per-tensor range.
* :func:`plot_error_histogram` — the histogram of $x - \\hat x$, rounding and clipping errors apart.
* :func:`uniform_widget` — bits, affine / symmetric, per-channel and a clipping slider; the grid over
  the weight histogram, the error histogram, MSE / SQNR readouts. Drive it without a browser::

      w = uniform_widget(weights)
      w.controls["bits"].value = 4          # update() runs on every change
      w.readout["sqnr_db"], w.readout["clipping_mse"], w.grid_lines

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook
shows each exactly once (the cell's value) and nothing leaks between cells.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..quantizers.metrics import quant_error
from ..quantizers.uniform import calc_qparams, qrange
from ._widget import FigureWidget

__all__ = ["plot_integer_grid", "plot_clipping_curve", "plot_sqnr_vs_bits", "plot_channel_ranges",
           "plot_error_histogram", "UniformWidget", "uniform_widget", "SCHEMES"]

SCHEMES = ("affine", "symmetric")


def _weights(w) -> np.ndarray:
    w = np.asarray(getattr(w, "data", w), dtype=np.float32)
    if w.size == 0 or not np.isfinite(w).all():
        raise ValueError(f"w must be a non-empty finite array, got shape {w.shape} "
                         f"with {int((~np.isfinite(w)).sum()) if w.size else 0} non-finite value(s)")
    return w


def plot_integer_grid(lo: float, hi: float, bits: int = 3, symmetric: bool = False, signed: bool = True,
                      ax=None, title: str | None = None):
    """The levels $\\hat x_q = (q - z)s$ of ``calc_qparams(lo, hi, *qrange(bits, signed))`` on a number line.

    Each level is labelled with its integer code ``q``; the range ``[lo, hi]`` is shaded and 0 marked.
    Returns ``(ax, levels)``.
    """
    quant_min, quant_max = qrange(bits, signed=signed)
    s, z = calc_qparams(lo, hi, quant_min, quant_max, symmetric=symmetric)
    codes = np.arange(quant_min, quant_max + 1)
    levels = (codes - int(z)) * float(s)
    if ax is None:
        ax = Figure(figsize=(8, 1.3), layout="constrained").subplots()
    ax.axhline(0, color="0.3", lw=1)
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.12, label="range [min, max]")
    ax.vlines(levels, -0.3, 0.3, color="tab:red", lw=1.5)
    for q, v in zip(codes, levels):
        ax.text(v, -0.45, str(q), ha="center", va="top", fontsize=8, color="tab:red")
    ax.plot([0], [0], "ko", ms=4)
    ax.text(0, 0.4, "0", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(-1.1, 0.9)
    ax.set_yticks([])
    pad = 0.05 * (max(hi, levels.max()) - min(lo, levels.min()))
    ax.set_xlim(min(lo, levels.min()) - pad, max(hi, levels.max()) + pad)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"{'symmetric' if symmetric else 'affine'}, {bits} bits: s = {float(s):.3f}, z = {int(z)}",
                 fontsize=9)
    return ax, levels


def plot_clipping_curve(alphas, measured, rounding=None, clipping=None, theory=None, xlabel="clipping range α / σ",
                        title: str | None = None, ax=None):
    """MSE vs clipping range (log y): the measured total, its rounding / clipping parts, a model; minima marked."""
    alphas, measured = np.asarray(alphas, float), np.asarray(measured, float)
    if alphas.shape != measured.shape or alphas.ndim != 1:
        raise ValueError(f"alphas and measured must be 1-D of one length, got {alphas.shape} and {measured.shape}")
    if ax is None:
        ax = Figure(figsize=(5, 3), layout="constrained").subplots()
    ax.semilogy(alphas, measured, color="k", lw=2, label="measured MSE")
    if rounding is not None:
        ax.semilogy(alphas, rounding, color="tab:blue", ls="--", lw=1, label="rounding part")
    if clipping is not None:
        ax.semilogy(alphas, np.maximum(clipping, 1e-12), color="tab:red", ls="--", lw=1, label="clipping part")
    if theory is not None:
        ax.semilogy(alphas, theory, color="tab:green", ls=":", lw=2, label="model")
    i = int(np.argmin(measured))
    ax.plot(alphas[i], measured[i], "o", color="k", ms=7)
    ax.annotate(f"optimum {alphas[i]:.2f}", (alphas[i], measured[i]), textcoords="offset points", xytext=(0, 10),
                ha="center", fontsize=8)
    ax.set_ylim(measured.min() / 3, measured.max() * 2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("MSE")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return ax


def plot_sqnr_vs_bits(rows: list[dict], figsize=(5, 3)) -> Figure:
    """Measured SQNR, the $\\Delta^2/12$ model and the $6.02\\,b$ rule against bits (rows of ``sqnr_table``)."""
    b = [r["bits"] for r in rows]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.plot(b, [r["rule_db"] for r in rows], color="0.6", lw=1, label="6.02·b")
    ax.plot(b, [r["model_db"] for r in rows], "s", mfc="none", color="tab:green", ms=8, label="model: σ²/(Δ²/12)")
    ax.plot(b, [r["sqnr_db"] for r in rows], "o-", color="tab:blue", ms=4, label="measured")
    ax.set_xlabel("bits")
    ax.set_ylabel("SQNR (dB)")
    ax.legend(fontsize=8)
    return fig


def plot_channel_ranges(w, ch_axis: int = 0, ax=None, title: str | None = None):
    """One bar per output channel from its min to its max, the per-tensor [min, max] as dashed lines."""
    w = _weights(w)
    flat = np.moveaxis(w, ch_axis, 0).reshape(w.shape[ch_axis], -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    if ax is None:
        ax = Figure(figsize=(6, 2.6), layout="constrained").subplots()
    c = np.arange(lo.size)
    ax.bar(c, hi - lo, bottom=lo, color="tab:blue", width=0.7)
    ax.axhline(w.min(), color="tab:red", ls="--", lw=1, label="per-tensor range")
    ax.axhline(w.max(), color="tab:red", ls="--", lw=1)
    ax.axhline(0, color="0.4", lw=0.6)
    span = float(w.max() - w.min()) or 1.0
    ax.set_ylim(float(w.min()) - 0.35 * span, float(w.max()) + 0.1 * span)   # room for the legend below
    ax.set_xlabel("output channel")
    ax.set_ylabel("weight range")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_error_histogram(x, x_hat, clipped=None, step: float | None = None, ax=None, title: str | None = None,
                         bins: int = 80, log: bool = True):
    """Histogram of ``x - x_hat`` (log counts): rounding errors blue, ``clipped`` values red.

    With ``step`` ($\\Delta$) given, dotted lines at $\\pm\\Delta/2$, where every rounding error lies.
    ``log=False`` draws linear counts (shows the shape of an unclipped error better).
    """
    err = (np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)).ravel()
    clipped = np.zeros(err.shape, bool) if clipped is None else np.asarray(clipped, bool).ravel()
    if clipped.shape != err.shape:
        raise ValueError(f"clipped must have x's {err.size} elements, got {clipped.size}")
    if ax is None:
        ax = Figure(figsize=(5, 3), layout="constrained").subplots()
    lim = max(float(np.abs(err).max()), step / 2 if step else 0.0, 1e-12)
    ax.hist([err[~clipped], err[clipped]], bins=np.linspace(-lim, lim, bins + 1), stacked=True,
            color=["tab:blue", "tab:red"], label=["rounding", "clipped"])
    if step:
        for v in (-step / 2, step / 2):
            ax.axvline(v, color="k", ls=":", lw=1)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(0.7, None)             # counts from 1 up: a flat (uniform) error looks flat
    ax.set_xlabel("error  x − x̂")
    ax.set_ylabel("count")
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


class UniformWidget(FigureWidget):
    """Bits, scheme, per-channel and clipping → the grid over the weight histogram, the error histogram, MSE / SQNR.

    ``controls``: ``{"bits": IntSlider 2..8, "scheme": Dropdown affine/symmetric, "per_channel": Checkbox,
    "clip": FloatSlider}``; every change calls :meth:`update`. ``clip`` is the fraction of the
    min/max range kept (of each channel's range when per-channel); symmetric uses the narrow signed
    range, so its end levels sit exactly on $\\pm$ the clipped range. ``readout``: ``{"bits", "scheme",
    "per_channel", "clip", "mse", "rounding_mse", "clipping_mse", "clipped_fraction", "sqnr_db", "levels"}``
    (all from :func:`qnn_lite.quantizers.metrics.quant_error`; ``levels`` = grid points per channel).
    ``grid_lines``: ``{name: LineCollection}`` drawn on the histogram — ``"tensor"`` per-tensor; per-channel
    the grids of the ``"widest"`` and ``"narrowest"`` channel. ``fig``: left the grid(s) over the
    histogram, right the histogram of ``w - w_hat`` (clipped values in red, log counts).
    """

    def __init__(self, w, bits: int = 4, scheme: str = "affine", per_channel: bool = False, clip: float = 1.0,
                 ch_axis: int = 0, bins: int = 100):
        import ipywidgets as widgets

        self.w = _weights(w)
        if self.w.ndim < 2:
            raise ValueError(f"w must be a weight with channels on axis {ch_axis} (ndim >= 2), got shape {self.w.shape}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
            raise ValueError(f"bits must be an int in 2..8, got {bits!r}")
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0.05 <= clip <= 1:
            raise ValueError(f"clip must be a number in [0.05, 1], got {clip!r}")
        if isinstance(ch_axis, bool) or not isinstance(ch_axis, int) or not -self.w.ndim <= ch_axis < self.w.ndim:
            raise ValueError(f"ch_axis must be an int in [-{self.w.ndim}, {self.w.ndim}), got {ch_axis!r}")
        self.ch_axis = ch_axis
        flat = np.moveaxis(self.w, ch_axis, 0).reshape(self.w.shape[ch_axis], -1)
        spans = flat.max(axis=1) - flat.min(axis=1)
        self.channels = {"widest": int(np.argmax(spans)), "narrowest": int(np.argmin(spans))}
        self.counts, self.edges = np.histogram(self.w, bins=bins)
        self.controls = {
            "bits": widgets.IntSlider(value=bits, min=2, max=8, description="bits"),
            "scheme": widgets.Dropdown(options=list(SCHEMES), value=scheme, description="scheme"),
            "per_channel": widgets.Checkbox(value=bool(per_channel), description="per-channel"),
            "clip": widgets.FloatSlider(value=float(clip), min=0.05, max=1.0, step=0.01, description="clip",
                                        readout_format=".2f"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())[:2]),
                                 widgets.HBox(list(self.controls.values())[2:]), self.text])
        self.fig = Figure(figsize=(10, 3.2), layout="constrained")
        self.ax_hist, self.ax_err = self.fig.subplots(1, 2)
        self.readout: dict = {}
        self.result: dict = {}
        self.grid_lines: dict = {}
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")
        self.update()

    def _grid(self, c=None) -> np.ndarray:
        r = self.result
        s, z = (r["scale"], r["zero_point"]) if c is None else (r["scale"][c], r["zero_point"][c])
        return (np.arange(r["quant_min"], r["quant_max"] + 1) - int(z)) * float(s)

    def update(self) -> None:
        """Recompute the readouts from the controls and redraw the figure."""
        b, scheme = self.controls["bits"].value, self.controls["scheme"].value
        pc, clip = bool(self.controls["per_channel"].value), float(self.controls["clip"].value)
        sym = scheme == "symmetric"
        r = self.result = quant_error(self.w, bits=b, symmetric=sym, narrow=sym, per_channel=pc, clip=clip,
                                      ch_axis=self.ch_axis)
        self.readout = {"bits": b, "scheme": scheme, "per_channel": pc, "clip": clip,
                        "levels": r["quant_max"] - r["quant_min"] + 1,
                        **{k: r[k] for k in ("mse", "rounding_mse", "clipping_mse", "clipped_fraction", "sqnr_db")}}
        # left: the grid(s) over the histogram
        ax = self.ax_hist
        ax.clear()
        ax.stairs(self.counts, self.edges, fill=True, color="0.75")
        top = 1.05 * self.counts.max()
        if pc:
            self.grid_lines = {
                name: ax.vlines(self._grid(c), 0, top * f, colors=col, lw=0.9, label=f"{name} channel ({c})")
                for (name, c), col, f in zip(self.channels.items(), ("tab:blue", "tab:orange"), (1.0, 0.6))}
        else:
            self.grid_lines = {"tensor": ax.vlines(self._grid(), 0, top, colors="tab:red", lw=0.9,
                                                   label="per-tensor grid")}
        ax.set_xlim(min(self.edges[0], min(g.get_segments()[0][0][0] for g in self.grid_lines.values())),
                    max(self.edges[-1], max(g.get_segments()[-1][0][0] for g in self.grid_lines.values())))
        ax.set_ylim(0, top)
        ax.set_xlabel("weight value")
        ax.set_ylabel("count")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"{scheme}, {b} bits, {'per-channel' if pc else 'per-tensor'}, clip {clip:.2f}", fontsize=9)
        # right: the error histogram, clipped values in red
        self.ax_err.clear()
        plot_error_histogram(self.w, r["x_hat"], clipped=r["clipped"], step=None if pc else float(r["scale"]),
                             ax=self.ax_err,
                             title=f"MSE {r['mse']:.2e} (clipping {r['clipping_mse']:.2e}), SQNR {r['sqnr_db']:.2f} dB")
        ro = self.readout
        self.text.value = (f"<b>MSE</b> {ro['mse']:.3e} = rounding {ro['rounding_mse']:.3e} + clipping "
                           f"{ro['clipping_mse']:.3e} &nbsp; <b>SQNR</b> {ro['sqnr_db']:.2f} dB &nbsp; "
                           f"clipped {ro['clipped_fraction']:.2%} of the weights")
        self._refresh()


def uniform_widget(w, bits: int = 4, scheme: str = "affine", per_channel: bool = False, clip: float = 1.0,
                   ch_axis: int = 0) -> UniformWidget:
    """Build the chapter-03 widget over the weight ``w`` (channels on ``ch_axis``): see :class:`UniformWidget`."""
    return UniformWidget(w, bits=bits, scheme=scheme, per_channel=per_channel, clip=clip, ch_axis=ch_axis)
