"""Figures and the rounding-trajectory widget of chapter 08 (stochastic rounding, low-precision training).

* :func:`rounding_trajectory_widget`: bits, rounding mode, update size and number of
  steps -> the trajectories of a fixed-point weight under many equal small updates
  (:func:`qnn_lite.transforms.lowprec.simulate_updates`) and readouts (final value, exact
  value, bias, RMS error). Drive it without a browser:
  ``w.controls["bits"].value = 12`` then read ``w.readout``.
* Static figures: :func:`plot_unbiasedness`, :func:`plot_trajectories`,
  :func:`plot_training_curves`, :func:`plot_gradient_bias`, :func:`plot_wag_table`.
"""
from __future__ import annotations

import numpy as np

from ..transforms.lowprec import ROUNDINGS, deterministic_grad_quantize, simulate_updates
from ..quantizers.learned import dorefa_grad
from ..quantizers.stochastic import stochastic_round

__all__ = ["trajectory_readout", "draw_trajectories", "RoundingTrajectoryWidget", "rounding_trajectory_widget",
           "plot_unbiasedness", "plot_trajectories", "plot_training_curves", "plot_gradient_bias",
           "plot_wag_table"]

INT_BITS = 8  # the widget's integer bits: a range of [-128, 128), wide enough never to clip


def trajectory_readout(traj: np.ndarray, w0: float, update: float, steps: int, step_size: float) -> dict:
    """Summary numbers of ``traj`` ``(runs, steps + 1)``: final mean, exact value, bias, RMS error, standard error."""
    final = traj[:, -1]
    exact = w0 + steps * update
    runs = len(final)
    std = float(final.std(ddof=1)) if runs > 1 else 0.0
    return {"step": step_size, "exact": exact, "final_mean": float(final.mean()), "final_std": std,
            "std_err": float(std / np.sqrt(runs)), "bias": float(final.mean() - exact),
            "rms_error": float(np.sqrt(np.mean((final - exact) ** 2))), "runs": runs}


def draw_trajectories(ax, traj: np.ndarray, w0: float, update: float, title: str = "", max_lines: int = 20) -> None:
    """Up to ``max_lines`` runs (thin), their mean (thick) and the exact $w_0 + t\\,u$ (dashed) on ``ax``."""
    t = np.arange(traj.shape[1])
    for row in traj[:max_lines]:
        ax.plot(t, row, color="tab:blue", lw=0.6, alpha=0.35)
    label = f"mean of {len(traj)} runs" if len(traj) > 1 else "the weight (deterministic)"
    ax.plot(t, traj.mean(axis=0), color="tab:blue", lw=2, label=label)
    ax.plot(t, w0 + t * update, "k--", lw=1.2, label="exact (no rounding)")
    ax.set_xlabel("update step t")
    ax.set_ylabel("weight w")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)


class RoundingTrajectoryWidget:
    """Sliders ``bits`` (Δ = 2^-bits), ``update``, ``steps`` and toggle ``rounding`` -> trajectory plot + readouts.

    ``controls``: dict of ipywidgets; ``readout``: dict of the current numbers
    (see :func:`trajectory_readout`); ``fig``: the matplotlib Figure; ``trajectories``:
    the ``(runs, steps + 1)`` array; ``update()`` recomputes (called on every control change).
    """

    def __init__(self, bits: int = 8, rounding: str = "stochastic", update: float = 1e-3, steps: int = 500,
                 runs: int = 200, w0: float = 0.0, seed: int = 0):
        import ipywidgets as W
        from matplotlib.figure import Figure

        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 20:
            raise ValueError(f"bits must be an int in 1..20, got {bits!r}")
        if not (isinstance(update, (int, float)) and 1e-5 <= update <= 1e-1):
            raise ValueError(f"update must be a number in [1e-5, 0.1], got {update!r}")
        self.runs, self.w0, self.seed = runs, float(w0), seed
        self.controls = {
            "bits": W.IntSlider(value=bits, min=1, max=20, description="bits (FL)"),
            "rounding": W.ToggleButtons(options=list(ROUNDINGS), value=rounding, description="rounding"),
            "update": W.FloatLogSlider(value=update, base=10, min=-5, max=-1, step=0.1,
                                       description="update u", readout_format=".1e"),
            "steps": W.IntSlider(value=steps, min=10, max=2000, step=10, description="steps"),
        }
        self.fig = Figure(figsize=(8, 3.2), layout="constrained")
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.text = W.HTML()
        self.ui = W.VBox([W.HBox([self.controls["bits"], self.controls["update"]]),
                          W.HBox([self.controls["steps"], self.controls["rounding"]]), self.text])
        self._fig_handle = self._text_handle = None
        self.readout: dict = {}
        self.update()
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")

    def update(self) -> None:
        """Re-simulate with the controls' current values; refresh ``readout``, ``fig`` and the text."""
        bits = int(self.controls["bits"].value)
        rounding = self.controls["rounding"].value
        update = float(self.controls["update"].value)
        steps = int(self.controls["steps"].value)
        runs = self.runs if rounding == "stochastic" else 1   # nearest is deterministic: one run says it all
        self.trajectories = simulate_updates(self.w0, update, steps, INT_BITS, bits, rounding, runs=runs,
                                             rng=np.random.default_rng(self.seed))
        self.readout = trajectory_readout(self.trajectories, self.w0, update, steps, 2.0 ** -bits)
        r = self.readout
        self.ax.clear()
        draw_trajectories(self.ax, self.trajectories, self.w0, update,
                          f"{rounding} rounding, Δ = 2^-{bits} = {r['step']:.3g}, u = {update:.2g} "
                          f"(u/Δ = {update / r['step']:.3g})")
        self.text.value = self.summary()
        if self._fig_handle is not None:
            self._fig_handle.update(self.fig)
            self._text_handle.update(self._markdown())

    def summary(self) -> str:
        r = self.readout
        return (f"Δ = {r['step']:.4g} &nbsp; exact final = {r['exact']:.4f} &nbsp; "
                f"mean final = {r['final_mean']:.4f} ± {r['std_err']:.4f} (s.e., {r['runs']} run(s)) &nbsp; "
                f"bias = {r['bias']:+.4f} &nbsp; RMS error = {r['rms_error']:.4f}")

    def _markdown(self):
        from IPython.display import HTML
        return HTML(self.summary())

    def _ipython_display_(self):
        from IPython.display import display
        display(self.ui)
        self._fig_handle = display(self.fig, display_id=True)
        self._text_handle = display(self._markdown(), display_id=True)


