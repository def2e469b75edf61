"""Model in, model out, for a TinyGPT: weight-only RTN, W8A8 (per-tensor / per-token), number formats
(INT8, FP8, MX) on weights and activations, KV-cache quantization, and the calibration statistics
they need. GPTQ, AWQ and SmoothQuant live in their own modules; ``quantize_tinygpt`` names them all.

Every function returns a *copy*; the float model is never modified. The tied embedding / output head
and the LayerNorms stay in float, as in GPTQ/AWQ/SmoothQuant's recipes.
"""
from __future__ import annotations

import copy

import numpy as np

from ..autograd.tensor import no_grad
from ..quantizers.activation import fake_quantize_absmax, fake_quantize_fp8, fake_quantize_minmax
from ..quantizers.groupwise import fake_quantize_groupwise
from ..quantizers.mx import MX_FORMATS, mx_fake_quantize
from ..validate import check_bits, check_choice
from .capture import ActQuantLinear, capture_inputs, get_module, linear_names, set_module


def rtn_model(model, bits: int = 4, group_size: int | None = 128, symmetric: bool = False):
    """Round-to-nearest, group-wise weight-only quantization of every Linear."""
    model = copy.deepcopy(model)
    for name in linear_names(model):
        w = get_module(model, name).weight
        w.data[...] = fake_quantize_groupwise(w.data, bits, group_size, symmetric)
    return model


def act_absmax(model, run, reduce: str = "max") -> dict:
    """``{linear name: (in,) per-channel max |x|}`` over the calibration run (``reduce='mean'``: mean |x|)."""
    check_choice(reduce, "reduce", ("max", "mean"))
    with no_grad():
        X = capture_inputs(model, linear_names(model), run)
    return {n: (np.abs(x).max(axis=0) if reduce == "max" else np.abs(x).mean(axis=0)) for n, x in X.items()}


def outlier_stats(absmax: dict) -> dict:
    """Per Linear: ``max / median`` of the per-channel max |x|, and the top channel (an outlier channel
    shows as a ratio of 10-100 in large LLMs; Dettmers et al., 2022)."""
    return {n: {"ratio": float(a.max() / max(np.median(a), 1e-12)), "channel": int(np.argmax(a)),
                "max": float(a.max())} for n, a in absmax.items()}


def _weight_int8(w):
    return fake_quantize_absmax(w, 8, "token")      # one scale per output row = per-channel


def w8a8_model(model, granularity: str = "token", run=None, weight_bits: int = 8, act_bits: int = 8):
    """INT8 weights (symmetric, per output channel) and INT8 activations at every Linear input.

    ``granularity='token'``: a dynamic scale per token (row); ``'tensor'``: one static scale per layer,
    the calibrated max |x| over ``run`` (needed then).
    """
    check_choice(granularity, "granularity", ("token", "tensor"))
    weight_bits, act_bits = check_bits(weight_bits, "weight_bits", 2, 16), check_bits(act_bits, "act_bits", 2, 16)
    if granularity == "tensor":
        if run is None:
            raise ValueError("granularity='tensor' uses a static calibrated scale: give run=")
        amax = {n: float(a.max()) for n, a in act_absmax(model, run).items()}
    model = copy.deepcopy(model)
    for name in linear_names(model):
        lin = get_module(model, name)
        lin.weight.data[...] = fake_quantize_absmax(lin.weight.data, weight_bits, "token")
        if granularity == "token":
            fn = (lambda x, b=act_bits: fake_quantize_absmax(x, b, "token"))
        else:
            scale = max(amax[name], 1e-8) / (2 ** (act_bits - 1) - 1)
            fn = (lambda x, b=act_bits, s=scale: fake_quantize_absmax(x, b, scale=s))
        set_module(model, name, ActQuantLinear(lin, fn))
    return model


FORMATS = ("int8", "fp8_e4m3", "fp8_e5m2", *MX_FORMATS)


def format_fake_quantize(x: np.ndarray, fmt: str, role: str = "weight") -> np.ndarray:
    """Fake-quantize ``x (..., in)`` to ``fmt``: int8 per row (weights: per output channel; acts: per
    token), FP8 with one max-scaled factor per row / per tensor (acts), MX with 32-blocks along ``in``."""
    check_choice(fmt, "fmt", FORMATS)
    if fmt == "int8":
        return fake_quantize_absmax(x, 8, "token")
    if fmt.startswith("fp8"):
        return fake_quantize_fp8(x, fmt, "token" if role == "weight" else "tensor")
    return mx_fake_quantize(x, fmt, 32, -1)


