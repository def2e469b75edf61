"""bench/kernels.py's report: best-of-k with the spread, and rows too noisy to trust flagged.
(No timing is asserted: these feed made-up times to the formatting.)"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_kernels", Path(__file__).resolve().parents[1] / "bench" / "kernels.py")
kernels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kernels)
COLS = ["f32", "bitcnt", "binary", "2bx2b", "int8", "np_int8", "pack"]


def test_summarize_is_the_best_run_and_how_much_slower_the_median_was():
    assert kernels.summarize([2.0, 3.0, 4.0]) == (2.0, pytest.approx(0.5))
    assert kernels.summarize([5.0]) == (5.0, 0.0)


def test_a_row_with_a_large_spread_is_flagged_and_names_the_column():
    quiet = {c: (1.0, 0.05) for c in COLS}
    assert "NOISY" not in kernels.row(1, 256, quiet, COLS)
    noisy = dict(quiet, f32=(1.0, 4.0))          # the median f32 run was 5x the best
    line = kernels.row(1, 256, noisy, COLS)
    assert line.endswith("NOISY: f32") and "+400%" in line


def test_skipped_measurements_print_a_dash_and_no_ratio():
    r = {c: (1.0, 0.0) for c in COLS}
    r["bitcnt"] = (float("nan"), 0.0)
    line = kernels.row(2, 4096, r, COLS)
    assert "NOISY" not in line and line.split("|")[1].split()[1] == "-"


def test_the_legend_explains_every_column_and_ratio():
    for name in COLS + ["f32/bin", "bitcnt/bin", "f32/2b2b", "f32/int8", "npi8/i8", "pack%f32", "NOISY"]:
        assert name in kernels.LEGEND
