"""The chapter's tables on the shipped TinyGPT: claims the chapter will print, checked."""
import numpy as np
import pytest

from qnn_lite.recipes import llm_tables as T


@pytest.fixture(scope="module")
def setup():
    return T.setup()


def test_gptq_beats_rtn_at_int3_and_bits_per_weight_column(setup):
    model, run, val = setup
    rows = T.weight_only_table(model, run, val, methods=("rtn", "gptq"), bits=(3,), group_sizes=(128,))
    by = {r["method"]: r for r in rows}
    assert by["float"]["ppl"] < by["gptq"]["ppl"] < by["rtn"]["ppl"]
    assert by["gptq"]["bits/weight"] == pytest.approx(3 + 19 / 128)
    text = T.format_table(rows)
    assert "gptq" in text and text.count("\n") == len(rows) + 1


def test_no_strong_activation_outliers_in_the_tiny_model(setup):
    model, run, _ = setup
    rows = T.outlier_table(model, run)
    assert len(rows) == 16
    ratios = np.array([r["max/median"] for r in rows])
    assert ratios.max() < 10          # large LLMs show 20-100x (Dettmers et al., 2022); this one does not
    assert all(r["int8 per-token SQNR dB"] > r["int8 per-tensor SQNR dB"] for r in rows)


def test_kv_cache_int8_is_lossless_and_int2_is_not(setup):
    model, _, val = setup
    rows = {r["kv cache"]: r["ppl"] for r in T.kv_table(model, val, bits=(8, 2))}
    assert abs(rows["int8 per-token"] - rows["float"]) < 0.01
    assert rows["int2 per-token"] > rows["float"] + 0.5
