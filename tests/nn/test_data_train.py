"""load_digits, DataLoader, fit / evaluate, and the seeded CNN that must reach 95 % on digits."""
import numpy as np
import pytest

import qnn_lite.nn as nn
from qnn_lite import Tensor
from qnn_lite.data import DataLoader, load_digits
from qnn_lite.optim import SGD, CosineAnnealingLR
from qnn_lite.train import evaluate, fit


@pytest.fixture
def one_blas_thread():
    """Single-threaded BLAS: on a shared/loaded machine 2 spinning BLAS threads are ~10x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield


def test_load_digits_shapes_dtypes_range_and_stratified_split():
    X, y, Xt, yt = load_digits()
    assert X.shape == (1437, 1, 8, 8) and Xt.shape == (360, 1, 8, 8)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(np.unique(y)) == list(range(10))
    # stratified: each class's share of the test set is within one sample of 20 % of that class
    for c in range(10):
        total = (y == c).sum() + (yt == c).sum()
        assert abs((yt == c).sum() - 0.2 * total) <= 1
    Xf, _, _, _ = load_digits(flat=True)
    assert Xf.shape == (1437, 64)
    np.testing.assert_array_equal(Xf, X.reshape(-1, 64))


def test_load_digits_seeded_split():
    a, b = load_digits(seed=0), load_digits(seed=0)
    c = load_digits(seed=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError, match="test_size must be a fraction in \\(0, 1\\), got 1.5"):
        load_digits(test_size=1.5)


def test_dataloader_batches_len_and_drop_last():
    X, y = np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10)
    dl = DataLoader(X, y, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], Tensor) and isinstance(batches[0][1], np.ndarray)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert len(DataLoader(X, y, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(X, y, 4, drop_last=True)] == [4, 4]


def test_dataloader_shuffle_new_order_each_epoch_and_seeded():
    X, y = np.arange(20, dtype=np.float32).reshape(20, 1), np.arange(20)
    dl = DataLoader(X, y, batch_size=20, shuffle=True, seed=3)
    e1, e2 = next(iter(dl)), next(iter(dl))
    assert not np.array_equal(e1[1], e2[1])                       # new permutation per epoch
    assert sorted(e1[1]) == list(range(20))                       # a permutation
    np.testing.assert_array_equal(e1[0].data[:, 0], e1[1])        # X and y stay paired
    again = DataLoader(X, y, batch_size=20, shuffle=True, seed=3)
    np.testing.assert_array_equal(next(iter(again))[1], e1[1])    # reproducible


def test_dataloader_shuffled_batches_cover_the_epoch_once_and_stay_paired():
    X, y = np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10)
    dl = DataLoader(X, y, batch_size=3, shuffle=True, seed=0)
    epochs = [list(dl) for _ in range(2)]
    for batches in epochs:
        assert [len(b[1]) for b in batches] == [3, 3, 3, 1]
        for Xb, yb in batches:
            np.testing.assert_array_equal(Xb.data[:, 0], yb)       # X and y picked by the same indices
        assert sorted(np.concatenate([b[1] for b in batches])) == list(range(10))  # each sample once
    orders = [np.concatenate([b[1] for b in batches]) for batches in epochs]
    assert not np.array_equal(orders[0], np.arange(10)) and not np.array_equal(orders[0], orders[1])


def test_dataloader_bad_arguments():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        DataLoader(np.zeros((3, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(np.zeros((3, 1)), np.zeros(3), batch_size=0)


def test_evaluate_counts_correct_predictions_and_restores_mode():
    class Fixed(nn.Module):  # predicts class = first feature
        def forward(self, x):
            return Tensor(np.eye(3, dtype=np.float32)[x.data[:, 0].astype(int)])

    m = Fixed()
    X = np.array([[0], [1], [2], [1]], np.float32)
    assert evaluate(m, DataLoader(X, np.array([0, 1, 1, 1]), batch_size=3)) == pytest.approx(0.75)
    assert m.training
    m.eval()
    evaluate(m, DataLoader(X, np.array([0, 1, 2, 1])))
    assert not m.training


def test_fit_history_and_quiet_progress(capsys, monkeypatch, one_blas_thread):
    monkeypatch.setenv("QNN_LITE_QUIET", "1")
    X, y, Xt, yt = load_digits(flat=True)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = fit(model, DataLoader(X, y, 64, shuffle=True, seed=0), nn.CrossEntropyLoss(), opt, 3,
            val_loader=DataLoader(Xt, yt, 256), scheduler=CosineAnnealingLR(opt, 3))
    assert set(h) == {"train_loss", "train_acc", "val_acc"} and all(len(v) == 3 for v in h.values())
    assert h["train_loss"][2] < h["train_loss"][0] and h["val_acc"][-1] > 0.85
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)   # scheduler stepped 3 times
    err = capsys.readouterr().err
    assert "fit" not in err                                            # no progress bar when quiet
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        fit(model, DataLoader(X, y), nn.CrossEntropyLoss(), opt, -1)


def _tiny_linear():
    model = nn.Linear(1, 2)
    model.weight.data[...] = np.array([[1.0], [-1.0]], np.float32)
    model.bias.data[...] = np.array([-2.5, 2.5], np.float32)
    return model


TINY_X, TINY_Y = np.arange(5, dtype=np.float32).reshape(5, 1), np.array([1, 1, 0, 0, 0])


def test_fit_history_is_the_sample_weighted_epoch_mean(monkeypatch):
    # lr = 0: the model never moves, so the history is the loss / accuracy of fixed logits, by hand.
    # Batches of 2, 2, 1: the plain mean of the three batch means is not the epoch mean.
    monkeypatch.setenv("QNN_LITE_QUIET", "1")
    z = np.hstack([TINY_X - 2.5, 2.5 - TINY_X]).astype(np.float64)   # logits (5, 2): class 1 for x < 2.5
    per_sample = np.log(np.exp(z).sum(1)) - z[np.arange(5), TINY_Y]
    batch_means = [per_sample[0:2].mean(), per_sample[2:4].mean(), per_sample[4]]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 0.04
    model = _tiny_linear()
    h = fit(model, DataLoader(TINY_X, TINY_Y, 2), nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.0), 2)
    assert h["train_loss"] == pytest.approx([per_sample.mean()] * 2, rel=1e-6)
    assert h["train_acc"] == [4 / 5, 4 / 5]                           # predictions 1, 1, 1, 0, 0


def test_fit_takes_one_fresh_gradient_step_per_batch(monkeypatch):
    # the textbook loop: zero_grad, backward, step for each batch; fit must land on the same weights
    monkeypatch.setenv("QNN_LITE_QUIET", "1")
    model, ref = _tiny_linear(), _tiny_linear()
    fit(model, DataLoader(TINY_X, TINY_Y, 2), nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.5), 1)
    opt, loss_fn = SGD(ref.parameters(), lr=0.5), nn.CrossEntropyLoss()
    for i in (0, 2, 4):
        opt.zero_grad()
        loss_fn(ref(Tensor(TINY_X[i:i + 2])), TINY_Y[i:i + 2]).backward()
        opt.step()
    np.testing.assert_allclose(model.weight.data, ref.weight.data, rtol=1e-6)
    np.testing.assert_allclose(model.bias.data, ref.bias.data, rtol=1e-6)
    assert not np.allclose(model.weight.data, _tiny_linear().weight.data)  # it did move


def test_fit_shows_progress_bar_when_not_quiet(capsys, monkeypatch):
    monkeypatch.delenv("QNN_LITE_QUIET", raising=False)
    X, y, _, _ = load_digits(flat=True)
    model = nn.Linear(64, 10)
    fit(model, DataLoader(X[:128], y[:128], 64), nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), 1)
    assert "fit" in capsys.readouterr().err
    fit(model, DataLoader(X[:128], y[:128], 64), nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), 1,
        progress=False)
    assert "fit" not in capsys.readouterr().err


def test_seeded_cnn_reaches_95_percent_on_digits(one_blas_thread):
    X, y, Xt, yt = load_digits(seed=0)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    epochs = 8
    h = fit(model, DataLoader(X, y, 64, shuffle=True, seed=0), nn.CrossEntropyLoss(), opt, epochs,
            scheduler=CosineAnnealingLR(opt, epochs), progress=False)
    assert h["train_loss"][-1] < h["train_loss"][0]
    acc = evaluate(model, DataLoader(Xt, yt, 256))
    assert acc >= 0.95, f"test accuracy {acc:.3f} < 0.95"
