"""Chapter 07's figures and widget: quantization levels drawn over a weight histogram.

* :func:`plot_levels` — a histogram of the weights and one vertical line per level.
* :func:`plot_scheme_grid` — the four schemes of :mod:`qnn_lite.recipes.compare` side by side at one bit budget.
* :func:`plot_centroids` — k-means codebooks from different inits on the weights' CDF (Han et al., 2016, Fig. 4).
* :func:`plot_pot_rounding` — power-of-two rounding in the log domain (switch at $\\sqrt2\\,2^k$)
  and in the value domain (switch at $1.5\\,2^k$).
* :func:`plot_mu_law` — the mu-law compressor $F(x)$ for several $\\mu$ and the levels it induces.
* :func:`levels_widget` — bits and scheme controls; levels over the histogram; the MSE and
  SQNR of every scheme as readouts. Drive it without a browser::

      w = levels_widget(weights)
      w.controls["bits"].value = 4          # update() runs on every change
      w.readout["mse"]["kmeans"], w.readout["levels"], len(w.level_lines.get_segments())

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook
shows each exactly once (the cell's value) and nothing leaks between cells.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..validate import as_float
from ..recipes.compare import SCHEME_NAMES, SCHEMES, quantize_scheme
from ..quantizers.metrics import mse, sqnr_db
from ..quantizers.log import mu_law_compress, mu_law_quantize, pot_quantize
from ._widget import FigureWidget

__all__ = ["plot_levels", "plot_scheme_grid", "plot_centroids", "plot_pot_rounding", "plot_mu_law",
           "LevelsWidget", "levels_widget"]

_COLORS = {"uniform": "tab:blue", "pot": "tab:orange", "kmeans": "tab:green", "mulaw": "tab:red"}


def _flat(w) -> np.ndarray:
    """``w`` (Tensor or array-like, non-empty, finite) as a 1-D float64 array."""
    return as_float(w, "w").astype(np.float64).ravel()


def plot_levels(w, levels, ax=None, title: str | None = None, color: str = "tab:red", bins: int = 80):
    """Histogram of ``w`` with a vertical line at each of ``levels``; returns the lines' ``LineCollection``."""
    w, levels = _flat(w), np.asarray(levels, dtype=np.float64).ravel()
    if ax is None:
        ax = Figure(figsize=(5, 3)).subplots()
    lo, hi = min(w.min(), levels.min()), max(w.max(), levels.max())
    counts, edges = np.histogram(w, bins=np.linspace(lo, hi, bins + 1))
    ax.stairs(counts, edges, fill=True, color="0.7")   # one patch: cheap to redraw in the widget
    ax.set_ylim(0, 1.05 * counts.max())
    # x in data units, y from the bottom (0) to the top (1) of the axes
    lines = ax.vlines(levels, 0, 1, colors=color, linewidth=1.2, transform=ax.get_xaxis_transform())
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title, fontsize=10)
    return lines


