"""Names that moved to a new module are still importable from the path the chapters use, and are
the same objects; every new module imports on its own in a fresh interpreter (no import cycle)."""
import importlib
import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = str(Path(__file__).parents[1])

# old module -> {name the book imports from it: module it now lives in}
MOVED = {
    "qnn_lite.formats": {n: "qnn_lite.format_values" for n in ("count_values", "round_weights", "spacing")},
    "qnn_lite.viz.calibration": {"activation_samples": "qnn_lite.quant.record"},
    "qnn_lite.quant.bnn": {n: "qnn_lite.quant.bnn_mlp" for n in ("quantized_mlp", "TrainResult", "train_quantized_mlp",
                                                                "bit_width_table", "format_bit_table")},
    "qnn_lite.viz.systolic": {
        **{n: "qnn_lite.viz.hardware" for n in ("cycle_agreement", "utilization_vs_array_size",
                                                 "plot_utilization_vs_array_size", "roofline_table", "plot_roofline",
                                                 "energy_by_precision", "plot_energy_bars", "integer_layer_on")},
        **{n: "qnn_lite.viz.bitfusion" for n in ("bitbrick_terms", "plot_bitbrick_decomposition",
                                                  "throughput_table")},
    },
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_import_paths_give_the_moved_objects(old):
    old_mod = importlib.import_module(old)
    for name, new in MOVED[old].items():
        new_mod = importlib.import_module(new)
        assert name in new_mod.__all__, f"{name} missing from {new}.__all__"
        assert getattr(old_mod, name) is getattr(new_mod, name), f"{old}.{name} is not {new}.{name}"


def test_formats_still_rejects_unknown_names():
    import qnn_lite.formats as formats

    with pytest.raises(AttributeError, match="no_such_name"):
        formats.no_such_name  # noqa: B018
    with pytest.raises(ImportError, match="representable_values_typo"):
        exec("from qnn_lite.formats import representable_values_typo", {})


@pytest.mark.parametrize("first", ["qnn_lite.format_values", "qnn_lite.quant.record", "qnn_lite.viz.hardware",
                                   "qnn_lite.viz.bitfusion", "qnn_lite.quant.bnn_mlp"])
def test_new_module_imports_first_in_a_fresh_interpreter(first):
    old = {"qnn_lite.format_values": "qnn_lite.formats", "qnn_lite.quant.record": "qnn_lite.viz.calibration",
           "qnn_lite.viz.hardware": "qnn_lite.viz.systolic", "qnn_lite.viz.bitfusion": "qnn_lite.viz.systolic",
           "qnn_lite.quant.bnn_mlp": "qnn_lite.quant.bnn"}[first]
    code = f"import {first}, {old}; print('ok')"
    env = {**os.environ, "MPLBACKEND": "Agg", "QNN_LITE_QUIET": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