def format_model(model, weight_fmt: str | None, act_fmt: str | None = None):
    """Every Linear's weight in ``weight_fmt`` and (if given) its input in ``act_fmt`` (None = float)."""
    model = copy.deepcopy(model)
    for name in linear_names(model):
        lin = get_module(model, name)
        if weight_fmt is not None:
            lin.weight.data[...] = format_fake_quantize(lin.weight.data, weight_fmt, "weight")
        if act_fmt is not None:
            set_module(model, name, ActQuantLinear(lin, lambda x, f=act_fmt: format_fake_quantize(x, f, "act")))
    return model


def kv_quantizer(bits: int = 8, granularity: str = "token"):
    """A function for ``CausalSelfAttention.kv_quant``: asymmetric int``bits`` on ``k, v (B, H, T, D)``,
    one range per token (``'token'``, over D) or per channel (``'channel'``, over the T tokens of a head).

    With a generation cache the function sees each step's new keys only, so ``'channel'`` is meant for
    full-sequence evaluation (perplexity); ``'token'`` is exact for both."""
    bits = check_bits(bits, "bits", 2, 16)
    check_choice(granularity, "granularity", ("token", "channel"))
    if granularity == "token":
        return lambda x: fake_quantize_minmax(x, bits, "token")
    return lambda x: np.swapaxes(fake_quantize_minmax(np.swapaxes(x, -1, -2), bits, "token"), -1, -2)


def kv_quant_model(model, bits: int = 8, granularity: str = "token"):
    """A copy whose attention layers fake-quantize keys and values (what a KV cache would store)."""
    model = copy.deepcopy(model)
    fn = kv_quantizer(bits, granularity)
    for block in model.h:
        block.attn.kv_quant = fn
    return model


def layer_sqnr(float_model, quant_model) -> dict:
    """Per Linear: SQNR in dB of the (dequantized) weight, $10 \\log_{10} \\|W\\|^2 / \\|W - \\hat W\\|^2$."""
    out = {}
    for name in linear_names(float_model):
        w = get_module(float_model, name).weight.data.astype(np.float64)
        wq = get_module(quant_model, name).weight.data.astype(np.float64)
        err = np.sum((w - wq) ** 2)
        out[name] = float("inf") if err == 0 else float(10 * np.log10(np.sum(w * w) / err))
    return out


def block_groups(model) -> list[list[str]]:
    """The Linear names of a TinyGPT, one list per block (``h.0.*``, ``h.1.*``, ...)."""
    names = linear_names(model)
    return [[n for n in names if n.startswith(f"h.{i}.")] for i in range(len(model.h))]


METHODS = ("rtn", "gptq", "awq", "w8a8", "smoothquant", "format", "kv")


def quantize_tinygpt(model, method: str, run=None, **kwargs):
    """One entry point: ``method`` in ``METHODS``; ``run(model)`` feeds calibration data where needed.

    rtn/gptq/awq: ``bits``, ``group_size`` (gptq: one calibration pass per block unless ``groups=`` says otherwise); w8a8: ``granularity``; smoothquant: ``alpha``,
    ``granularity``; format: ``weight_fmt``, ``act_fmt``; kv: ``bits``, ``granularity``.
    """
    check_choice(method, "method", METHODS)
    if method in ("gptq", "awq", "smoothquant") and run is None:
        raise ValueError(f"method={method!r} calibrates on data: give run=, e.g. lambda m: m(x_calib)")
    if method == "rtn":
        return rtn_model(model, **kwargs)
    if method == "gptq":
        from .gptq import gptq_model
        kwargs.setdefault("groups", block_groups(model))
        return gptq_model(model, run, **kwargs)
    if method == "awq":
        from .awq import awq_model
        return awq_model(model, run, **kwargs)
    if method == "w8a8":
        return w8a8_model(model, run=run, **kwargs)
    if method == "smoothquant":
        from .smoothquant import smooth_model
        alpha = kwargs.pop("alpha", 0.5)
        return w8a8_model(smooth_model(model, act_absmax(model, run), alpha), run=run, **kwargs)
    if method == "format":
        return format_model(model, **kwargs)
    return kv_quant_model(model, **kwargs)