def plot_scheme_grid(w, bits: int, schemes=SCHEMES, figsize=(10, 2.6)) -> Figure:
    """One panel per scheme: its ``bits``-bit levels over the histogram of ``w``, MSE in the title."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(schemes)))
    for ax, s in zip(axes, schemes):
        w_hat, levels = quantize_scheme(w, s, bits)
        plot_levels(w, levels, ax=ax, color=_COLORS[s],
                    title=f"{SCHEME_NAMES[s]}: {levels.size} levels\nMSE {mse(w, w_hat):.2e}")
        if ax is not axes[0]:
            ax.set_ylabel("")
    return fig


def plot_centroids(w, codebooks: dict, figsize=(8, 3)) -> Figure:
    """The empirical CDF of ``w`` with each named codebook's centroids marked on it (one marker row per codebook)."""
    w = np.sort(_flat(w))
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.plot(w, np.arange(1, w.size + 1) / w.size, color="0.4", label="CDF of the weights")
    for i, (name, cb) in enumerate(codebooks.items()):
        cb = np.asarray(cb, dtype=np.float64).ravel()
        ax.plot(cb, np.searchsorted(w, cb) / w.size, "o", ms=6 - 0.6 * i, alpha=0.8, label=name)
    ax.set_xlabel("weight value")
    ax.set_ylabel("cumulative fraction")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_pot_rounding(bits: int = 5, max_exp: int = 2, x_max: float = 4.5, figsize=(8, 3)) -> Figure:
    """Power-of-two rounding on $[0, x_{max}]$: log domain vs value domain, with both switch points marked."""
    x = np.linspace(0, x_max, 2001)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for rounding, color, factor, label in (("log", "tab:blue", np.sqrt(2), r"log domain: up at $\sqrt{2}\cdot 2^k$"),
                                           ("value", "tab:orange", 1.5, r"value domain: up at $1.5\cdot 2^k$")):
        q = pot_quantize(x, bits=bits, rounding=rounding, max_exp=max_exp).data
        ax.plot(x, q, color=color, label=label, lw=2 if rounding == "log" else 1.4,
                ls="-" if rounding == "log" else "--")
        for k in range(-2, max_exp):
            t = factor * 2.0 ** k
            if t <= x_max:
                ax.axvline(t, color=color, lw=0.6, ls=":")
    ax.plot(x, x, color="0.6", lw=0.8, label="$y = x$")
    ax.set_xlabel("x")
    ax.set_ylabel("quantized x")
    ax.set_yticks(2.0 ** np.arange(-1, max_exp + 1))
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_mu_law(mus=(1.0, 10.0, 255.0), bits: int = 3, figsize=(9, 3)) -> Figure:
    """Left: the compressor $F(x)$ for each $\\mu$. Right: the ``bits``-bit mu-law levels on $[-1, 1]$ for each $\\mu$."""
    x = np.linspace(-1, 1, 801).astype(np.float32)
    fig = Figure(figsize=figsize, layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for i, mu in enumerate(mus):
        ax1.plot(x, mu_law_compress(x, mu), label=rf"$\mu$ = {mu:g}")
        levels = np.unique(mu_law_quantize(x, bits=bits, mu=mu, x_max=1.0).data)
        ax2.plot(levels, np.full(levels.size, i), "|", ms=14, mew=2)
    ax1.set_xlabel("x")
    ax1.set_ylabel("F(x)")
    ax1.legend(fontsize=8)
    ax2.set_yticks(range(len(mus)), [rf"$\mu$ = {mu:g}" for mu in mus])
    ax2.set_xlabel(f"{bits}-bit mu-law levels")
    ax2.set_ylim(-0.7, len(mus) - 0.3)
    return fig


class LevelsWidget(FigureWidget):
    """Bits and scheme → the scheme's levels over the weight histogram, and every scheme's MSE / SQNR.

    ``controls``: ``{"bits": IntSlider, "scheme": Dropdown}``; changing either calls :meth:`update`.
    ``readout``: ``{"scheme", "bits", "levels" (number drawn), "mse": {scheme: float},
    "sqnr_db": {scheme: float}}`` at the current bits. ``fig``: left panel the histogram with
    the levels (``level_lines``, one segment per level), right panel MSE vs bits for all schemes.
    """

    def __init__(self, w, bits: int = 3, scheme: str = "kmeans", min_bits: int = 2, max_bits: int = 6):
        import ipywidgets as widgets

        self.w = _flat(w).astype(np.float32)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if not (isinstance(min_bits, int) and isinstance(max_bits, int) and 2 <= min_bits <= max_bits <= 8):
            raise ValueError(f"min_bits and max_bits must be ints with 2 <= min_bits <= max_bits <= 8, "
                             f"got {min_bits!r}, {max_bits!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not min_bits <= bits <= max_bits:
            raise ValueError(f"bits must be an int in {min_bits}..{max_bits}, got {bits!r}")
        self.bit_range = list(range(min_bits, max_bits + 1))
        # every scheme at every bit width, computed once: the readouts are table look-ups
        self.results = {}
        for b in self.bit_range:
            for s in SCHEMES:
                w_hat, levels = quantize_scheme(self.w, s, b)
                self.results[s, b] = {"levels": levels, "mse": mse(self.w, w_hat), "sqnr_db": sqnr_db(self.w, w_hat)}
        self.controls = {
            "bits": widgets.IntSlider(value=bits, min=min_bits, max=max_bits, description="bits"),
            "scheme": widgets.Dropdown(options=[(SCHEME_NAMES[s], s) for s in SCHEMES], value=scheme,
                                       description="scheme"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())), self.text])
        self.fig = Figure(figsize=(10, 3.2), layout="constrained")
        self.ax_hist, self.ax_mse = self.fig.subplots(1, 2, width_ratios=[1.6, 1])
        self.readout: dict = {}
        self.level_lines = None
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recompute the readouts from the controls and redraw the figure."""
        b, s = self.controls["bits"].value, self.controls["scheme"].value
        levels = self.results[s, b]["levels"]
        self.readout = {"scheme": s, "bits": b, "levels": int(levels.size),
                        "mse": {k: self.results[k, b]["mse"] for k in SCHEMES},
                        "sqnr_db": {k: self.results[k, b]["sqnr_db"] for k in SCHEMES}}
        self.ax_hist.clear()
        self.level_lines = plot_levels(self.w, levels, ax=self.ax_hist, color=_COLORS[s],
                                       title=f"{SCHEME_NAMES[s]}, {b} bits: {levels.size} levels, "
                                             f"MSE {self.readout['mse'][s]:.2e}")
        self.ax_mse.clear()
        for k in SCHEMES:
            ys = [self.results[k, bb]["mse"] for bb in self.bit_range]
            self.ax_mse.semilogy(self.bit_range, ys, "o-", color=_COLORS[k], label=SCHEME_NAMES[k],
                                 lw=2.5 if k == s else 1, ms=4)
        self.ax_mse.axvline(b, color="0.5", ls=":")
        self.ax_mse.set_xlabel("bits")
        self.ax_mse.set_ylabel("MSE")
        self.ax_mse.set_xticks(self.bit_range)
        self.ax_mse.legend(fontsize=8)
        rows = "".join(f"<tr><td>{SCHEME_NAMES[k]}</td><td>{self.readout['mse'][k]:.3e}</td>"
                       f"<td>{self.readout['sqnr_db'][k]:.2f} dB</td></tr>" for k in SCHEMES)
        self.text.value = (f"<b>{b} bits</b><table><tr><th>scheme</th><th>MSE</th><th>SQNR</th></tr>"
                           f"{rows}</table>")
        self._refresh()


def levels_widget(w, bits: int = 3, scheme: str = "kmeans", min_bits: int = 2, max_bits: int = 6) -> LevelsWidget:
    """Build the chapter-07 widget over the weights ``w``: see :class:`LevelsWidget`."""
    return LevelsWidget(w, bits=bits, scheme=scheme, min_bits=min_bits, max_bits=max_bits)
