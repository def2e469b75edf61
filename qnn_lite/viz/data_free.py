"""Chapter 12's widget: calibrator x calibration data x bits -> one activation's histogram with every
calibrator's threshold drawn, and the PTQ accuracy of the chosen combination.

* :data:`CALIBRATORS` — name -> (observer class, keyword arguments), ``qnn_lite.quantizers`` and
  ``qnn_lite.quantizers.calibration`` observers.
* :func:`thresholds` — each calibrator's clip range on one tensor (fed in one batch).
* :class:`DataFreeWidget` / :func:`data_free_widget` — the widget; everything is precomputed on
  construction (activations recorded once per data source, PTQ per combination through
  ``ptq_from_samples``), so moving a control only redraws.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..transforms.fake_quant import FakeQuantize, QConfig
from ..quantizers.observers import MinMaxObserver, MSEObserver, PercentileObserver
from ..transforms.record import activation_samples, ptq_from_samples, record_activations
from ..quantizers.calibration import ACIQObserver, KLObserver
from ..train import evaluate
from ..validate import check_choice
from ._widget import FigureWidget

__all__ = ["CALIBRATORS", "thresholds", "DataFreeWidget", "data_free_widget"]

CALIBRATORS = OrderedDict([
    ("min-max", (MinMaxObserver, {})),
    ("percentile 99.99", (PercentileObserver, {"percentile": 99.99})),
    ("MSE", (MSEObserver, {})),
    ("KL (TensorRT)", (KLObserver, {})),
    ("ACIQ", (ACIQObserver, {})),
])
_COLORS = dict(zip(CALIBRATORS, ["tab:gray", "tab:green", "tab:red", "tab:blue", "tab:orange"]))


def thresholds(x, bits: int = 8, calibrators=None) -> "OrderedDict[str, tuple]":
    """name -> ``(lo, hi)``: each calibrator's clip range on ``x`` (unsigned ``bits``-bit range)."""
    out = OrderedDict()
    for name in (calibrators or CALIBRATORS):
        cls, kw = CALIBRATORS[check_choice(name, "calibrator", list(CALIBRATORS))]
        obs = cls(bits=bits, signed=False, **kw)
        obs(np.asarray(x, np.float32))
        lo, hi = obs.clip_range()
        out[name] = (float(lo), float(hi))
    return out


class DataFreeWidget(FigureWidget):
    """Pick calibrator / data source / activation bits; see the histogram, the thresholds, the accuracy.

    ``sources``: name -> calibration inputs ``(N, ...)`` (e.g. real images, noise, ZeroQ, DSG);
    ``test_loader``: what accuracy is measured on; weights stay ``w_bits`` per-tensor min-max;
    ``calibrators``: a subset of :data:`CALIBRATORS` names (default all).
    ``controls``: ``{"calibrator", "source", "bits"}`` widgets; ``readout``: the current ``accuracy``,
    ``threshold`` (the chosen calibrator's ``hi``), ``thresholds`` (all), ``layer``; :meth:`update`
    redraws (every control change calls it).
    """

    def __init__(self, model, sources: dict, test_loader, bits_options=(4, 6, 8), w_bits: int = 8,
                 layer: str | None = None, calibrator: str = "KL (TensorRT)", calibrators=None):
        import ipywidgets as widgets
        import matplotlib.pyplot as plt

        if not isinstance(sources, dict) or not sources:
            raise ValueError(f"sources must be a non-empty dict name -> inputs, got {type(sources).__name__}")
        self.calibrators = list(CALIBRATORS) if calibrators is None else \
            [check_choice(c, "calibrators[i]", list(CALIBRATORS)) for c in calibrators]
        check_choice(calibrator, "calibrator", self.calibrators)
        self.bits_options = tuple(bits_options)
        self.records = {s: record_activations(model, [np.asarray(x, np.float32)]) for s, x in sources.items()}
        first = next(iter(self.records.values()))[0]
        names = [n for n in first if n != "quant_in"]
        self.layer = names[0] if layer is None else check_choice(layer, "layer", names)
        self.accuracy = {}
        for s, rec in self.records.items():
            for b in self.bits_options:
                for name in self.calibrators:
                    cls, kw = CALIBRATORS[name]
                    act = FakeQuantize.with_args(observer=cls, bits=b, signed=False, **kw)
                    weight = FakeQuantize.with_args(observer=MinMaxObserver, bits=w_bits, signed=True,
                                                    symmetric=True)
                    qm = ptq_from_samples(model, QConfig(weight=weight, activation=act), rec)
                    self.accuracy[(s, name, b)] = float(evaluate(qm, test_loader))
        self.controls = {
            "calibrator": widgets.Dropdown(options=self.calibrators, value=calibrator, description="calibrator"),
            "source": widgets.Dropdown(options=list(sources), value=next(iter(sources)), description="data"),
            "bits": widgets.SelectionSlider(options=list(self.bits_options), value=self.bits_options[-1],
                                            description="act. bits"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())), self.text])
        self.fig, self.ax = plt.subplots(figsize=(7, 3.2))
        plt.close(self.fig)
        for c in self.controls.values():
            c.observe(lambda _change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        cal, src, bits = (self.controls[k].value for k in ("calibrator", "source", "bits"))
        x = self.records[src][0][self.layer]
        ths = thresholds(x, bits, self.calibrators)
        ax = self.ax
        ax.clear()
        ax.hist(x, bins=120, color="0.75", log=True)
        for name, (_, hi) in ths.items():
            ax.axvline(hi, color=_COLORS[name], lw=3 if name == cal else 1, ls="-" if name == cal else "--",
                       label=f"{name}: {hi:.2f}")
        ax.set_xlabel(f"activation at {self.layer} ({src})")
        ax.set_ylabel("count (log)")
        ax.legend(fontsize=7, loc="upper right")
        acc = self.accuracy[(src, cal, bits)]
        self.readout = {"accuracy": acc, "threshold": ths[cal][1], "thresholds": ths, "layer": self.layer}
        self.text.value = f"<b>{cal}</b>, {src} data, A{bits}: clip at {ths[cal][1]:.3f}, accuracy {acc:.3f}"
        self._refresh()


def data_free_widget(model, sources: dict, test_loader, **kwargs) -> DataFreeWidget:
    """Build a :class:`DataFreeWidget` (see there)."""
    return DataFreeWidget(model, sources, test_loader, **kwargs)
