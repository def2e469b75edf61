"""Chapter 11's widget: per-layer bit-widths (by hand, or chosen by the allocator under a budget),
with the accuracy, size, BitOPs and the simulated BitFusion cycles / energy of the choice.

The library underneath is ``qnn_lite.transforms``: ``cost`` (the cost models), ``sensitivity``
(per-layer PTQ sensitivity, the allocator's score) and ``mixed_precision`` (allocation and QConfigs).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..hw.bitbrick import BitFusionArray
from ..transforms.ptq import ptq
from ..transforms.cost import layer_cost, layer_specs
from ..transforms.mixed_precision import allocate, allocation_qconfig, bit_options, cost_table, pareto_front
from ..transforms.sensitivity import evaluate_arrays, ptq_sensitivity
from ..validate import check_choice
from ._widget import FigureWidget

__all__ = ["MixedPrecisionWidget", "mixed_precision_widget", "plot_sensitivity", "plot_frontier", "plot_layer_values",
           "BUDGET_METRICS"]

BUDGET_METRICS = ("bitops", "cycles", "size")
SHOWN = ("size", "bitops", "cycles", "energy")


def _label(o) -> str:
    return f"w{o[0]}/a{o[1]}"


def _short(name: str) -> str:
    """A tick label: ``features.block4.conv.1.0`` -> ``block4.1``, ``features.stem.0`` -> ``stem``."""
    parts = [p for p in name.split(".") if p not in ("features", "conv")]
    if len(parts) > 1 and parts[-1] == "0":
        parts = parts[:-1]
    return ".".join(parts)


def _ticks(ax, names) -> None:
    ax.set_xticks(np.arange(len(names)), [_short(n) for n in names], rotation=90 if len(names) > 8 else 0,
                  fontsize=7 if len(names) > 8 else 9)


class MixedPrecisionWidget(FigureWidget):
    """One ``w/a`` selector per Conv2d / Linear of ``model``, or a budget slider driving the allocator.

    ``X, y``: the evaluation arrays; ``calib``: inputs for PTQ calibration (default ``X``);
    ``bits``: the widths offered (every ``(w, a)`` pair, or only ``w == a`` if ``tie``); ``sensitivity``: ``{layer: {(w, a): score}}``
    (default: ``ptq_sensitivity(...).table("delta_loss")`` on ``X, y``); ``array``: the
    ``BitFusionArray`` that runs the network (16 x 16).

    ``controls``: ``{"mode": ToggleButtons("manual", "budget"), "metric": Dropdown(BUDGET_METRICS),
    "method": Dropdown("dp", "greedy"), "budget": FloatSlider`` (share of the all-highest-bits cost)
    ``, "<layer>": Dropdown of (w, a) per layer}``. In ``"budget"`` mode moving the budget, metric or
    method re-runs the allocator and sets the layer selectors. ``readout``: ``{"bits", "accuracy",
    "float_accuracy", "size", "bitops", "cycles", "energy", "per_layer"}`` with ``per_layer[name] =
    {metric: cost}``, plus ``"budget"`` and ``"score"`` in budget mode. ``fig``: left the bits per layer
    (weights, activations), right each layer's share of the BitOPs and of the cycles.
    """

    def __init__(self, model, X, y, calib=None, bits=(2, 4, 8), sensitivity=None, array=None,
                 mode: str = "manual", metric: str = "bitops", budget: float = 0.5, method: str = "dp",
                 tie: bool = False):
        import ipywidgets as widgets

        self.model, self.X, self.y = model, np.asarray(X, np.float32), np.asarray(y)
        self.calib = self.X if calib is None else np.asarray(calib, np.float32)
        self.array = array or BitFusionArray()
        self.options = bit_options(bits, tie)
        self.specs = layer_specs(model, self.X[:1])
        self.names = [s.name for s in self.specs]
        self.costs = {m: cost_table(self.specs, self.options, m, array=self.array) for m in SHOWN}
        self.sensitivity = sensitivity if sensitivity is not None else \
            ptq_sensitivity(model, self.X, self.y, self.options, self.calib).table("delta_loss")
        self.float_accuracy = evaluate_arrays(model, self.X, self.y)[1]
        self._cache: dict = {}
        top = max(self.options)
        self.controls = {
            "mode": widgets.ToggleButtons(options=["manual", "budget"], value=check_choice(mode, "mode", ("manual", "budget"))),
            "metric": widgets.Dropdown(options=list(BUDGET_METRICS), value=check_choice(metric, "metric", BUDGET_METRICS),
                                       description="budget in"),
            "method": widgets.Dropdown(options=["dp", "greedy"], value=check_choice(method, "method", ("dp", "greedy")),
                                       description="allocator"),
            "budget": widgets.FloatSlider(min=0.0, max=1.0, step=0.01, value=float(budget),
                                          description="budget", readout_format=".0%"),
        }
        for n in self.names:
            self.controls[n] = widgets.Dropdown(options=[(_label(o), o) for o in self.options], value=top,
                                                description=_short(n), layout=widgets.Layout(width="210px"))
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox([self.controls[k] for k in ("mode", "metric", "method")]),
                                 self.controls["budget"], widgets.GridBox([self.controls[n] for n in self.names],
                                                                layout=widgets.Layout(grid_template_columns="repeat(4, 220px)")),
                                 self.text])
        self.fig = Figure(figsize=(10, 3.2), layout="constrained")
        self.ax_bits, self.ax_cost = self.fig.subplots(1, 2)
        self.readout: dict = {}
        self._busy = False
        for k, c in self.controls.items():
            c.observe(lambda change, k=k: self._changed(k), names="value")
        self._changed("mode")

    # ----- reacting to the controls
    def _bounds(self, metric):
        t = self.costs[metric]
        return sum(min(t[n].values()) for n in self.names), sum(max(t[n].values()) for n in self.names)

    def budget_value(self) -> float:
        """The budget in the metric's units: ``cheapest + slider * (all-highest - cheapest)``."""
        lo, hi = self._bounds(self.controls["metric"].value)
        return lo + self.controls["budget"].value * (hi - lo)

    def _changed(self, key) -> None:
        if self._busy:
            return
        if self.controls["mode"].value == "budget" and key in ("mode", "metric", "method", "budget"):
            metric = self.controls["metric"].value
            alloc = allocate(self.sensitivity, self.costs[metric], self.budget_value(), self.controls["method"].value)
            self._busy = True
            try:
                for n, o in alloc.bits.items():
                    self.controls[n].value = o
            finally:
                self._busy = False
            self._alloc = alloc
        elif key in self.names:
            self.controls["mode"].value = "manual"   # touching a layer takes over from the allocator
        self.update()

    def accuracy_of(self, bits: dict) -> float:
        """Test accuracy of ``ptq(model, allocation_qconfig(bits), [calib])`` (cached per allocation)."""
        key = tuple(bits[n] for n in self.names)
        if key not in self._cache:
            qm = ptq(self.model, allocation_qconfig(bits, model=self.model), [self.calib])
            self._cache[key] = evaluate_arrays(qm, self.X, self.y)[1]
        return self._cache[key]

    def update(self) -> None:
        bits = {n: self.controls[n].value for n in self.names}
        per_layer = {s.name: {m: layer_cost(s, *bits[s.name], m, array=self.array) for m in SHOWN}
                     for s in self.specs}
        r = {"bits": bits, "accuracy": self.accuracy_of(bits), "float_accuracy": self.float_accuracy,
             "per_layer": per_layer, **{m: sum(p[m] for p in per_layer.values()) for m in SHOWN}}
        if self.controls["mode"].value == "budget":
            r["budget"], r["score"] = self.budget_value(), self._alloc.score
        self.readout = r
        self._draw()
        self._refresh()

    def _draw(self) -> None:
        r, x = self.readout, np.arange(len(self.names))
        ax = self.ax_bits
        ax.clear()
        ax.bar(x - 0.2, [r["bits"][n][0] for n in self.names], 0.4, label="weight bits", color="tab:blue")
        ax.bar(x + 0.2, [r["bits"][n][1] for n in self.names], 0.4, label="input bits", color="tab:orange")
        _ticks(ax, self.names)
        ax.set_yticks(sorted({b for o in self.options for b in o}))
        ax.set_xlabel("layer")
        ax.legend(fontsize=8)
        ax.set_title(f"accuracy {r['accuracy']:.1%} (float {r['float_accuracy']:.1%})", fontsize=9)
        ax = self.ax_cost
        ax.clear()
        for k, (m, c) in enumerate((("bitops", "tab:green"), ("cycles", "tab:red"))):
            share = [r["per_layer"][n][m] / r[m] for n in self.names]
            ax.bar(x + (k - 0.5) * 0.4, share, 0.4, label=m, color=c)
        _ticks(ax, self.names)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of the network")
        ax.legend(fontsize=8)
        ax.set_title(f"{r['size'] / 8e3:.2f} kB, {r['bitops'] / 1e6:.2f} M BitOPs, {r['cycles']} cycles, "
                     f"{r['energy'] / 1e6:.2f} µJ", fontsize=9)
        self.text.value = (f"accuracy <b>{r['accuracy']:.1%}</b> · size {r['size']} bits · BitOPs {r['bitops']} · "
                           f"BitFusion cycles {r['cycles']} · energy {r['energy'] / 1e6:.3f} µJ")


