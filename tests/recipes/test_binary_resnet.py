"""Chapter 6's binary CNN: the three variants are what their names say, and training is seeded."""
import numpy as np
import pytest

from qnn_lite.autograd import Tensor
from qnn_lite.nn import Add, Conv2d, ReLU
from qnn_lite.recipes.binary_resnet import (BinaryBlock, binary_resnet, float_resnet, train_binary_resnet,
                                            variant_table)
from qnn_lite.transforms.bnn import BinaryConv2d, SignActivation


@pytest.mark.parametrize("variant, shortcut, wq, est", [("plain", False, "xnor", "clipped"),
                                                        ("bireal", True, "xnor", "approx_sign"),
                                                        ("irnet", True, "libra_pb", "ede")])
def test_variants(variant, shortcut, wq, est):
    model = binary_resnet(variant, width=4, depth=3, seed=0)
    blocks = [m for m in model.modules() if isinstance(m, BinaryBlock)]
    assert len(blocks) == 3 and all(b.shortcut is shortcut for b in blocks)
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert [(c.weight_quant, c.estimator) for c in convs] == [(wq, est)] * 3
    assert all(isinstance(b.act, SignActivation) and b.act.estimator == est for b in blocks)
    assert sum(isinstance(m, Add) for m in model.modules()) == (3 if shortcut else 0)
    assert model(Tensor(np.zeros((2, 1, 16, 16), np.float32))).shape == (2, 10)


def test_bireal_block_adds_its_input():
    block = BinaryBlock(2, True, generator=np.random.default_rng(0)).eval()
    plain = BinaryBlock(2, False, generator=np.random.default_rng(0)).eval()
    x = Tensor(np.random.default_rng(1).normal(size=(1, 2, 4, 4)).astype(np.float32))
    np.testing.assert_allclose(block(x).data, plain(x).data + x.data, rtol=1e-6)


def test_float_twin_has_the_same_shapes():
    b, f = binary_resnet("bireal", width=4, depth=2, seed=0), float_resnet(width=4, depth=2, seed=0)
    assert [p.shape for p in b.parameters()] == [p.shape for p in f.parameters()]
    assert not any(isinstance(m, BinaryConv2d) for m in f.modules())
    assert sum(isinstance(m, ReLU) for m in f.modules()) == 2
    assert sum(type(m) is Conv2d for m in f.modules()) == 3


def test_bad_variant():
    with pytest.raises(ValueError, match="variant"):
        binary_resnet("xnor")


def _data():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean((1, 2)) > X[:, 0, 4:].mean((1, 2))).astype(np.int64)   # top half brighter?
    return X[:48], y[:48], X[48:], y[48:]


def test_training_is_seeded_and_ede_reaches_its_end():
    data = _data()
    a = train_binary_resnet("irnet", data, width=4, depth=2, epochs=2, batch_size=16, seed=1)
    b = train_binary_resnet("irnet", data, width=4, depth=2, epochs=2, batch_size=16, seed=1)
    assert a.test_acc == b.test_acc and a.history["train_loss"] == b.history["train_loss"]
    ts = {m.t for m in a.model.modules() if getattr(m, "estimator", None) == "ede"}
    assert len(ts) == 1 and ts.pop() == pytest.approx(10.0)   # EDESchedule stepped to T_max = 10
    table = variant_table(["plain"], data, seeds=(0, 1), width=4, depth=2, epochs=1, batch_size=16)
    assert list(table) == ["plain"] and len(table["plain"]) == 2 and all(0 <= v <= 1 for v in table["plain"])
