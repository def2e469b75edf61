"""Explicit SIMD vectors inside numba: a tiny vector type and the few ops the kernels need.

Why: numba has no `np.bitwise_count` in `@njit`, and when LLVM auto-vectorises a
popcount reduction over the words of a row, every output element ends with a
horizontal reduction (a shuffle tree) that costs as much as the work itself for
short rows. The classic GEMM micro-kernel avoids that: broadcast one word of A,
combine it with 8 *different* columns of B at once, and keep 8 independent
lanes per accumulator — no reduction ever. Writing that in numba needs a value
that *is* an LLVM vector, so we define one:

* `U64x8`  — `<8 x i64>` (eight uint64 words; 512 bits = one AVX-512 register)
* `I32x16` — `<16 x i32>` (sixteen int32 lanes, for the int8 GEMM, `vdpbusd`)

plus `signbits64` (64 compares -> one packed word, for bit packing) and the
scalar `popcount64` (`llvm.ctpop.i64`, i.e. one `popcnt` instruction).

LLVM lowers these generic vectors on any CPU: one zmm register and
`vpopcntq` with AVX-512 VPOPCNTDQ, two ymm registers and a nibble-table popcount
with AVX2, four xmm registers with SSE. The results are identical everywhere;
only the speed changes. (Measured: with explicit vectors the `prefer-256-bit`
tuning of numba's host CPU does not apply, so no CPU-feature override is needed.)

All vector loads/stores are unaligned and do no bounds checking: the callers
guarantee `idx + lanes <= len(arr)` and that `arr` is C-contiguous.

Every op has a one-line numpy reference at the end of this module (`*_reference`);
`tests/kernels/test_kernels_simd.py` runs each intrinsic against it.
"""
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model
from llvmlite import ir

_I64, _I32 = ir.IntType(64), ir.IntType(32)
_V64 = ir.VectorType(_I64, 8)
_V32 = ir.VectorType(_I32, 16)


class U64x8(types.Type):
    def __init__(self):
        super().__init__(name="U64x8")


class I32x16(types.Type):
    def __init__(self):
        super().__init__(name="I32x16")


u64x8, i32x16 = U64x8(), I32x16()


@register_model(U64x8)
class _U64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V64)


@register_model(I32x16)
class _I32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V32)


def _elem_ptr(context, builder, arrty, arr, idx):
    ary = context.make_array(arrty)(context, builder, arr)
    return builder.gep(ary.data, [idx])


def _splat(builder, scalar, vecty):
    """Broadcast a scalar to every lane of `vecty` (insertelement + shufflevector)."""
    v = builder.insert_element(ir.Constant(vecty, ir.Undefined), scalar, ir.Constant(_I32, 0))
    mask = ir.Constant(ir.VectorType(_I32, vecty.count), [0] * vecty.count)
    return builder.shuffle_vector(v, ir.Constant(vecty, ir.Undefined), mask)


def _as_i32(builder, x):
    """Sign-extend or truncate any integer scalar to i32."""
    w = x.type.width
    return x if w == 32 else builder.sext(x, _I32) if w < 32 else builder.trunc(x, _I32)


def _ctpop(builder, value):
    """`llvm.ctpop` on a scalar or vector integer (becomes popcnt / vpopcntq)."""
    ty = value.type
    suffix = f"v{ty.count}i{ty.element.width}" if isinstance(ty, ir.VectorType) else f"i{ty.width}"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty]), "llvm.ctpop." + suffix)
    return builder.call(fn, [value])


