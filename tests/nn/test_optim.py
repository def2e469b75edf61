"""SGD / Adam / LR schedules against PyTorch trajectories and hand-computed steps."""
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qnn_lite import Tensor
from qnn_lite.nn import Parameter
from qnn_lite.optim import SGD, Adam, CosineAnnealingLR, StepLR

GOLD = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "torch_golden_nn.npz"))
A, B, P0 = GOLD["quad_a"], GOLD["quad_b"], GOLD["quad_p0"]


def run(opt_cls, steps=6, **kw):
    """Minimise f(p) = sum(a p^2 / 2 + b p) (gradient a p + b) for ``steps`` steps; return the trajectory."""
    p = Parameter(P0.copy(), dtype=np.float64)
    opt = opt_cls([p], **kw)
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = A * p.data + B
        opt.step()
        traj.append(p.data.copy())
    return np.stack(traj)


@pytest.mark.parametrize("name, cls, kw", [
    ("sgd_plain", SGD, dict(lr=0.1)),
    ("sgd_momentum", SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd_damp_wd", SGD, dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("sgd_nesterov", SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam_default", Adam, dict(lr=0.1)),
    ("adam_betas_wd", Adam, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
])
def test_optimizer_trajectory_equals_pytorch(name, cls, kw):
    np.testing.assert_allclose(run(cls, **kw), GOLD[f"opt_{name}"], rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), lr=st.floats(1e-4, 1.0),
       momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       weight_decay=st.sampled_from([0.0, 1e-2]), nesterov=st.booleans(),
       shape=st.sampled_from([(1,), (7,), (3, 5), (2, 3, 2, 2)]), seed=st.integers(0, 2**16))
def test_sgd_fused_step_is_bit_identical_to_the_numpy_step(dtype, lr, momentum, dampening, weight_decay,
                                                            nesterov, shape, seed):
    """SGD.step runs a compiled one-pass update; it must equal the numpy reference bit for bit."""
    nesterov = nesterov and momentum > 0 and dampening == 0
    rng = np.random.default_rng(seed)
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
    p0 = rng.standard_normal(shape).astype(dtype)
    fused, plain = Parameter(p0.copy(), dtype=dtype), Parameter(p0.copy(), dtype=dtype)
    opt_f, opt_p = SGD([fused], **kw), SGD([plain], **kw)
    for _ in range(3):
        g = rng.standard_normal(shape).astype(dtype)
        fused.grad, plain.grad = g.copy(), g.copy()
        opt_f.step()
        opt_p._numpy_step(plain, opt_p.param_groups[0])
        np.testing.assert_array_equal(fused.data, plain.data)
    assert fused.data.dtype == dtype
    if momentum:
        np.testing.assert_array_equal(opt_f.state[id(fused)]["momentum_buffer"],
                                      opt_p.state[id(plain)]["momentum_buffer"])


def test_sgd_takes_the_numpy_path_for_strided_grads_and_float16():
    """A non-contiguous gradient or a float16 parameter is updated by the numpy path."""
    p = Parameter(np.ones((3, 4), np.float32))
    opt = SGD([p], lr=0.5, momentum=0.9)
    g = np.arange(12, dtype=np.float32).reshape(4, 3).T   # a transposed view
    assert not g.flags.c_contiguous
    p.grad = g
    opt.step()
    np.testing.assert_array_equal(p.data, 1 - np.float32(0.5) * g)
    q = Parameter(np.array([10, 20]), dtype=np.float16)
    opt_q = SGD([q], lr=0.5, momentum=0.9)
    for _ in range(2):
        q.grad = np.array([1, 2], np.float16)
        opt_q.step()                      # b = 1, 2 then 1.9, 3.8; p = 10 - 0.5 - 0.95, 20 - 1 - 1.9
    assert q.data.dtype == np.float16
    np.testing.assert_allclose(q.data, [8.55, 17.1], rtol=1e-3)


def test_sgd_momentum_two_steps_by_hand():
    p = Parameter(np.array([1.0]), dtype=np.float64)
    opt = SGD([p], lr=0.5, momentum=0.5)
    p.grad = np.array([2.0])
    opt.step()                    # b = 2, p = 1 - 0.5 * 2 = 0
    assert p.data[0] == pytest.approx(0.0)
    p.grad = np.array([4.0])
    opt.step()                    # b = 0.5 * 2 + 4 = 5, p = 0 - 2.5
    assert p.data[0] == pytest.approx(-2.5)


def test_adam_first_step_is_lr_times_sign():
    """With bias correction the first Adam step is lr * g / (|g| + eps) ~ lr * sign(g)."""
    p = Parameter(np.array([1.0, -2.0, 3.0]), dtype=np.float64)
    opt = Adam([p], lr=0.01)
    p.grad = np.array([1e-3, -5.0, 0.0])
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.01, -2.0 + 0.01, 3.0], rtol=1e-4)


def test_step_skips_params_without_grad_and_works_in_place():
    p, q = Parameter(np.ones(2, np.float32)), Parameter(np.ones(2, np.float32))
    data_q = q.data
    opt = SGD([p, q], lr=1.0, momentum=0.9)
    q.grad = np.full(2, 0.5, np.float32)
    opt.step()
    np.testing.assert_array_equal(p.data, [1, 1])
    assert q.data is data_q and q.data.dtype == np.float32
    np.testing.assert_array_equal(q.data, [0.5, 0.5])


def test_state_dict_round_trip_continues_identically():
    a = run(Adam, steps=6, lr=0.1)
    p = Parameter(P0.copy(), dtype=np.float64)
    opt = Adam([p], lr=0.1)
    for _ in range(3):
        p.grad = A * p.data + B
        opt.step()
    sd = opt.state_dict()
    p2 = Parameter(p.data.copy(), dtype=np.float64)
    opt2 = Adam([p2], lr=0.1)
    opt2.load_state_dict(sd)
    for _ in range(3):
        p2.grad = A * p2.data + B
        opt2.step()
    np.testing.assert_allclose(p2.data, a[-1], rtol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda p: SGD(p, lr=-0.1), "lr must be a number >= 0.0, got -0.1"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), "momentum must be"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be a number in \[0.0, 1.0\)"),
    (lambda p: Adam(p, eps=-1e-8), "eps must be"),
    (lambda p: Adam(p, betas=0.9), "betas must be a pair"),
    (lambda p: SGD([], lr=0.1), "params must be a non-empty"),
    (lambda p: SGD([Tensor(np.zeros(2))], lr=0.1), "requires_grad=True"),
])
def test_optimizer_bad_hyperparameters_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call([Parameter(np.zeros(2))])


@pytest.mark.parametrize("name, make", [
    ("steplr", lambda o: StepLR(o, step_size=3, gamma=0.5)),
    ("cosine", lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
])
def test_schedules_equal_pytorch(name, make):
    opt = SGD([Parameter(np.zeros(1))], lr=0.2)
    sched = make(opt)
    lrs = []
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, GOLD[f"lr_{name}"], rtol=1e-12, atol=1e-15)
    assert sched.get_last_lr() == [lrs[-1]]


def test_cosine_hand_values_and_schedule_errors():
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=4)
    sched.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)       # halfway: (1 + cos(pi/2)) / 2
    sched.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="step_size must be an int >= 1, got 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be an int >= 1, got 0"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="optimizer must be"):
        StepLR(object(), 1)
    assert math.isclose(StepLR(SGD([Parameter(np.zeros(1))], lr=0.3), 2).get_last_lr()[0], 0.3)