def rounding_trajectory_widget(**kwargs) -> RoundingTrajectoryWidget:
    """Build the chapter-08 widget (see :class:`RoundingTrajectoryWidget` for the arguments)."""
    return RoundingTrajectoryWidget(**kwargs)


# ----- static figures ---------------------------------------------------------------------------------
def plot_unbiasedness(x: float = 2.3, draws: int = 10_000, seed: int = 0):
    """Left: histogram of ``draws`` stochastic roundings of ``x``. Right: mean rounding error $E[R(x)] - x$ vs $x$."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
    r = stochastic_round(np.full(draws, x), rng)
    vals, counts = np.unique(r, return_counts=True)
    a.bar(vals, counts / draws, width=0.3, color="tab:blue")
    a.axvline(x, color="k", ls="--", label=f"x = {x}")
    a.axvline(r.mean(), color="tab:red", ls=":", label=f"mean of draws = {r.mean():.3f}")
    a.set_xlabel("rounded value")
    a.set_ylabel("fraction of draws")
    a.set_title(f"{draws} stochastic roundings of x = {x}", fontsize=10)
    a.legend(fontsize=8)
    xs = np.linspace(0, 3, 61)
    n = 400
    sr = stochastic_round(np.repeat(xs[:, None], n, axis=1), rng)
    err, se = sr.mean(axis=1) - xs, sr.std(axis=1, ddof=1) / np.sqrt(n)
    b.plot(xs, np.rint(xs) - xs, color="tab:orange", label="nearest: rint(x) - x")
    b.plot(xs, err, color="tab:blue", label=f"stochastic: mean of {n} draws - x")
    b.fill_between(xs, err - 2 * se, err + 2 * se, color="tab:blue", alpha=0.2, label="± 2 s.e.")
    b.axhline(0, color="k", lw=0.8)
    b.set_xlabel("x")
    b.set_ylabel("bias")
    b.set_title("rounding bias", fontsize=10)
    b.legend(fontsize=7, loc="lower left")
    return fig


def plot_trajectories(bits: int = 8, update: float = 1e-3, steps: int = 500, runs: int = 200, seed: int = 0):
    """Nearest (left) and stochastic (right) trajectories side by side, same grid and update."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained", sharey=True)
    for ax, mode in zip(axes, ROUNDINGS):
        traj = simulate_updates(0.0, update, steps, INT_BITS, bits, mode, runs=runs if mode == "stochastic" else 1,
                                rng=np.random.default_rng(seed))
        draw_trajectories(ax, traj, 0.0, update, f"{mode}: Δ = 2^-{bits}, u = {update:g}")
    return fig


def plot_training_curves(histories: dict, key: str = "train_loss", ylabel: str = "training loss"):
    """One line per ``{label: history}`` (the dicts :func:`qnn_lite.train.fit` returns), ``history[key]`` per epoch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    for label, h in histories.items():
        ax.plot(np.arange(1, len(h[key]) + 1), h[key], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return fig


def plot_gradient_bias(bits: int = 2, draws: int = 2000, seed: int = 0):
    """Mean quantized gradient vs true gradient (max fixed at 1): deterministic (biased) vs DoReFa's noisy quantizer."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    g = np.linspace(-1, 1, 81).astype(np.float32)
    g_ref = np.concatenate([g, [1.0]]).astype(np.float32)            # pins max|g| = 1 in every draw
    det = deterministic_grad_quantize(g_ref, bits)[:-1]
    sto = np.mean([dorefa_grad(g_ref, bits, rng)[:-1] for _ in range(draws)], axis=0)
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    ax.plot(g, g, "k--", lw=1, label="exact")
    ax.plot(g, det, color="tab:orange", label="deterministic (rint)")
    ax.plot(g, sto, color="tab:blue", label=f"stochastic: mean of {draws} draws")
    ax.set_xlabel("gradient g (max |g| = 1)")
    ax.set_ylabel("E[quantized g]")
    ax.set_title(f"{bits}-bit gradient quantization", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_wag_table(labels, means, lows, highs):
    """Bar chart of test accuracy per W/A/G setting with min..max whiskers over seeds."""
    import matplotlib.pyplot as plt

    means, lows, highs = (np.asarray(v, dtype=float) for v in (means, lows, highs))
    fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
    x = np.arange(len(labels))
    ax.bar(x, means, color="tab:blue", alpha=0.8)
    ax.errorbar(x, means, yerr=[means - lows, highs - means], fmt="none", color="k", capsize=3)
    ax.set_xticks(x, labels)
    ax.set_xlabel("W / A / G bits")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(max(0.0, lows.min() - 10), 100)
    ax.set_title("test accuracy: mean over seeds, whiskers min..max", fontsize=10)
    return fig
