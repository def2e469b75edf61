"""Train the shipped TinyGPT on the Python-docs character corpus; print validation perplexity / bits per char.

    python tools/train_gpt.py [--steps N] [--out PATH]

Fixed seeds (model init 0, batches 1); Adam with a linear warm-up and cosine decay.
Writes ``qnn_lite/zoo/checkpoints/tinygpt.npz`` and prints its SHA-256 (paste it into
``qnn_lite/zoo/gpt.py:CHECKPOINT_SHA256``).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from qnn_lite.data.text import load_char_corpus, random_windows
from qnn_lite.optim import Adam
from qnn_lite.zoo.gpt import CHECKPOINT, GPTConfig, TinyGPT, evaluate_lm, save_tinygpt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", default=str(CHECKPOINT))
    args = ap.parse_args()

    train, val = load_char_corpus("train"), load_char_corpus("val")
    model = TinyGPT(GPTConfig(), seed=0)
    print(f"TinyGPT: {sum(p.size for p in model.parameters())} parameters, "
          f"{len(train)} train / {len(val)} val characters")
    opt = Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(1)
    warm = max(1, args.steps // 20)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        frac = step / warm if step <= warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / (args.steps - warm)))
        opt.param_groups[0]["lr"] = args.lr * max(frac, 0.02)
        x, y = random_windows(train, args.batch_size, model.config.block_size, rng)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        norm = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in model.parameters()))
        if norm > 1.0:
            for p in model.parameters():
                p.grad *= 1.0 / norm
        opt.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {float(loss.data):.3f}  {time.perf_counter() - t0:6.0f} s", flush=True)
    model.eval()
    for name, ids in (("train", train[:len(val)]), ("val", val)):
        r = evaluate_lm(model, ids, max_windows=None)
        print(f"{name}: {r['tokens']} tokens  nll {r['nll']:.4f}  perplexity {r['ppl']:.3f}  "
              f"bits/char {r['bpc']:.4f}")
    digest = save_tinygpt(model, args.out)
    print(f"wrote {args.out}\nsha256 {digest}")


if __name__ == "__main__":
    main()
