"""Chapter 01 (why quantize): number formats, model size, energy per MAC, rounding to b bits."""
from __future__ import annotations

import numpy as np

from qnn_lite.hw.energy import HOROWITZ_PJ, add_energy, mult_energy

from ..runner import Fail
from ..expect import as_array, expect_close, expect_equal
from ..registry import exercise

# ----------------------------------------------------------------------------- 1.1
EX1 = exercise("1.1", "float_format: largest, smallest normal and eps of a float format")


def float_format_ref(exp_bits: int, man_bits: int) -> tuple:
    """IEEE-754 style: bias = 2^(e-1) - 1, max = (2 - 2^-m) 2^bias, min normal = 2^(1-bias), eps = 2^-m."""
    bias = 2 ** (exp_bits - 1) - 1
    return (2.0 - 2.0 ** -man_bits) * 2.0 ** bias, 2.0 ** (1 - bias), 2.0 ** -man_bits


def _check_format(fn, name, e, m):
    got = fn(e, m)
    try:
        got = tuple(float(v) for v in got)
    except TypeError:
        raise Fail(f"float_format({e}, {m}) should return a tuple (max, min_normal, eps), got {got!r}") from None
    if len(got) != 3:
        raise Fail(f"float_format({e}, {m}) should return 3 numbers (max, min_normal, eps), got {len(got)}")
    big, tiny, eps = float_format_ref(e, m)
    bias = 2 ** (e - 1) - 1
    expect_close(got[0], big, f"{name} max", mistakes={
        "the largest mantissa is 1.11...1 = 2 - 2^-m, not 2": 2.0 ** (bias + 1),
        "the largest mantissa is 1.11...1 = 2 - 2^-m, not 1": 2.0 ** bias,
        "the all-ones exponent is reserved for inf/NaN: the largest exponent is 2^(e-1) - 1":
            (2.0 - 2.0 ** -m) * 2.0 ** (bias + 1),
    }, hint="max = (2 - 2^-m) * 2^(2^(e-1) - 1)")
    expect_close(got[1], tiny, f"{name} smallest normal", mistakes={
        "the all-zeros exponent is reserved for subnormals: the smallest normal is 2^(1 - bias)": 2.0 ** -bias,
    }, hint="min normal = 2^(1 - bias), bias = 2^(e-1) - 1")
    expect_close(got[2], eps, f"{name} eps", mistakes={
        "eps is the gap between 1 and the next float, 2^-m (2^-(m+1) is the unit roundoff)": 2.0 ** -(m + 1),
    }, hint="eps = 2^-m")


@EX1.case("fp32 (e=8, m=23) agrees with np.finfo(np.float32)")
def _(fn):
    _check_format(fn, "fp32", 8, 23)


@EX1.case("fp16 (e=5, m=10) agrees with np.finfo(np.float16)")
def _(fn):
    _check_format(fn, "fp16", 5, 10)


@EX1.case("bfloat16 (e=8, m=7)")
def _(fn):
    _check_format(fn, "bf16", 8, 7)


@EX1.case("fp8 E5M2 (e=5, m=2): max 57344")
def _(fn):
    _check_format(fn, "fp8 E5M2", 5, 2)


# ----------------------------------------------------------------------------- 1.2
EX2 = exercise("1.2", "model_size_bytes: storage of num_params weights at a bit-width")


