"""Chapter-03 widget and figures, driven without a browser: the readouts must follow the math."""
import math

import numpy as np
import pytest

from qnn_lite.quantizers.metrics import quant_error
from qnn_lite.recipes.sqnr import sqnr_table
from qnn_lite.quantizers.uniform import calc_qparams, qrange
from qnn_lite.viz.uniform import (plot_channel_ranges, plot_clipping_curve, plot_error_histogram,
                                  plot_integer_grid, plot_sqnr_vs_bits, uniform_widget)


@pytest.fixture(scope="module")
def unequal():
    """A (16, 64) 'weight' whose channel ranges differ by 100x."""
    rng = np.random.default_rng(0)
    return (rng.normal(0, 1, (16, 64)) * np.geomspace(0.02, 2, 16)[:, None]).astype(np.float32)


@pytest.fixture(scope="module")
def widget(unequal):
    return uniform_widget(unequal, bits=4)


def _set(w, **values):
    for k, v in values.items():
        w.controls[k].value = v
    return dict(w.readout)


def test_sqnr_rises_6db_per_bit_on_a_wide_tensor():
    w = np.random.default_rng(1).uniform(-1, 1, (8, 2000)).astype(np.float32)
    wd = uniform_widget(w, bits=4)
    s = [_set(wd, bits=b)["sqnr_db"] for b in range(4, 9)]
    assert np.all(np.abs(np.diff(s) - 6.02) < 0.5)
    assert np.mean(np.diff(s)) == pytest.approx(6.02, abs=0.5)


def test_per_channel_mse_not_above_per_tensor(widget):
    for scheme in ("affine", "symmetric"):
        for b in (2, 4, 8):
            pt = _set(widget, scheme=scheme, bits=b, per_channel=False, clip=1.0)
            pc = _set(widget, per_channel=True)
            assert pc["mse"] <= pt["mse"]
            assert pc["per_channel"] and not pt["per_channel"]
    # the grids drawn per-channel: the widest channel's grid is wider than the narrowest's
    g = {k: np.array([seg[0][0] for seg in v.get_segments()]) for k, v in widget.grid_lines.items()}
    assert set(g) == {"widest", "narrowest"}
    assert np.ptp(g["widest"]) > 10 * np.ptp(g["narrowest"])


def test_shrinking_the_clip_range_shows_clipping_error(widget):
    full = _set(widget, scheme="affine", bits=6, per_channel=False, clip=1.0)
    assert full["clipping_mse"] == 0 and full["clipped_fraction"] == 0
    prev = full
    for c in (0.9, 0.7, 0.5, 0.3):
        r = _set(widget, clip=c)
        assert r["clipping_mse"] > prev["clipping_mse"]
        assert r["clipped_fraction"] > prev["clipped_fraction"]
        assert r["rounding_mse"] < prev["rounding_mse"] or prev is full   # a smaller range, a finer step
        prev = r
    assert "clipping" in widget.text.value and f"{prev['clipped_fraction']:.2%}" in widget.text.value
    # the red (clipped) bars of the error histogram appear
    assert sum(p.get_height() for p in widget.ax_err.containers[1]) > 0


def test_readouts_follow_the_definitions(widget, unequal):
    r = _set(widget, scheme="affine", bits=3, per_channel=False, clip=0.8)
    ref = quant_error(unequal, bits=3, clip=0.8)
    assert r["mse"] == ref["mse"] and r["sqnr_db"] == ref["sqnr_db"] and r["levels"] == 8
    assert r["sqnr_db"] == pytest.approx(10 * math.log10(np.mean(unequal.astype(np.float64) ** 2) / r["mse"]))
    assert r["mse"] == pytest.approx(r["rounding_mse"] + r["clipping_mse"])
    # the drawn lines sit exactly on the grid (q - z) s of the clipped range
    quant_min, quant_max = qrange(3)
    s, z = calc_qparams(np.float32(0.8) * unequal.min(), np.float32(0.8) * unequal.max(), quant_min, quant_max)
    xs = np.sort([seg[0][0] for seg in widget.grid_lines["tensor"].get_segments()])
    np.testing.assert_allclose(xs, (np.arange(quant_min, quant_max + 1) - z) * float(s), rtol=1e-6)
    assert "affine, 3 bits, per-tensor, clip 0.80" in widget.ax_hist.get_title()


