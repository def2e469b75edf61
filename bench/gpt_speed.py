"""TinyGPT speed: one training step (forward, loss, backward, Adam) and generation tokens/s, qnn_lite vs PyTorch CPU.

Same shapes and weights in both (the shipped config: 4 layers, 4 heads, width 128, context 64,
vocab 96; batch 32 x 64 tokens), 1 thread, best of several repeats (the machine may be shared).
Generation: greedy, batch 1, with a KV cache, 48 new tokens after a 16-token prompt.
Target from issue 18: qnn_lite's training step <= 2x PyTorch's.

Run:  PYTHONPATH=. /work/torchvenv/bin/python bench/gpt_speed.py [--repeats 5]
(PyTorch columns need ``import torch``; otherwise they show '-'.)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qnn_lite.autograd import no_grad  # noqa: E402
from qnn_lite.optim import Adam  # noqa: E402
from qnn_lite.zoo.gpt import GPTConfig, TinyGPT, generate  # noqa: E402

BATCH, PROMPT, NEW = 32, 16, 48
TARGET = 2.0


def torch_gpt(torch, cfg: GPTConfig, state: dict):
    """The same network in PyTorch, loaded with qnn_lite's weights (same parameter names)."""
    tnn, F = torch.nn, torch.nn.functional

    class Attn(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = tnn.Linear(cfg.n_embd, 3 * cfg.n_embd), tnn.Linear(cfg.n_embd, cfg.n_embd)

        def forward(self, x, cache=None):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).view(B, T, 3, cfg.n_head, C // cfg.n_head).permute(2, 0, 3, 1, 4)
            causal = True
            if cache is not None:
                if "k" in cache:
                    k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
                cache["k"], cache["v"] = k, v
                causal = T > 1
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2 = tnn.LayerNorm(cfg.n_embd), Attn(), tnn.LayerNorm(cfg.n_embd)
            self.mlp = tnn.Module()
            self.mlp.c_fc, self.mlp.c_proj = tnn.Linear(cfg.n_embd, 4 * cfg.n_embd), tnn.Linear(4 * cfg.n_embd, cfg.n_embd)

        def forward(self, x, cache=None):
            x = x + self.attn(self.ln_1(x), cache)
            return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(cfg.vocab_size, cfg.n_embd), tnn.Embedding(cfg.block_size, cfg.n_embd)
            self.h = tnn.ModuleList([Block() for _ in range(cfg.n_layer)])
            self.ln_f = tnn.LayerNorm(cfg.n_embd)

        def forward(self, idx, caches=None):
            start = 0 if not caches or "k" not in caches[0] else caches[0]["k"].shape[2]
            x = self.wte(idx) + self.wpe(torch.arange(start, start + idx.shape[1]))
            for i, b in enumerate(self.h):
                x = b(x, None if caches is None else caches[i])
            return F.linear(self.ln_f(x), self.wte.weight)

    model = GPT()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return model


def best(fn, repeats):
    fn()                                                  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cfg = GPTConfig()
    model = TinyGPT(cfg, seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg.vocab_size, size=(BATCH, cfg.block_size))
    y = rng.integers(0, cfg.vocab_size, size=(BATCH, cfg.block_size))
    prompt = rng.integers(0, cfg.vocab_size, size=PROMPT)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("torch not importable: PyTorch columns show '-'")

    opt = Adam(model.parameters(), lr=1e-4)
    tmodel = torch_gpt(torch, cfg, model.state_dict()) if torch is not None else None
    if torch is not None:
        with no_grad():
            diff = np.abs(model(x[:2]).data - tmodel(torch.from_numpy(x[:2])).detach().numpy()).max()
        print(f"same weights, max |logit difference| = {diff:.2e}")

    def ours_step():
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def ours_gen():
        generate(model, prompt, NEW, temperature=0)

    rows = [("training step (ms)", best(ours_step, args.repeats) * 1e3),
            ("generation (tokens/s)", NEW / best(ours_gen, args.repeats))]
    theirs = [float("nan"), float("nan")]
    if torch is not None:
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-4)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            logits = tmodel(xt)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), yt.reshape(-1))
            topt.zero_grad()
            loss.backward()
            topt.step()

        @torch.no_grad()
        def torch_gen():
            ids = torch.from_numpy(prompt)[None]
            caches = [{} for _ in tmodel.h]
            logits = tmodel(ids, caches)[0, -1]
            for _ in range(NEW):
                nxt = logits.argmax().view(1, 1)
                logits = tmodel(nxt, caches)[0, -1]

        theirs = [best(torch_step, args.repeats) * 1e3, NEW / best(torch_gen, args.repeats)]
    print(f"TinyGPT {cfg}, batch {BATCH}x{cfg.block_size}, 1 thread, best of {args.repeats}")
    print(f"{'':<24}| {'qnn_lite':>9} | {'torch':>9} | {'ratio':>6} | target")
    print("-" * 66)
    (name0, ours0), (name1, ours1) = rows
    r0 = ours0 / theirs[0]
    print(f"{name0:<24}| {ours0:9.1f} | {theirs[0]:9.1f} | {r0:6.2f} | <= {TARGET}x torch: "
          f"{'met' if r0 <= TARGET else 'missed' if r0 == r0 else '-'}")
    print(f"{name1:<24}| {ours1:9.1f} | {theirs[1]:9.1f} | {theirs[1] / ours1:6.2f} | (torch / ours time)")


if __name__ == "__main__":
    main()
