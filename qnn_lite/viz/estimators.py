"""Figures and the estimator widget of chapter 05 (straight-through estimators and QAT).

* :func:`estimator_widget`: pick an estimator from ``quantizers.ste.ESTIMATORS`` and its parameter
  (``t``, ``k`` for EDE, ``beta`` for swish-sign) -> its forward and backward curves, plus the
  *surrogate* $F(x) = \\int_0^x g$ (the smooth function the backward pretends the forward is) and
  readouts: gradient at 0, peak, width of the region where the gradient is >= 1 % of its peak,
  area under the backward curve. Drive it without a browser:
  ``w.controls["estimator"].value = "ede"; w.controls["t"].value = 3.0`` then read ``w.readout``.
* Static figures: :func:`plot_round_gradient`, :func:`plot_estimators`, :func:`plot_coin_ste`,
  :func:`plot_lsq_step_grad`, :func:`plot_clip_learning`, :func:`plot_dorefa_weight`,
  :func:`plot_qat_curves`.
"""
from __future__ import annotations

import numpy as np

from ..quantizers.ste import ESTIMATORS

__all__ = ["estimator_curves", "estimator_readout", "EstimatorWidget", "estimator_widget",
           "plot_round_gradient", "plot_estimators", "plot_coin_ste", "plot_lsq_step_grad",
           "plot_clip_learning", "plot_dorefa_weight", "plot_qat_curves"]

WIDTH_FRACTION = 0.01  # "width": where the gradient is at least 1 % of its peak


def estimator_curves(name: str, x, **params) -> dict:
    """``{"x", "forward", "backward", "surrogate"}`` of ``ESTIMATORS[name]`` on the grid ``x`` (increasing).

    ``surrogate`` is $F(x) = \\int_0^x g(u)\\,du$ (trapezoid rule): the function whose true derivative
    the backward is. Unknown parameters for ``name`` raise ``ValueError``.
    """
    if name not in ESTIMATORS:
        raise ValueError(f"name must be one of {sorted(ESTIMATORS)}, got {name!r}")
    extra = set(params) - set(ESTIMATORS[name].params)
    if extra:
        raise ValueError(f"estimator {name!r} takes parameters {tuple(ESTIMATORS[name].params)}, got {sorted(extra)}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.diff(x) > 0):
        raise ValueError(f"x must be a 1-d increasing grid with >= 2 points, got shape {x.shape}")
    fwd, bwd = ESTIMATORS[name].forward, ESTIMATORS[name].slope
    g = np.asarray(bwd(x, **params), dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(x))])
    zero = int(np.argmin(np.abs(x)))
    return {"x": x, "forward": np.asarray(fwd(x), dtype=np.float64), "backward": g, "surrogate": cum - cum[zero]}


def estimator_readout(x, g) -> dict:
    """Numbers of a backward curve ``g`` on grid ``x``: ``grad_at_0`` (at the grid point nearest 0),
    ``peak``, ``width`` (length of x where g >= 1 % of the peak, within the grid) and ``area``
    (trapezoid integral over the grid; the jump of sign is 2, of rint over the window its width)."""
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    peak = float(g.max())
    wide = g >= WIDTH_FRACTION * peak
    width = float(np.sum(np.diff(x) * (wide[1:] & wide[:-1]))) if peak > 0 else 0.0
    return {"grad_at_0": float(g[int(np.argmin(np.abs(x)))]), "peak": peak, "width": width,
            "area": float(np.sum((g[1:] + g[:-1]) / 2 * np.diff(x)))}


