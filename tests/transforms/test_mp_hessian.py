"""Hutchinson's trace estimator and finite-difference Hessian-vector products against exact Hessians."""
import numpy as np
import pytest

from qnn_lite import nn
from qnn_lite.autograd.tensor import Tensor, no_grad
from qnn_lite.transforms.hessian import (HessianProbe, hawq_sensitivity, hessian_matrix, hutchinson_trace,
                                         layer_hessian_traces)


def test_hutchinson_converges_to_the_trace_of_a_matrix():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(12, 12))
    A = B + B.T
    s = hutchinson_trace(lambda v: A @ v, 12, n_samples=4000, seed=1)
    assert abs(s.mean() - np.trace(A)) < 4 * s.std() / np.sqrt(len(s))
    # the variance of one Rademacher sample is 2 * sum_{i != j} A_ij^2
    off = 2 * (np.sum(A ** 2) - np.sum(np.diag(A) ** 2))
    assert s.var() == pytest.approx(off, rel=0.1)
    # error shrinks like 1/sqrt(n): averaged over seeds, 400 samples beat 4 by far
    err = {n: np.mean([abs(hutchinson_trace(lambda v: A @ v, 12, n, seed=k).mean() - np.trace(A))
                       for k in range(20)]) for n in (4, 400)}
    assert err[400] < err[4] / 4
    D = np.diag(rng.normal(size=7))                       # diagonal: every sample is exact
    assert np.allclose(hutchinson_trace(lambda v: D @ v, 7, 3), np.trace(D))


def test_linear_model_with_mse_has_the_analytic_hessian():
    # L = mean over N*O of (x W^T + b - t)^2  ->  d2L/dW_ij dW_kl = 2/(N O) [i == k] sum_n x_nj x_nl
    rng = np.random.default_rng(0)
    N, I, O = 6, 3, 2
    X, T = rng.normal(size=(N, I)), rng.normal(size=(N, O))
    model = nn.Sequential(nn.Linear(I, O, generator=np.random.default_rng(1)))
    probe = HessianProbe(model, X, T, loss_fn=nn.MSELoss(), eps=1e-3)
    H = hessian_matrix(probe, "0")
    exact = 2 / (N * O) * np.kron(np.eye(O), X.T @ X)
    np.testing.assert_allclose(H, exact, atol=1e-9)       # quadratic loss: central differences are exact
    assert np.trace(exact) == pytest.approx(2 * np.sum(X ** 2) / N)
    est = layer_hessian_traces(model, X, T, n_samples=2000, loss_fn=nn.MSELoss(), seed=3)["0"]
    assert abs(est.trace - np.trace(exact)) < 4 * est.stderr
    assert est.stderr < 0.05 * np.trace(exact)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 5, generator=rng), nn.Tanh() if hasattr(nn, "Tanh") else nn.ReLU(),
                          nn.Linear(5, 3, generator=rng))
    X, y = rng.normal(size=(16, 4)), rng.integers(0, 3, 16)
    probe = HessianProbe(model, X, y, eps=1e-5)
    return model, X, y, probe, {n: hessian_matrix(probe, n) for n in ("0", "2")}


def _loss(model, X, y, layer, w):
    m = dict(model.named_modules())[layer]
    old = m.weight.data.copy()
    m.weight.data = w
    with no_grad():
        loss = float(nn.CrossEntropyLoss()(model(Tensor(X)), y).data)
    m.weight.data = old
    return loss


