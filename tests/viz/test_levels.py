"""Chapter-07 widget and figures, driven without a browser: the readouts must follow the math."""
import numpy as np
import pytest

from qnn_lite.recipes.compare import SCHEMES, quantize_scheme
from qnn_lite.quantizers.metrics import mse
from qnn_lite.viz.levels import (levels_widget, plot_centroids, plot_levels, plot_mu_law,
                                 plot_pot_rounding, plot_scheme_grid)

N_LEVELS = {"uniform": lambda b: 2 ** b, "kmeans": lambda b: 2 ** b,
            "pot": lambda b: 2 ** b - 1, "mulaw": lambda b: 2 ** b - 1}


@pytest.fixture(scope="module")
def gauss():
    return np.random.default_rng(0).normal(0, 0.1, 2000).astype(np.float32)


@pytest.fixture(scope="module")
def widget(gauss):
    return levels_widget(gauss, bits=3, scheme="kmeans", min_bits=2, max_bits=6)


def _sweep(widget, scheme):
    widget.controls["scheme"].value = scheme
    out = []
    for b in widget.bit_range:
        widget.controls["bits"].value = b
        out.append((widget.readout["levels"], len(widget.level_lines.get_segments()),
                    widget.readout["mse"][scheme], widget.readout["sqnr_db"][scheme]))
    return out


@pytest.mark.parametrize("scheme", SCHEMES)
def test_drawn_levels_match_the_scheme_level_count(widget, scheme):
    for b, (n_readout, n_drawn, _, _) in zip(widget.bit_range, _sweep(widget, scheme)):
        assert n_readout == n_drawn == N_LEVELS[scheme](b)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_mse_falls_as_bits_rise(widget, scheme):
    m = [row[2] for row in _sweep(widget, scheme)]
    if scheme == "pot":  # more PoT bits only add smaller exponents: the error floors
        assert all(a >= b for a, b in zip(m, m[1:])) and m[0] > 2 * m[-1]
        assert m[-1] > 0.9 * m[-2]        # the floor is reached: the octave steps stay
    else:
        assert all(a > b for a, b in zip(m, m[1:]))


def test_kmeans_never_worse_than_uniform_on_bell_shaped_weights(widget):
    for b in widget.bit_range:
        widget.controls["bits"].value = b
        assert widget.readout["mse"]["kmeans"] <= widget.readout["mse"]["uniform"]


def test_readouts_follow_the_definitions(widget, gauss):
    widget.controls["scheme"].value = "uniform"
    widget.controls["bits"].value = 4
    r = widget.readout
    assert (r["scheme"], r["bits"]) == ("uniform", 4)
    # SQNR = 10 log10(mean w^2 / MSE)
    for s in SCHEMES:
        assert r["sqnr_db"][s] == pytest.approx(10 * np.log10(np.mean(gauss.astype(np.float64) ** 2) / r["mse"][s]))
    # the uniform MSE of a fine grid is about step^2 / 12
    step = (gauss.max() - gauss.min()) / 15
    assert r["mse"]["uniform"] == pytest.approx(step ** 2 / 12, rel=0.15)
    # the drawn lines sit exactly on the levels
    xs = np.sort([seg[0][0] for seg in widget.level_lines.get_segments()])
    np.testing.assert_allclose(xs, quantize_scheme(gauss, "uniform", 4)[1])
    assert "uniform, 4 bits: 16 levels" in widget.ax_hist.get_title()
    assert "<b>4 bits</b>" in widget.text.value


def test_uniform_sqnr_rises_about_6db_per_bit():
    w = np.random.default_rng(3).uniform(-1, 1, 4000).astype(np.float32)
    wd = levels_widget(w, bits=3, scheme="uniform", min_bits=3, max_bits=6)
    s = [row[3] for row in _sweep(wd, "uniform")]
    assert np.mean(np.diff(s)) == pytest.approx(6.02, abs=0.5)


def test_update_refreshes_a_display_handle(gauss):
    wd = levels_widget(gauss[:300], bits=2, scheme="pot", min_bits=2, max_bits=3)

    class Handle:
        shown = []

        def update(self, obj):
            self.shown.append(obj)

    wd._handle = Handle()
    wd.controls["bits"].value = 3
    assert Handle.shown == [wd.fig] and wd.readout["levels"] == 7


def test_widget_errors(gauss):
    with pytest.raises(ValueError, match="scheme"):
        levels_widget(gauss, scheme="log")
    with pytest.raises(ValueError, match="bits"):
        levels_widget(gauss, bits=9)
    with pytest.raises(ValueError, match="min_bits"):
        levels_widget(gauss, min_bits=1)
    with pytest.raises(ValueError, match="finite"):
        levels_widget(np.array([0.1, np.nan]))


# ----- static figures ---------------------------------------------------------------------------
def test_plot_levels_and_grid(gauss):
    lines = plot_levels(gauss, [-0.1, 0.0, 0.1])
    assert len(lines.get_segments()) == 3
    fig = plot_scheme_grid(gauss, 3)
    assert len(fig.axes) == 4
    counts = [len(ax.collections[-1].get_segments()) for ax in fig.axes]
    assert counts == [8, 7, 8, 7]
    w_hat = quantize_scheme(gauss, "kmeans", 3)[0]
    assert f"MSE {mse(gauss, w_hat):.2e}" in fig.axes[2].get_title()


def test_pot_rounding_switch_points():
    fig = plot_pot_rounding(bits=5, max_exp=2)
    ax = fig.axes[0]
    log_line, value_line = (next(l for l in ax.lines if l.get_label().startswith(p)) for p in ("log", "value"))

    def at(line, x):
        xs = line.get_xdata()
        return line.get_ydata()[np.argmin(np.abs(xs - x))]

    # log domain: 1.40 < sqrt 2 -> 1, 1.42 > sqrt 2 -> 2; value domain switches at 1.5
    assert at(log_line, 1.40) == 1 and at(log_line, 1.42) == 2
    assert at(value_line, 1.48) == 1 and at(value_line, 1.52) == 2
    assert at(log_line, 2.9) == 4 and at(value_line, 2.9) == 2


def test_mu_law_and_centroid_figures(gauss):
    fig = plot_mu_law(mus=(1.0, 255.0), bits=3)
    marks = fig.axes[1].lines
    assert [len(m.get_xdata()) for m in marks] == [7, 7]
    # mu = 255 packs its levels closer to 0 than mu = 1
    inner = [np.sort(np.abs(m.get_xdata()))[1] for m in marks]
    assert inner[1] < inner[0]
    fig = plot_centroids(gauss, {"a": [-0.1, 0.1], "b": [0.0, 0.05, 0.2]})
    assert [len(l.get_xdata()) for l in fig.axes[0].lines[1:]] == [2, 3]
