"""Chapter 02 figures (qnn_lite.viz.training) and the chapter's training claims (MLP / CNN >= 95 %)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qnn_lite import nn  # noqa: E402
from qnn_lite.autograd import Tensor  # noqa: E402
from qnn_lite.autograd.conv import im2col  # noqa: E402
from qnn_lite.data import DataLoader, load_digits  # noqa: E402
from qnn_lite.optim import SGD, CosineAnnealingLR  # noqa: E402
from qnn_lite.train import fit  # noqa: E402
from qnn_lite.viz.training import graph_nodes, plot_graph, plot_history, plot_im2col  # noqa: E402


def _gid(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _neuron():
    """The chapter's expression: n = x w + b, h = tanh n, y = h x + relu(n) (x, n each used twice)."""
    x, w, b = (Tensor(v, requires_grad=True, dtype=np.float64) for v in (0.5, -1.5, 2.0))
    n = x * w + b
    h = n.tanh()
    y = h * x + n.relu()
    return x, w, b, n, h, y


# ----- graph_nodes ------------------------------------------------------------------------
def test_graph_nodes_lists_each_tensor_once_parents_first():
    x, w, b, n, h, y = _neuron()
    order = graph_nodes(y)
    assert len(order) == 9                                   # 3 leaves + Mul, Add, Tanh, Mul, ReLU, Add
    assert len({id(t) for t in order}) == 9
    assert order[-1] is y
    pos = {id(t): i for i, t in enumerate(order)}
    for t in order:
        if not t.is_leaf:
            assert all(pos[id(p)] < pos[id(t)] for p in t._ctx.parents if isinstance(p, Tensor))
    assert {id(t) for t in order if t.is_leaf} == {id(x), id(w), id(b)}
    assert {id(n), id(h)} < set(pos)


def test_graph_nodes_diamond_and_leaf():
    x = Tensor(3.0, requires_grad=True)
    y = x * x + x                                             # x feeds three edges
    assert [id(t) for t in graph_nodes(y)].count(id(x)) == 1
    assert len(graph_nodes(y)) == 3
    assert graph_nodes(x) == [x]


def test_graph_nodes_deep_chain_needs_no_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(3000):                                     # deeper than Python's recursion limit
        y = y + 1.0
    assert len(graph_nodes(y)) == 3001


def test_graph_nodes_rejects_non_tensor():
    with pytest.raises(TypeError, match="root"):
        graph_nodes(np.ones(3))


# ----- plot_graph -----------------------------------------------------------------------
def test_plot_graph_draws_one_box_per_tensor_one_ellipse_per_op():
    x, w, b, n, h, y = _neuron()
    y.backward()
    ax = plot_graph(y, names={"x": x, "n": n}).axes[0]
    assert len(_gid(ax, "value")) == 9
    assert len(_gid(ax, "op")) == 6
    # edges: op -> output (6) plus one per Function argument (2 + 2 + 1 + 2 + 1 + 2 = 10)
    assert len(_gid(ax, "edge")) == 16
    texts = _texts(ax)
    for op in ("Mul", "Add", "Tanh", "ReLU"):
        assert op in texts
    t = np.tanh(0.5 * -1.5 + 2.0)
    dx = t + 0.5 * (1 - t * t) * -1.5 - 1.5                    # three paths, by hand
    assert f"x\n0.5000\ngrad {dx:.4f}" in texts
    assert any(s.startswith("n\n1.2500") for s in texts)


def test_plot_graph_hand_computed_grad_and_constant():
    x, w = Tensor(2.0, requires_grad=True), Tensor(3.0, requires_grad=True)
    c = Tensor(1.0)                                           # a constant leaf: drawn, no grad
    y = x * w + c
    y.backward()
    ax = plot_graph(y, names={"x": x, "w": w, "c": c, "y": y}).axes[0]
    texts = _texts(ax)
    assert "x\n2.0000\ngrad 3.0000" in texts and "w\n3.0000\ngrad 2.0000" in texts
    assert "c\n1.0000" in texts and "y\n7.0000" in texts
    assert len(_gid(ax, "value")) == 5 and len(_gid(ax, "op")) == 2


def test_plot_graph_names_must_be_dict():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="names"):
        plot_graph(x * 2, names=[x])