def mixed_precision_widget(model, X, y, **kwargs) -> MixedPrecisionWidget:
    """Build a :class:`MixedPrecisionWidget` (see its docstring for the arguments)."""
    return MixedPrecisionWidget(model, X, y, **kwargs)


# ----- the chapter's static figures ---------------------------------------------------------------
def plot_sensitivity(table: dict, options=None, ylabel: str = "loss increase", figsize=(8, 3)) -> Figure:
    """Grouped bars: for each layer of ``table = {layer: {(w, a): value}}`` one bar per option
    (``options``, default every option of the first layer), layers along x."""
    names = list(table)
    options = list(options or table[names[0]])
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(options)
    x = np.arange(len(names))
    for k, o in enumerate(options):
        ax.bar(x + (k - (len(options) - 1) / 2) * width, [table[n][o] for n in names], width, label=_label(o))
    _ticks(ax, names)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(fontsize=7, ncol=min(len(options), 5))
    return fig


def plot_frontier(points: list, metrics=("bitops", "cycles"), figsize=(10, 3.4)) -> Figure:
    """Accuracy against cost, one panel per metric: ``points`` are rows with ``"kind"`` (``"uniform"``
    or ``"mixed"``), ``"accuracy"`` and each metric (``recipes.mixed_precision.frontier_points``);
    the Pareto frontier of each panel is drawn as a step line."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, m in zip(axes, metrics):
        for kind, marker, color in (("uniform", "o", "tab:blue"), ("mixed", "^", "tab:red")):
            pts = [p for p in points if p["kind"] == kind]
            ax.scatter([p[m] for p in pts], [p["accuracy"] for p in pts], marker=marker, color=color, label=kind)
        front = pareto_front([p[m] for p in points], [-p["accuracy"] for p in points])
        ax.step([points[i][m] for i in front], [points[i]["accuracy"] for i in front], where="post", color="0.4",
                lw=1, label="Pareto frontier")
        costs = [p[m] for p in points]
        if max(costs) > 10 * min(costs) > 0:
            ax.set_xscale("log")
        ax.set_xlabel({"bitops": "BitOPs", "cycles": "BitFusion cycles"}.get(m, m))
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
    return fig


def plot_layer_values(values: dict, errors: dict | None = None, ylabel: str = "", highlight=(),
                      figsize=(8, 2.8)) -> Figure:
    """One bar per layer of ``values = {layer: number}`` with optional ``errors = {layer: +-}`` as error
    bars; layers in ``highlight`` (e.g. the depthwise ones) drawn in another colour."""
    names = list(values)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(names))
    colors = ["tab:orange" if n in highlight else "tab:blue" for n in names]
    ax.bar(x, [values[n] for n in names], 0.7, color=colors,
           yerr=None if errors is None else [errors[n] for n in names], capsize=2)
    _ticks(ax, names)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_ylabel(ylabel)
    return fig
