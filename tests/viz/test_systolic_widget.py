"""Chapter 10: the dataflow widget driven without a browser, the figures' data, integer layers on the arrays."""
import json
import os

import numpy as np
import pytest

from qnn_lite.hw import BitFusionArray, SystolicArray, estimate_cycles, products_per_cycle
from qnn_lite.viz.bitfusion import bitbrick_terms, plot_bitbrick_decomposition, throughput_table
from qnn_lite.viz.hardware import (cycle_agreement, energy_by_precision, plot_energy_bars, plot_roofline,
                                   plot_utilization_vs_array_size, roofline_table, utilization_vs_array_size)
from qnn_lite.recipes.hardware import integer_layer_on
from qnn_lite.viz.systolic import dataflow_widget

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "scalesim_cycles.json")
DATAFLOWS = ["ws", "os", "is"]


@pytest.fixture(scope="module")
def widget():
    return dataflow_widget(rows=4, cols=4, M=5, K=4, N=3, dataflow="ws")


def _orange(ax):
    return sum(1 for p in ax.patches if np.allclose(p.get_facecolor()[:3], (1.0, 0.498, 0.055), atol=1e-2))


# ------------------------------------------------------------------------- the widget
def test_reset_state_has_no_busy_pe(widget):
    for df in DATAFLOWS:
        widget.controls["dataflow"].value = df
        widget.controls["cycle"].value = 0
        r = widget.readout
        assert (r["busy"], r["macs_done"], r["phase"]) == (0, 0, "reset")
        assert _orange(widget.ax_grid) == 0


def test_last_cycle_has_done_every_mac_and_total_is_the_closed_form(widget):
    for df in DATAFLOWS:
        widget.controls["dataflow"].value = df
        widget.controls["cycle"].value = widget.controls["cycle"].max
        r = widget.readout
        assert r["macs_done"] == r["macs_total"] == 5 * 4 * 3
        assert r["total_cycles"] == estimate_cycles(5, 4, 3, 4, 4, df) == r["cycle"]
        assert r["correct"]


def test_switching_dataflow_changes_cycles_and_slider_range(widget):
    widget.controls["dataflow"].value = "ws"
    widget.controls["cycle"].value = widget.controls["cycle"].max        # 15 for WS
    widget.controls["dataflow"].value = "is"                            # 2 folds: 26 cycles
    assert widget.readout["total_cycles"] == estimate_cycles(5, 4, 3, 4, 4, "is") == 26
    assert widget.controls["cycle"].max == widget.controls["play"].max == 26
    assert widget.readout["cycle"] == 15                                 # the cycle is kept
    widget.controls["cycle"].value = 26
    widget.controls["dataflow"].value = "ws"                            # 15 < 26: the cycle is clamped
    assert widget.controls["cycle"].value == widget.readout["cycle"] == 15 == estimate_cycles(5, 4, 3, 4, 4, "ws")
    assert widget.controls["play"].max == 15 and widget.controls["play"].value <= 15
    assert len(widget.bars) == 15                                       # one bar per cycle


def test_ws_loads_the_stationary_tile_first(widget):
    widget.controls["dataflow"].value = "ws"
    for t in range(1, 5):                  # rows = 4 load cycles: nothing multiplies
        widget.controls["cycle"].value = t
        assert widget.readout["phase"] == "load" and widget.readout["busy"] == 0
    widget.controls["cycle"].value = 5     # first stream cycle: only PE (0, 0), A[0,0] * B[0,0]
    assert widget.readout["phase"] == "stream" and widget.readout["busy"] == 1
    C, rep = widget.runs["ws"]
    assert rep.trace["busy"][4, 0, 0] and tuple(rep.trace["mac"][4, 0, 0]) == (0, 0, 0)
    widget.controls["cycle"].value = 6     # the wavefront: PEs (0,1) and (1,0) join: 3 busy
    assert widget.readout["busy"] == 3


def test_os_has_no_load_phase_and_starts_at_once(widget):
    widget.controls["dataflow"].value = "os"
    widget.controls["cycle"].value = 1
    assert widget.readout["phase"] == "stream" and widget.readout["busy"] == 1


def test_macs_done_is_the_running_sum_and_grid_shows_busy_pes(widget):
    widget.controls["dataflow"].value = "ws"
    done = 0
    for t in range(widget.controls["cycle"].max + 1):
        widget.controls["cycle"].value = t
        done += widget.readout["busy"]
        assert widget.readout["macs_done"] == done
        assert _orange(widget.ax_grid) == widget.readout["busy"]
        assert 0 <= widget.readout["utilization"] == widget.readout["busy"] / 16


