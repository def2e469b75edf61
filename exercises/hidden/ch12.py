"""Hidden cases for chapter 12: inputs the public cases do not show."""
from ..checks.ch12 import _check_bn, _check_kl, _check_relu, _check_scale
from ..registry import hidden_case


@hidden_case("12.1", "a 12-bin histogram with a far outlier, 3 levels")
def _(fn):
    _check_kl(fn, [30, 22, 15, 9, 6, 3, 2, 1, 0, 0, 0, 4], 0.1, 3)


@hidden_case("12.2", "ranges that are already equal, and one tiny channel")
def _(fn):
    _check_scale(fn, [1.5, 2.0, 0.7], [1.5, 2.0, 0.7])
    _check_scale(fn, [1e-3, 2.0], [5.0, 0.25])


@hidden_case("12.3", "large negative and positive means, small and large spreads")
def _(fn):
    _check_relu(fn, [-4.0, -0.2, 0.0, 6.0], [1.0, 0.05, 3.0, 0.5])


@hidden_case("12.4", "one sample, and a wide batch with 7 channels")
def _(fn):
    _check_bn(fn, 31, n=1, c=2, h=5)
    _check_bn(fn, 32, n=12, c=7, h=3)
