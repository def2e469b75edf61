"""qnn_lite.recipes.digits: seeded builders, the digits trainer and its explicit cache."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.recipes import digits as models
from qnn_lite.autograd.tensor import Tensor, no_grad
from qnn_lite.recipes.digits import compare_to_float, digits_cnn, digits_loaders, digits_mlp, train_digits_model

# the recipe chapter 04 uses
RECIPE = dict(epochs=6, lr=0.05, seed=0)


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("build", [lambda s: digits_cnn(seed=s), lambda s: digits_cnn(seed=s, batch_norm=False),
                                   lambda s: digits_cnn(seed=s, channels=(16, 32), pool=False),
                                   lambda s: digits_mlp(seed=s)])
def test_builders_are_seeded(build):
    assert _same_state(build(3), build(3))
    assert not _same_state(build(3), build(4))


def test_builders_do_not_touch_the_global_stream():
    nn.manual_seed(7)
    a = nn.Linear(2, 2).weight.data.copy()
    nn.manual_seed(7)
    digits_cnn(seed=0)
    assert np.array_equal(nn.Linear(2, 2).weight.data, a)


def test_cnn_structure_and_shapes():
    m = digits_cnn(seed=0)
    kinds = [type(l).__name__ for l in m]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                     "Flatten", "Linear"]
    assert m[-1].in_features == 16 * 2 * 2
    wide = digits_cnn(seed=0, channels=(16, 32), pool=False, batch_norm=False)
    assert [type(l).__name__ for l in wide] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear"]
    assert wide[-1].in_features == 2048 and wide[2].weight.shape == (32, 16, 3, 3)
    with no_grad():
        assert m(Tensor(np.zeros((3, 1, 8, 8), np.float32))).shape == (3, 10)
        assert digits_mlp(hidden=5)(Tensor(np.zeros((2, 64), np.float32))).shape == (2, 10)


def test_loaders():
    train, test = digits_loaders(batch_size=100)
    assert len(train.X) == 1437 and len(test.X) == 360 and len(train) == 15
    assert next(iter(train))[0].shape == (100, 1, 8, 8)
    assert digits_loaders(flat=True)[1].X.shape == (360, 64)


def test_trained_cnn_reaches_90_percent():
    model, acc = train_digits_model(digits_cnn(seed=0), **RECIPE)
    assert acc >= 0.9
    assert not model.training
    assert len(model.history["train_loss"]) == RECIPE["epochs"]
    assert model.history["train_loss"][-1] < model.history["train_loss"][0]


def test_training_is_deterministic_and_cached_only_when_asked(monkeypatch):
    cache = {}
    a, acc_a = train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=0, cache=cache)
    b, acc_b = train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=0)
    assert _same_state(a, b) and acc_a == acc_b
    assert not _same_state(a, digits_mlp(seed=1))                # it did train
    assert acc_a > 0.8                                            # flat input detected for the MLP

    def no_fit(*args, **kwargs):
        raise AssertionError("fit called although the result is cached")

    monkeypatch.setattr(models, "fit", no_fit)
    c, acc_c = train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=0, cache=cache)
    assert _same_state(a, c) and acc_c == acc_a
    c[0].weight.data[...] = 0                                     # the cache holds copies, not c's arrays
    d, _ = train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=0, cache=cache)
    assert _same_state(a, d)
    with pytest.raises(AssertionError, match="cached"):          # another setting is a cache miss
        train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=1, cache=cache)
    with pytest.raises(AssertionError, match="cached"):          # no cache: every call trains
        train_digits_model(digits_mlp(seed=1), epochs=2, lr=0.1, seed=0)


@pytest.mark.parametrize("call, match", [
    (lambda: digits_cnn(seed=-1), "seed"),
    (lambda: digits_cnn(channels=(8,)), "channels"),
    (lambda: digits_cnn(channels=(8, 0)), "channels"),
    (lambda: digits_mlp(hidden=0), "hidden"),
    (lambda: digits_loaders(batch_size=0), "batch_size"),
    (lambda: train_digits_model(digits_mlp(), epochs=-1), "epochs"),
    (lambda: train_digits_model(digits_mlp(), lr=0.0), "lr"),
    (lambda: train_digits_model(digits_mlp(), lr=float("nan")), "lr"),
    (lambda: train_digits_model(digits_mlp(), momentum=1.0), "momentum"),
    (lambda: train_digits_model(nn.Sequential(nn.ReLU())), "Conv2d or a Linear"),
])
def test_bad_input(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_seed_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"seed must be an int >= 0, got 1.5"):
        digits_cnn(seed=1.5)


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="model"):
        train_digits_model("cnn")
    with pytest.raises(TypeError, match="cache must be a dict or None"):
        train_digits_model(digits_mlp(), cache=[])


class _Fixed:
    """A 'model' returning fixed logits (callable, no eval): for hand-computed compare_to_float cases."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, np.float32)

    def __call__(self, x):
        return self.logits


def test_compare_to_float_by_hand():
    ref = _Fixed([[3.0, 0.0], [0.0, 4.0], [1.0, 0.0]])
    other = _Fixed([[3.0, 1.0], [0.0, 4.0], [0.0, 1.0]])     # errors 1, 0, (1, 1): noise 3, signal 26
    r = compare_to_float(ref, other, np.zeros((3, 1)), np.array([0, 1, 0]))   # other predicts 0, 1, 1
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["agreement"] == pytest.approx(2 / 3)
    assert r["sqnr_db"] == pytest.approx(10 * np.log10(26 / 3))
    assert compare_to_float(ref, ref, np.zeros((3, 1)), np.array([0, 1, 0]))["sqnr_db"] == float("inf")


def test_compare_to_float_bad_input():
    ref = _Fixed([[1.0, 0.0]])
    with pytest.raises(ValueError, match="X and y"):
        compare_to_float(ref, ref, np.zeros((1, 1)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"model must return logits shaped like float_model.s \(1, 2\), got \(1, 3\)"):
        compare_to_float(ref, _Fixed([[1.0, 0.0, 2.0]]), np.zeros((1, 1)), np.array([0]))
