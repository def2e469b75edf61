"""recipes.zoo_quant: the paper's W4A8 rows, the comparison table, first/last layers kept float."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.data import DataLoader
from qnn_lite.recipes.zoo_quant import (PAPER_W4A8, W4A8_COLUMNS, first_last_names, ptq_accuracy,
                                        w4a8_comparison)
from qnn_lite.transforms.layers import QUANT_LAYERS
from qnn_lite.zoo import mobilenetv2_tiny, resnet8


def test_paper_rows_hold_the_depthwise_losses_and_the_one_qat_below_ptq_cell():
    assert PAPER_W4A8["EfficientDet-D1"][3] == -39.77 and PAPER_W4A8["MobileNetV2"][3] == -2.51
    eff = PAPER_W4A8["EfficientNet lite"]
    assert eff[6] < eff[5]                      # per-channel QAT -1.50 below PTQ -1.41
    assert all(len(r) == 7 for r in PAPER_W4A8.values())


def test_comparison_prints_differences_from_fp32_in_points():
    row = {"fp32": 0.9, "ptq_per_tensor": 0.85, "qat_per_tensor": 0.9, "ptq_per_channel": 0.875,
           "qat_per_channel": 0.91}
    text = w4a8_comparison({"net": row}, paper={})
    last = text.splitlines()[-1].split()
    assert last[0] == "ours" and "net" in last
    assert [float(v) for v in last[-5:]] == pytest.approx([90.0, -5.0, 0.0, -2.5, 1.0])
    assert set(W4A8_COLUMNS) == set(row)
    full = w4a8_comparison({"net": row}).splitlines()
    assert len(full) == 2 + len(PAPER_W4A8) and full[0].split()[:4] == ["source", "network", "dataset", "metric"]


@pytest.mark.parametrize("build", [resnet8, mobilenetv2_tiny])
def test_first_last_names_are_the_stem_conv_and_the_classifier(build):
    assert first_last_names(build(seed=0)) == ("features.stem.0", "fc")
    with pytest.raises(ValueError, match="Linear or Conv2d"):
        first_last_names(nn.Sequential(nn.ReLU()))


def test_ptq_accuracy_keeps_the_named_layers_float():
    model = resnet8(seed=0).eval()
    X = np.random.default_rng(0).normal(size=(16, 1, 16, 16)).astype(np.float32)
    data = DataLoader(X, np.arange(16) % 10, 8)
    acc, qm = ptq_accuracy(model, 4, 8, False, data, data, float_layers=("features.stem.0", "fc"))
    mods = dict(qm.model.named_modules())
    assert type(mods["fc"]) is nn.Linear and type(mods["features.stem.0"]) is nn.Conv2d
    assert isinstance(mods["features.block1.conv1.0"], QUANT_LAYERS)
    assert 0.0 <= acc <= 1.0
    _, q_all = ptq_accuracy(model, 4, 8, False, data, data)
    assert isinstance(dict(q_all.model.named_modules())["fc"], QUANT_LAYERS)
