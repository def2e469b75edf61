"""Chapter 13's widget and figures: weight-only quantization of the tiny GPT (RTN, GPTQ, AWQ).

``llm_quant_widget(model, run, val)``: pick a method, a bit-width and a group size; see the
validation perplexity, the real bits per weight (scales and zero points included), the SQNR of
every Linear's weight and a greedy completion of a prompt. The figures: per-channel activation
magnitudes per layer, and perplexity against bits per weight.
The library underneath is ``qnn_lite.transforms.llm_quant`` (``quantize_tinygpt``, ``layer_sqnr``).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..data.text import decode, encode
from ..quantizers.groupwise import bits_per_weight
from ..transforms.capture import get_module, linear_names
from ..transforms.llm_quant import layer_sqnr, quantize_tinygpt
from ..validate import check_choice, check_int
from ..zoo.gpt import evaluate_lm, generate
from ._widget import FigureWidget

__all__ = ["LLMQuantWidget", "llm_quant_widget", "model_bits_per_weight", "plot_channel_magnitudes",
           "plot_ppl_vs_bits", "WIDGET_METHODS", "GROUP_SIZES"]

WIDGET_METHODS = ("rtn", "gptq", "awq")
GROUP_SIZES = (32, 64, 128, None)           # None: one group per output row (per-channel)


def model_bits_per_weight(model, bits: int, group_size: int | None) -> float:
    """Storage per weight over every Linear of ``model``: $b + (16 + b) / g$ per layer, weighted by size
    (``group_size=None``: $g$ = the layer's ``in_features``)."""
    total = cost = 0.0
    for name in linear_names(model):
        w = get_module(model, name).weight
        total += w.size
        cost += w.size * bits_per_weight(bits, group_size, in_features=w.shape[1])
    return cost / total


def _short(name: str) -> str:
    return name[2:] if name.startswith("h.") else name


class LLMQuantWidget(FigureWidget):
    """Weight-only quantization of a TinyGPT, driven by three controls.

    ``controls``: ``{"method": Dropdown(WIDGET_METHODS), "bits": IntSlider(2..8),
    "group_size": Dropdown(32, 64, 128, per-channel)}``. ``readout``: ``{"method", "bits",
    "group_size", "ppl", "float_ppl", "bits_per_weight", "sqnr": {layer: dB}, "sample",
    "float_sample"}``. ``fig``: the SQNR of each Linear's weight (bars). Results are cached per
    setting. ``run(model)`` feeds the calibration batch (GPTQ and AWQ need it); perplexity is on
    the first ``eval_windows`` windows of ``val``; the sample is a greedy completion of ``prompt``.
    """

    def __init__(self, model, run, val, prompt: str = "The if statement", new_tokens: int = 48,
                 method: str = "gptq", bits: int = 4, group_size: int | None = 128, eval_windows: int = 16):
        import ipywidgets as widgets

        self.model, self.run, self.val = model, run, np.asarray(val)
        self.prompt, self.new_tokens = prompt, check_int(new_tokens, "new_tokens", 1)
        self.eval_windows = check_int(eval_windows, "eval_windows", 1)
        self.names = linear_names(model)
        self.float_ppl = evaluate_lm(model, self.val, self.eval_windows)["ppl"]
        self.float_sample = self.complete(model)
        self._cache: dict = {}
        check_choice(group_size, "group_size", GROUP_SIZES)
        self.controls = {
            "method": widgets.Dropdown(options=list(WIDGET_METHODS), value=check_choice(method, "method", WIDGET_METHODS),
                                       description="method"),
            "bits": widgets.IntSlider(min=2, max=8, value=check_int(bits, "bits", 2, 8), description="bits"),
            "group_size": widgets.Dropdown(options=[(str(g) if g else "per-channel", g) for g in GROUP_SIZES],
                                           value=group_size, description="group size"),
        }
        self.text = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox(list(self.controls.values())), self.text])
        self.fig = Figure(figsize=(10, 3), layout="constrained")
        self.ax = self.fig.subplots()
        self.readout: dict = {}
        for c in self.controls.values():
            c.observe(lambda change: self.update(), names="value")
        self.update()

    def complete(self, model) -> str:
        """The greedy continuation of ``prompt`` (the new characters only)."""
        ids = generate(model, encode(self.prompt), self.new_tokens, temperature=0)
        return decode(ids[len(self.prompt):])

    def result(self, method: str, bits: int, group_size):
        """``(ppl, sqnr per layer, sample)`` of one setting (cached)."""
        key = (method, bits, group_size)
        if key not in self._cache:
            q = quantize_tinygpt(self.model, method, self.run, bits=bits, group_size=group_size)
            self._cache[key] = (evaluate_lm(q, self.val, self.eval_windows)["ppl"], layer_sqnr(self.model, q),
                                self.complete(q))
        return self._cache[key]

    def update(self) -> None:
        m, b, g = (self.controls[k].value for k in ("method", "bits", "group_size"))
        ppl, sqnr, sample = self.result(m, b, g)
        self.readout = {"method": m, "bits": b, "group_size": g, "ppl": ppl, "float_ppl": self.float_ppl,
                        "bits_per_weight": model_bits_per_weight(self.model, b, g), "sqnr": sqnr,
                        "sample": sample, "float_sample": self.float_sample}
        self._draw()
        self._refresh()

    def _draw(self) -> None:
        r, ax = self.readout, self.ax
        ax.clear()
        x = np.arange(len(self.names))
        ax.bar(x, [r["sqnr"][n] for n in self.names], color="tab:blue")
        ax.set_xticks(x, [_short(n) for n in self.names], rotation=60, fontsize=7)
        ax.set_ylabel("weight SQNR (dB)")
        ax.set_ylim(0, 60)
        gs = r["group_size"] or "per-channel"
        ax.set_title(f"{r['method'].upper()} int{r['bits']}, group {gs}: {r['bits_per_weight']:.3f} bits/weight, "
                     f"perplexity {r['ppl']:.3f} (float {r['float_ppl']:.3f})", fontsize=9)
        esc = (lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "⏎"))
        self.text.value = (f"perplexity <b>{r['ppl']:.3f}</b> (float {r['float_ppl']:.3f}) · "
                           f"{r['bits_per_weight']:.3f} bits/weight<br><code>{esc(self.prompt)}</code>"
                           f"<br>float: <code>{esc(r['float_sample'])}</code><br>quantized: <code>{esc(r['sample'])}</code>")


