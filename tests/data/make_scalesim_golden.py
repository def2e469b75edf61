"""Generate tests/data/scalesim_cycles.json: SCALE-Sim v3 numbers for a grid of layers.

Not run by the test suite (it needs SCALE-Sim, which needs numpy<2). Run it with a
scratch interpreter that has SCALE-Sim installed:

    python3 -m venv /tmp/scalesim_venv
    /tmp/scalesim_venv/bin/pip install scalesim "numpy<2"
    /tmp/scalesim_venv/bin/python tests/data/make_scalesim_golden.py

Every case is a convolution layer in SCALE-Sim's topology format (a GEMM M x K x N is
the 1x1 convolution of a 1 x M image with K channels and N filters). The config uses
``InterfaceBandwidth: CALC`` (SCALE-Sim's "estimate bandwidth" mode: reads never
stall) and SRAMs large enough that output writes never stall, so "Total Cycles" is
the stall-free compute time. We record, per case:

    total_cycles   SCALE-Sim's "Total Cycles" (0-based index of the last cycle)
    stall_cycles   must be 0 for the comparison to mean anything
    ifmap_reads, filter_reads, ofmap_writes   SRAM access counts (detail report)
    mapping_eff, compute_util, overall_util   percentages from the compute report
"""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "scalesim_cycles.json")

# (name, H, W, R, S, C, F, stride): GEMMs (1x1 conv on a 1 x M image) and real convs
LAYERS = [
    ("gemm_1x1x1", 1, 1, 1, 1, 1, 1, 1),
    ("gemm_5x3x7", 1, 5, 1, 1, 3, 7, 1),
    ("gemm_4x4x4", 1, 4, 1, 1, 4, 4, 1),
    ("gemm_9x1x6", 1, 9, 1, 1, 1, 6, 1),
    ("gemm_13x10x11", 1, 13, 1, 1, 10, 11, 1),
    ("gemm_16x17x9", 1, 16, 1, 1, 17, 9, 1),
    ("gemm_32x20x8", 1, 32, 1, 1, 20, 8, 1),
    ("conv_6x6_3x3_c2_f4_s1", 6, 6, 3, 3, 2, 4, 1),
    ("conv_7x5_3x2_c3_f5_s2", 7, 5, 3, 2, 3, 5, 2),
    ("conv_8x8_2x2_c1_f3_s3", 8, 8, 2, 2, 1, 3, 3),
    ("conv_5x5_5x5_c1_f2_s1", 5, 5, 5, 5, 1, 2, 1),
]
ARRAYS = [(2, 2), (4, 4), (4, 8), (8, 4), (3, 5), (8, 8), (16, 16)]
DATAFLOWS = ["ws", "os", "is"]

CONFIG = """[general]
run_name = golden

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {df}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

TOPO_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
               "Channels, Num Filter, Strides,\n")
LAYOUT_HEADER = "Layer name," + ",".join(["x"] * 20) + ",\n"


def write_inputs(tmp, layer, rows, cols, df):
    """Write topology, layout and config files for one SCALE-Sim run; return their paths."""
    name, H, W, R, S, C, F, stride = layer
    topo = os.path.join(tmp, "topo.csv")
    with open(topo, "w") as f:
        f.write(TOPO_HEADER)
        f.write(f"{name}, {H}, {W}, {R}, {S}, {C}, {F}, {stride},\n")
    layout = os.path.join(tmp, "layout.csv")
    with open(layout, "w") as f:
        f.write(LAYOUT_HEADER)
        f.write(name + "," + ",".join(["1"] * 20) + ",\n")
    cfg = os.path.join(tmp, "scale.cfg")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(rows=rows, cols=cols, df=df))
    return topo, layout, cfg


def run_one(layer, rows, cols, df):
    """Run SCALE-Sim on one layer and return its numbers as a dict."""
    from scalesim.scale_sim import scalesim
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as tmp:
        topo, layout, cfg = write_inputs(tmp, layer, rows, cols, df)
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                           topology=topo, layout=layout)
            sim.run_scale(top_path=os.path.join(tmp, "out"))
        lay = sim.runner.single_layer_sim_object_list[0]
        comp = lay.get_compute_report_items()
        return {
            "total_cycles": int(comp[1]),
            "stall_cycles": int(comp[2]),
            "overall_util": round(float(comp[3]), 6),
            "mapping_eff": round(float(comp[4]), 6),
            "compute_util": round(float(comp[5]), 6),
            "ifmap_reads": int(lay.ifmap_sram_reads),
            "filter_reads": int(lay.filter_sram_reads),
            "ofmap_writes": int(lay.ofmap_sram_writes),
        }


def main():
    import scalesim  # noqa: F401  (fail early with a clear message)
    cases = []
    for layer in LAYERS:
        for rows, cols in ARRAYS:
            for df in DATAFLOWS:
                res = run_one(layer, rows, cols, df)
                name, H, W, R, S, C, F, stride = layer
                cases.append({"layer": name, "H": H, "W": W, "R": R, "S": S, "C": C,
                              "F": F, "stride": stride, "rows": rows, "cols": cols,
                              "dataflow": df, **res})
                print(name, rows, cols, df, res["total_cycles"], res["stall_cycles"],
                      file=sys.stderr)
    source = ("SCALE-Sim v3 (pip scalesim 3.0.0), InterfaceBandwidth CALC, 1 MB SRAMs; "
              "generated by tests/data/make_scalesim_golden.py")
    with open(OUT, "w") as f:  # one case per line: small and diff-friendly
        f.write('{"source": %s,\n "cases": [\n' % json.dumps(source))
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")


if __name__ == "__main__":
    main()