class EstimatorWidget:
    """Dropdown ``estimator`` and sliders ``t``, ``k`` (EDE) and ``beta`` (swish-sign) -> curves + readouts.

    ``controls``: dict of ipywidgets (a slider is disabled when the estimator does not use it);
    ``readout``: dict (see :func:`estimator_readout`, plus ``estimator``); ``curves``: the arrays of
    :func:`estimator_curves`; ``fig``: the matplotlib Figure; ``update()`` recomputes.
    """

    def __init__(self, estimator: str = "clipped", t: float = 1.0, k: float = 1.0, beta: float = 5.0,
                 xmax: float = 3.0, points: int = 6001):
        import ipywidgets as W
        from matplotlib.figure import Figure

        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
        if not (isinstance(xmax, (int, float)) and 0 < xmax <= 100):
            raise ValueError(f"xmax must be a number in (0, 100], got {xmax!r}")
        self.x = np.linspace(-xmax, xmax, int(points))
        self.controls = {
            "estimator": W.Dropdown(options=list(ESTIMATORS), value=estimator, description="estimator"),
            "t": W.FloatLogSlider(value=t, base=10, min=-1, max=1.5, step=0.05, description="EDE t"),
            "k": W.FloatSlider(value=k, min=0.1, max=10.0, step=0.1, description="EDE k"),
            "beta": W.FloatSlider(value=beta, min=0.5, max=20.0, step=0.5, description="swish β"),
        }
        self.fig = Figure(figsize=(8, 3), layout="constrained")
        self.ax_f, self.ax_b = self.fig.subplots(1, 2)
        self.text = W.HTML()
        self.ui = W.VBox([W.HBox([self.controls["estimator"], self.controls["beta"]]),
                          W.HBox([self.controls["t"], self.controls["k"]]), self.text])
        self._fig_handle = self._text_handle = None
        self.readout: dict = {}
        self.update()
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")

    def params(self) -> dict:
        """The parameters the chosen estimator takes, read from the sliders."""
        name = self.controls["estimator"].value
        return {p: float(self.controls[p].value) for p in ESTIMATORS[name].params}

    def update(self) -> None:
        """Recompute the curves for the current controls; refresh ``readout``, ``fig`` and the text."""
        name = self.controls["estimator"].value
        for p in ("t", "k", "beta"):
            self.controls[p].disabled = p not in ESTIMATORS[name].params
        params = self.params()
        self.curves = c = estimator_curves(name, self.x, **params)
        self.readout = {"estimator": name, **params, **estimator_readout(c["x"], c["backward"])}
        label = ", ".join(f"{k}={v:.3g}" for k, v in params.items())
        self.ax_f.clear()
        self.ax_f.plot(c["x"], c["forward"], color="tab:blue", label="forward (used)")
        self.ax_f.plot(c["x"], c["surrogate"], "--", color="tab:orange", label="surrogate $\\int_0^x g$")
        self.ax_f.set_title(f"{name} {label}: forward", fontsize=10)
        self.ax_f.set_xlabel("x")
        self.ax_f.legend(fontsize=8, loc="upper left")
        self.ax_b.clear()
        self.ax_b.plot(c["x"], c["backward"], color="tab:red")
        wide = c["backward"] >= WIDTH_FRACTION * self.readout["peak"]
        self.ax_b.fill_between(c["x"], 0, c["backward"], where=wide, color="tab:red", alpha=0.15)
        self.ax_b.set_title("backward: the gradient used, g(x)", fontsize=10)
        self.ax_b.set_xlabel("x")
        self.ax_b.set_ylim(bottom=min(0.0, 1.1 * float(c["backward"].min())),  # swish-sign dips below 0
                           top=max(1.1 * self.readout["peak"], 1.1))
        self.text.value = self.summary()
        if self._fig_handle is not None:
            self._fig_handle.update(self.fig)
            self._text_handle.update(self._html())

    def summary(self) -> str:
        r = self.readout
        return (f"g(0) = {r['grad_at_0']:.3f} &nbsp; peak = {r['peak']:.3f} &nbsp; "
                f"width (g >= 1 % of peak, within ±{self.x[-1]:g}) = {r['width']:.3f} &nbsp; "
                f"area under g = {r['area']:.3f}")

    def _html(self):
        from IPython.display import HTML
        return HTML(self.summary())

    def _ipython_display_(self):
        from IPython.display import display
        display(self.ui)
        self._fig_handle = display(self.fig, display_id=True)
        self._text_handle = display(self._html(), display_id=True)


