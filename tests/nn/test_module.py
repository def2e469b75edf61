"""Module bookkeeping, layers, containers, init and dropout."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import qnn_lite.nn as nn
from qnn_lite import Tensor, no_grad
from qnn_lite.nn import init


def cnn():
    nn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def test_parameters_names_and_order_follow_pytorch():
    m = cnn()
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"]
    assert [p.shape for p in m.parameters()] == [(4, 1, 3, 3), (4,), (4,), (4,), (3, 64), (3,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                    "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"]
    assert len(list(m.children())) == 6 and len(list(m.modules())) == 7


def test_shared_parameter_listed_once_and_no_bias():
    lin = nn.Linear(3, 3, bias=False)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert lin.bias is None and len(list(seq.parameters())) == 1


def test_nested_custom_module_registers_children_and_buffers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
            self.head = nn.Linear(3, 1)
            self.register_buffer("steps", np.zeros(()))

        def forward(self, x):
            return self.head(self.body(x))

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "head.weight", "head.bias"]
    assert "steps" in net.state_dict() and "body.1.running_var" in net.state_dict()
    assert net(Tensor(np.ones((4, 2)))).shape == (4, 1)


def test_state_dict_round_trip_restores_outputs():
    m = cnn()
    x = Tensor(np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32))
    m.train()
    m(x)                      # moves the running statistics
    m.eval()
    before = m(x).data.copy()
    saved = m.state_dict()
    for p in m.parameters():  # perturb everything
        p.data += 1.0
    m[1].running_mean += 5.0
    assert not np.allclose(m(x).data, before)
    m.load_state_dict(saved)
    np.testing.assert_array_equal(m(x).data, before)
    saved["0.weight"][...] = 0  # state_dict holds copies, not views
    assert np.abs(m[0].weight.data).sum() > 0


def test_load_state_dict_strict_and_shape_errors():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['bias'\]"):
        m.load_state_dict({"weight": sd["weight"]})
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        m.load_state_dict({**sd, "extra": np.zeros(1)})
    missing, unexpected = m.load_state_dict({"weight": sd["weight"], "extra": 1}, strict=False)
    assert missing == ["bias"] and unexpected == ["extra"]
    with pytest.raises(ValueError, match=r"state_dict\['weight'\] has shape \(2, 3\).*expects \(3, 2\)"):
        m.load_state_dict({"weight": np.zeros((2, 3)), "bias": sd["bias"]})


def test_train_eval_switch_batch_norm_behaviour_everywhere():
    m = cnn()
    assert m.training and m[1].training
    x = Tensor(np.random.default_rng(1).random((6, 1, 8, 8)).astype(np.float32) * 3)
    y_train = m[1](m[0](x)).data
    # training mode: every channel normalised with batch statistics
    np.testing.assert_allclose(y_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    rm = m[1].running_mean.copy()
    assert m.eval() is m and not m[1].training and not m[5].training
    y_eval = m[1](m[0](x)).data
    np.testing.assert_array_equal(m[1].running_mean, rm)   # eval does not update buffers
    assert not np.allclose(y_eval, y_train)
    m.train()
    assert m[1].training


def test_zero_grad_clears_every_parameter():
    m = cnn()
    out = m(Tensor(np.ones((2, 1, 8, 8), np.float32)))
    nn.CrossEntropyLoss()(out, np.array([0, 2])).backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_repr_like_pytorch():
    assert repr(cnn()) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        "  (5): Linear(in_features=64, out_features=3, bias=True)\n"
        ")")


def test_sequential_indexing_slicing_len_and_errors():
    m = cnn()
    assert len(m) == 6 and isinstance(m[-1], nn.Linear) and isinstance(m[0], nn.Conv2d)
    head = m[4:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is m[5]
    with pytest.raises(IndexError, match="index must be an int"):
        m[6]
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_identity_flatten_and_pools_shapes():
    x = Tensor(np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4))
    assert nn.Identity()(x) is x
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.data.reshape(2, 48))
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 4)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 2, 2) and nn.AvgPool2d(2, 1)(x).shape == (2, 3, 3, 3)


def test_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="in_features must be an int >= 1, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        nn.Conv2d(1, 2, 3, padding=-1)
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0.0, 1.0\], got 2.0"):
        nn.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match=r"BatchNorm2d must be 4-D \(N, C, H, W\), got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"p must be a number in \[0.0, 1.0\]"):
        nn.Dropout(1.5)
    with pytest.raises(RuntimeError, match="Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.w = 1
        Bad()


# ----- init ---------------------------------------------------------------------------------------
def test_default_init_bounds_are_pytorchs():
    lin = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.weight.data).max() > 0.95 * bound
    assert np.abs(lin.bias.data).max() <= bound
    conv = nn.Conv2d(3, 64, 3)
    assert np.abs(conv.weight.data).max() <= 1 / math.sqrt(27) and conv.weight.dtype == np.float32


def test_manual_seed_makes_init_reproducible():
    nn.manual_seed(7)
    a = nn.Linear(4, 4).weight.data.copy()
    nn.manual_seed(7)
    b = nn.Linear(4, 4).weight.data
    c = nn.Linear(4, 4).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        nn.manual_seed(-1)


@pytest.mark.parametrize("fn, expected_std", [
    (lambda t, g: init.kaiming_normal_(t, nonlinearity="relu", generator=g), math.sqrt(2 / 200)),
    (lambda t, g: init.kaiming_uniform_(t, nonlinearity="relu", generator=g), math.sqrt(2 / 200)),
    (lambda t, g: init.xavier_normal_(t, generator=g), math.sqrt(2 / (200 + 300))),
    (lambda t, g: init.xavier_uniform_(t, generator=g), math.sqrt(2 / (200 + 300))),
])
def test_init_standard_deviations(fn, expected_std):
    t = Tensor(np.zeros((300, 200), np.float32))
    fn(t, np.random.default_rng(0))
    assert t.data.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(t.data.mean()) < 0.05 * expected_std


def test_init_zeros_ones_and_errors():
    t = Tensor(np.full((2, 3), 5.0, np.float32))
    init.zeros_(t)
    assert not t.data.any()
    init.ones_(t)
    assert (t.data == 1).all()
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.kaiming_uniform_(Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_normal_(t, mode="fan_avg")
    with pytest.raises(TypeError, match="generator must be an np.random.Generator"):
        init.uniform_(t, generator=0)


# ----- dropout --------------------------------------------------------------------------------------
def test_dropout_identity_in_eval_scaled_in_train():
    d = nn.Dropout(0.25)
    x = Tensor(np.ones((200, 50), np.float32), requires_grad=True)
    d.eval()
    assert d(x) is x
    d.train()
    nn.manual_seed(3)
    y = d(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.75, rtol=1e-6)   # survivors scaled by 1/(1-p)
    assert 0.72 < kept.mean() < 0.78
    y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_allclose(x.grad, y.data)                        # same mask in backward
    nn.manual_seed(3)
    np.testing.assert_array_equal(d(x).data, y.data)                  # seeded
    assert not nn.Dropout(1.0)(x).data.any() and nn.Dropout(0.0)(x) is x


@settings(max_examples=20, deadline=None)
@given(st.floats(0.05, 0.9))
def test_dropout_keeps_the_mean(p):
    x = Tensor(np.ones(20000, np.float32))
    with no_grad():
        y = nn.functional.dropout(x, p, True, np.random.default_rng(0))
    assert y.data.mean() == pytest.approx(1.0, abs=0.06)


def test_functional_wrappers_match_numpy():
    x = np.array([[1., -2., 3.], [0., 0.5, -1.]], np.float32)
    np.testing.assert_array_equal(nn.functional.relu(Tensor(x)).data, np.maximum(x, 0))
    lsm = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(nn.functional.log_softmax(Tensor(x), dim=1).data, lsm, rtol=1e-6)
    np.testing.assert_allclose(nn.functional.sigmoid(Tensor(x)).data, 1 / (1 + np.exp(-x)), rtol=1e-6)
    with pytest.raises(ValueError, match="start_dim=3, end_dim=1"):
        nn.functional.flatten(Tensor(np.zeros((2, 3, 4, 5))), 3, 1)


def test_batch_norm_without_running_stats_and_cumulative_momentum():
    x = Tensor(np.random.default_rng(2).standard_normal((8, 3)).astype(np.float32) * 4 + 2)
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    bn.eval()  # no running stats: batch statistics even in eval (PyTorch's rule)
    np.testing.assert_allclose(bn(x).data.mean(axis=0), 0, atol=1e-5)
    cma = nn.BatchNorm1d(3, momentum=None)  # momentum=None: running stats are the plain average of batch stats
    xs = [x.data, x.data * 2 + 1]
    for xi in xs:
        cma(Tensor(xi))
    np.testing.assert_allclose(cma.running_mean, np.mean([xi.mean(axis=0) for xi in xs], axis=0), rtol=1e-5)


def test_module_apply_visits_children_then_self():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    order = []
    m.apply(lambda mod: order.append(type(mod).__name__))
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_parameter_copies_the_callers_array_whatever_its_dtype(dtype):
    from qnn_lite.optim import SGD
    w = np.array([1.0, 2.0], dtype=dtype)
    p = nn.Parameter(w)
    assert not np.shares_memory(p.data, w)
    p.grad = np.ones_like(p.data)
    SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(w, [1.0, 2.0])          # the caller's array is untouched


def test_parameter_of_a_read_only_array_is_a_writable_copy():
    w = np.array([1.0, 2.0], np.float32)
    w.flags.writeable = False
    p = nn.Parameter(w)
    p.data += 1
    np.testing.assert_array_equal(p.data, [2.0, 3.0])
