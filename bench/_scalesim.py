"""SCALE-Sim v3 input files, shared by bench/hw_speed.py and tests/data/make_scalesim_golden.py.

Standard library only: it runs in SCALE-Sim's own interpreter (which needs numpy<2).
The settings are what makes SCALE-Sim's "Total Cycles" comparable with ours:
``InterfaceBandwidth: CALC`` (its estimate-bandwidth mode: reads never stall) and
1 MB SRAMs (writes never stall), so the count is the stall-free compute time.
A layer is ``(name, H, W, R, S, C, F, stride)``: image H x W, filter R x S,
C channels, F filters; a GEMM M x K x N is the 1x1 conv of a 1 x M image, K channels, N filters.
"""
import os

CONFIG = """[general]
run_name = {run_name}

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


def write_inputs(folder, layer, rows, cols, df, run_name="qnn_lite"):
    """Write topology, layout and config files for one run in ``folder``; return their paths."""
    name, H, W, R, S, C, F, stride = layer
    topo = os.path.join(folder, "topo.csv")
    with open(topo, "w") as f:
        f.write(TOPO_HEADER)
        f.write(f"{name}, {H}, {W}, {R}, {S}, {C}, {F}, {stride},\n")
    layout = os.path.join(folder, "layout.csv")
    with open(layout, "w") as f:
        f.write(LAYOUT_HEADER)
        f.write(name + "," + ",".join(["1"] * 20) + ",\n")
    cfg = os.path.join(folder, "scale.cfg")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(run_name=run_name, rows=rows, cols=cols, df=df))
    return topo, layout, cfg
