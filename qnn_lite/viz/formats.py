"""Chapter 01's figures and widget: bit layouts, energy per operation, a format's grid over the weights.

* :func:`plot_bit_layouts` — one row of coloured boxes per format (sign red, exponent green,
  mantissa blue, integer value bits purple), optionally with the bits of a value written in.
* :func:`plot_energy` — energy per operation on a log axis (Horowitz, 2014), coloured by kind.
* :func:`plot_format_grid` — the representable values of a format drawn over a weight histogram.
* :func:`formats_widget` — pick a format (FP32 / FP16 / BF16 / FP8 E4M3 / FP8 E5M2 / INT / binary),
  the integer bit-width and scheme; the grid over the histogram, the error against the weight, and
  readouts. Drive it without a browser::

      w = formats_widget(weights)
      w.controls["format"].value = "INT"; w.controls["bits"].value = 4   # update() runs on each change
      w.readout["levels"], w.readout["mse"], w.readout["max_abs_error"]

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook
shows each exactly once (the cell's value) and nothing leaks between cells.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..quantizers.format_values import count_values, representable_values, spacing
from ..quantizers.format_values import decode_bits
from ..quantizers.formats import get_format, round_to_format
from ..quantizers.metrics import mse, sqnr_db
from ..quantizers.uniform import calc_qparams, qrange
from ._widget import FigureWidget

__all__ = ["FIELD_COLORS", "plot_bit_layouts", "plot_energy", "plot_format_grid", "format_grid",
           "FormatsWidget", "formats_widget", "WIDGET_FORMATS"]

FIELD_COLORS = {"sign": "#e8787a", "exponent": "#7cc47f", "mantissa": "#7aa6e0", "value": "#b28fd6"}
WIDGET_FORMATS = {"FP32": "fp32", "FP16": "fp16", "BF16": "bf16", "FP8 E4M3": "fp8_e4m3", "FP8 E5M2": "fp8_e5m2",
                  "INT": "int", "binary": "binary"}
MAX_LINES = 300   # draw at most this many grid lines; denser grids are reported, not drawn


def _weights(w) -> np.ndarray:
    w = np.asarray(getattr(w, "data", w), dtype=np.float32).ravel()
    if w.size < 2:
        raise ValueError(f"w must be a finite array with at least 2 values, got {w.size} value(s)")
    if not np.isfinite(w).all():
        raise ValueError(f"w must be a finite array with at least 2 values, got "
                         f"{int((~np.isfinite(w)).sum())} NaN/inf value(s)")
    return w


def plot_bit_layouts(names=("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int4"), value=None,
                     figsize=(9, None)) -> Figure:
    """One row of boxes per format, one box per bit (same width in every row, so widths compare).

    With ``value``, each box shows that bit of ``value`` rounded to the format (:func:`decode_bits`);
    integer rows then show ``value`` as a code and need an integer.
    """
    fmts = [get_format(n) for n in names]
    fig = Figure(figsize=(figsize[0], figsize[1] or 0.45 * len(fmts) + 0.5), layout="constrained")
    ax = fig.subplots()
    for row, f in enumerate(fmts):
        y = len(fmts) - 1 - row
        bits = "".join(decode_bits(value, f).values()) if value is not None else None
        x = 0
        for field, width in f.fields:
            for i in range(width):
                ax.add_patch(Rectangle((x + i, y + 0.1), 1, 0.8, facecolor=FIELD_COLORS[field], edgecolor="white"))
                if bits is not None:
                    ax.text(x + i + 0.5, y + 0.5, bits[x + i], ha="center", va="center", fontsize=7)
            x += width
        desc = " + ".join(f"{w} {n}" for n, w in f.fields)
        ax.text(x + 0.6, y + 0.5, desc, va="center", fontsize=8, color="0.3")
        ax.text(-0.6, y + 0.5, f.name, va="center", ha="right", fontsize=9)
    ax.set_xlim(-7, 52)
    ax.set_ylim(0, len(fmts))
    ax.axis("off")
    handles = [Rectangle((0, 0), 1, 1, facecolor=c) for c in FIELD_COLORS.values()]
    ax.legend(handles, ["sign", "exponent", "mantissa", "integer value bits"], ncol=4, fontsize=8,
              loc="upper center", bbox_to_anchor=(0.45, 0.0), frameon=False)
    if value is not None:
        ax.set_title(f"the bits of {value!r} in each format", fontsize=9)
    return fig


def plot_energy(energies: dict, figsize=(7, 3.2), title: str | None = None) -> Figure:
    """Horizontal bars of pJ per operation (``{label: pJ}``) on a log axis, each value written beside its bar.

    Labels starting with "int" are integer arithmetic (blue), "fp" float arithmetic (orange), anything
    else memory (grey).
    """
    labels, values = list(energies), np.asarray(list(energies.values()), dtype=float)
    if values.size == 0 or not (values > 0).all():
        raise ValueError(f"energies must be a non-empty dict of positive numbers, got {energies!r}")
    colors = ["tab:blue" if l.startswith("int") else "tab:orange" if l.startswith("fp") else "0.55" for l in labels]
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colors)
    for yi, v in zip(y, values):
        ax.text(v * 1.15, yi, f"{v:g} pJ", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(values.min() / 2, values.max() * 8)
    ax.set_xlabel("energy per operation (pJ, 45 nm, log scale)")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def format_grid(w, fmt, bits: int = 8, scheme: str = "symmetric") -> tuple[np.ndarray | None, int, float]:
    """``(grid, levels, step_at_max)`` of a format over the range of the weights ``w``.

    Floats: the representable values in ``[min w, max w]`` (``grid`` None when more than
    ``MAX_LINES``), their count, and the spacing at ``max|w|``. ``"int"``: the grid that
    :func:`round_to_format` fits to ``w`` — all ``2^b`` codes (affine) or ``2^b - 1`` (symmetric) —
    and the scale. Binary: the two levels $\\pm\\operatorname{mean}|w|$ and their distance.
    """
    w = _weights(w)
    f = get_format(f"int{bits}" if fmt == "int" else fmt)
    lo, hi = float(w.min()), float(w.max())
    if f.kind == "float":
        levels = count_values(f, lo, hi)
        grid = representable_values(f, lo, hi) if levels <= MAX_LINES else None
        return grid, levels, float(spacing(np.abs(w).max(), f))
    if f.kind == "binary":
        alpha = float(np.abs(w).mean())
        return np.array([-alpha, alpha]), 2, 2 * alpha
    quant_min, quant_max = qrange(f.bits, narrow=scheme == "symmetric")
    s, z = calc_qparams(lo, hi, quant_min, quant_max, symmetric=scheme == "symmetric")
    grid = (np.arange(quant_min, quant_max + 1) - int(z)) * float(s)
    return (grid if grid.size <= MAX_LINES else None), grid.size, float(s)


def plot_format_grid(w, fmt, bits: int = 8, scheme: str = "symmetric", ax=None, bins: int = 80,
                     title: str | None = None):
    """A histogram of ``w`` over the representable values of ``fmt`` (see :func:`format_grid`): one red
    tick per value in a strip under the histogram (and a faint line behind it).

    Grids denser than ``MAX_LINES`` lines are shaded instead, with their count written on the plot.
    Returns ``(ax, lines)`` (``lines``: the ticks' ``LineCollection``, one segment per level; None when shaded).
    """
    w = _weights(w)
    grid, levels, _ = format_grid(w, fmt, bits, scheme)
    if ax is None:
        ax = Figure(figsize=(5, 2.6), layout="constrained").subplots()
    counts, edges, _ = ax.hist(w, bins=bins, color="0.7", zorder=2)
    top = 1.08 * counts.max()
    rug = -0.14 * top                   # the levels as ticks in a strip under the histogram
    lines = None
    if grid is not None:
        ax.vlines(grid, 0, top, colors="tab:red", lw=0.5, alpha=0.35, zorder=1)
        lines = ax.vlines(grid, rug, 0, colors="tab:red", lw=0.8, zorder=3)
        lo_x, hi_x = min(edges[0], grid.min()), max(edges[-1], grid.max())
    else:
        ax.axvspan(edges[0], edges[-1], ymax=-rug / (top - rug), color="tab:red", alpha=0.6, lw=0)
        ax.text(0.5, 0.9, f"{levels:,} levels: too dense to draw", transform=ax.transAxes, ha="center",
                fontsize=8, color="tab:red")
        lo_x, hi_x = edges[0], edges[-1]
    pad = 0.03 * (hi_x - lo_x)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_ylim(rug, top)
    ax.axhline(0, color="0.4", lw=0.6, zorder=3)
    ax.set_yticks([])
    name = f"int{bits} {scheme}" if fmt == "int" else get_format(fmt).name
    ax.set_title(title or f"{name}: {levels:,} levels in the weights' range", fontsize=9)
    return ax, lines


class FormatsWidget(FigureWidget):
    """Format, integer bits and scheme → the grid over the weight histogram, the error, readouts.

    ``controls``: ``{"format": Dropdown of WIDGET_FORMATS labels, "bits": IntSlider 2..8 (INT only),
    "scheme": Dropdown symmetric/affine (INT only)}``; every change calls :meth:`update`.
    ``readout``: ``{"format", "bits", "levels"`` (grid points in the weights' range, see
    :func:`format_grid`), ``"levels_used"`` (distinct values after rounding), ``"step_at_max"``
    (grid spacing at ``max|w|``), ``"mse"``, ``"max_abs_error"``, ``"sqnr_db"}``.
    ``w_hat``: the rounded weights; ``grid_lines``: the drawn ``LineCollection`` (None when too dense).
    ``fig``: left the grid over the histogram, right the error ``ŵ − w`` against ``w``.
    """

    def __init__(self, w, fmt: str = "INT", bits: int = 4, scheme: str = "symmetric", bins: int = 80):
        import ipywidgets as widgets

        self.w = _weights(w)
        if fmt not in WIDGET_FORMATS:
            raise ValueError(f"fmt must be one of {list(WIDGET_FORMATS)}, got {fmt!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
            raise ValueError(f"bits must be an int in 2..8, got {bits!r}")
        if scheme not in ("symmetric", "affine"):
            raise ValueError(f"scheme must be 'symmetric' or 'affine', got {scheme!r}")
        self.bins = bins
        self.controls = {
            "format": widgets.Dropdown(options=list(WIDGET_FORMATS), value=fmt, description="format"),
            "bits": widgets.IntSlider(value=bits, min=2, max=8, description="INT bits"),
            "scheme": widgets.Dropdown(options=["symmetric", "affine"], value=scheme, description="INT scheme"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())), self.text])
        self.fig = Figure(figsize=(10, 3), layout="constrained")
        self.ax_grid, self.ax_err = self.fig.subplots(1, 2)
        self.readout: dict = {}
        self.grid_lines = None
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recompute the rounding and readouts from the controls and redraw the figure."""
        name = WIDGET_FORMATS[self.controls["format"].value]
        bits, scheme = int(self.controls["bits"].value), self.controls["scheme"].value
        is_int = name == "int"
        self.controls["bits"].disabled = self.controls["scheme"].disabled = not is_int
        fmt = get_format(f"int{bits}" if is_int else name)
        self.w_hat = round_to_format(self.w, fmt, scheme=scheme)
        _, levels, step = format_grid(self.w, name, bits, scheme)
        err = self.w_hat.astype(np.float64) - self.w
        self.readout = {"format": fmt.name, "bits": fmt.bits, "levels": levels,
                        "levels_used": int(np.unique(self.w_hat).size), "step_at_max": step,
                        "mse": float(mse(self.w, self.w_hat)), "max_abs_error": float(np.abs(err).max()),
                        "sqnr_db": float(sqnr_db(self.w, self.w_hat))}
        self.ax_grid.clear()
        label = f"{fmt.name} {scheme}" if is_int else fmt.name
        _, self.grid_lines = plot_format_grid(self.w, name, bits, scheme, ax=self.ax_grid, bins=self.bins,
                                              title=f"{label}: {levels:,} levels in the weights' range")
        self.ax_grid.set_xlabel("weight value")
        ax = self.ax_err
        ax.clear()
        ax.plot(self.w, err, ".", ms=2, color="tab:blue")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_xlabel("weight w")
        ax.set_ylabel("error  ŵ − w")
        lim = max(float(np.abs(err).max()) * 1.1, 1e-12)
        ax.set_ylim(-lim, lim)
        r = self.readout
        ax.set_title(f"MSE {r['mse']:.2e}, max |error| {r['max_abs_error']:.2e}, SQNR {r['sqnr_db']:.1f} dB",
                     fontsize=9)
        self.text.value = (f"<b>{label}</b> ({r['bits']} bits): <b>levels</b> {levels:,} in the weights' range, "
                           f"{r['levels_used']:,} used; step at max|w| {step:.3g}; <b>MSE</b> {r['mse']:.3e}; "
                           f"<b>max |error|</b> {r['max_abs_error']:.3e}; <b>SQNR</b> {r['sqnr_db']:.2f} dB")
        self._refresh()


def formats_widget(w, fmt: str = "INT", bits: int = 4, scheme: str = "symmetric") -> FormatsWidget:
    """Build the chapter-01 widget over the weights ``w``: see :class:`FormatsWidget`."""
    return FormatsWidget(w, fmt=fmt, bits=bits, scheme=scheme)
