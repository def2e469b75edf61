"""Chapter 04's figures and widget: what each observer clips, and what that does to accuracy.

* :data:`OBSERVERS` — the five calibration observers of ``qnn_lite.quantizers`` by short name.
* :func:`observer_ranges` — run every observer over one tensor; clip range, ``(s, z)`` and the
  fake-quant MSE each choice gives.
* :func:`plot_observer_ranges` — those ranges drawn over the tensor's histogram (log counts).
* :func:`calibration_widget` — observer, activation bits, calibration set and layer → the chosen
  range over that layer's histogram, its scale / zero point, and the PTQ accuracy. Everything is
  computed when the widget is built, so moving a control only redraws. Drive it without a browser::

      w = calibration_widget(model, {"clean": X_cal}, test_loader)
      w.controls["bits"].value = 4          # update() runs on every change
      w.readout["clip_range"], w.readout["scale"], w.readout["accuracy"]

Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot, so a notebook
shows each once (the cell's value) and nothing leaks between cells.

The activations the widget shows are recorded by :mod:`qnn_lite.transforms.record`
(``activation_samples``: what the observers see during calibration).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure

from ..transforms.fake_quant import FakeQuantize, QConfig, default_qconfig
from ..quantizers.histogram import HistogramObserver
from ..quantizers.observers import (MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                    PercentileObserver)
from ..transforms.ptq import fuse_modules
from ..transforms.record import activation_quantizers, ptq_from_samples, record_activations
from ..quantizers.uniform import calc_qparams, fake_quantize
from ..train import evaluate
from ._widget import FigureWidget
from ..validate import check_bits

__all__ = ["OBSERVERS", "WIDGET_OBSERVERS", "remembering_range", "observer_ranges", "plot_observer_ranges", "CalibrationWidget", "calibration_widget"]

OBSERVERS = OrderedDict([
    ("min-max", (MinMaxObserver, {})),
    ("moving average", (MovingAverageMinMaxObserver, {"averaging_constant": 0.01})),
    ("percentile 99.99", (PercentileObserver, {"percentile": 99.99})),
    ("MSE", (MSEObserver, {"num_candidates": 100})),
    ("histogram", (HistogramObserver, {})),
])
"""name -> (observer class, keyword arguments); every observer is built with ``bits``, ``signed=False``."""

_COLORS = {"min-max": "tab:gray", "moving average": "tab:purple", "percentile 99.99": "tab:green",
           "MSE": "tab:red", "histogram": "tab:blue"}


def remembering_range(cls):
    """A subclass ``Remembering<cls>`` whose ``clip_range()`` is computed once per batch of new data.

    The widget asks each observer for its range twice (``calculate_qparams`` when the model is
    converted, then for the readout); the MSE and histogram searches are the slow part, so the
    widget's observers keep the answer until ``forward`` sees new data or ``reset`` is called.
    """

    class Remembering(cls):
        def reset(self):
            super().reset()
            self._range = None

        def _observe(self, x):
            self._range = None
            super()._observe(x)

        def clip_range(self):
            if self._range is None:
                self._range = super().clip_range()
            return self._range

    Remembering.__name__ = Remembering.__qualname__ = f"Remembering{cls.__name__}"
    return Remembering


WIDGET_OBSERVERS = {name: remembering_range(cls) for name, (cls, _) in OBSERVERS.items()}
"""name -> the observer class the widget builds (``remembering_range`` of ``OBSERVERS[name][0]``)."""


def _observer_names(observers):
    names = list(OBSERVERS) if observers is None else list(observers)
    bad = [n for n in names if n not in OBSERVERS]
    if bad or not names:
        raise ValueError(f"observers must be a non-empty list of names from {list(OBSERVERS)}, got {observers!r}")
    return names


def observer_ranges(x, bits: int = 8, observers=None, num_batches: int = 10, signed: bool = False) -> list[dict]:
    """Feed ``x`` to each observer in ``num_batches`` equal chunks (in order); one row per observer.

    Row: ``observer``, ``lo``, ``hi`` (``clip_range()``), ``scale``, ``zero_point``, ``mse`` =
    ``mean((fake_quantize(x) - x)**2)``, ``clipped`` = fraction of ``x`` outside the grid,
    ``mse_inside`` = the MSE over the values the grid covers (the rounding part).
    ``x``: any shape, finite. Observers see float32.
    """
    x = np.asarray(getattr(x, "data", x), dtype=np.float32).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"x must be a non-empty finite array, got {x.size} values "
                         f"with {int((~np.isfinite(x)).sum()) if x.size else 0} non-finite")
    bits = check_bits(bits, "bits", 2)
    if isinstance(num_batches, bool) or not isinstance(num_batches, (int, np.integer)) \
            or not 1 <= num_batches <= x.size:
        raise ValueError(f"num_batches must be an int in 1..{x.size}, got {num_batches!r}")
    rows = []
    x64 = x.astype(np.float64)
    for name in _observer_names(observers):
        cls, kw = OBSERVERS[name]
        obs = cls(bits=bits, signed=signed, **kw)
        for chunk in np.array_split(x, int(num_batches)):
            obs(chunk)
        lo, hi = obs.clip_range()
        s, z = calc_qparams(lo, hi, obs.quant_min, obs.quant_max)
        xq = fake_quantize(x, s, z, obs.quant_min, obs.quant_max).astype(np.float64)
        glo, ghi = (obs.quant_min - int(z)) * float(s), (obs.quant_max - int(z)) * float(s)
        inside = (x64 >= glo - float(s) / 2) & (x64 <= ghi + float(s) / 2)
        rows.append({"observer": name, "lo": float(lo), "hi": float(hi), "scale": float(s), "zero_point": int(z),
                     "mse": float(np.mean((xq - x64) ** 2)), "clipped": float(1 - inside.mean()),
                     "mse_inside": float(np.mean((xq[inside] - x64[inside]) ** 2)) if inside.any() else 0.0})
    return rows


def plot_observer_ranges(x, rows, ax=None, title: str | None = None, bins: int = 200):
    """Histogram of ``x`` (log counts) with each row's clip range ``[lo, hi]`` as a coloured bracket."""
    x = np.asarray(getattr(x, "data", x), dtype=np.float32).ravel()
    if ax is None:
        ax = Figure(figsize=(8, 3), layout="constrained").subplots()
    counts, edges = np.histogram(x, bins=bins)
    ax.stairs(counts, edges, fill=True, color="0.75")
    ax.set_yscale("log")
    top = counts.max() * 3
    for i, r in enumerate(rows):
        y, c = top * 0.5 ** (i + 1), _COLORS.get(r["observer"], f"C{i}")
        ax.plot([r["lo"], r["hi"]], [y, y], color=c, lw=2, label=f"{r['observer']}: [{r['lo']:.2f}, {r['hi']:.2f}]")
        ax.vlines([r["lo"], r["hi"]], y / 1.4, y * 1.4, color=c, lw=2)
        ax.axvline(r["hi"], color=c, lw=0.8, ls=":")
    ax.set_ylim(0.5, top * 1.5)
    ax.set_xlabel("activation value")
    ax.set_ylabel("count")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _layer_labels(model, names) -> dict:
    """Readable names for the activation quantizers: ``"input"``, ``"2: after ReLU"``, ``"9: Linear output"``."""
    mods = dict(fuse_modules(model).named_modules())
    out = {}
    for n in names:
        if n == "quant_in":
            out[n] = "input"
        elif type(mods.get(n)).__name__ == "ReLU":
            out[n] = f"{n}: after ReLU"
        else:
            out[n] = f"{n}: {type(mods.get(n)).__name__} output"
    return out