def test_symmetric_grid_is_symmetric_and_affine_wins_on_relu_outputs():
    act = np.maximum(np.random.default_rng(2).normal(0, 1, (4, 5000)), 0).astype(np.float32)
    wd = uniform_widget(act, bits=8)
    sym = _set(wd, scheme="symmetric")
    xs = np.sort([seg[0][0] for seg in wd.grid_lines["tensor"].get_segments()])
    np.testing.assert_allclose(xs, -xs[::-1], atol=1e-6)
    assert sym["levels"] == 255
    aff = _set(wd, scheme="affine")
    assert aff["sqnr_db"] - sym["sqnr_db"] == pytest.approx(6.02, abs=0.5)   # the zero point buys one bit


def test_update_refreshes_a_display_handle(unequal):
    wd = uniform_widget(unequal)

    class Handle:
        n = 0

        def update(self, fig):
            Handle.n += 1

    wd._handle = Handle()
    wd.controls["bits"].value = 5
    assert Handle.n == 1


def test_bad_arguments():
    w = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="bits"):
        uniform_widget(w, bits=9)
    with pytest.raises(ValueError, match="scheme"):
        uniform_widget(w, scheme="log")
    with pytest.raises(ValueError, match="clip"):
        uniform_widget(w, clip=0.0)
    with pytest.raises(ValueError, match="axis"):
        uniform_widget(w, ch_axis=3)
    with pytest.raises(ValueError, match="ndim"):
        uniform_widget(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="w must be a non-empty finite array"):
        uniform_widget(np.array([[1.0, np.nan]], np.float32))


def test_static_figures():
    ax, levels = plot_integer_grid(0.0, 6.0, bits=3)
    assert levels.size == 8 and levels.min() == 0 and levels.max() == pytest.approx(6.0)   # z puts 0 on a level
    ax, levels = plot_integer_grid(-1.0, 3.0, bits=2, symmetric=True)
    assert 0.0 in levels and len(ax.texts) == 4 + 1                          # a code label per level, "0"
    a = np.linspace(1, 4, 7)
    m = (a - 2.5) ** 2 + 0.1
    ax = plot_clipping_curve(a, m, rounding=m / 2, clipping=m / 2, theory=m)
    assert "optimum 2.50" in ax.texts[0].get_text()
    with pytest.raises(ValueError, match="alphas"):
        plot_clipping_curve(a, m[:3])
    fig = plot_sqnr_vs_bits(sqnr_table(np.linspace(-1, 1, 1000, dtype=np.float32), bits=range(2, 5)))
    assert len(fig.axes[0].lines) == 3
    w = np.stack([np.linspace(-1, 1, 10), np.linspace(-0.1, 0.2, 10)]).astype(np.float32)
    ax = plot_channel_ranges(w)
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx([0.3, 2.0])


def test_error_histogram_counts_and_marks_half_steps():
    x = np.random.default_rng(5).normal(0, 1, 1000).astype(np.float32)
    r = quant_error(x, bits=3, clip=0.5)
    ax = plot_error_histogram(x, r["x_hat"], clipped=r["clipped"], step=float(r["scale"]))
    blue, red = ax.containers
    assert sum(p.get_height() for p in blue) == int((~r["clipped"]).sum())
    assert sum(p.get_height() for p in red) == int(r["clipped"].sum()) > 0   # stacked bars: red counts its own
    assert sorted(l.get_xdata()[0] for l in ax.lines) == pytest.approx([-float(r["scale"]) / 2, float(r["scale"]) / 2])
    with pytest.raises(ValueError, match="clipped"):
        plot_error_histogram(x, r["x_hat"], clipped=np.zeros(3, bool))
