"""Chapter 06's figures and widget: sign estimators, XNOR-Net's scale, ternary levels, IR-Net's EDE.

* :func:`surrogate` — the smooth function whose derivative each sign estimator uses as its backward.
* :func:`plot_estimators` — forward surrogates (left) and backward slopes (right) of the sign estimators.
* :func:`plot_xnor_error` — $\\|W - \\alpha\\,\\mathrm{sign}(W)\\|^2 / n$ against $\\alpha$, minimum and mean|W| marked.
* :func:`plot_ternary` — a weight histogram with each ternary quantizer's thresholds and levels.
* :func:`ede_widget` — an epoch slider for IR-Net's error-decay estimator: the backward moves from a wide,
  flat identity-like STE to a narrow spike like the true sign's. Drive it without a browser::

      w = ede_widget(epochs=10)
      w.controls["epoch"].value = 10       # update() runs on every change
      w.readout["t"], w.readout["k"], w.readout["peak"], w.readout["width"]

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook shows
each exactly once (the cell's value).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..quantizers.ste import ESTIMATORS, ede_schedule, get_estimator
from ._widget import FigureWidget

__all__ = ["surrogate", "plot_estimators", "plot_xnor_error", "plot_ternary", "ede_width", "EDEWidget",
           "ede_widget"]

def surrogate(name: str, x, **params) -> np.ndarray:
    """The differentiable curve behind estimator ``name``: ``ESTIMATORS[name].surrogate``, whose derivative is
    ``ESTIMATORS[name].slope``.

    identity $x$; clipped $\\mathrm{clip}(x, -1, 1)$; approx_sign (Liu et al., 2018) $2x + x^2$ on [-1, 0),
    $2x - x^2$ on [0, 1), $\\pm 1$ outside; ede $k \\tanh(t x)$; swish_sign $2\\sigma(\\beta x)(1 + \\beta x(1 - \\sigma(\\beta x))) - 1$.
    """
    return get_estimator(name).surrogate(np.asarray(x, dtype=np.float64), **params)


def plot_estimators(names=("clipped", "approx_sign", "swish_sign"), x_max: float = 2.0, figsize=(9, 3),
                    **params) -> Figure:
    """Left: sign and each estimator's forward surrogate. Right: each backward slope (``ESTIMATORS[name].slope``)."""
    x = np.linspace(-x_max, x_max, 801)
    fig = Figure(figsize=figsize, layout="constrained")
    ax_f, ax_b = fig.subplots(1, 2)
    ax_f.plot(x, ESTIMATORS["identity"].forward(x), color="k", lw=2, label="sign(x), the forward")
    for name in names:
        kw = {k: v for k, v in params.items() if k in ESTIMATORS[name].params}
        ax_f.plot(x, surrogate(name, x, **kw), label=ESTIMATORS[name].label)
        ax_b.plot(x, ESTIMATORS[name].slope(x, **kw), label=ESTIMATORS[name].label)
    ax_f.set_title("forward: sign and the curve each backward pretends", fontsize=10)
    ax_b.set_title("backward: d(surrogate)/dx", fontsize=10)
    for ax in (ax_f, ax_b):
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    return fig


def plot_xnor_error(w, n_alpha: int = 401, figsize=(5, 3)) -> Figure:
    """Mean squared error $\\|W - \\alpha\\,\\mathrm{sign}(W)\\|^2/n$ over a grid of $\\alpha$; marks the grid minimum and mean|W|."""
    w = np.asarray(getattr(w, "data", w), dtype=np.float64).ravel()
    if w.size == 0 or not np.isfinite(w).all():
        raise ValueError(f"w must be a non-empty finite array, got {w.size} values")
    b = np.where(w >= 0, 1.0, -1.0)
    alphas = np.linspace(0, 2 * np.abs(w).mean() + 1e-12, n_alpha)
    err = ((w[None, :] - alphas[:, None] * b[None, :]) ** 2).mean(axis=1)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.plot(alphas, err, color="tab:blue", label=r"$\|W - \alpha B\|^2 / n$")
    i = int(err.argmin())
    ax.plot(alphas[i], err[i], "o", color="tab:red", label=f"grid minimum, alpha = {alphas[i]:.4f}")
    ax.axvline(np.abs(w).mean(), color="k", ls=":", label=f"mean|W| = {np.abs(w).mean():.4f}")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel("mean squared error")
    ax.legend(fontsize=8)
    return fig


def plot_ternary(w, quantized: dict, thresholds: dict | None = None, figsize=(10, 2.6), bins: int = 60) -> Figure:
    """One panel per entry of ``quantized`` (name -> quantized weight): the histogram of ``w``, the levels
    used (red) and the thresholds (dotted, from ``thresholds`` name -> list), the MSE in the title."""
    w = np.asarray(getattr(w, "data", w), dtype=np.float64).ravel()
    thresholds = thresholds or {}
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(quantized), sharey=True))
    for ax, (name, q) in zip(axes, quantized.items()):
        q = np.asarray(getattr(q, "data", q), dtype=np.float64).ravel()
        ax.hist(w, bins=bins, color="0.7")
        top = ax.get_ylim()[1]
        ax.vlines(np.unique(q), 0, top, colors="tab:red", lw=1.5)
        for th in thresholds.get(name, []):
            ax.axvline(th, color="k", ls=":", lw=1)
        ax.set_ylim(0, top)
        ax.set_title(f"{name}: MSE {np.mean((w - q) ** 2):.2e}", fontsize=9)
        ax.set_xlabel("weight value")
    axes[0].set_ylabel("count")
    return fig


