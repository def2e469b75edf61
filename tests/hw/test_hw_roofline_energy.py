"""Roofline and energy models: hand-computed cases and errors."""
import numpy as np
import pytest

from qnn_lite.hw import (DEVICES, SystolicArray, add_energy, attainable, conv2d_intensity,
                         gemm_intensity, layer_energy, mult_energy, roofline_points,
                         sram_energy_per_bit, systolic_energy)


def test_attainable_hand_values():
    np.testing.assert_allclose(attainable([0, 10, 20, 100], peak=100, bandwidth=5),
                               [0, 50, 100, 100])


def test_t4_table_and_ridge():
    t4 = DEVICES["Tesla T4"]
    assert t4.peak["int8"] == 130e12 and t4.peak["int4"] == 260e12
    assert t4.peak["binary"] == 1104e12 and t4.peak["fp16"] == 65e12
    assert t4.bandwidth == 320e9
    assert t4.ridge_point("int8") == pytest.approx(406.25)
    assert "assumption" in DEVICES["Zynq-7020"].source


def test_intensity_hand_values():
    # 2x2x2 GEMM: 16 ops; bytes (4*8 + 4*8 + 4*32) / 8 = 24
    assert gemm_intensity(2, 2, 2) == pytest.approx(16 / 24)
    # 4-bit operands: (4*4 + 4*4 + 4*32) / 8 = 20 bytes
    assert gemm_intensity(2, 2, 2, a_bits=4, w_bits=4) == pytest.approx(16 / 20)
    # 3x3 image, 3x3 kernel, one channel: 9 MACs; (9*8 + 9*8 + 1*32) / 8 = 22 bytes
    assert conv2d_intensity(1, 3, 3, 1, 3, 3) == pytest.approx(18 / 22)
    # fewer bits -> more ops per byte
    assert gemm_intensity(64, 64, 64, 1, 1, 8) > gemm_intensity(64, 64, 64, 4, 4, 8) \
        > gemm_intensity(64, 64, 64, 8, 8, 8)


def test_roofline_points_shape():
    x, y = roofline_points("Tesla T4", "int8", n=50)
    assert len(x) == len(y) == 50
    assert np.all(np.diff(y) >= 0)
    assert y.max() == 130e12
    assert y[0] == pytest.approx(x[0] * 320e9)
    x2, y2 = roofline_points(DEVICES["Zynq-7020"], "int8", intensities=[1.0, 1e6])
    np.testing.assert_allclose(y2, [4.2e9, 88e9])


def test_energy_table_and_scaling():
    assert mult_energy(8) == 0.2 and add_energy(8) == 0.03
    assert mult_energy(32) == 3.1 and add_energy(32) == 0.1
    assert mult_energy(16, kind="fp") == 1.1 and mult_energy(32, kind="fp") == 3.7
    assert add_energy(16, kind="fp") == 0.4 and add_energy(32, kind="fp") == 0.9
    assert mult_energy(4) == pytest.approx(0.05)          # quadratic from int8
    assert mult_energy(4, 8) == pytest.approx(0.1)
    assert add_energy(4) == pytest.approx(0.015)          # linear from int8
    assert add_energy(20) == pytest.approx(0.065)         # halfway int8 -> int32
    assert sram_energy_per_bit(8) == pytest.approx(10 / 64)
    assert sram_energy_per_bit(1024) == pytest.approx(100 / 64)


def test_layer_energy_hand_computed():
    e = layer_energy(macs=10, a_elems=2, w_elems=3, out_elems=1)
    assert e.compute == pytest.approx(10 * (0.2 + 0.1))
    assert e.sram == pytest.approx((10 * 16 + 32) * 20 / 64)
    assert e.dram == pytest.approx((2 * 8 + 3 * 8 + 32) * 20)
    assert e.total == pytest.approx(e.compute + e.sram + e.dram)
    e4 = layer_energy(macs=10, a_elems=2, w_elems=3, out_elems=1, a_bits=4, w_bits=4)
    assert e4.compute < e.compute and e4.dram < e.dram


def test_systolic_energy_uses_report_counts():
    _, rep = SystolicArray(2, 2, "ws").run_gemm(np.array([[1]]), np.array([[1]]))
    e = systolic_energy(rep)
    assert e.compute == pytest.approx(0.3)
    assert e.sram == pytest.approx((8 + 8 + 32) * 20 / 64)
    assert e.dram == pytest.approx((8 + 8 + 32) * 20)


def test_errors():
    with pytest.raises(ValueError, match="precision"):
        roofline_points("Tesla T4", "int2")
    with pytest.raises(ValueError, match="device"):
        roofline_points("Tesla K80")
    with pytest.raises(ValueError, match="intensity"):
        attainable([np.nan], 1.0, 1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        attainable([1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="a_bits"):
        gemm_intensity(2, 2, 2, a_bits=0)
    with pytest.raises(ValueError, match="M"):
        gemm_intensity(0, 2, 2)
    with pytest.raises(ValueError, match="bits"):
        add_energy(0)
    with pytest.raises(ValueError, match="bits"):
        mult_energy(8, kind="fp")
    with pytest.raises(ValueError, match="kind"):
        mult_energy(8, kind="bf")
    with pytest.raises(ValueError, match="size_kb"):
        sram_energy_per_bit(16)
    with pytest.raises(ValueError, match="macs"):
        layer_energy(-1, 1, 1, 1)
