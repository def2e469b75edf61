"""Hidden cases for chapter 03: inputs the public cases do not show."""
import numpy as np

from ..checks.ch03 import _check_fq, _check_qparams, _data
from ..registry import hidden_case


@hidden_case("3.2", "a 4-bit signed range (-2.5, 0.3) and a narrow unsigned one")
def _(fn):
    _check_qparams(fn, -2.5, 0.3, -8, 7)
    _check_qparams(fn, -0.01, 0.02, 0, 15)


@hidden_case("3.3", "4-bit unsigned with z = 9")
def _(fn):
    _check_fq(fn, _data(7, s=0.4, z=9), 0.4, 9, 0, 15)