def test_step_advances_and_wraps(widget):
    widget.controls["dataflow"].value = "ws"
    widget.controls["cycle"].value = 3
    widget.step()
    assert widget.readout["cycle"] == 4
    widget.controls["cycle"].value = widget.controls["cycle"].max
    widget.controls["step"].click()
    assert widget.readout["cycle"] == 0


def test_readout_at_matches_the_driven_readout(widget):
    for df in DATAFLOWS:
        widget.controls["dataflow"].value = df
        for t in (0, 3, widget.controls["cycle"].max):
            widget.controls["cycle"].value = t
            assert widget.readout_at(df, t) == widget.readout
    with pytest.raises(ValueError, match="cycle"):
        widget.readout_at("ws", 16)                  # WS runs 15 cycles


def test_widget_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dataflow"):
        dataflow_widget(dataflow="rs")
    with pytest.raises(ValueError, match="rows"):
        dataflow_widget(rows=0)
    with pytest.raises(ValueError, match="cycle"):
        dataflow_widget(cycle=10_000)


# ------------------------------------------------------------ cycles vs SCALE-Sim golden
def test_cycle_agreement_with_scalesim_golden():
    cases = json.load(open(GOLDEN))["cases"]
    picked = [c for c in cases if (c["rows"], c["cols"]) in ((4, 4), (3, 5))]
    rows = cycle_agreement(picked)
    assert len(rows) == len(picked) > 20
    assert all(r["agree"] and r["simulated"] == r["scalesim"] + 1 for r in rows)
    bad = dict(picked[0], total_cycles=picked[0]["total_cycles"] + 1)   # an off-by-one table disagrees
    assert not cycle_agreement([bad])[0]["agree"]


# ------------------------------------------------------------------ utilisation figure
def test_utilization_hand_value_and_small_layer_underuses_big_arrays():
    u = utilization_vs_array_size(8, 8, 8, sizes=(8, 128), dataflows=("ws",))["ws"]
    assert u[0] == pytest.approx(512 / (64 * (2 * 8 + 8 + 8 - 2)))       # one fold of 30 cycles
    assert u[1] < u[0] / 50
    fig = plot_utilization_vs_array_size({"a": (64, 9, 8), "b": (16, 72, 16)}, sizes=(8, 16, 32, 64, 128))
    for ax in fig.axes:
        lines = ax.get_lines()
        assert len(lines) == 3 and all(len(ln.get_xdata()) == 5 for ln in lines)
    with pytest.raises(ValueError, match="sizes"):
        utilization_vs_array_size(4, 4, 4, sizes=(0,))


# --------------------------------------------------------------------------- bit-bricks
def test_bitbrick_terms_sum_to_the_product_for_every_signed_4bit_pair():
    for a in range(-8, 8):
        for w in range(-8, 8):
            terms = bitbrick_terms(a, w, 4, 4)
            assert len(terms) == 4 and sum(t["contribution"] for t in terms) == a * w
            assert all(-2 <= t["a_slice"] <= 3 and t["product"] == t["a_slice"] * t["w_slice"] for t in terms)


def test_bitbrick_terms_hand_example_and_other_widths():
    terms = {(t["s"], t["t"]): t for t in bitbrick_terms(-7, 6, 4, 4)}   # -7 = 10|01, 6 = 01|10
    assert (terms[1, 1]["a_slice"], terms[1, 1]["w_slice"], terms[1, 1]["contribution"]) == (-2, 1, -32)
    assert terms[0, 0]["contribution"] == 2 and terms[1, 0]["contribution"] == -16
    assert len(bitbrick_terms(-100, 77, 8, 8)) == 16
    assert sum(t["contribution"] for t in bitbrick_terms(-100, 77, 8, 8)) == -7700
    assert sum(t["contribution"] for t in bitbrick_terms(13, 3, 4, 2, a_signed=False, w_signed=False)) == 39
    with pytest.raises(ValueError, match="a must hold 4-bit"):
        bitbrick_terms(9, 1, 4, 4)


def test_bitbrick_figure_draws_four_bricks_per_panel():
    fig = plot_bitbrick_decomposition()
    assert [len(ax.patches) for ax in fig.axes] == [4, 4]
    assert "-42" in fig.axes[0].get_title() and "10" in fig.axes[1].get_title()


