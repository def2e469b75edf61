"""Chapter 08 widget and figures, driven without a browser: the readouts follow the rounding math."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qnn_lite.viz.rounding import (plot_gradient_bias, plot_trajectories, plot_training_curves,  # noqa: E402
                                   plot_unbiasedness, plot_wag_table, rounding_trajectory_widget,
                                   trajectory_readout)


@pytest.fixture(scope="module")
def widget():
    return rounding_trajectory_widget(bits=8, rounding="stochastic", update=1e-3, steps=300, runs=200)


def _set(w, **values):
    for k, v in values.items():
        w.controls[k].value = v


def test_nearest_small_update_never_moves(widget):
    _set(widget, rounding="nearest", bits=8, update=1e-3, steps=300)     # u = 0.256 delta < delta / 2
    r = widget.readout
    assert r["step"] == 2.0 ** -8
    assert np.all(widget.trajectories == 0.0)
    assert r["final_mean"] == 0.0
    assert r["bias"] == pytest.approx(-0.3)
    assert r["rms_error"] == pytest.approx(0.3)


def test_nearest_moves_once_update_exceeds_half_step(widget):
    _set(widget, rounding="nearest", bits=10, update=1e-3, steps=300)    # u = 1.024 delta -> one step each
    assert widget.readout["final_mean"] == 300 / 1024
    assert widget.readout["bias"] == pytest.approx(300 / 1024 - 0.3)


def test_stochastic_mean_within_standard_errors(widget):
    _set(widget, rounding="stochastic", bits=8, update=1e-3, steps=300)
    r = widget.readout
    assert r["runs"] == 200 and r["std_err"] > 0
    assert abs(r["final_mean"] - r["exact"]) < 4 * r["std_err"]
    assert r["exact"] == pytest.approx(0.3)
    assert widget.trajectories.shape == (200, 301)


def test_more_bits_smaller_error(widget):
    _set(widget, rounding="stochastic", update=1e-3, steps=300)
    errors = []
    for bits in (6, 9, 12, 15):
        widget.controls["bits"].value = bits
        errors.append(widget.readout["rms_error"])
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    # roughly sqrt(T u delta): three bits more -> about sqrt(8) = 2.8 times smaller
    assert 1.8 < errors[0] / errors[1] < 4.5


def test_steps_and_update_change_exact_and_figure(widget):
    _set(widget, rounding="stochastic", bits=8, update=1e-2, steps=50)
    assert widget.readout["exact"] == pytest.approx(0.5)
    exact_line = [ln for ln in widget.ax.lines if ln.get_label() == "exact (no rounding)"][0]
    assert exact_line.get_ydata()[-1] == pytest.approx(0.5)
    mean_line = [ln for ln in widget.ax.lines if ln.get_label().startswith("mean of")][0]
    np.testing.assert_allclose(mean_line.get_ydata(), widget.trajectories.mean(axis=0))
    assert "stochastic" in widget.ax.get_title()
    assert "exact final = 0.5000" in widget.text.value


def test_display_handles_are_refreshed(widget):
    calls = []

    class Handle:
        def update(self, obj):
            calls.append(obj)

    widget._fig_handle, widget._text_handle = Handle(), Handle()
    try:
        widget.controls["steps"].value = 120
    finally:
        widget._fig_handle = widget._text_handle = None
    assert calls[0] is widget.fig and len(calls) == 2


@pytest.mark.parametrize("kwargs, match", [(dict(bits=0), "bits"), (dict(rounding="up"), "rounding"),
                                           (dict(update=1.0), "update")])
def test_widget_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rounding_trajectory_widget(**kwargs)


def test_trajectory_readout_hand_computed():
    traj = np.array([[0.0, 0.25, 0.5], [0.0, 0.0, 0.25]])
    r = trajectory_readout(traj, 0.0, 0.2, 2, 0.25)
    assert r["exact"] == pytest.approx(0.4)
    assert r["final_mean"] == pytest.approx(0.375)
    assert r["bias"] == pytest.approx(-0.025)
    assert r["rms_error"] == pytest.approx(np.sqrt((0.1 ** 2 + 0.15 ** 2) / 2))
    assert r["std_err"] == pytest.approx(np.std([0.5, 0.25], ddof=1) / np.sqrt(2))


# ----- static figures -------------------------------------------------------------------------------
def test_plot_unbiasedness_bars():
    fig = plot_unbiasedness(x=2.3, draws=5000, seed=0)
    bars = fig.axes[0].patches
    heights = {round(b.get_x() + b.get_width() / 2): b.get_height() for b in bars}
    assert set(heights) == {2, 3}
    assert heights[2] == pytest.approx(0.7, abs=0.03) and heights[3] == pytest.approx(0.3, abs=0.03)
    nearest = fig.axes[1].lines[0].get_ydata()
    assert np.abs(nearest).max() == pytest.approx(0.5)
    plt.close(fig)


def test_plot_trajectories_nearest_flat_stochastic_tracks():
    fig = plot_trajectories(bits=8, update=1e-3, steps=200, runs=100)
    near_mean = [ln for ln in fig.axes[0].lines if ln.get_label() == "the weight (deterministic)"][0]
    sto_mean = [ln for ln in fig.axes[1].lines if ln.get_label() == "mean of 100 runs"][0]
    assert np.all(near_mean.get_ydata() == 0)
    assert sto_mean.get_ydata()[-1] == pytest.approx(0.2, abs=0.03)
    plt.close(fig)


def test_plot_gradient_bias_curves():
    fig = plot_gradient_bias(bits=2, draws=300, seed=0)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    g = lines["exact"].get_xdata()
    det = lines["deterministic (rint)"].get_ydata()
    sto = lines["stochastic: mean of 300 draws"].get_ydata()
    np.testing.assert_allclose(np.unique(np.round(det, 5)), [-1, -1 / 3, 1 / 3, 1], atol=1e-5)
    assert np.abs(sto - g).max() < 0.12 < np.abs(det - g).max()
    plt.close(fig)


def test_plot_training_curves_and_table():
    fig = plot_training_curves({"a": {"train_loss": [2.0, 1.0]}, "b": {"train_loss": [2.0, 1.5, 1.2]}})
    assert [len(ln.get_ydata()) for ln in fig.axes[0].lines] == [2, 3]
    plt.close(fig)
    fig = plot_wag_table(["1/1/2", "32/32/32"], [70.0, 92.0], [65.0, 91.0], [75.0, 93.0])
    assert [b.get_height() for b in fig.axes[0].patches] == [70.0, 92.0]
    plt.close(fig)
