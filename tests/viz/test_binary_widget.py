"""Chapter-06 widget and figures, driven without a browser: the readouts must follow IR-Net's EDE math."""
import math

import numpy as np
import pytest

from qnn_lite.quantizers.ste import ESTIMATORS, ede_schedule
from qnn_lite.viz.binary import (ede_widget, ede_width, plot_estimators, plot_ternary, plot_xnor_error,
                                 surrogate)


@pytest.fixture(scope="module")
def widget():
    return ede_widget(epochs=10, epoch=0)


def test_epoch_0_backward_is_flat_identity_like(widget):
    widget.controls["epoch"].value = 0
    r = widget.readout
    assert (r["t"], r["k"]) == pytest.approx((0.1, 10.0))   # IR-Net's T_min = 0.1 (Qin et al., 2020)
    assert r["peak"] == pytest.approx(1.0)               # k t = 1
    y = widget.line.get_ydata()
    # 1 - tanh^2(0.1 x): 1 at 0, 1 - tanh^2(0.15) = 0.9780 at |x| = 1.5
    assert y.max() == pytest.approx(1.0) and y.min() == pytest.approx(1 - math.tanh(0.15) ** 2, rel=1e-4)
    assert r["slope_at_1"] == pytest.approx(1 - math.tanh(0.1) ** 2, rel=1e-6)   # 0.9901
    assert r["width"] == pytest.approx(2 * math.atanh(math.sqrt(0.99)) / 0.1)    # 59.9


def test_last_epoch_backward_is_a_narrow_spike_of_height_10(widget):
    widget.controls["epoch"].value = 10
    r = widget.readout
    assert (r["t"], r["k"], r["peak"]) == pytest.approx((10.0, 1.0, 10.0))
    y, x = widget.line.get_ydata(), widget.x
    assert y.max() == pytest.approx(10.0) and x[np.argmax(y)] == pytest.approx(0.0, abs=1e-12)
    assert r["width"] == pytest.approx(2 * math.atanh(math.sqrt(0.99)) / 10)   # 0.599
    assert np.all(y[np.abs(x) > r["width"] / 2 + 1e-9] < 0.01 * 10)          # outside: < 1 % of peak
    assert r["slope_at_1"] < 1e-6


def test_readouts_follow_ede_schedule_at_every_epoch(widget):
    peaks, widths = [], []
    for e in range(11):
        widget.controls["epoch"].value = e
        t, k = ede_schedule(e, 10)
        r = widget.readout
        assert r["epoch"] == e and (r["t"], r["k"]) == pytest.approx((t, k))
        assert r["peak"] == pytest.approx(max(t, 1.0))                      # k t = max(t, 1)
        np.testing.assert_allclose(widget.line.get_ydata(), k * t * (1 - np.tanh(t * widget.x) ** 2), rtol=1e-5)
        peaks.append(r["peak"])
        widths.append(r["width"])
    assert all(a <= b + 1e-9 for a, b in zip(peaks, peaks[1:])) and all(a > b for a, b in zip(widths, widths[1:]))
    assert "t = 10" in widget.ax_b.get_title() and "epoch 10" in widget.text.value


def test_mid_schedule_t_is_one_by_hand():
    w = ede_widget(epochs=4, epoch=2)           # t = 10^(-1 + 2 * 2/4) = 1
    assert (w.readout["t"], w.readout["k"], w.readout["peak"]) == pytest.approx((1.0, 1.0, 1.0))


@pytest.mark.parametrize("kwargs, match", [(dict(epochs=0), "epochs"), (dict(epochs=3, epoch=4), "epoch"),
                                           (dict(t_min=0.0), "t_min"), (dict(x_max=-1.0), "x_max")])
def test_widget_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ede_widget(**kwargs)


@pytest.mark.parametrize("t", [0.01, 1.0, 10.0])
def test_ede_width_is_where_the_slope_is_one_percent_of_peak(t):
    half = ede_width(t) / 2
    assert 1 - math.tanh(t * half) ** 2 == pytest.approx(0.01)
    with pytest.raises(ValueError, match="rel"):
        ede_width(t, rel=1.0)


@pytest.mark.parametrize("name, params", [("identity", {}), ("clipped", {}), ("approx_sign", {}),
                                          ("ede", {"t": 2.0, "k": 1.5}), ("swish_sign", {"beta": 5.0})])
def test_surrogate_derivative_is_the_estimator_backward(name, params):
    x = np.array([-1.7, -0.8, -0.3, 0.2, 0.6, 1.4])      # away from the kinks at 0 and +-1
    h = 1e-5
    fd = (surrogate(name, x + h, **params) - surrogate(name, x - h, **params)) / (2 * h)
    np.testing.assert_allclose(ESTIMATORS[name].slope(x, **params), fd, rtol=1e-4, atol=1e-6)


def test_surrogates_saturate_at_plus_minus_one():
    for name in ("clipped", "approx_sign", "swish_sign"):
        np.testing.assert_allclose(surrogate(name, np.array([-5.0, 5.0])), [-1, 1], atol=1e-6)
    with pytest.raises(ValueError, match="estimator must be one of"):
        surrogate("round", np.zeros(2))


def test_xnor_error_plot_marks_mean_abs_w():
    w = np.random.default_rng(0).laplace(0, 0.2, 500)
    fig = plot_xnor_error(w, n_alpha=2001)
    line, marker = fig.axes[0].lines[:2]
    step = line.get_xdata()[1]
    assert abs(marker.get_xdata()[0] - np.abs(w).mean()) <= step
    with pytest.raises(ValueError, match="w"):
        plot_xnor_error(np.array([np.nan]))


def test_estimator_and_ternary_figures_draw_what_they_are_given():
    fig = plot_estimators(names=("clipped", "approx_sign"))
    assert [len(ax.lines) for ax in fig.axes] == [3, 2]
    w = np.random.default_rng(1).normal(0, 1, 400)
    q = np.where(np.abs(w) > 0.7, np.sign(w), 0.0)
    fig = plot_ternary(w, {"T": q}, {"T": [-0.7, 0.7]})
    ax = fig.axes[0]
    assert len(ax.collections[0].get_segments()) == 3       # levels -1, 0, 1
    assert f"{np.mean((w - q) ** 2):.2e}" in ax.get_title()