def ede_width(t: float, rel: float = 0.01) -> float:
    """Width of the region where EDE's slope $k t (1 - \\tanh^2 t x)$ is at least ``rel`` times its peak $k t$.

    $1 - \\tanh^2(t x) \\ge r \\iff |x| \\le \\mathrm{artanh}(\\sqrt{1 - r}) / t$, so the width is $2\\,\\mathrm{artanh}(\\sqrt{1-r})/t$.
    """
    if not (0 < rel < 1):
        raise ValueError(f"rel must be a number in (0, 1), got {rel!r}")
    return 2 * math.atanh(math.sqrt(1 - rel)) / t


class EDEWidget(FigureWidget):
    """An epoch slider for IR-Net's EDE (Qin et al., 2020): ``(t, k) = ede_schedule(epoch, epochs)``.

    ``controls``: ``{"epoch": IntSlider(0..epochs)}``; changing it calls :meth:`update`.
    ``readout``: ``{"epoch", "t", "k", "peak" (= k t, the slope at 0), "width" (:func:`ede_width`, slope >= 1 % of
    peak), "slope_at_1" (the slope at x = 1)}``. ``fig``: left the backward slope on [-x_max, x_max]
    (``line``; every epoch's curve faint), right the forward surrogate $k \\tanh(t x)$ against sign(x).
    """

    def __init__(self, epochs: int = 10, epoch: int = 0, t_min: float = 0.1, t_max: float = 10.0,
                 x_max: float = 1.5):
        import ipywidgets as widgets

        ede_schedule(epoch, epochs, t_min, t_max)           # validates all four
        if not (isinstance(x_max, (int, float)) and 0 < x_max < 100):
            raise ValueError(f"x_max must be a number in (0, 100), got {x_max!r}")
        self.epochs, self.t_min, self.t_max = epochs, t_min, t_max
        self.x = np.linspace(-x_max, x_max, 601)
        self.controls = {"epoch": widgets.IntSlider(value=epoch, min=0, max=epochs, description="epoch")}
        self.text = widgets.HTML()
        self.box = widgets.VBox([self.controls["epoch"], self.text])
        self.fig = Figure(figsize=(9, 3), layout="constrained")
        self.ax_b, self.ax_f = self.fig.subplots(1, 2)
        slope = ESTIMATORS["ede"].slope
        for e in range(epochs + 1):                          # the whole schedule, faint
            t, k = ede_schedule(e, epochs, t_min, t_max)
            self.ax_b.plot(self.x, slope(self.x, t=t, k=k), color="0.85", lw=0.8)
        (self.line,) = self.ax_b.plot(self.x, np.ones_like(self.x), color="tab:red", lw=2)
        self.ax_b.set_ylim(0, 1.08 * max(1.0, t_max))       # the peak k t = max(t, 1)
        self.ax_b.set_xlabel("x")
        self.ax_b.set_ylabel("backward slope")
        self.ax_f.plot(self.x, ESTIMATORS["ede"].forward(self.x), color="k", lw=2, label="sign(x)")
        (self.fline,) = self.ax_f.plot(self.x, self.x, color="tab:red", label=r"$k\,\tanh(t x)$")
        self.ax_f.set_ylim(-1.6, 1.6)
        self.ax_f.set_xlabel("x")
        self.ax_f.legend(fontsize=8, loc="upper left")
        self.readout: dict = {}
        self.controls["epoch"].observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recompute ``(t, k)`` and the readouts from the slider; redraw both curves."""
        e = self.controls["epoch"].value
        t, k = ede_schedule(e, self.epochs, self.t_min, self.t_max)
        slope = ESTIMATORS["ede"].slope(self.x, t=t, k=k)
        self.readout = {"epoch": e, "t": t, "k": k, "peak": k * t, "width": ede_width(t),
                        "slope_at_1": float(ESTIMATORS["ede"].slope(np.array([1.0]), t=t, k=k)[0])}
        self.line.set_ydata(slope)
        self.fline.set_ydata(np.clip(k * np.tanh(t * self.x), -1.6, 1.6))
        self.ax_b.set_title(f"epoch {e}/{self.epochs}: t = {t:.3g}, k = {k:.3g}, peak k·t = {k * t:.3g}", fontsize=9)
        self.ax_f.set_title(f"forward surrogate; slope >= 1% of peak on a width of {self.readout['width']:.3g}",
                            fontsize=9)
        r = self.readout
        self.text.value = (f"<b>epoch {e}</b>: t = {t:.4g}, k = {k:.4g}, peak gradient k·t = {r['peak']:.4g}, "
                           f"width of the non-zero region (slope &ge; 1% of peak) = {r['width']:.4g}, "
                           f"slope at x = 1: {r['slope_at_1']:.4g}")
        self._refresh()


def ede_widget(epochs: int = 10, epoch: int = 0, t_min: float = 0.1, t_max: float = 10.0,
               x_max: float = 1.5) -> EDEWidget:
    """Build the chapter-06 widget: see :class:`EDEWidget`."""
    return EDEWidget(epochs=epochs, epoch=epoch, t_min=t_min, t_max=t_max, x_max=x_max)
