"""Chapter 05 estimator widget and figures, driven without a browser: the readouts follow the math."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qnn_lite.recipes.experiments import coin_ste, learn_clip  # noqa: E402
from qnn_lite.viz.estimators import (estimator_curves, estimator_readout, estimator_widget,  # noqa: E402
                                     plot_clip_learning, plot_coin_ste, plot_dorefa_weight,
                                     plot_estimators, plot_lsq_step_grad, plot_qat_curves,
                                     plot_round_gradient)


@pytest.fixture(scope="module")
def widget():
    return estimator_widget(estimator="clipped")


def _pick(w, name, **params):
    w.controls["estimator"].value = name
    for k, v in params.items():
        w.controls[k].value = v
    return w.readout


def test_identity_backward_is_one_everywhere(widget):
    r = _pick(widget, "identity")
    np.testing.assert_array_equal(widget.curves["backward"], 1.0)
    assert r["grad_at_0"] == 1.0 and r["peak"] == 1.0
    assert r["area"] == pytest.approx(6.0)           # the whole window [-3, 3]
    assert r["width"] == pytest.approx(6.0)
    np.testing.assert_allclose(widget.curves["surrogate"], widget.x, atol=1e-9)  # surrogate of identity is x


def test_clipped_backward_zero_outside_unit_interval(widget):
    r = _pick(widget, "clipped")
    x, g = widget.curves["x"], widget.curves["backward"]
    assert np.all(g[np.abs(x) > 1] == 0)
    assert np.all(g[np.abs(x) < 0.999] == 1)
    assert r["width"] == pytest.approx(2.0, abs=0.005)
    assert r["area"] == pytest.approx(2.0, abs=0.005)   # = the jump of sign from -1 to +1
    s = widget.curves["surrogate"]                       # hardtanh
    np.testing.assert_allclose(s, np.clip(x, -1, 1), atol=2e-3)


def test_bireal_peak_two_at_zero_triangle(widget):
    r = _pick(widget, "approx_sign")
    assert r["grad_at_0"] == pytest.approx(2.0) and r["peak"] == pytest.approx(2.0)
    assert r["area"] == pytest.approx(2.0, abs=1e-3)     # triangle: base 2, height 2
    x, g = widget.curves["x"], widget.curves["backward"]
    i = int(np.argmin(np.abs(x - 0.5)))
    assert g[i] == pytest.approx(1.0, abs=1e-3)          # 2 - 2 * 0.5
    assert np.all(g[np.abs(x) > 1] == 0)


@pytest.mark.parametrize("t, k", [(3.0, 1.0), (0.5, 2.0), (10.0, 1.0)])
def test_ede_peak_is_k_times_t(widget, t, k):
    r = _pick(widget, "ede", t=t, k=k)
    assert r["t"] == pytest.approx(t) and r["k"] == pytest.approx(k)
    assert r["grad_at_0"] == pytest.approx(k * t, rel=1e-6)
    assert r["peak"] == pytest.approx(k * t, rel=1e-6)
    # area = k (tanh(3t) - tanh(-3t)) on [-3, 3]; width where sech^2(t x) >= 0.01: 2 acosh(10) / t
    assert r["area"] == pytest.approx(2 * k * np.tanh(3 * t), rel=1e-4)
    assert r["width"] == pytest.approx(min(2 * np.arccosh(10) / t, 6.0), abs=0.005)


def test_ede_larger_t_narrows_the_curve(widget):
    widths = [_pick(widget, "ede", t=t, k=1.0)["width"] for t in (1.0, 2.0, 4.0, 8.0)]
    assert all(a > b for a, b in zip(widths, widths[1:]))
    assert widths[0] / widths[1] == pytest.approx(2.0, rel=0.01)


def test_swish_peak_is_beta_and_area_is_signswish_rise(widget):
    def signswish(x, beta):       # BNN+'s forward surrogate: 2 sigmoid(bx) (1 + bx (1 - sigmoid(bx))) - 1
        sg = 1 / (1 + np.exp(-beta * x))
        return 2 * sg * (1 + beta * x * (1 - sg)) - 1

    for beta in (2.0, 5.0, 10.0):
        r = _pick(widget, "swish_sign", beta=beta)
        assert r["grad_at_0"] == pytest.approx(beta, rel=1e-6)
        assert r["area"] == pytest.approx(signswish(3.0, beta) - signswish(-3.0, beta), abs=1e-4)
        np.testing.assert_allclose(widget.curves["surrogate"], signswish(widget.x, beta), atol=1e-4)
        assert widget.curves["backward"].min() < 0                 # SignSwish overshoots: g dips below 0 ...
        assert widget.ax_b.get_ylim()[0] < widget.curves["backward"].min()   # ... and the plot shows it


def test_sliders_enabled_only_for_their_estimator(widget):
    _pick(widget, "ede")
    assert not widget.controls["t"].disabled and not widget.controls["k"].disabled
    assert widget.controls["beta"].disabled
    _pick(widget, "clipped")
    assert all(widget.controls[p].disabled for p in ("t", "k", "beta"))
    assert "beta" not in widget.readout and "t" not in widget.readout


def test_round_identity_forward_is_rint(widget):
    _pick(widget, "round_identity")
    np.testing.assert_array_equal(widget.curves["forward"], np.rint(widget.x))
    assert widget.readout["grad_at_0"] == 1.0


def test_figure_and_text_follow_the_controls(widget):
    _pick(widget, "approx_sign")
    line = widget.ax_b.lines[0]
    np.testing.assert_allclose(line.get_ydata(), widget.curves["backward"])
    assert "approx_sign" in widget.ax_f.get_title()
    assert "g(0) = 2.000" in widget.text.value
    _pick(widget, "clipped")
    assert "g(0) = 1.000" in widget.text.value


def test_display_handles_are_refreshed(widget):
    calls = []

    class Handle:
        def update(self, obj):
            calls.append(obj)

    widget._fig_handle, widget._text_handle = Handle(), Handle()
    try:
        _pick(widget, "identity")
        assert len(calls) == 2 and calls[0] is widget.fig
    finally:
        widget._fig_handle = widget._text_handle = None


def test_readout_hand_computed():
    x = np.array([-1.0, 0.0, 1.0, 2.0])
    g = np.array([0.0, 1.0, 1.0, 0.005])
    r = estimator_readout(x, g)
    assert r == {"grad_at_0": 1.0, "peak": 1.0, "width": 1.0, "area": pytest.approx(0.5 + 1.0 + 0.5025)}
    assert estimator_readout(x, np.zeros(4))["width"] == 0.0


def test_bad_arguments_are_named():
    x = np.linspace(-1, 1, 5)
    with pytest.raises(ValueError, match="name must be one of"):
        estimator_curves("nope", x)
    with pytest.raises(ValueError, match="takes parameters"):
        estimator_curves("clipped", x, t=2.0)
    with pytest.raises(ValueError, match="x must be a 1-d increasing"):
        estimator_curves("clipped", x[::-1])
    with pytest.raises(ValueError, match="t must be a number > 0.0"):
        estimator_curves("ede", x, t=0.0, k=1.0)
    with pytest.raises(ValueError, match="estimator must be one of"):
        estimator_widget(estimator="sigmoid")


def test_static_figures_draw_what_they_say():
    fig = plot_estimators()
    assert len(fig.axes) == 10
    assert np.max(fig.axes[7].lines[0].get_ydata()) == pytest.approx(2.0)   # approx_sign backward peak
    plt.close(fig)
    fig = plot_lsq_step_grad(bits=3)
    v, ds = fig.axes[1].lines[0].get_data()
    quant_min, quant_max = -4, 3
    assert np.all(ds[v < quant_min - 0.5] == quant_min) and np.all(ds[v > quant_max + 0.5] == quant_max)
    inside = (v > quant_min + 0.01) & (v < quant_max - 0.01)
    np.testing.assert_allclose(ds[inside], np.rint(v[inside]) - v[inside], atol=1e-6)
    plt.close(fig)
    rows = {"linear": [coin_ste(p, lambda q: 3 * q, lambda q: 3 + 0 * q, n=100) for p in (0.2, 0.8)]}
    fig = plot_coin_ste([0.2, 0.8], rows)
    assert list(fig.axes[0].lines[0].get_ydata()) == [3.0, 3.0]
    plt.close(fig)
    fig = plot_clip_learning({"pact": learn_clip("pact", steps=3, n=64)})
    assert fig.axes[0].lines[0].get_ydata()[0] == 10.0
    plt.close(fig)
    w = np.random.default_rng(0).normal(size=200)
    fig = plot_dorefa_weight(w, bits=(2,))
    levels = np.unique(np.round(fig.axes[0].lines[1].get_ydata().astype(np.float64), 4))
    np.testing.assert_allclose(levels, [-1.0, -1 / 3, 1 / 3, 1.0], atol=1e-4)   # 2 bits: 2i/3 - 1
    plt.close(fig)
    fig = plot_qat_curves({"from_scratch": [0.5, 0.6], "after_ptq": [0.7, 0.8, 0.9], "fp32": 0.95})
    assert list(fig.axes[0].lines[1].get_xdata()) == [0, 1, 2]
    plt.close(fig)
    fig = plot_round_gradient()
    assert np.all(fig.axes[0].lines[1].get_ydata() == 0)
    plt.close(fig)
