"""Hidden cases for chapter 11: inputs the public cases do not show."""
import numpy as np

from ..checks.ch11 import _check_bitops, _check_front, _check_hutch, _check_knap, _rademacher
from ..registry import hidden_case


@hidden_case("11.1", "a depthwise 3x3 conv of MobileNetV2 and a grouped 5x5 conv")
def _(fn):
    _check_bitops(fn, 96, 96, 3, 4, 4, 96, 2, 8)
    _check_bitops(fn, 24, 12, 5, 3, 6, 3, 4, 4)


@hidden_case("11.2", "a symmetric 9x9 matrix with 13 vectors")
def _(fn):
    B = np.random.default_rng(21).normal(size=(9, 9))
    _check_hutch(fn, B + B.T, _rademacher(9, 13, 22), "9x9, 13 vectors")


@hidden_case("11.3", "four layers, four options each, two budgets")
def _(fn):
    cost = [[16, 8, 4, 2], [12, 9, 5, 1], [18, 10, 6, 3], [9, 7, 4, 2]]
    sens = [[0.0, 0.2, 0.9, 1.8], [0.0, 0.05, 0.3, 1.1], [0.0, 0.6, 0.7, 2.0], [0.0, 0.1, 0.15, 0.4]]
    _check_knap(fn, sens, cost, 30, "4 layers")
    _check_knap(fn, sens, cost, 17, "4 layers")


@hidden_case("11.4", "eight configurations with a tie in cost and one in accuracy")
def _(fn):
    _check_front(fn, [4.0, 1.0, 4.0, 2.5, 6.0, 3.0, 7.5, 6.0],
                 [0.81, 0.42, 0.86, 0.70, 0.86, 0.70, 0.91, 0.88], "8 points")
