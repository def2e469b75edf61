"""The model zoo: builders' shapes and structure, hash-checked checkpoints, and the training trajectory."""
import shutil

import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd import Tensor, no_grad
from qnn_lite.zoo import (BUILDERS, CHECKPOINTS, InvertedResidual, load_pretrained, mobilenetv2_tiny, resnet8,
                          vgg_small)
from qnn_lite.zoo.pretrained import checkpoint_path
from qnn_lite.zoo.training import RECIPES, TRAJECTORY_STEPS, load_dataset, train_model


def n_params(m):
    return sum(p.data.size for p in m.parameters())


@pytest.mark.parametrize("build", [resnet8, mobilenetv2_tiny, vgg_small])
@pytest.mark.parametrize("in_shape", [(1, 16, 16), (3, 32, 32), (1, 1, 40)])
def test_builders_give_logits_and_are_seeded(build, in_shape):
    a, b, c = build(0, in_shape), build(0, in_shape), build(1, in_shape)
    x = Tensor(np.random.default_rng(0).random((2, *in_shape), dtype=np.float32))
    with no_grad():
        ya, yb, yc = a.eval()(x), b.eval()(x), c.eval()(x)
    assert ya.shape == (2, 10)
    np.testing.assert_array_equal(ya.data, yb.data)
    assert not np.allclose(ya.data, yc.data)


def test_resnet8_structure():
    m = resnet8(0)
    assert 50_000 <= n_params(m) <= 300_000
    adds = [name for name, mod in m.named_modules() if isinstance(mod, nn.Add)]
    assert adds == ["features.block1.add", "features.block2.add", "features.block3.add"]
    assert isinstance(m.features.block1.shortcut, nn.Identity)
    assert m.features.block2.shortcut[0].stride == (2, 2)


def test_mobilenetv2_structure():
    m = mobilenetv2_tiny(0)
    blocks = [mod for mod in m.modules() if isinstance(mod, InvertedResidual)]
    assert len(blocks) == 7
    for blk in blocks:
        convs = [c for c in blk.modules() if isinstance(c, nn.Conv2d)]
        dw = [c for c in convs if c.groups > 1]
        assert len(dw) == 1 and dw[0].groups == dw[0].in_channels == dw[0].out_channels
        assert dw[0].weight.shape[1:] == (1, 3, 3)
        assert any(isinstance(a, nn.ReLU6) for a in blk.modules())
    assert [b.use_residual for b in blocks] == [True, False, True, False, True, False, True]
    assert sum(isinstance(mod, nn.Add) for mod in m.modules()) == 4


def test_one_d_inputs_use_1xk_kernels():
    m = resnet8(0, (1, 1, 40))
    assert {c.kernel_size for c in m.modules() if isinstance(c, nn.Conv2d)} <= {(1, 3), (1, 1)}


def test_builder_errors():
    with pytest.raises(ValueError, match="in_shape must be"):
        resnet8(0, (16, 16))
    with pytest.raises(ValueError, match="seed"):
        vgg_small(-1)


def test_checkpoints_are_small_and_listed():
    import os
    assert set(CHECKPOINTS) == set(RECIPES)
    assert sum(os.path.getsize(checkpoint_path(n)) for n in CHECKPOINTS) <= 5 * 2**20


def test_load_pretrained_reaches_the_recorded_accuracy():
    model = load_pretrained("digits_cnn")
    X, y = load_dataset("digits")[2:]
    with no_grad():
        acc = np.mean(model(Tensor(X)).data.argmax(1) == y)
    assert acc == pytest.approx(CHECKPOINTS["digits_cnn"][1], abs=1e-4)
    assert acc > 0.9


def test_load_pretrained_refuses_a_changed_file(tmp_path):
    bad = tmp_path / "digits_mlp.npz"
    shutil.copy(checkpoint_path("digits_mlp"), bad)
    with open(bad, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="SHA-256 .* expected"):
        load_pretrained("digits_mlp", path=bad)
    with pytest.raises(FileNotFoundError, match="tools/train_zoo.py"):
        load_pretrained("digits_mlp", path=tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="name must be one of"):
        load_pretrained("resnet1000")


def test_retraining_follows_the_checkpoint_trajectory():
    """The first steps of tools/train_zoo.py's recipe, re-run here, give the losses stored in the checkpoint."""
    name = "digits_cnn"
    dataset, epochs, lr = RECIPES[name]
    build, in_shape = BUILDERS[name]
    _, _, losses = train_model(build(0), load_dataset(dataset, flat=len(in_shape) == 1), epochs, lr=lr, seed=0,
                               max_steps=TRAJECTORY_STEPS)
    with np.load(checkpoint_path(name)) as f:
        recorded = f["_trajectory"]
    assert len(recorded) == TRAJECTORY_STEPS and recorded[-1] < recorded[0]
    np.testing.assert_allclose(losses, recorded, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_every_checkpoint_loads_into_its_builder(name):
    model = load_pretrained(name)
    build, in_shape = BUILDERS[name]
    fresh = build(0)
    changed = [k for k, v in model.state_dict().items() if not np.array_equal(v, fresh.state_dict()[k])]
    assert changed and not model.training
    with no_grad():
        assert model(Tensor(np.zeros((1, *in_shape), np.float32))).shape == (1, 10)