def test_throughput_table():
    tab = {(r["a_bits"], r["w_bits"]): r for r in throughput_table()}
    assert len(tab) == 16
    assert [tab[b, b]["pf"] for b in (8, 4, 2, 1)] == [1, 4, 16, 16]   # 1-bit uses a 2-bit slice
    for (a, w), r in tab.items():
        assert r["pf"] == products_per_cycle(a, w)
        if a >= 2 and w >= 2:
            assert r["pf"] == r["ideal"] == 64 / (a * w)


# ----------------------------------------------------------------------------- roofline
LAYERS = {"conv": ("conv", 1, 8, 8, 8, 3, 3, 1, 1), "mlp": ("gemm", 1, 64, 128)}


def test_roofline_table_intensity_scales_with_bits_and_bound_is_consistent():
    rows = roofline_table(LAYERS)
    assert len(rows) == 2 * 4 * 2
    I = {(r["layer"], r["bits"]): r["intensity"] for r in rows}
    for name in LAYERS:   # every tensor at the same width: intensity is inversely proportional to bits
        assert I[name, 4] == pytest.approx(2 * I[name, 8]) and I[name, 8] == pytest.approx(4 * I[name, 32])
    assert I["mlp", 32] == pytest.approx(2 * 64 * 128 / ((64 + 64 * 128 + 128) * 4))
    for r in rows:
        assert r["attainable"] <= r["peak"]
        assert (r["bound"] == "compute") == (r["attainable"] == r["peak"])
    with pytest.raises(ValueError, match="bits"):
        roofline_table(LAYERS, bits=(16,))


def test_roofline_plot_has_a_point_per_layer_and_precision():
    fig = plot_roofline(roofline_table(LAYERS))
    assert set(fig.points) == {"Tesla T4", "Zynq-7020"}
    assert all(len(v) == 2 * 4 for v in fig.points.values())


# ------------------------------------------------------------------------------- energy
def test_energy_falls_with_precision_and_bars_are_drawn():
    e = energy_by_precision(18432, 288, 1152, 256)
    totals = [e[f].total for f in ("fp32", "fp16", "int8", "int4", "int2", "int1")]
    assert all(a > b for a, b in zip(totals, totals[1:]))
    assert e["int8"].compute == pytest.approx(18432 * (0.2 + 0.1))      # Horowitz int8 mult + int32 add
    fig = plot_energy_bars(e)
    assert len(fig.axes[0].patches) == 6 and len(fig.axes[1].patches) == 3 * 6
    with pytest.raises(ValueError, match="formats"):
        energy_by_precision(1, 1, 1, 1, formats=("bf16",))


# ------------------------------------------------------------ integer layers on hardware
@pytest.fixture(scope="module")
def integer_model():
    from qnn_lite import nn
    from qnn_lite.data import DataLoader, load_digits
    from qnn_lite.transforms.fake_quant import default_qconfig
    from qnn_lite.transforms.integer import convert_to_integer
    from qnn_lite.transforms.ptq import ptq

    Xtr, ytr, Xte, _ = load_digits()
    Xtr, Xte = Xtr - 0.3, Xte - 0.3              # a non-zero input zero point exercises the correction
    nn.manual_seed(0)
    # stride 2 on a padded 10x10 input: SCALE-Sim's ceil() adds a partial 5th window that must be dropped
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                          nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    model.eval()
    qm = ptq(model, default_qconfig(per_channel=True), DataLoader(Xtr, ytr, 128), num_batches=2)
    return convert_to_integer(qm), Xte[:3]


def test_integer_layers_on_both_arrays_equal_the_integer_model(integer_model):
    im, X = integer_model
    q = im.quantize_input(X)
    assert im.in_qp.zero_point != 0
    seen = set()
    for _, layer in im.layers:
        if hasattr(layer, "w_q"):
            ref = layer(q)
            for hw in (SystolicArray(4, 4, "ws"), SystolicArray(3, 5, "os"), BitFusionArray(4, 4)):
                r = integer_layer_on(layer, q, hw)
                np.testing.assert_array_equal(r["out"], ref)
                assert r["out"].shape == ref.shape and r["acc"].shape == ref.shape
            seen.add(type(layer).__name__)
        q = layer(q)
    assert seen == {"IntegerConv2d", "IntegerLinear"}


def test_integer_layer_on_rejects_other_hardware(integer_model):
    im, X = integer_model
    with pytest.raises(TypeError, match="hw"):
        integer_layer_on(im.layers[0][1], im.quantize_input(X), "tpu")
