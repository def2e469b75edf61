"""Chapter 01's widget and figures, driven without a browser: readouts follow the formats' math."""
import numpy as np
import pytest

from qnn_lite.quantizers.format_values import count_values, representable_values
from qnn_lite.quantizers.formats import get_format
from qnn_lite.hw.energy import HOROWITZ_PJ
from qnn_lite.viz.formats import (MAX_LINES, format_grid, formats_widget, plot_bit_layouts, plot_energy,
                                  plot_format_grid)


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).normal(0, 0.1, size=1000).astype(np.float32)


def test_more_int_bits_give_smaller_error(weights):
    w = formats_widget(weights, fmt="INT", bits=2)
    mses, maxes = [], []
    for bits in range(2, 9):
        w.controls["bits"].value = bits
        mses.append(w.readout["mse"])
        maxes.append(w.readout["max_abs_error"])
    assert all(a > b for a, b in zip(mses, mses[1:]))
    assert all(a > b for a, b in zip(maxes, maxes[1:]))
    # ~6 dB per bit once the grid is fine (the noise model of chapter 3): 4..8 bits
    w.controls["bits"].value = 4
    s4 = w.readout["sqnr_db"]
    w.controls["bits"].value = 8
    assert 4 * 5.5 < w.readout["sqnr_db"] - s4 < 4 * 6.5


def test_int_level_counts(weights):
    w = formats_widget(weights, fmt="INT", bits=4, scheme="affine")
    for bits in (2, 3, 4, 8):
        w.controls["bits"].value = bits
        assert w.readout["levels"] == 2 ** bits and w.readout["bits"] == bits
        assert w.readout["levels_used"] <= 2 ** bits
    w.controls["scheme"].value = "symmetric"
    assert w.readout["levels"] == 2 ** 8 - 1              # narrow range: -127..127
    w.controls["bits"].value = 2
    assert w.readout["levels_used"] == 3                  # {-s, 0, s}
    # the error is at most half a step inside the range
    assert w.readout["max_abs_error"] <= w.readout["step_at_max"] / 2 * (1 + 1e-5)


def test_bf16_grid_is_coarser_than_fp16_near_one():
    x = np.random.default_rng(1).uniform(0.75, 1.25, 3000).astype(np.float32)
    w = formats_widget(x, fmt="FP16")
    fp16 = dict(w.readout)
    w.controls["format"].value = "BF16"
    bf16 = dict(w.readout)
    assert bf16["step_at_max"] == 8 * fp16["step_at_max"] == 2 ** -7 * 1.0   # max|w| in [1, 2)
    assert fp16["levels"] == count_values("fp16", x.min(), x.max()) > 6 * bf16["levels"]
    assert bf16["mse"] > 30 * fp16["mse"]                                      # 8x step -> ~64x MSE
    assert w.controls["bits"].disabled and w.controls["scheme"].disabled       # they apply to INT only


def test_float_formats_readouts(weights):
    w = formats_widget(weights, fmt="FP32")
    assert w.readout["mse"] == 0.0 and w.readout["max_abs_error"] == 0.0 and w.grid_lines is None
    w.controls["format"].value = "FP8 E4M3"
    e4m3 = dict(w.readout)
    assert e4m3["bits"] == 8 and e4m3["levels"] == count_values("fp8_e4m3", weights.min(), weights.max())
    assert e4m3["levels"] <= MAX_LINES and len(w.grid_lines.get_segments()) == e4m3["levels"]
    w.controls["format"].value = "FP8 E5M2"
    assert w.readout["mse"] > e4m3["mse"]                 # one mantissa bit fewer
    w.controls["format"].value = "binary"
    assert w.readout["levels"] == 2 and w.readout["levels_used"] == 2


def test_format_grid_levels_are_the_rounded_values(weights):
    grid, levels, step = format_grid(weights, "int", bits=3, scheme="symmetric")
    assert levels == 7 and np.allclose(np.diff(grid), step)
    w = formats_widget(weights, fmt="INT", bits=3)
    assert np.all(np.isin(np.unique(w.w_hat), grid.astype(np.float32)))
    grid, levels, _ = format_grid(weights, "fp8_e4m3")
    w.controls["format"].value = "FP8 E4M3"
    assert levels == grid.size
    # every rounded weight is a value of the format (the extremes may round just outside [min, max])
    assert np.all(np.isin(w.w_hat, representable_values("fp8_e4m3", w.w_hat.min(), w.w_hat.max())))
    assert np.isin(w.w_hat, grid).mean() > 0.99
    assert format_grid(weights, "fp16")[0] is None        # too dense to draw


def test_figures_draw():
    fig = plot_bit_layouts(value=1.0)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("1") == 7 + 4 + 7 + 3 + 4 + 1 + 1   # ones in 1.0: fp32, fp16, bf16, e4m3, e5m2, int8, int4
    assert texts.count("0") == (32 + 16 + 16 + 8 + 8 + 8 + 4) - 27
    with pytest.raises(ValueError, match="x must be an integer code .* got 0.5"):
        plot_bit_layouts(value=0.5)                          # int rows need a code
    fig = plot_energy({f"{op} {fmt}": v for (op, fmt), v in HOROWITZ_PJ.items()})
    assert len(fig.axes[0].patches) == len(HOROWITZ_PJ)
    ax, lines = plot_format_grid(np.linspace(-1, 1, 100), "int", bits=2)
    assert len(lines.get_segments()) == 3


def test_errors():
    with pytest.raises(ValueError, match="fmt must be one of"):
        formats_widget(np.ones(4), fmt="FP7")
    with pytest.raises(ValueError, match="bits must be an int in 2..8"):
        formats_widget(np.ones(4), bits=9)
    with pytest.raises(ValueError, match="scheme"):
        formats_widget(np.ones(4), scheme="asym")
    with pytest.raises(ValueError, match="w must be a finite array"):
        formats_widget(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="energies"):
        plot_energy({"int8 add": 0.0})
    assert get_format("int8").bits == 8
