"""TinyGPT: a character-level, decoder-only transformer (GPT-2's layout) and its shipped checkpoint.

``TinyGPT(config)``: token + learned position embeddings -> ``n_layer`` pre-norm ``Block``s ->
final ``LayerNorm`` -> logits through the *tied* token embedding (``lm_head = wte.weight``,
Press & Wolf, 2017). Shapes: ``idx (B, T)`` int -> logits ``(B, T, vocab_size)``, ``T <= block_size``.
``load_tinygpt()`` builds the model and loads ``checkpoints/tinygpt.npz`` (trained by
``tools/train_gpt.py`` on ``qnn_lite.data.text``), checking its SHA-256 first.
``evaluate_lm`` gives the mean next-token loss, perplexity and bits per character;
``generate`` samples a continuation with a KV cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import pathlib

import numpy as np

from ..autograd.linear import linear
from ..autograd.loss import cross_entropy
from ..autograd.tensor import Tensor, no_grad
from ..nn.containers import Sequential
from ..nn.module import Module
from ..nn.transformer import Block, Embedding, LayerNorm

CHECKPOINT = pathlib.Path(__file__).with_name("checkpoints") / "tinygpt.npz"
CHECKPOINT_SHA256 = "3f37cd18bd946f948940f8c4391737e49bfae3c95420883512788ca7c56bf133"  # tools/train_gpt.py, 1500 steps


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """The sizes of a TinyGPT (the shipped one is the default)."""
    vocab_size: int = 96
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head, got {self.n_embd} and {self.n_head}")


class TinyGPT(Module):
    """Decoder-only transformer with tied input/output embeddings; ``forward(idx) -> logits``."""

    def __init__(self, config: GPTConfig = GPTConfig(), seed: int = 0):
        super().__init__()
        self.config = config
        gen = np.random.default_rng(seed)   # every weight below is drawn from it (not the global generator)
        self.wte = Embedding(config.vocab_size, config.n_embd)
        self.wpe = Embedding(config.block_size, config.n_embd)
        self.h = Sequential(*[Block(config.n_embd, config.n_head) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd)
        # GPT-2's init: N(0, 0.02) weights, zero biases, residual projections / sqrt(2 n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias") or ".ln_" in name or name.startswith("ln_f"):
                continue
            std = 0.02 / np.sqrt(2 * config.n_layer) if name.endswith("c_proj.weight") else 0.02
            p.data[...] = gen.normal(0.0, std, p.shape)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.data[...] = 0

    def forward(self, idx, caches: list | None = None):
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"idx must be 2-D (batch, time), got shape {idx.shape}")
        start = 0 if not caches or "k" not in caches[0] else caches[0]["k"].shape[2]
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"sequence length {start + T} exceeds block_size={self.config.block_size}")
        x = self.wte(idx) + self.wpe(np.arange(start, start + T))
        for i, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[i])
        return linear(self.ln_f(x), self.wte.weight)   # weight tying: lm_head = wte

    def loss(self, idx, targets) -> Tensor:
        """Mean next-token cross-entropy (nats) of ``targets (B, T)`` given ``idx (B, T)``."""
        logits = self(idx)
        V = logits.shape[-1]
        return cross_entropy(logits.reshape(-1, V), np.asarray(targets).reshape(-1))


def load_tinygpt(path=None, sha256: str | None = None) -> TinyGPT:
    """The shipped, trained TinyGPT (float32, eval mode); the file's SHA-256 is checked first.

    ``path``/``sha256`` load another checkpoint written by :func:`save_tinygpt` (``sha256=None``
    with a ``path`` skips the check).
    """
    if path is None:
        path, sha256 = CHECKPOINT, CHECKPOINT_SHA256
    path = pathlib.Path(path)
    raw = path.read_bytes()
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path} is corrupt or changed: sha256 {digest}, expected {sha256}")
    with np.load(io.BytesIO(raw)) as f:
        arrays = {k: f[k] for k in f.files}
    config = GPTConfig(**{k[len("config."):]: int(arrays.pop(k)) for k in list(arrays) if k.startswith("config.")})
    model = TinyGPT(config)
    model.load_state_dict(arrays)
    return model.eval()


def save_tinygpt(model: TinyGPT, path) -> str:
    """Write ``model``'s weights and config to ``path`` (.npz); return the file's SHA-256."""
    cfg = {f"config.{k}": np.int64(v) for k, v in dataclasses.asdict(model.config).items()}
    np.savez_compressed(path, **cfg, **model.state_dict())
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def evaluate_lm(model: TinyGPT, ids: np.ndarray, max_windows: int | None = 32, batch_size: int = 16) -> dict:
    """Next-token loss on non-overlapping ``block_size`` windows of ``ids``.

    Returns ``{'nll': mean nats per token, 'ppl': exp(nll), 'bpc': nll / ln 2, 'tokens': count}``.
    """
    from ..data.text import sequential_windows
    x, y = sequential_windows(ids, model.config.block_size, max_windows)
    total = 0.0
    with no_grad():
        for i in range(0, len(x), batch_size):
            total += float(model.loss(x[i:i + batch_size], y[i:i + batch_size]).data) * y[i:i + batch_size].size
    nll = total / y.size
    return {"nll": nll, "ppl": float(np.exp(nll)), "bpc": float(nll / np.log(2)), "tokens": int(y.size)}


def generate(model: TinyGPT, prompt_ids, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> np.ndarray:
    """Sample ``max_new_tokens`` ids after ``prompt_ids (T0,)`` using a KV cache; returns all ids.

    ``temperature=0`` takes the most likely token (greedy). When the context reaches
    ``block_size`` the cache is dropped and the last ``block_size // 2`` tokens are re-read.
    """
    ids = [int(i) for i in np.asarray(prompt_ids).reshape(-1)]
    if not ids:
        raise ValueError("prompt_ids must hold at least one token")
    rng = np.random.default_rng(seed)
    bs = model.config.block_size
    caches, fed = None, 0
    with no_grad():
        for _ in range(max_new_tokens):
            if caches is None or fed >= bs:
                ctx = ids[-(bs // 2):] if fed >= bs else ids[-bs:]
                caches = [{} for _ in model.h]
                logits = model(np.array([ctx]), caches).data[0, -1]
                fed = len(ctx)
            else:
                logits = model(np.array([[ids[-1]]]), caches).data[0, -1]
                fed += 1
            logits = logits.astype(np.float64)
            if temperature == 0:
                nxt = int(np.argmax(logits))
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = np.sort(logits)[-top_k]
                    logits = np.where(logits < kth, -np.inf, logits)
                p = np.exp(logits - logits.max())
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            ids.append(nxt)
    return np.array(ids, dtype=np.int64)
