"""QAT: prepare_qat flags, training through the STE, QAT after PTQ beats PTQ at W4A4 on digits."""
import copy

import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor
from qnn_lite.data import DataLoader, load_digits
from qnn_lite.optim import Adam
from qnn_lite.transforms.fake_quant import FakeQuantize, default_qconfig, lsq_qconfig
from qnn_lite.transforms.ptq import ptq
from qnn_lite.transforms.qat import prepare_qat
from qnn_lite.recipes.finetune import qat_finetune
from qnn_lite.train import evaluate, fit


@pytest.fixture(scope="module")
def digits_mlp():
    Xtr, ytr, Xte, yte = load_digits(flat=True)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    train = DataLoader(Xtr, ytr, 32, shuffle=True, seed=0)
    fit(model, train, nn.CrossEntropyLoss(), Adam(model.parameters(), lr=1e-2), epochs=4, progress=False)
    return model.eval(), train, DataLoader(Xte, yte, 512)


def test_prepare_qat_turns_everything_on():
    nn.manual_seed(1)
    qm = prepare_qat(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), default_qconfig())
    fqs = [m for m in qm.modules() if isinstance(m, FakeQuantize)]
    assert fqs and all(f.observer_enabled and f.fake_quant_enabled for f in fqs) and qm.training
    x = Tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    qm(x).sum().backward()
    grads = [p.grad for p in qm.parameters()]
    assert len(grads) == 4 and all(g is not None and np.any(g != 0) for g in grads)  # the STE passes gradient


def test_qat_after_ptq_beats_ptq_at_w4a4(digits_mlp):
    model, train, test = digits_mlp
    float_acc = evaluate(model, test)
    cfg = default_qconfig(w_bits=4, a_bits=4, per_channel=True)
    qm = ptq(model, cfg, train, num_batches=8)
    ptq_acc = evaluate(qm, test)
    qat = copy.deepcopy(qm)
    act_scales = [float(m.scale) for m in qat.modules() if isinstance(m, FakeQuantize) and m.ch_axis is None]
    hist = qat_finetune(qat, train, epochs=2, lr=1e-3)
    qat_acc = evaluate(qat, test)
    assert len(hist["train_loss"]) == 2
    assert qat_acc >= ptq_acc and qat_acc > float_acc - 0.05
    # activation qparams stayed as calibrated; the float model was not touched
    assert act_scales == [float(m.scale) for m in qat.modules() if isinstance(m, FakeQuantize) and m.ch_axis is None]
    assert evaluate(model, test) == float_acc


def test_qat_with_lsq_learns_the_step_sizes(digits_mlp):
    model, train, test = digits_mlp
    qm = ptq(model, lsq_qconfig(4, 4), train, num_batches=2)
    scales0 = {n: p.data.copy() for n, p in qm.named_parameters() if n.endswith("scale")}
    assert scales0                                              # LSQ scales are parameters
    qat_finetune(qm, train, epochs=1, lr=1e-3)
    moved = [not np.array_equal(scales0[n], p.data) for n, p in qm.named_parameters() if n in scales0]
    assert all(moved)
    assert evaluate(qm, test) > 0.8


def test_qat_finetune_rejects_bad_arguments(digits_mlp):
    model, train, _ = digits_mlp
    with pytest.raises(ValueError, match="optimizer"):
        qat_finetune(model, train, 1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr"):
        qat_finetune(model, train, 1, lr=-1.0)
    with pytest.raises(TypeError, match="model"):
        qat_finetune("model", train, 1)
