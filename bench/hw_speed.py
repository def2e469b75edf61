"""Speed of the stepping systolic simulator, side by side with SCALE-Sim v3.

    .venv/bin/python bench/hw_speed.py [--dataflow ws|os|is] [--quick]
    QNN_LITE_SCALESIM_PYTHON=/tmp/scalesim_venv/bin/python .venv/bin/python bench/hw_speed.py

For arrays 8x8 ... 128x128 on one fixed conv layer, prints our wall time and
throughput (PE-cycles simulated per second; our run also computes every value),
and, when QNN_LITE_SCALESIM_PYTHON names an interpreter with SCALE-Sim installed,
SCALE-Sim's wall time on the same layer (run in a subprocess on generated
topology / config files; timed inside it around ``run_scale`` with traces not
saved, so interpreter start-up is excluded), its "Total Cycles" (ours must be that
+ 1) and the ratio SCALE-Sim time / our time. Not a test: timings vary with load.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from qnn_lite.hw import SystolicArray  # noqa: E402
from _scalesim import write_inputs  # noqa: E402  (bench/_scalesim.py)

ARRAYS = [8, 16, 32, 64, 128]
# name, H, W, R, S, C, F, stride: M = 10*10 = 100, K = 3*3*16 = 144, N = 32
LAYER = ("conv3x3", 12, 12, 3, 3, 16, 32, 1)
QUICK_LAYER = ("conv3x3_small", 8, 8, 3, 3, 4, 8, 1)

DRIVER = """
import contextlib, io, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout)
    t0 = time.perf_counter()
    sim.run_scale(top_path=out)
    dt = time.perf_counter() - t0
lay = sim.runner.single_layer_sim_object_list[0]
print(json.dumps({"seconds": dt, "total_cycles": int(lay.get_compute_report_items()[1])}))
"""


def run_scalesim(python, layer, n, dataflow):
    """SCALE-Sim's (seconds, Total Cycles) for one layer on an n x n array."""
    with tempfile.TemporaryDirectory() as tmp:
        topo, layout, cfg = write_inputs(tmp, layer, n, n, dataflow, run_name="bench")
        res = subprocess.run([python, "-c", DRIVER, cfg, topo, layout, os.path.join(tmp, "out")],
                             capture_output=True, text=True, check=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])
        return out["seconds"], out["total_cycles"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataflow", default="ws", choices=["ws", "os", "is"])
    ap.add_argument("--quick", action="store_true", help="small layer, for a smoke run")
    args = ap.parse_args()
    layer = QUICK_LAYER if args.quick else LAYER
    name, H, W, R, S, C, F, stride = layer
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (C, H, W), dtype=np.int8)
    w = rng.integers(-128, 128, (F, C, R, S), dtype=np.int8)
    python = os.environ.get("QNN_LITE_SCALESIM_PYTHON")
    print(f"layer {name}: ifmap {C}x{H}x{W}, filter {F}x{C}x{R}x{S}, stride {stride}; "
          f"dataflow {args.dataflow}; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    head = f"{'array':>9} {'cycles':>8} {'ours s':>8} {'PE-cyc/s':>10}"
    if python:
        head += f" {'SCALE-Sim s':>12} {'its cycles':>10} {'ratio':>7}"
    print(head)
    for n in ARRAYS:
        arr = SystolicArray(n, n, args.dataflow)
        t0 = time.perf_counter()
        _, rep = arr.run_conv2d(x, w, stride)
        ours = time.perf_counter() - t0
        line = f"{n:>4}x{n:<4} {rep.cycles:>8} {ours:>8.3f} {n * n * rep.cycles / ours:>10.3g}"
        if python:
            theirs, their_cycles = run_scalesim(python, layer, n, args.dataflow)
            ok = "" if their_cycles + 1 == rep.cycles else "  (cycles differ!)"
            line += f" {theirs:>12.3f} {their_cycles:>10} {theirs / ours:>6.1f}x{ok}"
        print(line, flush=True)
    if python:
        print("ratio = SCALE-Sim time / our time (> 1: we are faster); "
              "our cycles = SCALE-Sim Total Cycles + 1")


if __name__ == "__main__":
    main()
