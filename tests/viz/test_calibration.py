"""Chapter 04's observer table and calibration widget, driven without a browser."""
import numpy as np
import pytest

from qnn_lite.autograd.tensor import Tensor, no_grad
from qnn_lite.data import load_digits
from qnn_lite.recipes.digits import digits_cnn, digits_loaders, train_digits_model
from qnn_lite.transforms.ptq import fuse_modules
from qnn_lite.transforms.record import activation_samples
from qnn_lite.viz.calibration import OBSERVERS, calibration_widget, observer_ranges, plot_observer_ranges

CLIPPERS = ("percentile 99.99", "MSE", "histogram")


@pytest.fixture(scope="module")
def outlier_data():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(0, 1, 20_000), 0).astype(np.float32)
    x[rng.choice(x.size, 2, replace=False)] = [12.0, 15.0]       # two outliers (0.01 %)
    return x


@pytest.fixture(scope="module")
def trained():
    model, acc = train_digits_model(digits_cnn(seed=0), epochs=6, lr=0.05, seed=0)  # as tests/recipes/test_digits.py
    return model, acc


@pytest.fixture(scope="module")
def widget(trained):
    X = load_digits()[0][:64].copy()
    bad = X.copy()
    bad[-1] *= 16                                                 # one unnormalized image (pixels 0..16)
    return calibration_widget(trained[0], {"clean": X, "outlier": bad}, digits_loaders()[1],
                              bits_options=(2, 4, 8), batch_size=32)


def test_min_max_row_by_hand(outlier_data):
    r = observer_ranges(outlier_data, bits=8, observers=["min-max"])[0]
    assert (r["lo"], r["hi"]) == (0.0, 15.0)
    assert r["scale"] == pytest.approx(15.0 / 255, rel=1e-6) and r["zero_point"] == 0
    assert r["clipped"] == 0.0 and r["mse"] == pytest.approx(r["mse_inside"])
    # rounding noise Delta^2 / 12 on the positive values; the ReLU zeros (code 0) are exact
    positive = np.mean(outlier_data > 0)
    assert r["mse"] == pytest.approx(positive * r["scale"] ** 2 / 12, rel=0.05)


@pytest.mark.parametrize("bits", [4, 8])
def test_clipping_observers_are_narrower_than_min_max_on_outliers(outlier_data, bits):
    rows = {r["observer"]: r for r in observer_ranges(outlier_data, bits=bits)}
    assert list(rows) == list(OBSERVERS)
    for name in CLIPPERS:
        assert rows[name]["hi"] < rows["min-max"]["hi"], name
    # the MSE observer minimizes the MSE over a grid that contains the min-max range
    assert rows["MSE"]["mse"] <= rows["min-max"]["mse"]


def test_at_4_bits_clipping_pays_at_8_bits_rounding_is_already_small(outlier_data):
    r4 = {r["observer"]: r for r in observer_ranges(outlier_data, bits=4)}
    r8 = {r["observer"]: r for r in observer_ranges(outlier_data, bits=8)}
    assert r4["MSE"]["mse"] < 0.5 * r4["min-max"]["mse"]
    assert r4["MSE"]["hi"] < 0.5 * r8["MSE"]["hi"]          # fewer bits: clip harder


def test_observer_ranges_bad_input(outlier_data):
    with pytest.raises(ValueError, match="x must"):
        observer_ranges(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="observers"):
        observer_ranges(outlier_data, observers=["bogus"])
    with pytest.raises(ValueError, match="bits"):
        observer_ranges(outlier_data, bits=1)
    with pytest.raises(ValueError, match="num_batches"):
        observer_ranges(outlier_data[:3], num_batches=4)


def test_plot_observer_ranges(outlier_data):
    rows = observer_ranges(outlier_data, bits=4)
    ax = plot_observer_ranges(outlier_data, rows)
    his = sorted(line.get_xdata()[1] for line in ax.get_lines() if len(line.get_xdata()) == 2
                 and line.get_xdata()[0] != line.get_xdata()[1])
    assert his == pytest.approx(sorted(r["hi"] for r in rows))


def test_activation_samples_are_the_float_activations(trained):
    model = trained[0]
    X = load_digits()[0][:16]
    s = activation_samples(model, [X[:8], X[8:]])
    assert list(s) == ["quant_in", "2", "6", "9"]
    np.testing.assert_array_equal(s["quant_in"], X.ravel())
    with no_grad():
        logits = fuse_modules(model)(Tensor(X)).data
        unfused = model(Tensor(X)).data
    np.testing.assert_allclose(s["9"], logits.ravel(), rtol=0, atol=0)
    np.testing.assert_allclose(s["9"], unfused.ravel(), atol=1e-4)        # BN folding changes nothing
    assert s["2"].min() == 0.0 and s["2"].size == 16 * 8 * 8 * 8          # after ReLU: 8 channels of 8x8


