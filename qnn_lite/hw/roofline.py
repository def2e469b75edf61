"""Roofline model: attainable throughput = min(peak, intensity x bandwidth) (Williams et al., 2009).

Arithmetic intensity I = ops / bytes moved (ops = 2 per multiply-accumulate). A layer
below the ridge point I* = peak / bandwidth is memory bound; above it, compute
bound. Lower bit-widths move fewer bytes (intensity rises) *and* raise the peak.

Bytes moved are the compulsory traffic: each tensor (activations, weights, outputs)
crosses the memory interface once, at its own bit-width (``bits / 8`` bytes per
element). Real layers that do not fit on chip move more.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np

from ..validate import check_bits, check_int


@dataclass(frozen=True)
class Device:
    """Peak ops/s per precision, memory bandwidth in bytes/s, and where the numbers come from."""
    name: str
    peak: dict = field(hash=False)
    bandwidth: float
    source: str = ""

    def ridge_point(self, precision: str) -> float:
        """Intensity (ops/byte) where the memory roof meets the compute roof."""
        return peak_ops(self, precision) / self.bandwidth


DEVICES = {
    "Tesla T4": Device(
        "Tesla T4",
        {"int8": 130e12, "int4": 260e12, "binary": 1104e12, "fp16": 65e12, "fp32": 8.1e12},
        320e9,
        "NVIDIA T4 datasheet (Turing tensor cores, dense): INT8 130 TOPS, INT4 260 TOPS, "
        "binary (INT1, XOR-popcount tensor-core mode) 1104 TOPS as quoted for Turing, "
        "FP16 65 TFLOPS, FP32 8.1 TFLOPS; "
        "GDDR6 320 GB/s."),
    "Zynq-7020": Device(
        "Zynq-7020",
        {"int8": 88e9, "int4": 176e9, "binary": 5.32e12, "fp32": 2.0e9},
        4.2e9,
        "Our assumption, not a datasheet figure: 220 DSP48E1 slices at 200 MHz, one 8x8 "
        "MAC (2 ops) per DSP per cycle = 88 GOPS; two 4-bit MACs packed per DSP = 176 GOPS; "
        "binary as XNOR-popcount on the 53,200 LUTs, 1 op per LUT per cycle at 100 MHz "
        "= 5.32 TOPS (order of magnitude, FINN-style; Umuroglu et al. 2017); fp32 on the "
        "two Cortex-A9 NEON cores ~2 GFLOPS. Bandwidth: the Zynq-7000 DDR controller's "
        "peak, 32-bit DDR3-1066 = 4.26 GB/s, rounded to 4.2 GB/s (boards with a 16-bit "
        "bus, e.g. PYNQ-Z1, get half)."),
}


def peak_ops(device: Device, precision: str) -> float:
    """Peak throughput of ``device`` at ``precision`` (ops/s); raises naming the precisions it has."""
    if precision not in device.peak:
        raise ValueError(f"precision must be one of {sorted(device.peak)} for "
                         f"{device.name}, got {precision!r}")
    return device.peak[precision]


def get_device(device) -> Device:
    """A Device, or the name of one in DEVICES."""
    if isinstance(device, Device):
        return device
    if device not in DEVICES:
        raise ValueError(f"device must be a Device or one of {sorted(DEVICES)}, got {device!r}")
    return DEVICES[device]


def attainable(intensity, peak: float, bandwidth: float):
    """min(peak, intensity * bandwidth), elementwise over intensity (ops/byte)."""
    if not (peak > 0 and bandwidth > 0):
        raise ValueError(f"peak and bandwidth must be > 0, got peak={peak}, bandwidth={bandwidth}")
    intensity = np.asarray(intensity, dtype=float)
    if np.any(~np.isfinite(intensity)) or np.any(intensity < 0):
        raise ValueError("intensity must be finite and >= 0")
    return np.minimum(peak, intensity * bandwidth)


def gemm_intensity(M: int, K: int, N: int, a_bits: int = 8, w_bits: int = 8,
                   out_bits: int = 32) -> float:
    """2*M*K*N / ((M*K*a_bits + K*N*w_bits + M*N*out_bits) / 8) ops per byte."""
    for name, v in (("M", M), ("K", K), ("N", N)):
        check_int(v, name, 1)
    for name, v in (("a_bits", a_bits), ("w_bits", w_bits), ("out_bits", out_bits)):
        check_bits(v, name, 1, 64)
    bytes_moved = (M * K * a_bits + K * N * w_bits + M * N * out_bits) / 8
    return 2 * M * K * N / bytes_moved


def conv2d_intensity(C_in: int, H: int, W: int, C_out: int, R: int, S: int, stride: int = 1,
                     padding: int = 0, batch: int = 1, a_bits: int = 8, w_bits: int = 8,
                     out_bits: int = 32) -> float:
    """ops / bytes of a conv: MACs = B*C_out*E_h*E_w*C_in*R*S, each tensor moved once."""
    E_h = (H + 2 * padding - R) // stride + 1
    E_w = (W + 2 * padding - S) // stride + 1
    if E_h < 1 or E_w < 1:
        raise ValueError(f"kernel {R}x{S} does not fit the {H}x{W} input with padding {padding}")
    for name, v in (("a_bits", a_bits), ("w_bits", w_bits), ("out_bits", out_bits)):
        check_bits(v, name, 1, 64)
    macs = batch * C_out * E_h * E_w * C_in * R * S
    bits = batch * C_in * H * W * a_bits + C_out * C_in * R * S * w_bits \
        + batch * C_out * E_h * E_w * out_bits
    return 2 * macs / (bits / 8)


def roofline_points(device, precision: str = "int8", intensities=None, n: int = 200):
    """(intensity, attainable ops/s) on a log grid spanning the ridge point, for plotting."""
    device = get_device(device)
    peak = peak_ops(device, precision)
    if intensities is None:
        ridge = peak / device.bandwidth
        intensities = np.logspace(math.log10(ridge) - 3, math.log10(ridge) + 2, n)
    intensities = np.asarray(intensities, dtype=float)
    return intensities, attainable(intensities, peak, device.bandwidth)