@intrinsic
def popcount64(typingctx, x):
    """Scalar popcount of a uint64 (numba has no `np.bitwise_count` in njit)."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    def codegen(context, builder, sig, args):
        return _ctpop(builder, args[0])
    return x(x), codegen


@intrinsic
def vzero_u64(typingctx):
    def codegen(context, builder, sig, args):
        return ir.Constant(_V64, [0] * 8)
    return u64x8(), codegen


@intrinsic
def vload_u64(typingctx, arr, idx):
    """arr[idx:idx+8] of a C-contiguous uint64 array as a U64x8."""
    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(ptr, _V64.as_pointer()), align=8)
    return u64x8(arr, idx), codegen


@intrinsic
def vsplat_u64(typingctx, x):
    """Broadcast one uint64 word to all 8 lanes."""
    def codegen(context, builder, sig, args):
        return _splat(builder, args[0], _V64)
    return u64x8(x), codegen


@intrinsic
def vxorpop(typingctx, acc, a, b):
    """acc + popcount(a XOR b), lane by lane (bipolar +-1 products)."""
    def codegen(context, builder, sig, args):
        return builder.add(args[0], _ctpop(builder, builder.xor(args[1], args[2])))
    return u64x8(acc, a, b), codegen


@intrinsic
def vandpop(typingctx, acc, a, b):
    """acc + popcount(a AND b), lane by lane (unipolar 0/1 products)."""
    def codegen(context, builder, sig, args):
        return builder.add(args[0], _ctpop(builder, builder.and_(args[1], args[2])))
    return u64x8(acc, a, b), codegen


@intrinsic
def vaxpy_u64_i32(typingctx, arr, idx, v, alpha, beta, accumulate):
    """arr[idx:idx+8] = (arr[idx:idx+8] if accumulate else beta) + alpha * v, in int32."""
    def codegen(context, builder, sig, args):
        arr_, idx_, v_, alpha_, beta_, acc_ = args
        v8 = ir.VectorType(_I32, 8)
        ptr = builder.bitcast(_elem_ptr(context, builder, sig.args[0], arr_, idx_), v8.as_pointer())
        old = builder.load(ptr, align=4)
        base = builder.select(acc_, old, _splat(builder, _as_i32(builder, beta_), v8))
        new = builder.add(base, builder.mul(_splat(builder, _as_i32(builder, alpha_), v8), builder.trunc(v_, v8)))
        builder.store(new, ptr, align=4)
        return context.get_dummy_value()
    sig = types.none(arr, idx, v, alpha, beta, accumulate)
    return sig, codegen


@intrinsic
def vzero_i32(typingctx):
    def codegen(context, builder, sig, args):
        return ir.Constant(_V32, [0] * 16)
    return i32x16(), codegen


@intrinsic
def signbits64(typingctx, arr, idx):
    """Pack arr[idx:idx+64] into one uint64: bit t = (x >= 0) for floats, (x != 0) for integers.

    Also returns a uint64 whose bit t is set where x is NaN (always 0 for integers).
    """
    dt = getattr(arr, "dtype", None)
    if not isinstance(dt, (types.Float, types.Integer)):
        return None
    is_float = isinstance(dt, types.Float)

    def codegen(context, builder, sig, args):
        elt = context.get_data_type(sig.args[0].dtype)
        vty = ir.VectorType(elt, 64)
        ptr = builder.bitcast(_elem_ptr(context, builder, sig.args[0], args[0], args[1]), vty.as_pointer())
        v = builder.load(ptr, align=1)
        zero = ir.Constant(vty, [ir.Constant(elt, 0)] * 64)
        if is_float:
            bits = builder.fcmp_ordered(">=", v, zero)
            nan = builder.fcmp_unordered("uno", v, v)
        else:
            bits = builder.icmp_unsigned("!=", v, zero)
            nan = ir.Constant(ir.VectorType(ir.IntType(1), 64), [0] * 64)
        return cgutils.pack_array(builder, [builder.bitcast(bits, _I64), builder.bitcast(nan, _I64)])
    return types.UniTuple(types.uint64, 2)(arr, idx), codegen



def _has_features(context, *names):
    """True if numba's target machine has every named CPU feature (e.g. 'avx512vnni')."""
    feats = getattr(context.codegen(), "_tm_features", "") or ""
    return all(f"+{n}" in feats.split(",") for n in names)