def test_finite_difference_hessian_is_symmetric_and_matches_second_differences_of_the_loss(tiny):
    model, X, y, probe, H = tiny
    for name, Hl in H.items():
        np.testing.assert_allclose(Hl, Hl.T, atol=1e-6)
        # independent check: d2L/dw_j^2 from the loss alone (no gradients)
        m = dict(probe.model.named_modules())[name]
        w0, h = m.weight.data.copy(), 1e-4
        for j in (0, 3, w0.size - 1):
            e = np.zeros(w0.size)
            e[j] = h
            e = e.reshape(w0.shape)
            d2 = (_loss(probe.model, probe.X.data, y, name, w0 + e) - 2 * _loss(probe.model, probe.X.data, y, name, w0)
                  + _loss(probe.model, probe.X.data, y, name, w0 - e)) / h ** 2
            assert Hl.ravel()[j * w0.size + j] == pytest.approx(d2, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("blockwise", [True, False])
def test_hutchinson_per_layer_converges_to_the_exact_block_traces(tiny, blockwise):
    model, X, y, _, H = tiny
    est = layer_hessian_traces(model, X, y, n_samples=1500, eps=1e-5, seed=0, blockwise=blockwise)
    for name, Hl in H.items():
        e = est[name]
        assert e.n_params == Hl.shape[0]
        assert abs(e.trace - np.trace(Hl)) < 4 * e.stderr, (name, e.trace, np.trace(Hl), e.stderr)
        assert e.mean_trace == pytest.approx(e.trace / e.n_params)
        # convergence: the running mean's error at the end is far below the error of few samples
        running = np.cumsum(e.samples) / np.arange(1, len(e.samples) + 1)
        early = np.mean(np.abs(running[:10] - np.trace(Hl)))
        assert abs(running[-1] - np.trace(Hl)) < early


def test_hawq_sensitivity_is_trace_times_weight_error(tiny):
    model, X, y, _, H = tiny
    traces = layer_hessian_traces(model, X, y, n_samples=8)
    opts = [(2, 8), (4, 8), (8, 8)]
    s = hawq_sensitivity(model, traces, opts)
    W = model._modules["2"].weight.data.astype(np.float64)
    scale = np.float32(np.abs(W).max()) / np.float32(1.5)           # symmetric: max|W| / ((qmax - qmin) / 2)
    Wq = np.clip(np.rint(W / np.float32(scale)), -2, 1) * np.float32(scale)
    assert s["2"][(2, 8)] == pytest.approx(traces["2"].mean_trace * np.sum((Wq - W) ** 2), rel=1e-5)
    # the last layer's block is PSD (cross-entropy is convex in the logits, linear in W_2): the score
    # falls with the bits; the hidden layer's block trace may be negative, the weight error still falls
    assert s["2"][(2, 8)] > s["2"][(4, 8)] > s["2"][(8, 8)] > 0
    err = [s["0"][o] / traces["0"].mean_trace for o in opts]
    assert err[0] > err[1] > err[2] > 0
    with pytest.raises(ValueError, match="no estimate for layer '2'"):
        hawq_sensitivity(model, {"0": traces["0"]}, opts)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        hutchinson_trace(lambda v: v, 3, n_samples=0)
    with pytest.raises(ValueError, match="dim"):
        hutchinson_trace(lambda v: v, 0)
    with pytest.raises(ValueError, match="eps"):
        HessianProbe(nn.Sequential(nn.Linear(2, 2)), np.zeros((1, 2)), np.zeros(1, int), eps=0)


def test_unfused_batchnorm_model_runs_in_float64_and_agrees_with_the_fused_one():
    from qnn_lite.recipes.digits import digits_cnn
    rng = np.random.default_rng(0)
    model = digits_cnn(seed=0).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[:] = rng.normal(0, 0.1, m.num_features).astype(np.float32)
            m.running_var[:] = rng.uniform(0.5, 2, m.num_features).astype(np.float32)
    X, y = rng.uniform(0, 1, (8, 1, 8, 8)), rng.integers(0, 10, 8)
    raw = HessianProbe(model, X, y, fuse=False)
    assert all(b.dtype == np.float64 for m in raw.model.modules() for b in m._buffers.values() if b is not None
               and b.dtype.kind == "f")
    g = raw.gradients()
    assert all(v.dtype == np.float64 for v in g.values())
    # the linear layer sees the same function fused or not (folding rounds the conv weights to float32)
    np.testing.assert_allclose(g["9"], HessianProbe(model, X, y, fuse=True).gradients()["9"], rtol=1e-4, atol=1e-8)
