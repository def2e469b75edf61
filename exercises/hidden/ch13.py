"""Hidden cases for chapter 13: inputs the public cases do not show."""
import numpy as np

from ..checks.ch13 import _check_awq, _check_group, _check_mx, _check_smooth, _check_step, _layer, _rowparams
from ..registry import hidden_case


@hidden_case("13.1", "int2 and int8, groups of 16 and 128 on a (8, 256) Laplace weight")
def _(fn):
    w = np.random.default_rng(21).laplace(0, 0.03, (8, 256)).astype(np.float32)
    _check_group(fn, w, 2, 16)
    _check_group(fn, w, 8, 128)


@hidden_case("13.2", "int2 steps on a (3, 12) layer, columns 0, 6 and 11")
def _(fn):
    W, U = _layer(22, out=3, n=12, tokens=80)
    s, z = _rowparams(W, 2)
    for j in (0, 6, 11):
        _check_step(fn, W, U, j, s, z, 0, 3)


@hidden_case("13.3", "ratio 0.35 on 100 heavy-tailed channels")
def _(fn):
    _check_awq(fn, list(np.random.default_rng(23).lognormal(0, 1.5, 100)), 0.35)


@hidden_case("13.4", "alpha = 0.9 on a (32, 24) layer with two outlier channels")
def _(fn):
    rng = np.random.default_rng(24)
    a = rng.gamma(2.0, 0.5, 24)
    a[[3, 17]] = [40.0, 60.0]
    _check_smooth(fn, a, rng.normal(0, 0.05, (32, 24)), 0.9)


@hidden_case("13.5", "a block of large values (max 300) and a block of tiny ones (max 3e-6)")
def _(fn):
    rng = np.random.default_rng(25)
    _check_mx(fn, rng.uniform(-300, 300, 32))
    _check_mx(fn, rng.normal(0, 1e-6, 32))
