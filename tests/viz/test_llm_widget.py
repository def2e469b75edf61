"""Chapter 13's weight-only quantization widget, driven without a browser."""
import numpy as np
import pytest

from qnn_lite.quantizers.groupwise import bits_per_weight
from qnn_lite.recipes.llm_tables import setup as llm_setup  # not `setup`: pytest 7 would call a module-level setup()
from qnn_lite.transforms.llm_quant import layer_sqnr, quantize_tinygpt
from qnn_lite.viz.llm import llm_quant_widget, model_bits_per_weight
from qnn_lite.zoo.gpt import evaluate_lm


@pytest.fixture(scope="module")
def widget():
    model, run, val = llm_setup()
    return model, run, val, llm_quant_widget(model, run, val, method="rtn", bits=4, group_size=128,
                                             new_tokens=16, eval_windows=4)


def test_controls_drive_perplexity_sqnr_and_sample(widget):
    model, run, val, w = widget
    w.controls["method"].value = "gptq"
    w.controls["bits"].value = 3
    w.controls["group_size"].value = 64
    r = w.readout
    assert (r["method"], r["bits"], r["group_size"]) == ("gptq", 3, 64)
    q = quantize_tinygpt(model, "gptq", run, bits=3, group_size=64)
    assert r["ppl"] == pytest.approx(evaluate_lm(q, val, 4)["ppl"])
    assert r["sqnr"] == pytest.approx(layer_sqnr(model, q))
    assert r["bits_per_weight"] == pytest.approx(bits_per_weight(3, 64))   # every layer: 3 + 19/64
    assert r["ppl"] > r["float_ppl"]
    assert len(r["sample"]) == 16 and r["sample"] != ""
    heights = [p.get_height() for p in w.ax.patches]
    assert heights == pytest.approx([r["sqnr"][n] for n in w.names])
    assert "GPTQ int3, group 64" in w.ax.get_title()


def test_more_bits_raise_every_layers_sqnr(widget):
    model, run, val, w = widget
    w.controls["method"].value = "rtn"
    w.controls["group_size"].value = 128
    w.controls["bits"].value = 3
    low = dict(w.readout["sqnr"])
    w.controls["bits"].value = 8
    high = w.readout["sqnr"]
    assert all(high[n] > low[n] + 20 for n in low)        # ~6 dB per bit
    assert w.readout["ppl"] == pytest.approx(w.readout["float_ppl"], rel=0.01)


def test_per_channel_bits_per_weight_averages_over_layer_widths(widget):
    model, run, val, w = widget
    w.controls["group_size"].value = None
    w.controls["bits"].value = 4
    # per block: c_attn 384x128, attn c_proj 128x128, c_fc 512x128 (g = 128), mlp c_proj 128x512 (g = 512)
    n128, n512 = 384 * 128 + 128 * 128 + 512 * 128, 128 * 512
    want = (n128 * (4 + 20 / 128) + n512 * (4 + 20 / 512)) / (n128 + n512)
    assert w.readout["bits_per_weight"] == pytest.approx(want)
    assert model_bits_per_weight(model, 4, None) == pytest.approx(want)
    assert "per-channel" in w.ax.get_title()


def test_bad_arguments_are_rejected(widget):
    model, run, val, _ = widget
    with pytest.raises(ValueError, match="method"):
        llm_quant_widget(model, run, val, method="smoothquant")
    with pytest.raises(ValueError, match="group_size"):
        llm_quant_widget(model, run, val, group_size=48)