def test_widget_readouts_follow_the_math(widget):
    w = widget
    w.controls["calibration"].value = "clean"
    w.controls["layer"].value = "6"
    w.controls["observer"].value = "min-max"
    w.controls["bits"].value = 8
    lo, hi = w.readout["clip_range"]
    assert lo == 0.0 and hi == pytest.approx(float(w.samples["clean"]["6"].max()))
    assert w.readout["scale"] == pytest.approx(hi / 255, rel=1e-6) and w.readout["zero_point"] == 0
    s8, acc8 = w.readout["scale"], w.readout["accuracy"]
    w.controls["bits"].value = 4
    assert w.readout["scale"] == pytest.approx(s8 * 255 / 15, rel=1e-5)    # same range, 15 steps
    assert w.readout["accuracy"] != acc8 and acc8 >= w.readout["accuracy"]
    assert abs(acc8 - w.float_accuracy) <= 0.02
    # the figure shows the chosen range
    assert hi in [ln.get_xdata()[0] for ln in w.ax_hist.get_lines()]


def test_widget_clipping_observers_narrower_with_an_outlier_image(widget):
    w = widget
    w.controls["calibration"].value = "outlier"
    w.controls["bits"].value = 4
    for layer in ("2", "6"):
        w.controls["layer"].value = layer
        w.controls["observer"].value = "min-max"
        mm = w.readout["clip_range"][1]
        assert mm == pytest.approx(float(w.samples["outlier"][layer].max()))
        for name in CLIPPERS:
            w.controls["observer"].value = name
            assert w.readout["clip_range"][1] < mm, (layer, name)
    # the outlier image stretches the min-max range far beyond the clean one
    assert mm > 5 * float(w.samples["clean"]["6"].max())


def test_widget_8_bits_at_least_as_good_as_4_and_2(widget):
    for c in ("clean", "outlier"):
        for name in OBSERVERS:
            a2, a4, a8 = (widget.accuracy(c, name, b) for b in (2, 4, 8))
            assert a8 >= a4 - 0.01 and a8 > a2, (c, name)


def test_widget_bad_arguments(trained):
    X = load_digits()[0][:8]
    test = digits_loaders()[1]
    with pytest.raises(ValueError, match="calibration_sets"):
        calibration_widget(trained[0], {}, test)
    with pytest.raises(ValueError, match="observers"):
        calibration_widget(trained[0], {"c": X}, test, observers=["nope"])
    with pytest.raises(ValueError, match="bits_options"):
        calibration_widget(trained[0], {"c": X}, test, bits_options=(1,))
    with pytest.raises(ValueError, match="observer must be one of"):
        calibration_widget(trained[0], {"c": X}, test, observers=["min-max"], bits_options=(8,), observer="MSE")


def test_widget_draws_the_levels_when_few(widget):
    w = widget
    w.controls["calibration"].value = "clean"
    w.controls["observer"].value = "MSE"
    w.controls["bits"].value = 4
    levels = [c for c in w.ax_hist.collections if c.get_segments() and len(c.get_segments()) == 16]
    assert len(levels) == 1                                        # 2**4 levels, spaced by the scale
    xs = np.array([seg[0][0] for seg in levels[0].get_segments()])
    assert np.allclose(np.diff(xs), w.readout["scale"])
    w.controls["bits"].value = 8                                   # 256 levels: not drawn
    assert not [c for c in w.ax_hist.collections if len(c.get_segments()) == 256]
    assert w.layer_labels == {"quant_in": "input", "2": "2: after ReLU", "6": "6: after ReLU",
                              "9": "9: Linear output"}


# ----- the chapter's claims, on the chapter's model and calibration data ----------------------------
@pytest.fixture(scope="module")
def chapter(trained):
    X_train, _, X_test, y_test = load_digits()
    return trained[0], [X_train[:64], X_train[64:128]], X_test, y_test


def test_claim_per_channel_and_bias_correction_help_below_4_bits(chapter):
    from qnn_lite.recipes.digits import compare_to_float
    from qnn_lite.transforms.fake_quant import default_qconfig
    from qnn_lite.transforms.ptq import ptq
    model, cal, X, y = chapter
    r = {(pc, bc): compare_to_float(model, ptq(model, default_qconfig(2, 8, pc), cal, correct_bias=bc), X, y)
         for pc in (False, True) for bc in (False, True)}
    assert r[True, False]["accuracy"] > r[False, False]["accuracy"] + 0.1        # per-channel at W2A8
    for pc in (False, True):
        assert r[pc, True]["sqnr_db"] > r[pc, False]["sqnr_db"] + 1              # bias correction
        assert r[pc, True]["accuracy"] > r[pc, False]["accuracy"]
    w8 = compare_to_float(model, ptq(model, default_qconfig(8, 8, True), cal), X, y)
    assert w8["agreement"] >= 0.99 and w8["sqnr_db"] > 25                       # W8A8 is nearly free


def test_claim_integer_model_agrees_with_fake_quant(chapter):
    from qnn_lite.transforms.integer import convert_to_integer
    from qnn_lite.transforms.fake_quant import default_qconfig
    from qnn_lite.transforms.ptq import ptq
    model, cal, X, _ = chapter
    fq = ptq(model, default_qconfig(8, 8, True), cal)
    im = convert_to_integer(fq)
    with no_grad():
        fq_logits = fq(Tensor(X)).data
    steps = np.abs(im.forward(X) - fq_logits) / im.out_qp.scale
    assert steps.max() <= 1.0 + 1e-4                 # never more than one output step apart
    assert np.mean(steps < 0.5) >= 0.9               # and mostly the very same code
    assert np.mean(im.forward(X).argmax(1) == fq_logits.argmax(1)) >= 0.99