class CalibrationWidget(FigureWidget):
    """Observer, activation bits, calibration set and layer → clip range on the histogram, qparams, accuracy.

    Built from a trained float ``model`` (BatchNorm folded by ``ptq``), ``calibration_sets``
    (``{name: inputs (N, ...)}``, fed in order in batches of ``batch_size``) and a ``test_loader``.
    For every calibration set, observer (:data:`OBSERVERS`) and activation bit width in
    ``bits_options`` it runs PTQ once at build time, with
    weights ``w_bits`` symmetric (per channel if ``per_channel``) and activations unsigned affine
    with that observer, and stores the test accuracy and every activation quantizer's clip range,
    scale and zero point (``self.results[(calibration, observer, bits)]``).

    ``controls``: ``{"observer": Dropdown, "bits": SelectionSlider(bits_options), "calibration":
    Dropdown, "layer": Dropdown}``; every change calls :meth:`update`. ``readout``: ``{"observer",
    "bits", "calibration", "layer", "clip_range" (lo, hi) from the observer, "scale", "zero_point",
    "grid" (the lowest / highest representable values), "accuracy", "float_accuracy"}``.
    ``layer_labels``: readable layer names (``"input"``, ``"2: after ReLU"``, ...). ``fig``: left the
    layer's activation histogram (log counts) with the min-max range, the chosen range and, up to 64
    of them, the quantization levels; right accuracy against bits for every observer, the current
    point ringed.
    """

    def __init__(self, model, calibration_sets: dict, test_loader, observers=None, bits_options=(2, 3, 4, 5, 6, 8),
                 w_bits: int = 8, per_channel: bool = True, observer: str | None = None, bits: int | None = None,
                 layer: str | None = None, batch_size: int = 64, bins: int = 120):
        import ipywidgets as widgets

        if not isinstance(calibration_sets, dict) or not calibration_sets:
            raise ValueError(f"calibration_sets must be a non-empty dict {{name: inputs}}, got {calibration_sets!r}")
        self.observers = _observer_names(observers)
        if not isinstance(bits_options, (tuple, list)) or not bits_options:
            raise ValueError(f"bits_options must be a non-empty tuple of ints in 2..16, got {bits_options!r}")
        self.bits_options = tuple(sorted({check_bits(b, "bits_options[i]", 2) for b in bits_options}))
        observer = self.observers[0] if observer is None else observer
        bits = self.bits_options[-1] if bits is None else bits
        for arg, v, allowed in (("observer", observer, self.observers), ("bits", bits, self.bits_options)):
            if v not in allowed:
                raise ValueError(f"{arg} must be one of {list(allowed)}, got {v!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.w_bits, self.per_channel = check_bits(w_bits, "w_bits", 2), bool(per_channel)
        self.float_accuracy = evaluate(model, test_loader)
        self.calibration_sets = {k: np.asarray(getattr(v, "data", v), np.float32) for k, v in calibration_sets.items()}
        # ----- precompute: activations and histograms per (set, layer), PTQ per (set, observer, bits)
        per_batch = {c: record_activations(model, [X[i:i + batch_size] for i in range(0, len(X), batch_size)])
                     for c, X in self.calibration_sets.items()}
        self.samples = {c: OrderedDict((n, np.concatenate([b[n] for b in pb])) for n in pb[0])
                        for c, pb in per_batch.items()}
        self.layers = list(next(iter(self.samples.values())))
        self.layer_labels = _layer_labels(model, self.layers)
        layer = self.layers[-2 if len(self.layers) > 1 else 0] if layer is None else layer
        if layer not in self.layers:
            raise ValueError(f"layer must be one of {self.layers}, got {layer!r}")
        self.hist = {(c, n): np.histogram(a, bins=bins) for c, s in self.samples.items() for n, a in s.items()}
        weight = default_qconfig(self.w_bits, 8, self.per_channel).weight
        self.results = {(c, name, b): self._run(model, test_loader, per_batch[c], weight, name, b)
                        for c in self.calibration_sets for name in self.observers for b in self.bits_options}
        # ----- controls
        sets = list(self.calibration_sets)
        self.controls = {
            "observer": widgets.Dropdown(options=self.observers, value=observer, description="observer"),
            "bits": widgets.SelectionSlider(options=list(self.bits_options), value=bits, description="act. bits"),
            "calibration": widgets.Dropdown(options=sets, value=sets[0], description="calib. set"),
            "layer": widgets.Dropdown(options=[(self.layer_labels[n], n) for n in self.layers], value=layer,
                                      description="layer"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())[:2]),
                                 widgets.HBox(list(self.controls.values())[2:]), self.text])
        self.fig = Figure(figsize=(10, 3.2), layout="constrained")
        self.ax_hist, self.ax_acc = self.fig.subplots(1, 2, width_ratios=(3, 2))
        self.readout: dict = {}
        for ctl in self.controls.values():
            ctl.observe(lambda change: self.update(), names="value")
        self.update()

    @staticmethod
    def _run(model, test_loader, per_batch, weight, name, bits) -> dict:
        """PTQ with ``name``'s observer at ``bits``: test accuracy and every activation quantizer's range."""
        act = FakeQuantize.with_args(observer=WIDGET_OBSERVERS[name], bits=bits, signed=False, **OBSERVERS[name][1])
        qm = ptq_from_samples(model, QConfig(weight=weight, activation=act), per_batch)
        ranges = OrderedDict()
        for n, fq in activation_quantizers(qm).items():
            lo, hi = fq.observer.clip_range()
            s, z = float(fq.scale), int(fq.zero_point)
            ranges[n] = {"clip_range": (float(lo), float(hi)), "scale": s, "zero_point": z,
                         "grid": ((fq.quant_min - z) * s, (fq.quant_max - z) * s)}
        return {"accuracy": evaluate(qm, test_loader), "ranges": ranges}

    def accuracy(self, calibration: str, observer: str, bits: int) -> float:
        """The precomputed PTQ test accuracy of one setting."""
        return self.results[(calibration, observer, bits)]["accuracy"]

    def update(self) -> None:
        """Read the controls, look the precomputed numbers up and redraw."""
        o, b = self.controls["observer"].value, self.controls["bits"].value
        c, n = self.controls["calibration"].value, self.controls["layer"].value
        res = self.results[(c, o, b)]
        r = res["ranges"][n]
        self.readout = {"observer": o, "bits": b, "calibration": c, "layer": n, "clip_range": r["clip_range"],
                        "scale": r["scale"], "zero_point": r["zero_point"], "grid": r["grid"],
                        "accuracy": res["accuracy"], "float_accuracy": self.float_accuracy}
        # left: histogram with the min-max range and the chosen one
        ax = self.ax_hist
        ax.clear()
        counts, edges = self.hist[(c, n)]
        ax.stairs(counts, edges, fill=True, color="0.75")
        ax.set_yscale("log")
        mm = self.samples[c][n]
        ax.axvspan(float(mm.min()), float(mm.max()), color="0.5", alpha=0.12, label="min-max range")
        lo, hi = r["clip_range"]
        col = _COLORS.get(o, "tab:red")
        g_lo, g_hi = r["grid"]
        n_levels = int(round((g_hi - g_lo) / r["scale"])) + 1
        if n_levels <= 64:  # the quantization levels themselves, when few enough to see
            ax.vlines(g_lo + r["scale"] * np.arange(n_levels), 0.5, counts.max() * 3, color=col, lw=0.6, alpha=0.35)
        ax.axvline(lo, color=col, lw=2)
        ax.axvline(hi, color=col, lw=2, label=f"{o}: [{lo:.3g}, {hi:.3g}]")
        ax.set_ylim(0.5, counts.max() * 3)
        ax.set_xlabel(f"activation at {self.layer_labels[n]}")
        ax.set_ylabel("count")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"{c}: {o}, {b}-bit activations, s = {r['scale']:.3g}, z = {r['zero_point']}", fontsize=9)
        # right: accuracy vs bits for every observer
        ax = self.ax_acc
        ax.clear()
        for name in self.observers:
            acc = [self.accuracy(c, name, bb) for bb in self.bits_options]
            ax.plot(self.bits_options, acc, "o-", ms=3, lw=2.5 if name == o else 1,
                    color=_COLORS.get(name), alpha=1 if name == o else 0.6, label=name)
        ax.axhline(self.float_accuracy, color="k", ls="--", lw=0.8, label="float")
        ax.plot([b], [res["accuracy"]], "o", ms=11, mfc="none", mec="k")
        ax.set_xlabel("activation bits")
        ax.set_ylabel("test accuracy")
        ax.set_xticks(self.bits_options)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"PTQ, W{self.w_bits} {'per-channel' if self.per_channel else 'per-tensor'}: "
                     f"accuracy {res['accuracy']:.2%}", fontsize=9)
        self.text.value = (f"<b>clip range</b> [{lo:.4g}, {hi:.4g}] &nbsp; <b>scale</b> {r['scale']:.4g} &nbsp; "
                           f"<b>zero point</b> {r['zero_point']} &nbsp; <b>accuracy</b> {res['accuracy']:.2%} "
                           f"(float {self.float_accuracy:.2%})")
        self._refresh()


def calibration_widget(model, calibration_sets: dict, test_loader, **kwargs) -> CalibrationWidget:
    """Build the chapter-04 widget (see :class:`CalibrationWidget` for the arguments and readouts)."""
    return CalibrationWidget(model, calibration_sets, test_loader, **kwargs)
