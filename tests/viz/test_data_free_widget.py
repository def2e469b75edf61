"""Chapter 12's widget, driven without a browser."""
import numpy as np
import pytest

from qnn_lite.data import DataLoader
from qnn_lite.viz.data_free import data_free_widget, thresholds
from qnn_lite.zoo import load_pretrained
from qnn_lite.zoo.training import load_dataset


SHOWN = ["min-max", "MSE", "KL (TensorRT)"]


@pytest.fixture(scope="module")
def widget():
    X, y, Xt, yt = load_dataset("digits")
    model = load_pretrained("digits_cnn")
    noise = np.random.default_rng(0).normal(size=(32, 1, 8, 8)).astype(np.float32)
    return data_free_widget(model, {"real": X[:32], "noise": noise}, DataLoader(Xt[:300], yt[:300], batch_size=300),
                            bits_options=(4, 8), calibrators=SHOWN)


def test_thresholds_by_hand():
    x = np.array([0.0, 1.0, 2.0, 4.0])
    assert thresholds(x, 8, ["min-max"])["min-max"] == (0.0, 4.0)


def test_moving_the_controls_changes_what_the_widget_shows(widget):
    c = widget.controls
    c["calibrator"].value, c["source"].value, c["bits"].value = "min-max", "real", 8
    mm = widget.readout
    c["calibrator"].value = "KL (TensorRT)"
    kl = widget.readout
    assert kl["threshold"] <= mm["threshold"]          # min-max never clips
    assert list(kl["thresholds"]) == SHOWN
    lines = [l for l in widget.ax.get_lines()]
    assert len(lines) == len(SHOWN) and max(l.get_linewidth() for l in lines) == 3
    assert widget.readout["accuracy"] == widget.accuracy[("real", "KL (TensorRT)", 8)]
    c["source"].value = "noise"
    assert widget.ax.get_xlabel().endswith("(noise)")
    assert widget.readout["thresholds"] != kl["thresholds"]


def test_real_data_calibrates_better_than_noise_at_4_bits(widget):
    acc = widget.accuracy
    assert acc[("real", "MSE", 4)] > acc[("noise", "MSE", 4)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="sources must be a non-empty dict"):
        data_free_widget(None, {}, None)
    with pytest.raises(ValueError, match="calibrator must be one of"):
        thresholds([1.0], 8, ["nope"])
