"""Chapter-09 figures and timing helpers: what they draw must match the packing and bit-plane math."""
import numpy as np
import pytest

from qnn_lite.kernels import pack_bitplanes_rows, pack_rows, plane_weights
from qnn_lite.recipes.kernel_bench import BENCH_COLUMNS, benchmark_table, bitserial_cost, format_benchmark
from qnn_lite.viz.bits import bitplanes, plot_benchmark, plot_bitplanes, plot_bitserial_cost, plot_packing


def _gids(fig):
    out = {}
    for ax in fig.axes:
        for p in ax.patches:
            out[p.get_gid()] = out.get(p.get_gid(), 0) + 1
    return out


@pytest.mark.parametrize("k", [1, 5, 63, 64, 65, 100, 128, 130])
def test_packing_figure_draws_words_bits_and_padding(k):
    row = np.random.default_rng(k).choice([-1.0, 1.0], k)
    row[0] = 0.0                                            # sign(0) = +1 -> bit 1
    fig = plot_packing(row)
    words = -(-k // 64)
    g = _gids(fig)
    assert fig.drawn["words"] == g["word"] == words
    assert g.get("bit1", 0) + g.get("bit0", 0) == k
    assert g.get("pad", 0) == fig.drawn["pad_bits"] == 64 * words - k
    assert g.get("bit1", 0) == fig.drawn["ones"] == int(np.sum(row >= 0))
    assert g["value"] == k
    # the hex labels are the words pack_rows makes
    packed = pack_rows(row[None].astype(np.float32))[0]
    assert fig.drawn["hex"] == [f"0x{int(w):016x}" for w in packed]


def test_packing_figure_hand_case():
    fig = plot_packing(np.array([1, -1, 1, 1]))            # bits 1,0,1,1 LSB first = 0b1101 = 13
    assert fig.drawn["hex"] == ["0x000000000000000d"]
    assert fig.drawn["pad_bits"] == 60


def test_packing_rejects_bad_rows():
    with pytest.raises(ValueError, match="row"):
        plot_packing(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        plot_packing(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="row"):
        plot_packing(np.array([]))


def test_bitplanes_hand_case_and_library_planes():
    # -2 in 2-bit two's complement is 0b10: c0 = 0, c1 = 1;  3 unsigned: c0 = c1 = 1
    np.testing.assert_array_equal(bitplanes(np.array([-2, -1, 0, 1]), 2, signed=True),
                                  [[0, 1, 0, 1], [1, 1, 0, 0]])
    x = np.random.default_rng(0).integers(-4, 4, (3, 70))
    planes = bitplanes(x, 3, signed=True)
    np.testing.assert_array_equal(np.tensordot(plane_weights(3, True), planes.astype(np.int64), 1), x)
    np.testing.assert_array_equal(pack_bitplanes_rows(x, 3, True),
                                  np.stack([pack_rows(p.astype(bool)) for p in planes]))


def test_bitplanes_rejects_out_of_range():
    with pytest.raises(ValueError, match="x must lie in the 2-bit unsigned range 0..3, got min 4"):
        bitplanes(np.array([4]), 2)
    with pytest.raises(ValueError, match="bits"):
        bitplanes(np.array([1]), 0)
    with pytest.raises(TypeError, match="x must be an integer array, got float64"):
        bitplanes(np.array([1.0]), 2)


@pytest.mark.parametrize("xb,yb,xs,ys", [(2, 2, False, True), (2, 2, True, True), (3, 2, False, False),
                                         (1, 4, False, True)])
def test_bitplane_figure_pairs_sum_to_the_dot_product(xb, yb, xs, ys):
    rng = np.random.default_rng(xb * 7 + yb)
    lo = lambda b, s: -(2 ** (b - 1)) if s else 0            # noqa: E731
    hi = lambda b, s: 2 ** (b - 1) if s else 2 ** b          # noqa: E731
    x, y = rng.integers(lo(xb, xs), hi(xb, xs), 9), rng.integers(lo(yb, ys), hi(yb, ys), 9)
    fig = plot_bitplanes(x, y, xb, yb, xs, ys)
    assert len(fig.drawn["pairs"]) == xb * yb
    assert fig.drawn["dot"] == int(x @ y)
    g = _gids(fig)
    assert g.get("plane0", 0) + g.get("plane1", 0) == 9 * (xb + yb)
    top = [w for m, n, w, _ in fig.drawn["pairs"] if m == xb - 1 and n == 0]
    assert top == [-(2 ** (xb - 1)) if xs else 2 ** (xb - 1)]


def test_bitplane_figure_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        plot_bitplanes(np.array([1, 2]), np.array([1]))


@pytest.fixture(scope="module")
def bench_rows():
    return benchmark_table((64, 128), repeat=1)


def test_benchmark_table_columns_and_ratios(bench_rows):
    assert [r["n"] for r in bench_rows] == [64, 128]
    for r in bench_rows:
        assert tuple(r) == BENCH_COLUMNS
        assert all(np.isfinite(r[c]) and r[c] > 0 for c in BENCH_COLUMNS)
        assert r["binary_x"] == pytest.approx(r["f32_ms"] / r["binary_ms"])
        assert r["pack_pct"] == pytest.approx(100 * r["pack_ms"] / r["f32_ms"])
    text = format_benchmark(bench_rows).splitlines()
    assert len(text) == 2 + len(bench_rows) and text[2].split()[0] == "64"
    fig = plot_benchmark(bench_rows)
    assert fig.drawn["sizes"] == [64, 128] and fig.drawn["bars"] == 6
    assert len(fig.axes[0].get_lines()) == 5


def test_benchmark_table_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sizes"):
        benchmark_table(256)
    with pytest.raises(ValueError, match="sizes"):
        benchmark_table([0])
    with pytest.raises(ValueError, match="repeat"):
        benchmark_table([8], repeat=0)
    with pytest.raises(ValueError, match="rows"):
        plot_benchmark([])


def test_bitserial_cost_rows_count_plane_pairs():
    rows = bitserial_cost(64, bits=(1, 3), repeat=1)
    assert [(r["bits"], r["mode"], r["pairs"]) for r in rows] == \
        [(1, "a_only", 1), (1, "both", 1), (3, "a_only", 3), (3, "both", 9)]
    assert all(r["ms"] > 0 for r in rows)
    fig = plot_bitserial_cost(rows)
    assert fig.drawn["points"] == 4 and fig.drawn["slope_ms_per_pair"] > 0
    with pytest.raises(ValueError, match="bits"):
        bitserial_cost(64, bits=(9,))
