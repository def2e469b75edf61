"""Per-layer PTQ sensitivity on hand cases: only the swept layer changes, exact grids cost nothing."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd.tensor import Tensor, no_grad
from qnn_lite.quantizers.observers import MinMaxObserver
from qnn_lite.quantizers.uniform import fake_quantize
from qnn_lite.transforms.sensitivity import layer_qconfig, ptq_sensitivity


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 5, generator=rng), nn.ReLU(), nn.Linear(5, 3, generator=rng))
    X = rng.integers(0, 2, (40, 6)).astype(np.float32)          # binary inputs
    y = rng.integers(0, 3, 40)
    return model, X, y


def _ce(z, y):
    z = z - z.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))


def test_only_the_swept_layer_is_quantized(case):
    model, X, y = case
    res = ptq_sensitivity(model, X, y, [(2, None), (3, None)])
    assert [(r["layer"], r["w_bits"]) for r in res.rows] == [("0", 2), ("0", 3), ("2", 2), ("2", 3)]
    with no_grad():
        ref = model(Tensor(X)).data.astype(np.float64)
    assert res.float_loss == pytest.approx(_ce(ref, y), rel=1e-6)
    for r in res.rows:
        # by hand: that layer's weight fake-quantized (symmetric min-max), every other tensor float
        lin = model._modules[r["layer"]]
        obs = MinMaxObserver(bits=r["w_bits"], signed=True, symmetric=True)
        obs(lin.weight.data)
        s, z = obs.calculate_qparams()
        wq = fake_quantize(Tensor(lin.weight.data), s, z, obs.quant_min, obs.quant_max).data
        h = X @ (wq if r["layer"] == "0" else model._modules["0"].weight.data).T + model._modules["0"].bias.data
        h = np.maximum(h, 0)
        out = h @ (wq if r["layer"] == "2" else model._modules["2"].weight.data).T + model._modules["2"].bias.data
        assert r["loss"] == pytest.approx(_ce(out.astype(np.float64), y), rel=1e-5)
        assert r["delta_loss"] == pytest.approx(r["loss"] - res.float_loss)
        assert r["accuracy"] == np.mean(out.argmax(1) == y)
        sqnr = 10 * np.log10(np.sum(ref ** 2) / np.sum((out - ref) ** 2))
        assert r["sqnr_db"] == pytest.approx(sqnr, abs=1e-3)
    assert res.table()["0"][(2, None)] > res.table()["0"][(3, None)] - 0.05   # fewer bits, (roughly) more loss
    assert res.table("sqnr_db")["2"][(2, None)] < res.table("sqnr_db")["2"][(3, None)]


def test_binary_inputs_on_a_two_bit_grid_cost_nothing(case):
    model, X, y = case
    res = ptq_sensitivity(model, X, y, [(None, 2)], layers=["0"])
    # the inputs are 0 / 1: an unsigned 2-bit grid over [0, 1] holds both exactly
    (r,) = res.rows
    assert r["delta_loss"] == 0 and r["sqnr_db"] == float("inf") and r["delta_accuracy"] == 0
    # {0.1, 0.8}: the range is widened to [0, 0.8] (0 must be exact), 0.1 falls between levels
    assert ptq_sensitivity(model, X * 0.7 + 0.1, y, [(None, 2)], layers=["0"]).rows[0]["sqnr_db"] < 40
    noisy = X + np.random.default_rng(1).uniform(0, 0.3, X.shape).astype(np.float32)
    assert ptq_sensitivity(model, noisy, y, [(None, 2)], layers=["0"]).rows[0]["sqnr_db"] < 40


def test_layer_qconfig_and_bad_input(case):
    model, X, y = case
    cfg = layer_qconfig(4, None)
    assert cfg.activation is None and cfg.input_activation is None and cfg.weight().quant_max == 7
    assert layer_qconfig(None, 3).input_activation().quant_max == 7
    with pytest.raises(ValueError, match="w_bits"):
        layer_qconfig(1, 8)
    with pytest.raises(ValueError, match=r"layers \['5'\] are not Conv2d / Linear"):
        ptq_sensitivity(model, X, y, [(4, 4)], layers=["5"])
    with pytest.raises(ValueError, match="one length"):
        ptq_sensitivity(model, X, y[:3], [(4, 4)])
    with pytest.raises(ValueError, match="options"):
        ptq_sensitivity(model, X, y, [])
    with pytest.raises(ValueError, match="key must be one of"):
        ptq_sensitivity(model, X, y, [(4, 4)], layers=["0"]).table("loss_delta")