@intrinsic
def vdpbusd(typingctx, acc, aquad, arr, idx):
    """acc + vpdpbusd(splat(aquad), arr[idx:idx+64]): lane l += sum_t u8(a_t) * s8(b[4l + t]).

    `aquad` is an int32 holding four uint8 values of A (K-neighbours), `arr` an int8
    panel laid out as (column, 4) so lane l sees column l's four K-values. With
    AVX512-VNNI this is one `vpdpbusd` (64 products); otherwise the same sum is
    written as generic widen / multiply / add-groups-of-4 IR and LLVM picks the
    best instructions it has.
    """
    def codegen(context, builder, sig, args):
        acc_, a_, arr_, idx_ = args
        v8 = ir.VectorType(ir.IntType(8), 64)
        ptr = _elem_ptr(context, builder, sig.args[2], arr_, idx_)
        a = _splat(builder, _as_i32(builder, a_), _V32)
        if _has_features(context, "avx512vnni", "avx512bw", "avx512f"):
            b = builder.load(builder.bitcast(ptr, _V32.as_pointer()), align=1)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V32, [_V32] * 3),
                                                "llvm.x86.avx512.vpdpbusd.512")
            return builder.call(fn, [acc_, a, b])
        w32 = ir.VectorType(_I32, 64)
        b = builder.sext(builder.load(builder.bitcast(ptr, v8.as_pointer()), align=1), w32)
        prod = builder.mul(builder.zext(builder.bitcast(a, v8), w32), b)
        parts = [builder.shuffle_vector(prod, prod, ir.Constant(_V32, list(range(t, 64, 4)))) for t in range(4)]
        return builder.add(acc_, builder.add(builder.add(parts[0], parts[1]), builder.add(parts[2], parts[3])))
    return i32x16(acc, aquad, arr, idx), codegen


@intrinsic
def vstore_sub_i32(typingctx, arr, idx, v, corr, cidx):
    """arr[idx:idx+16] = v - corr[cidx:cidx+16] (int32 lanes)."""
    def codegen(context, builder, sig, args):
        arr_, idx_, v_, corr_, cidx_ = args
        cptr = _elem_ptr(context, builder, sig.args[3], corr_, cidx_)
        c = builder.load(builder.bitcast(cptr, _V32.as_pointer()), align=4)
        ptr = _elem_ptr(context, builder, sig.args[0], arr_, idx_)
        builder.store(builder.sub(v_, c), builder.bitcast(ptr, _V32.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.none(arr, idx, v, corr, cidx), codegen


# ----- readable references: each vector op above in one numpy line (tests compare them) -----
# Lanes are numpy arrays: U64x8 = 8 uint64, I32x16 = 16 int32; a "splat" word is a scalar.

def vxorpop_reference(acc, a, b):
    """``acc + popcount(a ^ b)`` per lane (``vxorpop``)."""
    return acc + np.bitwise_count(np.bitwise_xor(a, b)).astype(np.uint64)


def vandpop_reference(acc, a, b):
    """``acc + popcount(a & b)`` per lane (``vandpop``)."""
    return acc + np.bitwise_count(np.bitwise_and(a, b)).astype(np.uint64)


def vaxpy_u64_i32_reference(arr, idx, v, alpha, beta, accumulate):
    """``arr[idx:idx+8] = (arr[idx:idx+8] if accumulate else beta) + alpha * v`` in int32 (wrapping)."""
    base = arr[idx:idx + 8].astype(np.int64) if accumulate else np.int64(beta)
    arr[idx:idx + 8] = (base + np.int64(alpha) * v.astype(np.int64)).astype(np.int32)


def signbits64_reference(arr, idx):
    """``(word of x >= 0 (floats) / x != 0 (ints), word of isnan)`` for ``arr[idx:idx+64]``, bit t = element t."""
    x = arr[idx:idx + 64]
    bits = x >= 0 if x.dtype.kind == "f" else x != 0
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(64, bool)
    pack = lambda b: int(np.packbits(b, bitorder="little").view("<u8")[0])  # noqa: E731
    return pack(bits), pack(nan)


def vdpbusd_reference(acc, aquad, arr, idx):
    """``acc[l] + sum_t u8(aquad byte t) * s8(arr[idx + 4 l + t])`` for the 16 lanes (``vdpbusd``)."""
    a = np.array([aquad], np.int32).view(np.uint8).astype(np.int64)            # 4 unsigned bytes
    b = arr[idx:idx + 64].view(np.int8).reshape(16, 4).astype(np.int64)
    return (acc.astype(np.int64) + b @ a).astype(np.int32)


def vstore_sub_i32_reference(arr, idx, v, corr, cidx):
    """``arr[idx:idx+16] = v - corr[cidx:cidx+16]`` (int32 lanes)."""
    arr[idx:idx + 16] = v - corr[cidx:cidx + 16]