def llm_quant_widget(model, run, val, **kwargs) -> LLMQuantWidget:
    """Build a :class:`LLMQuantWidget` (see its docstring for the arguments)."""
    return LLMQuantWidget(model, run, val, **kwargs)


# ----- the chapter's static figures ---------------------------------------------------------------
def plot_channel_magnitudes(absmax: dict, names, figsize=(10, 3.2)) -> Figure:
    """One panel per Linear in ``names``: the max |x| of each input channel (sorted by channel index)."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names), sharey=True))
    for ax, n in zip(axes, names):
        a = absmax[n]
        ax.bar(np.arange(a.size), a, width=1.0, color="tab:blue")
        ax.axhline(np.median(a), color="tab:red", lw=1, label="median")
        ax.set_title(f"{n}\nmax/median {a.max() / np.median(a):.2f}", fontsize=8)
        ax.set_xlabel("input channel", fontsize=8)
    axes[0].set_ylabel("max |x| over tokens")
    axes[0].legend(fontsize=7)
    return fig


def plot_ppl_vs_bits(rows, figsize=(7, 3.4)) -> Figure:
    """Perplexity against bits per weight, one line per method (rows of ``weight_only_table``)."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for m, c in (("rtn", "tab:blue"), ("awq", "tab:green"), ("gptq", "tab:red")):
        pts = sorted((r["bits/weight"], r["ppl"]) for r in rows if r["method"] == m)
        if pts:
            ax.plot(*zip(*pts), "o-", color=c, label=m.upper())
    fl = [r["ppl"] for r in rows if r["method"] == "float"]
    if fl:
        ax.axhline(fl[0], color="k", ls="--", lw=1, label="float")
    ax.set_xlabel("bits per weight (codes + fp16 scale + zero point)")
    ax.set_ylabel("validation perplexity")
    ax.legend(fontsize=8)
    return fig