def estimator_widget(**kwargs) -> EstimatorWidget:
    """Build the chapter-05 widget (see :class:`EstimatorWidget` for the arguments)."""
    return EstimatorWidget(**kwargs)


# ----- static figures ---------------------------------------------------------------------------------
def plot_round_gradient(x0: float = 0.7, y0: float = 2.0):
    """Left: rint(x) and its derivative (0 almost everywhere). Right: the loss $(\\mathrm{rint}(w x_0) - y_0)^2$
    against w — flat steps, so gradient descent on w gets no signal."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    x = np.linspace(-2.5, 2.5, 2001)
    a.plot(x, np.rint(x), color="tab:blue", label="rint(x)")
    a.plot(x, np.zeros_like(x), color="tab:red", label="d rint / dx (0 a.e.)")
    for jump in (-1.5, -0.5, 0.5, 1.5):
        a.annotate("", xy=(jump, 1.2), xytext=(jump, 0), arrowprops=dict(arrowstyle="->", color="tab:red"))
    a.set_title("round: derivative 0, or undefined at the jumps", fontsize=10)
    a.set_xlabel("x")
    a.legend(fontsize=8, loc="upper left")
    w = np.linspace(0, 6, 1201)
    b.plot(w, (np.rint(w * x0) - y0) ** 2, color="tab:blue", label="quantized")
    b.plot(w, (w * x0 - y0) ** 2, "--", color="tab:gray", label="float")
    b.set_title(f"loss (rint(w·{x0}) - {y0})² vs w", fontsize=10)
    b.set_xlabel("w")
    b.legend(fontsize=8)
    return fig


def plot_estimators(names=("identity", "clipped", "approx_sign", "ede", "swish_sign"), params=None, xmax=2.0):
    """Top row: each estimator's surrogate $\\int_0^x g$ over sign; bottom row: its backward g(x)."""
    import matplotlib.pyplot as plt

    params = params or {"ede": {"t": 2.0, "k": 1.0}, "swish_sign": {"beta": 5.0}}
    x = np.linspace(-xmax, xmax, 801)
    fig, axes = plt.subplots(2, len(names), figsize=(2 * len(names), 3.6), layout="constrained",
                             sharex=True, sharey="row")
    for j, name in enumerate(names):
        c = estimator_curves(name, x, **params.get(name, {}))
        axes[0, j].plot(x, c["forward"], color="tab:blue", lw=1)
        axes[0, j].plot(x, c["surrogate"], "--", color="tab:orange")
        p = ", ".join(f"{k}={v:g}" for k, v in params.get(name, {}).items())
        axes[0, j].set_title(f"{name}\n{p}" if p else name, fontsize=9)
        axes[1, j].plot(x, c["backward"], color="tab:red")
        axes[1, j].set_xlabel("x")
    axes[0, 0].set_ylabel("sign and surrogate")
    axes[1, 0].set_ylabel("backward g(x)")
    return fig