# ----- plot_im2col ----------------------------------------------------------------------
@pytest.mark.parametrize("shape, k, stride, padding, windows", [
    ((4, 4), 3, 1, 0, 4), ((5, 5), 3, 2, 0, 4), ((4, 4), 3, 2, 1, 4), ((3, 3), 3, 1, 0, 1), ((5, 5), 3, 1, 0, 9)])
def test_plot_im2col_one_outline_and_one_row_per_window(shape, k, stride, padding, windows):
    img = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ax_img, ax_col = plot_im2col(img, k, stride, padding).axes
    assert len(_gid(ax_img, "window")) == windows
    assert len(_gid(ax_col, "row")) == windows
    cols = im2col(img[None, None], k, stride, padding)
    assert cols.shape == (windows, k * k)
    assert _texts(ax_col) == [f"{v:g}" for v in cols.ravel()]   # the matrix drawn is im2col's


def test_plot_im2col_first_row_is_the_top_left_window():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    ax_col = plot_im2col(Tensor(img[None, None]), 3).axes[1]
    assert _texts(ax_col)[:9] == ["0", "1", "2", "4", "5", "6", "8", "9", "10"]


def test_plot_im2col_errors():
    with pytest.raises(ValueError, match="2-D image"):
        plot_im2col(np.zeros((2, 4, 4)), 3)
    with pytest.raises(ValueError, match="at most 9 windows"):
        plot_im2col(np.zeros((6, 6)), 3)


# ----- plot_history ---------------------------------------------------------------------
def _history(epochs, val=True, seed=0):
    rng = np.random.default_rng(seed)
    h = {"train_loss": list(np.sort(rng.uniform(0.1, 2, epochs))[::-1]),
         "train_acc": list(np.sort(rng.uniform(0.5, 1, epochs)))}
    if val:
        h["val_acc"] = list(np.sort(rng.uniform(0.5, 1, epochs)))
    return h


def test_plot_history_lines_and_points():
    a, b = _history(3), _history(5, val=False, seed=1)
    ax_loss, ax_acc = plot_history({"A": a, "B": b}).axes
    assert len(ax_loss.lines) == 2 and len(ax_acc.lines) == 3  # A: train + test, B: train only
    assert [len(line.get_xdata()) for line in ax_loss.lines] == [3, 5]
    assert list(ax_loss.lines[1].get_xdata()) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), a["train_loss"])
    np.testing.assert_allclose(ax_acc.lines[1].get_ydata(), 100 * np.asarray(a["val_acc"]))   # percent
    labels = [line.get_label() for line in ax_acc.lines]
    assert labels == ["A train", "A test", "B train"]


def test_plot_history_one_epoch():
    ax_loss, ax_acc = plot_history({"only": _history(1)}).axes
    assert len(ax_loss.lines[0].get_xdata()) == 1 and len(ax_acc.lines) == 2


@pytest.mark.parametrize("bad, match", [
    ({}, "histories"), ([1, 2], "histories"), ({"A": {"train_loss": []}}, "train_loss"),
    ({"A": {"train_loss": [1.0, 0.5], "val_acc": [0.5]}}, "one entry per epoch")])
def test_plot_history_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        plot_history(bad)


# ----- the chapter's training recipes ---------------------------------------------------
def _digits_fit(model, flat, epochs, lr):
    X_train, y_train, X_test, y_test = load_digits(seed=0, flat=flat)
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    return fit(model, DataLoader(X_train, y_train, batch_size=64, shuffle=True, seed=0), nn.CrossEntropyLoss(),
               opt, epochs=epochs, val_loader=DataLoader(X_test, y_test, batch_size=512),
               scheduler=CosineAnnealingLR(opt, T_max=epochs))


def test_chapter_mlp_recipe_reaches_95_percent():
    nn.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    h = _digits_fit(mlp, flat=True, epochs=20, lr=0.1)
    assert h["val_acc"][-1] >= 0.95
    assert h["train_loss"][-1] < h["train_loss"][0] / 10
    ax_loss, ax_acc = plot_history({"MLP": h}).axes
    assert len(ax_loss.lines[0].get_xdata()) == 20


def test_chapter_cnn_recipe_reaches_95_percent():
    nn.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2048, 10))
    h = _digits_fit(cnn, flat=False, epochs=8, lr=0.05)
    assert h["val_acc"][-1] >= 0.95
