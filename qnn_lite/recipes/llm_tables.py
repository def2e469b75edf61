"""The tables of the transformer chapter: perplexity of the shipped TinyGPT under each quantization method.

``setup()`` loads the model, a calibration batch (16 windows of the *training* text) and the
validation ids. Each ``*_table`` returns a list of row dicts; ``format_table`` prints them.
Perplexity is measured on the first ``EVAL_WINDOWS`` x 64 characters of the validation split.
Run ``python -m qnn_lite.recipes.llm_tables`` to print every table (this is what the report quotes).
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import no_grad
from ..data.text import load_char_corpus, sequential_windows
from ..quantizers.activation import fake_quantize_absmax
from ..quantizers.groupwise import bits_per_weight
from ..quantizers.mx import mx_bits_per_value
from ..transforms.capture import capture_inputs, linear_names
from ..transforms.llm_quant import (act_absmax, format_fake_quantize, layer_sqnr, outlier_stats,
                                    quantize_tinygpt)
from ..zoo.gpt import evaluate_lm, load_tinygpt

EVAL_WINDOWS = 32
CALIB_WINDOWS = 16


def setup(calib_windows: int = CALIB_WINDOWS):
    """``(model, run, val_ids)``; ``run(m)`` feeds the calibration batch through ``m``."""
    model = load_tinygpt()
    train = load_char_corpus("train")
    # calibration windows spread over the training text (every k-th window), fixed
    x_all, _ = sequential_windows(train, model.config.block_size)
    x_cal = x_all[:: len(x_all) // calib_windows][:calib_windows]
    return model, (lambda m: m(x_cal)), load_char_corpus("val")


def ppl(model, val) -> float:
    return evaluate_lm(model, val, max_windows=EVAL_WINDOWS)["ppl"]


def weight_only_table(model, run, val, methods=("rtn", "gptq", "awq"), bits=(4, 3), group_sizes=(32, 64, 128)):
    rows = [{"method": "float", "bits": 32, "group_size": "-", "bits/weight": 32.0, "ppl": ppl(model, val)}]
    for b in bits:
        for gs in group_sizes:
            for m in methods:
                q = quantize_tinygpt(model, m, run, bits=b, group_size=gs)
                rows.append({"method": m, "bits": b, "group_size": gs, "bits/weight": bits_per_weight(b, gs),
                             "ppl": ppl(q, val)})
    return rows


def w8a8_table(model, run, val, alphas=(0.25, 0.5, 0.75, 0.9)):
    rows = [{"scheme": "float", "ppl": ppl(model, val)},
            {"scheme": "W8A8 per-tensor (static)", "ppl": ppl(quantize_tinygpt(model, "w8a8", run, granularity="tensor"), val)},
            {"scheme": "W8A8 per-token (dynamic)", "ppl": ppl(quantize_tinygpt(model, "w8a8", run, granularity="token"), val)}]
    for a in alphas:
        q = quantize_tinygpt(model, "smoothquant", run, alpha=a, granularity="tensor")
        rows.append({"scheme": f"SmoothQuant alpha={a} + per-tensor", "ppl": ppl(q, val)})
    for bits in (6, 4):
        rows.append({"scheme": f"W8A{bits} per-tensor", "ppl": ppl(quantize_tinygpt(model, "w8a8", run, granularity="tensor", act_bits=bits), val)})
        q = quantize_tinygpt(model, "smoothquant", run, alpha=0.5, granularity="tensor", act_bits=bits)
        rows.append({"scheme": f"W8A{bits} SmoothQuant alpha=0.5", "ppl": ppl(q, val)})
    return rows


def _sqnr(x, xq) -> float:
    err = float(np.sum((x.astype(np.float64) - xq) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.sum(x.astype(np.float64) ** 2)) / err)


def formats_table(model, run, val, fmts=("int8", "fp8_e4m3", "mxint8", "mxfp8_e4m3", "mxfp6_e2m3", "mxfp4")):
    with no_grad():
        X = capture_inputs(model, linear_names(model), run)
    rows = []
    for f in fmts:
        wq = quantize_tinygpt(model, "format", weight_fmt=f)
        w_sqnr = float(np.mean(list(layer_sqnr(model, wq).values())))
        a_sqnr = float(np.mean([_sqnr(x, format_fake_quantize(x, f, "act")) for x in X.values()]))
        bpv = mx_bits_per_value(f) if f.startswith("mx") else 8.0
        rows.append({"format": f, "bits/value": bpv, "weight SQNR dB": w_sqnr, "act SQNR dB": a_sqnr,
                     "ppl W only": ppl(wq, val),
                     "ppl W+A": ppl(quantize_tinygpt(model, "format", weight_fmt=f, act_fmt=f), val)})
    return rows


def kv_table(model, val, bits=(8, 4, 3, 2)):
    rows = [{"kv cache": "float", "ppl": ppl(model, val)}]
    for b in bits:
        for g in ("token", "channel"):
            rows.append({"kv cache": f"int{b} per-{g}", "ppl": ppl(quantize_tinygpt(model, "kv", bits=b, granularity=g), val)})
    return rows


def outlier_table(model, run):
    """Per Linear input: max |x| over channels / median channel max, the top channel, and the int8
    per-tensor SQNR of that input (outliers make it drop)."""
    stats = outlier_stats(act_absmax(model, run))
    with no_grad():
        X = capture_inputs(model, linear_names(model), run)
    return [{"layer": n, "max/median": s["ratio"], "top channel": s["channel"], "max |x|": s["max"],
             "int8 per-tensor SQNR dB": _sqnr(X[n], fake_quantize_absmax(X[n], 8, "tensor")),
             "int8 per-token SQNR dB": _sqnr(X[n], fake_quantize_absmax(X[n], 8, "token"))}
            for n, s in stats.items()]


def format_table(rows) -> str:
    """Rows of dicts -> a fixed-width text table (floats with 3 decimals, or 2 for dB)."""
    keys = list(rows[0])
    cell = (lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    width = {k: max(len(k), *(len(cell(r[k])) for r in rows)) for k in keys}
    lines = [" | ".join(k.ljust(width[k]) for k in keys), "-+-".join("-" * width[k] for k in keys)]
    lines += [" | ".join(cell(r[k]).rjust(width[k]) for k in keys) for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    import time
    model, run, val = setup()
    for name, fn in (("outliers", lambda: outlier_table(model, run)),
                     ("weight-only", lambda: weight_only_table(model, run, val)),
                     ("W8A8", lambda: w8a8_table(model, run, val)),
                     ("formats", lambda: formats_table(model, run, val)),
                     ("KV cache", lambda: kv_table(model, val))):
        t = time.perf_counter()
        rows = fn()
        print(f"\n## {name}  ({time.perf_counter() - t:.1f} s)\n{format_table(rows)}", flush=True)