def model_size_bytes_ref(num_params: int, bits: int) -> int:
    """bytes = ceil(num_params * bits / 8)."""
    return -(-num_params * bits // 8)


def _check_size(fn, n, bits):
    got = fn(n, bits)
    want = model_size_bytes_ref(n, bits)
    if got == n * bits and want != got:
        raise Fail(f"model_size_bytes({n}, {bits}) = {got!r} is in bits: divide by 8 for bytes")
    if got == (n * bits) // 8 and want != got:
        raise Fail(f"model_size_bytes({n}, {bits}) = {got!r}: {n * bits} bits need {want} whole bytes (round up)")
    expect_equal(got, want, f"model_size_bytes({n}, {bits})", hint="bytes = ceil(num_params * bits / 8)")


@EX2.case("1M weights: 4 MB at fp32, 1 MB at int8")
def _(fn):
    _check_size(fn, 1_000_000, 32)
    _check_size(fn, 1_000_000, 8)


@EX2.case("1M weights at 4 bits and 1 bit")
def _(fn):
    _check_size(fn, 1_000_000, 4)
    _check_size(fn, 1_000_000, 1)


@EX2.case("bits that do not fill a byte round up (3 weights x 3 bits = 2 bytes)")
def _(fn):
    _check_size(fn, 3, 3)
    _check_size(fn, 61_706, 5)


# ----------------------------------------------------------------------------- 1.3
EX3 = exercise("1.3", "mac_energy_ratio: energy of an fp32 MAC over an int8 MAC")


def mac_energy_ratio_ref(table: dict) -> float:
    """(fp32 mult + fp32 add) / (int8 mult + int32 add): an int8 MAC accumulates in int32."""
    return (table["mult", "fp32"] + table["add", "fp32"]) / (table["mult", "int8"] + table["add", "int32"])


def _check_ratio(fn, table, want, label):
    got = fn(dict(table))
    t = table
    expect_close(got, want, f"ratio for {label}", rtol=1e-6, mistakes={
        "you compared the multiplies only: a MAC is a multiply AND an add":
            t["mult", "fp32"] / t["mult", "int8"],
        "the int8 MAC accumulates in int32: use the int32 add, not the int8 add":
            (t["mult", "fp32"] + t["add", "fp32"]) / (t["mult", "int8"] + t["add", "int8"]),
        "the ratio is upside down: fp32 energy / int8 energy (it should be > 1)": 1.0 / want,
    }, hint="ratio = (fp32 mult + fp32 add) / (int8 mult + int32 add), read from `table`")


@EX3.case("Horowitz 45 nm table (qnn_lite.hw.energy): about 15x")
def _(fn):
    want = ((mult_energy(32, kind="fp") + add_energy(32, kind="fp"))
            / (mult_energy(8, 8) + add_energy(32)))  # the library's own per-op energies
    _check_ratio(fn, HOROWITZ_PJ, want, "the Horowitz table")


@EX3.case("another table (read the numbers from `table`, do not hard-code them)")
def _(fn):
    factors = [1.5, 0.5, 2.0, 1.0, 1.0, 1.0, 0.7, 1.3]
    other = {k: v * f for (k, v), f in zip(sorted(HOROWITZ_PJ.items()), factors)}
    _check_ratio(fn, other, mac_energy_ratio_ref(other), "a made-up table")


# ----------------------------------------------------------------------------- 1.4
EX4 = exercise("1.4", "round_to_bits: round weights to a symmetric b-bit grid")


def round_to_bits_ref(w: np.ndarray, bits: int) -> np.ndarray:
    """Δ = max|w| / (2^(b-1) - 1); w_hat = rint(w / Δ) Δ (zeros stay zeros)."""
    w = np.asarray(w, dtype=np.float64)
    delta = np.abs(w).max() / (2 ** (bits - 1) - 1)
    if delta == 0:
        return np.zeros_like(w)
    return np.rint(w / delta) * delta


def _check_round(fn, w, bits, label):
    want = round_to_bits_ref(w, bits)
    got = as_array(fn(w.copy(), bits), f"round_to_bits({label}, {bits})", w.shape)
    amax = np.abs(w).max()
    delta = amax / (2 ** (bits - 1) - 1) if amax else 0.0
    if delta and not np.allclose(got, want, rtol=1e-6, atol=1e-9 * amax):
        err = np.abs(got - w).max()
        if err > delta / 2 * (1 + 1e-6):
            raise Fail(f"max error {err:.3g} exceeds Δ/2 = {delta / 2:.3g}: check your rounding "
                       "(floor/trunc/astype(int) do not round to nearest; use np.rint)")
    if delta:
        mistakes = {
            "ties must go to even (0.5 -> 0, 2.5 -> 2, like Python's round): use np.rint, not floor(x + 0.5)":
                np.floor(w / delta + 0.5) * delta,
            "the step is Δ = max|w| / (2^(b-1) - 1): with 2^(b-1) - 1 levels each side, max|w| lands on a level":
                np.rint(w / (amax / 2 ** (bits - 1))) * (amax / 2 ** (bits - 1)),
            "the step is Δ = max|w| / (2^(b-1) - 1), not max|w| / (2^b - 1)":
                np.rint(w / (amax / (2 ** bits - 1))) * (amax / (2 ** bits - 1)),
        }
    else:
        mistakes = {}
    expect_close(got, want, f"round_to_bits({label}, {bits})", rtol=1e-6, atol=1e-9 * max(amax, 1e-30),
                 mistakes=mistakes, hint="w_hat = np.rint(w / Δ) * Δ with Δ = max|w| / (2^(b-1) - 1)")


@EX4.case("random weights at 4 bits: error at most Δ/2")
def _(fn):
    w = np.random.default_rng(0).normal(0, 0.1, size=(16, 8))
    _check_round(fn, w, 4, "normal weights")


@EX4.case("ties round to even")
def _(fn):
    _check_round(fn, np.array([0.5, 1.5, 2.5, -2.5, -0.5, 7.0, 3.2]), 4, "ties")


@EX4.case("8 bits, and the largest |w| is a grid point")
def _(fn):
    w = np.random.default_rng(1).uniform(-3, 2, size=100)
    _check_round(fn, w, 8, "uniform weights")


@EX4.case("all-zero weights stay zero (no division by zero)")
def _(fn):
    _check_round(fn, np.zeros(5), 4, "zeros")
