"""qnn_lite.validate: each check accepts what it should and names argument, value and rule otherwise."""
import math

import numpy as np
import pytest

from qnn_lite import Tensor
from qnn_lite.validate import (as_float, check_bits, check_bool, check_choice, check_float_array, check_fraction,
                               check_int,
                               check_number, check_positive, check_quant_range, check_scale, check_shape,
                               check_zero_point)


def test_check_int_accepts_numpy_ints_and_rejects_bools_floats_and_out_of_range():
    assert check_int(np.int8(3), "k", 1, 4) == 3 and type(check_int(np.int8(3), "k", 1, 4)) is int
    with pytest.raises(TypeError, match=r"k must be an int in 1..4, got True"):
        check_int(True, "k", 1, 4)
    with pytest.raises(TypeError, match=r"k must be an int in 1..4, got 2.0"):
        check_int(2.0, "k", 1, 4)
    with pytest.raises(ValueError, match=r"k must be an int in 1..4, got 5"):
        check_int(5, "k", 1, 4)
    with pytest.raises(ValueError, match=r"k must be an int >= 0, got -1"):
        check_int(-1, "k", 0)


def test_check_bits_message_is_the_documented_one():
    with pytest.raises(ValueError, match=r"^bits must be an int in 1..16, got 0$"):
        check_bits(0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_check_number_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="lr must be a number >= 0"):
        check_number(bad, "lr", 0.0)


def test_check_number_interval_ends():
    assert check_number(0.0, "m", 0.0, 1.0, hi_open=True) == 0.0
    with pytest.raises(ValueError, match=r"m must be a number in \[0.0, 1.0\), got 1.0"):
        check_number(1.0, "m", 0.0, 1.0, hi_open=True)
    with pytest.raises(ValueError, match=r"eps must be a number > 0"):
        check_positive(0, "eps")
    assert check_fraction(1, "p") == 1.0
    with pytest.raises(TypeError):
        check_number("1", "m")


def test_check_bool_and_choice():
    assert check_bool(np.bool_(True), "f") is True
    with pytest.raises(TypeError, match="f must be True or False, got 1"):
        check_bool(1, "f")
    assert check_choice("ws", "dataflow", ("ws", "os")) == "ws"
    with pytest.raises(ValueError, match=r"dataflow must be one of 'ws', 'os'; got 'xx'"):
        check_choice("xx", "dataflow", ("ws", "os"))
    with pytest.raises(ValueError):
        check_choice(True, "n", (1, 2))


def test_as_float_unwraps_tensors_casts_ints_and_rejects_nan_empty_and_strings():
    t = Tensor(np.array([1.0, 2.0]))
    assert as_float(t) is t.data
    assert as_float(np.array([1.0, 2.0])).dtype == np.float64
    assert as_float([1, 2]).dtype == np.float32
    with pytest.raises(ValueError, match="x must be finite .* 1 non-finite"):
        as_float([1.0, np.nan])
    with pytest.raises(ValueError, match="w must have at least one element"):
        as_float([], "w")
    assert as_float([], "w", allow_empty=True).size == 0
    assert np.isinf(as_float([np.inf], finite=False)).all()
    with pytest.raises(TypeError, match="x must be a numeric array, got dtype <U1"):
        as_float(["a"])


def test_quant_range_scale_and_zero_point():
    assert check_quant_range(-128, 127) == (-128, 127)
    with pytest.raises(ValueError, match="quant_min must be < quant_max, got quant_min=5, quant_max=2"):
        check_quant_range(5, 2)
    np.testing.assert_array_equal(check_scale([0.5, 1.0]), np.float32([0.5, 1.0]))
    with pytest.raises(ValueError, match="scale must be > 0 everywhere, got min 0.0"):
        check_scale([0.0, 1.0])
    np.testing.assert_array_equal(check_zero_point(np.float32([3.0]), 0, 255), [3])
    with pytest.raises(ValueError, match="zero_point must hold whole numbers"):
        check_zero_point(0.5, 0, 255)
    with pytest.raises(ValueError, match=r"zero_point must lie in quant_min..quant_max = 0..255, got values in 1000..1000"):
        check_zero_point(1000, 0, 255)


def test_check_shape():
    x = np.zeros((2, 3))
    assert check_shape(x, "A", 2) is x
    with pytest.raises(ValueError, match=r"A must be 3 or 4-D \(NCHW\), got shape \(2, 3\)"):
        check_shape(x, "A", (3, 4), "(NCHW)")


def test_check_float_array_keeps_inf_rejects_nan_and_ints():
    x = np.array([1.0, np.inf, -np.inf], np.float32)
    assert check_float_array(x) is x
    with pytest.raises(ValueError, match="w must not contain NaN, got 1 NaN value"):
        check_float_array(np.array([0.0, np.nan]), "w")
    with pytest.raises(TypeError, match="x must be a floating array, got dtype int64"):
        check_float_array(np.array([1, 2], np.int64))


def test_check_bits_allow_32_names_full_precision():
    assert check_bits(32, allow_32=True) == 32 and check_bits(2, "g_bits", 2, allow_32=True) == 2
    with pytest.raises(ValueError, match=r"g_bits must be an int in 2..16 or 32 \(full precision\), got 1"):
        check_bits(1, "g_bits", 2, allow_32=True)
    with pytest.raises(TypeError, match="w_bits must be an int in 1..16 or 32"):
        check_bits(8.0, "w_bits", allow_32=True)
    with pytest.raises(ValueError, match="bits must be an int in 1..16, got 32"):
        check_bits(32)


def test_as_float32_no_nan_names_who_needs_real_numbers_and_keeps_inf():
    from qnn_lite.validate import as_float32_no_nan
    out = as_float32_no_nan(Tensor(np.array([1.0, np.inf])))
    assert out.dtype == np.float32 and np.isinf(out[1])
    with pytest.raises(ValueError, match=r"x contains NaN \(1 of 2 values\); MinMaxObserver needs real numbers"):
        as_float32_no_nan([1.0, np.nan], "MinMaxObserver")
    with pytest.raises(TypeError, match="x must be a numeric array or Tensor, got dtype <U1"):
        as_float32_no_nan(["a"])
