"""Chapter 12's comparison tables on the zoo's MobileNetV2-style net (distorted digits).

    python bench/data_free.py [--weights PATH]   # PATH: a state_dict .npz (default: load_pretrained)

Prints: calibrators (logit MSE vs float, accuracy) at 8 and 4 bits; per-tensor W8A8 / W6A8 before
and after equalization; PTQ calibrated on real / Gaussian / ZeroQ / DSG data (mean ± std over
seeds); AdaRound vs round-to-nearest at 4 and 3 bits. Not a test: numbers, no assertions.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from qnn_lite.autograd.tensor import no_grad  # noqa: E402
from qnn_lite.data import DataLoader  # noqa: E402
from qnn_lite.transforms.fake_quant import FakeQuantize, QConfig  # noqa: E402
from qnn_lite.quantizers.histogram import HistogramObserver  # noqa: E402
from qnn_lite.quantizers.observers import (MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                           PercentileObserver, PerChannelMinMaxObserver)
from qnn_lite.transforms.ptq import calibrate, convert, fuse_modules, prepare  # noqa: E402
from qnn_lite.quantizers.calibration import ACIQObserver, KLObserver, SAWBObserver  # noqa: E402
from qnn_lite.train import evaluate  # noqa: E402
from qnn_lite.transforms.adaround import adaround  # noqa: E402
from qnn_lite.transforms.bias_correction import analytic_bias_correction  # noqa: E402
from qnn_lite.transforms.equalize import equalize  # noqa: E402
from qnn_lite.transforms.synthetic import bn_match_error, synthesize_dsg, synthesize_zeroq  # noqa: E402
from qnn_lite.zoo import load_pretrained, mobilenetv2_tiny  # noqa: E402
from qnn_lite.zoo.training import load_dataset  # noqa: E402


def qconfig(w_bits, a_bits, w_obs=MinMaxObserver, a_obs=MovingAverageMinMaxObserver, per_channel=False):
    w_kw = dict(bits=w_bits, signed=True, symmetric=True)
    if per_channel:
        w_obs, w_kw["ch_axis"] = PerChannelMinMaxObserver, 0
    return QConfig(weight=FakeQuantize.with_args(observer=w_obs, **w_kw),
                   activation=FakeQuantize.with_args(observer=a_obs, bits=a_bits, signed=False))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if args.weights:
        model = mobilenetv2_tiny(0)
        with np.load(args.weights) as f:
            model.load_state_dict({k: f[k] for k in f.files if not k.startswith("_")})
        model.eval()
    else:
        model = load_pretrained("mobilenetv2_tiny")
    X, y, Xt, yt = load_dataset("distorted_digits")
    cal = [X[i:i + 64] for i in range(0, 256, 64)]
    test = DataLoader(Xt, yt, batch_size=500)
    with no_grad():
        ref = np.concatenate([model(xb).data for xb, _ in test])
    fused = fuse_modules(model)

    def run(cfg, data=cal, base=fused, post=None):
        qm = convert(calibrate(prepare(base, cfg), data), inplace=True)
        if post:
            post(qm)
        with no_grad():
            out = np.concatenate([qm(xb).data for xb, _ in test])
        return float(np.mean((out - ref) ** 2)), evaluate(qm, test)

    print(f"float accuracy {evaluate(model, test):.4f}\n")
    t0 = time.time()
    if "cal" in args.only or not args.only:
        print("| calibrator | W8A8 logit MSE | W8A8 acc | W8A4 logit MSE | W8A4 acc |\n|---|---|---|---|---|")
        for name, obs in [("min-max (moving avg)", MovingAverageMinMaxObserver), ("min-max", MinMaxObserver),
                          ("percentile 99.99", PercentileObserver), ("MSE", MSEObserver),
                          ("histogram (L2, torch)", HistogramObserver), ("KL (TensorRT)", KLObserver),
                          ("ACIQ (Laplace)", ACIQObserver)]:
            r8, r4 = run(qconfig(8, 8, a_obs=obs)), run(qconfig(8, 4, a_obs=obs))
            print(f"| {name} | {r8[0]:.4f} | {r8[1]:.4f} | {r4[0]:.4f} | {r4[1]:.4f} |", flush=True)
        print("\n| weight clip (per tensor) | W4A8 logit MSE | W4A8 acc |\n|---|---|---|")
        for name, obs in [("min-max", MinMaxObserver), ("MSE", MSEObserver), ("SAWB", SAWBObserver),
                          ("ACIQ (Laplace)", ACIQObserver)]:
            r = run(qconfig(4, 8, w_obs=obs))
            print(f"| {name} | {r[0]:.4f} | {r[1]:.4f} |", flush=True)
        print(f"[{time.time() - t0:.0f} s]\n")
    if "eq" in args.only or not args.only:
        eq = equalize(model, iterations=3)
        eqa = equalize(model, iterations=3, absorb_bias=True)
        print("| per-tensor weights | W8A8 acc | W6A8 acc | W4A8 acc |\n|---|---|---|---|")
        for name, base, post in [("original", fused, None), ("equalized (CLE)", eq, None),
                                 ("CLE + bias absorption", eqa, None),
                                 ("original + analytic bias corr.", fused,
                                  lambda qm: analytic_bias_correction(model, qm))]:
            a8, a6, a4 = (run(qconfig(b, 8), base=base, post=post)[1] for b in (8, 6, 4))
            print(f"| {name} | {a8:.4f} | {a6:.4f} | {a4:.4f} |", flush=True)
        print(f"[{time.time() - t0:.0f} s]\n")
    if "data" in args.only or not args.only:
        print("| calibration data | BN match (max, in running stds) | W8A8 acc | W8A4 acc |\n|---|---|---|---|")
        rows = {}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            real = X[rng.choice(len(X), 64, replace=False)]
            noise = rng.standard_normal((64, 1, 16, 16)).astype(np.float32)
            zq, _ = synthesize_zeroq(model, (64, 1, 16, 16), steps=100, lr=0.1, seed=seed)
            dsg, _ = synthesize_dsg(model, (64, 1, 16, 16), steps=100, lr=0.1, seed=seed, slack=0.1)
            for name, d in (("real (64 images)", real), ("Gaussian noise", noise), ("ZeroQ", zq), ("DSG", dsg)):
                rows.setdefault(name, []).append((bn_match_error(model, d), run(qconfig(8, 8), [d])[1],
                                                  run(qconfig(8, 4), [d])[1]))
        for name, r in rows.items():
            r = np.array(r)
            print(f"| {name} | {r[:, 0].mean():.2f} | {r[:, 1].mean():.4f} ± {r[:, 1].std():.4f} | "
                  f"{r[:, 2].mean():.4f} ± {r[:, 2].std():.4f} |", flush=True)
        print(f"[{time.time() - t0:.0f} s]\n")
    if "ada" in args.only or not args.only:
        print("| weights (per channel), A8 | RTN acc | AdaRound acc | layer MSE ratio AdaRound/RTN (mean) |\n"
              "|---|---|---|---|")
        for bits in (4, 3):
            qm = convert(calibrate(prepare(fused, qconfig(bits, 8, per_channel=True)), cal), inplace=True)
            rtn = evaluate(qm, test)
            res = adaround(qm, cal[:2], steps=100, batch_size=32)
            ratio = np.mean([r["adaround"] / r["rtn"] for r in res.values() if r["rtn"] > 0])
            print(f"| W{bits} | {rtn:.4f} | {evaluate(qm, test):.4f} | {ratio:.3f} |", flush=True)
        print(f"[{time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main()
