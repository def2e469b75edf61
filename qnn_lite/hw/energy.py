"""Energy per operation and per layer, from Horowitz (ISSCC 2014), 45 nm, 0.9 V.

Table (pJ): int8 add 0.03, int32 add 0.1, fp16 add 0.4, fp32 add 0.9; int8 mult 0.2,
int32 mult 3.1, fp16 mult 1.1, fp32 mult 3.7. SRAM, per 64-bit access: 8 KB 10 pJ,
32 KB 20 pJ, 1 MB 100 pJ. DRAM: 1.3-2.6 nJ per 64 bits; we use 640 pJ per 32-bit
word (20 pJ/bit, the figure in Han et al. 2016's energy table).

Our assumptions for integer widths the table does not list (say them when you use them):

* integer add grows linearly with width: 0.03 * b / 8 pJ for b <= 8, straight-line
  interpolation between int8 (0.03) and int32 (0.1) for 8 < b < 32;
* integer multiply grows with the product of the widths (an array multiplier has
  b_a x b_w partial-product cells): 0.2 * (b_a * b_w) / 64 pJ, so a 4-bit multiply is
  0.05 pJ and a 1-bit one 0.003 pJ; 16x16 gives 0.8 pJ; int32 uses the table (3.1);
* SRAM and DRAM energy is per bit moved (a 64-bit SRAM access / 64 per bit).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..validate import check_bits, check_int, check_number

HOROWITZ_PJ = {
    ("add", "int8"): 0.03, ("add", "int32"): 0.1, ("add", "fp16"): 0.4, ("add", "fp32"): 0.9,
    ("mult", "int8"): 0.2, ("mult", "int32"): 3.1, ("mult", "fp16"): 1.1, ("mult", "fp32"): 3.7,
}
SRAM_PJ_PER_64BIT = {8: 10.0, 32: 20.0, 1024: 100.0}   # keyed by size in KB
DRAM_PJ_PER_32BIT = 640.0
DRAM_PJ_PER_BIT = DRAM_PJ_PER_32BIT / 32


def add_energy(bits: int = 32, kind: str = "int") -> float:
    """pJ for one add: table for int8/int32/fp16/fp32, linear in the width otherwise."""
    if kind == "fp":
        if bits not in (16, 32):
            raise ValueError(f"bits must be 16 or 32 for kind='fp', got {bits!r}")
        return HOROWITZ_PJ[("add", f"fp{bits}")]
    if kind != "int":
        raise ValueError(f"kind must be 'int' or 'fp', got {kind!r}")
    bits = check_bits(bits, "bits", 1, 32)
    if bits <= 8:
        return 0.03 * bits / 8
    return 0.03 + (0.1 - 0.03) * (bits - 8) / 24


def mult_energy(a_bits: int = 8, w_bits: int | None = None, kind: str = "int") -> float:
    """pJ for one multiply: table for int8/int32/fp16/fp32, else 0.2 * a_bits * w_bits / 64."""
    w_bits = a_bits if w_bits is None else w_bits
    if kind == "fp":
        if a_bits != w_bits or a_bits not in (16, 32):
            raise ValueError(f"a_bits and w_bits must both be 16 or 32 for kind='fp', "
                             f"got {a_bits!r}, {w_bits!r}")
        return HOROWITZ_PJ[("mult", f"fp{a_bits}")]
    if kind != "int":
        raise ValueError(f"kind must be 'int' or 'fp', got {kind!r}")
    a_bits, w_bits = check_bits(a_bits, "a_bits", 1, 32), check_bits(w_bits, "w_bits", 1, 32)
    if a_bits == w_bits == 32:
        return HOROWITZ_PJ[("mult", "int32")]
    return 0.2 * a_bits * w_bits / 64


def sram_energy_per_bit(size_kb: int = 32) -> float:
    """pJ per bit read or written from an SRAM of 8, 32 or 1024 KB."""
    if size_kb not in SRAM_PJ_PER_64BIT:
        raise ValueError(f"size_kb must be one of {sorted(SRAM_PJ_PER_64BIT)}, got {size_kb!r}")
    return SRAM_PJ_PER_64BIT[size_kb] / 64


@dataclass
class LayerEnergy:
    """Energy of one layer in pJ, split by where it is spent."""
    compute: float
    sram: float
    dram: float

    @property
    def total(self) -> float:
        return self.compute + self.sram + self.dram


def layer_energy(macs: int, a_elems: int, w_elems: int, out_elems: int, a_bits: int = 8,
                 w_bits: int = 8, acc_bits: int = 32, kind: str = "int",
                 sram_kb: int = 32, sram_reads_per_mac: float = 1.0) -> LayerEnergy:
    """Energy (pJ) of a layer with ``macs`` multiply-accumulates.

    compute = macs * (mult(a_bits, w_bits) + add(acc_bits));
    sram    = (macs * sram_reads_per_mac * (a_bits + w_bits) + out_elems * acc_bits)
              * pJ/bit of the SRAM  (sram_reads_per_mac = 1: both operands come from
              the SRAM for every MAC, no register reuse; a systolic array divides it);
    dram    = (a_elems * a_bits + w_elems * w_bits + out_elems * acc_bits) * 20 pJ/bit
              (every tensor crosses DRAM once). For kind="fp", a_bits = w_bits = acc_bits
              must be 16 or 32.
    """
    for name, v in (("macs", macs), ("a_elems", a_elems), ("w_elems", w_elems),
                    ("out_elems", out_elems)):
        check_int(v, name, 0)
    check_number(sram_reads_per_mac, "sram_reads_per_mac", 0)
    compute = macs * (mult_energy(a_bits, w_bits, kind) + add_energy(acc_bits, kind))
    per_bit = sram_energy_per_bit(sram_kb)
    sram = (macs * sram_reads_per_mac * (a_bits + w_bits) + out_elems * acc_bits) * per_bit
    dram = (a_elems * a_bits + w_elems * w_bits + out_elems * acc_bits) * DRAM_PJ_PER_BIT
    return LayerEnergy(compute=compute, sram=sram, dram=dram)


def systolic_energy(report, a_bits: int = 8, w_bits: int = 8, acc_bits: int = 32,
                    sram_kb: int = 32) -> LayerEnergy:
    """Energy (pJ) of a ``SystolicReport``: its MACs plus its counted SRAM traffic.

    sram = (a_reads*a_bits + b_reads*w_bits + c_writes*acc_bits) * pJ/bit; dram = each
    operand once (M*K*a_bits + K*N*w_bits + M*N*acc_bits) * 20 pJ/bit.
    """
    compute = report.macs * (mult_energy(a_bits, w_bits) + add_energy(acc_bits))
    sram = (report.a_reads * a_bits + report.b_reads * w_bits
            + report.c_writes * acc_bits) * sram_energy_per_bit(sram_kb)
    M, K, N = report.M, report.K, report.N
    dram = (M * K * a_bits + K * N * w_bits + M * N * acc_bits) * DRAM_PJ_PER_BIT
    return LayerEnergy(compute=compute, sram=sram, dram=dram)