def plot_coin_ste(ps, results: dict):
    """STE estimate (mean ± 2 s.e.) and the true $dE[c]/dp$ against p, one panel per cost.

    ``results = {cost label: [coin_ste(...) dict per p]}``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3), layout="constrained")
    for ax, (label, rows) in zip(np.atleast_1d(axes), results.items()):
        mean = np.array([r["ste_mean"] for r in rows])
        se = np.array([r["ste_se"] for r in rows])
        ax.plot(ps, [r["true"] for r in rows], "k--", label="true dE[c]/dp")
        ax.errorbar(ps, mean, yerr=2 * se, fmt="o", ms=3, color="tab:red", label="STE: mean of c'(q)")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("p = P(q = 1)")
        ax.legend(fontsize=8)
    return fig


def plot_lsq_step_grad(bits: int = 3, signed: bool = True):
    """LSQ's $\\partial \\hat v / \\partial s$ (per element, gradient scale 1) against v/s, with the forward."""
    import matplotlib.pyplot as plt

    from ..autograd import Tensor
    from ..quantizers.lsq import fake_quantize_learnable_per_channel_affine
    from ..quantizers.uniform import qrange

    quant_min, quant_max = qrange(bits, signed=signed)
    v = np.linspace(quant_min - 2, quant_max + 2, 1601).astype(np.float32)
    s = Tensor(np.ones_like(v), requires_grad=True)          # one "channel" per element: per-element ds
    y = fake_quantize_learnable_per_channel_affine(Tensor(v), s, np.zeros_like(v), 0, quant_min, quant_max)
    y.sum().backward()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    a.plot(v, y.data, color="tab:blue", label="$\\hat v / s$")
    a.plot(v, v, "--", color="tab:gray", label="v / s")
    a.set_title(f"LSQ forward, {bits} bits [{quant_min}, {quant_max}]", fontsize=10)
    a.set_xlabel("v / s")
    a.legend(fontsize=8)
    b.plot(v, s.grad, color="tab:red")
    b.axhline(0, color="k", lw=0.6)
    b.set_title("$\\partial \\hat v / \\partial s$: rint(v/s) - v/s inside, $-Q_N$ / $Q_P$ outside", fontsize=10)
    b.set_xlabel("v / s")
    return fig


def plot_clip_learning(runs: dict):
    """Clip value per step (left) and reconstruction error (right), one line per ``{label: learn_clip(...)}``."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    best = None
    for label, r in runs.items():
        a.plot(r["alpha"], label=label)
        b.semilogy(r["mse"], label=label)
        best = r
    a.axhline(best["best_alpha"], color="k", ls=":", label="MSE-optimal clip")
    b.axhline(best["best_mse"], color="k", ls=":", label="optimal MSE")
    a.set_xlabel("gradient step")
    a.set_ylabel("clip α")
    b.set_xlabel("gradient step")
    b.set_ylabel("mean squared error")
    a.legend(fontsize=7)
    return fig


def plot_dorefa_weight(w, bits=(2, 3)):
    """DoReFa's weight map $w \\mapsto 2\\,\\mathrm{quantize}_k(\\tanh w / (2\\max|\\tanh w|) + 1/2) - 1$
    for the values of ``w`` (left) and the histogram of ``w`` (right)."""
    import matplotlib.pyplot as plt

    from ..quantizers.learned import dorefa_weight

    w = np.sort(np.asarray(w, dtype=np.float32).ravel())
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    t = np.tanh(w)
    a.plot(w, t / np.abs(t).max(), "--", color="tab:gray", label="tanh w / max|tanh w|")
    for k in bits:
        a.step(w, dorefa_weight(w, k).data, where="mid", label=f"{k} bits")
    a.set_xlabel("w")
    a.set_ylabel("quantized weight")
    a.legend(fontsize=8)
    a.set_title("DoReFa weights", fontsize=10)
    b.hist(w, bins=50, color="tab:blue")
    b.set_xlabel("w")
    b.set_title("the weights being quantized", fontsize=10)
    return fig


def plot_qat_curves(curves: dict):
    """Test accuracy per QAT epoch: from scratch vs after PTQ (epoch 0 = PTQ), FP32 dashed (``qat_curves`` output)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    s, f = curves["from_scratch"], curves["after_ptq"]
    ax.plot(np.arange(1, len(s) + 1), 100 * np.asarray(s), "o-", ms=3, label="QAT from scratch")
    ax.plot(np.arange(len(f)), 100 * np.asarray(f), "o-", ms=3, label="QAT after PTQ (epoch 0 = PTQ)")
    ax.axhline(100 * curves["fp32"], color="k", ls="--", label="FP32")
    ax.set_xlabel("QAT epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    return fig
