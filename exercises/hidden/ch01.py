"""Hidden cases for chapter 01: inputs the public cases do not show."""
import numpy as np

from ..checks.ch01 import _check_round, _check_size
from ..registry import hidden_case


@hidden_case("1.2", "a 7B-parameter model at 4 bits, and 5 weights at 7 bits")
def _(fn):
    _check_size(fn, 7_000_000_000, 4)
    _check_size(fn, 5, 7)


@hidden_case("1.4", "3 bits on a (5, 7) Laplace tensor")
def _(fn):
    _check_round(fn, np.random.default_rng(11).laplace(0, 0.2, size=(5, 7)), 3, "Laplace weights")
