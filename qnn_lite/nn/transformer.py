"""The layers of a decoder-only transformer (GPT-2's layout; Radford et al., 2019), PyTorch's names.

``Embedding``, ``LayerNorm``, ``RMSNorm``, ``GELU``, ``CausalSelfAttention`` (fused q/k/v
projection ``c_attn``, output ``c_proj``), ``MLP`` (``c_fc`` -> GELU -> ``c_proj``) and the
pre-norm ``Block``: ``x = x + attn(ln_1(x))``, ``x = x + mlp(ln_2(x))``. Shapes: tokens ``(B, T)``,
activations ``(B, T, C)``; ``C = n_head * head_dim``.

Two hooks serve the quantization chapter: ``CausalSelfAttention.kv_quant`` (a function applied
to the key and value arrays, i.e. to what a KV cache stores) and the ``cache`` argument that makes
generation reuse past keys and values.
"""
from __future__ import annotations

import numpy as np

from ..autograd.attention import scaled_dot_product_attention
from ..autograd.embedding import embedding
from ..autograd.gelu import gelu
from ..autograd.layernorm import layer_norm, rms_norm
from ..autograd.shape import concat
from ..autograd.tensor import Tensor
from . import init
from ..validate import check_int
from .layers import Linear
from .module import Module, Parameter


class Embedding(Module):
    """A lookup table ``weight (num_embeddings, embedding_dim)``, init ``N(0, 1)`` as in PyTorch."""

    def __init__(self, num_embeddings: int, embedding_dim: int, generator=None):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", 1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=np.float32))
        init.normal_(self.weight, 0.0, 1.0, generator)

    def forward(self, idx):
        return embedding(idx, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise the last axis to mean 0, variance 1, then ``* weight + bias`` (ones / zeros at init)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        self.normalized_shape = (check_int(normalized_shape, "normalized_shape", 1),)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(normalized_shape, np.float32))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(np.zeros(normalized_shape, np.float32))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class RMSNorm(Module):
    """Divide the last axis by its root mean square, then ``* weight`` (Zhang & Sennrich, 2019)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-6):
        super().__init__()
        self.normalized_shape = (check_int(normalized_shape, "normalized_shape", 1),)
        self.eps = eps
        self.weight = Parameter(np.ones(normalized_shape, np.float32))

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class GELU(Module):
    """$x \\Phi(x)$; ``approximate='none'`` (exact, PyTorch's default) or ``'tanh'`` (GPT-2's)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class CausalSelfAttention(Module):
    """Multi-head self-attention where token ``t`` sees tokens ``0..t`` (Vaswani et al., 2017).

    ``qkv = c_attn(x)`` -> q, k, v ``(B, n_head, T, head_dim)`` -> softmax(q k^T / sqrt(d)) v ->
    heads concatenated -> ``c_proj``. ``cache``: a dict that keeps past ``k``/``v`` arrays
    (generation); ``kv_quant``: a function applied to k and v before attention (None = off).
    """

    def __init__(self, n_embd: int, n_head: int, bias: bool = True):
        super().__init__()
        n_embd, n_head = check_int(n_embd, "n_embd", 1), check_int(n_head, "n_head", 1)
        if n_embd % n_head:
            raise ValueError(f"n_embd must be divisible by n_head, got n_embd={n_embd}, n_head={n_head}")
        self.n_embd, self.n_head = n_embd, n_head
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.kv_quant = None

    def forward(self, x, cache: dict | None = None):
        B, T, C = x.shape
        H = self.n_head
        qkv = self.c_attn(x).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.kv_quant is not None:
            k, v = Tensor(self.kv_quant(k.data)), Tensor(self.kv_quant(v.data))
        mask, causal = None, True
        if cache is not None:                      # generation: prepend the cached keys and values
            if "k" in cache:
                k, v = concat([Tensor(cache["k"]), k], axis=2), concat([Tensor(cache["v"]), v], axis=2)
            cache["k"], cache["v"] = k.data, v.data
            S = k.shape[2]
            mask, causal = np.tril(np.ones((T, S), dtype=bool), k=S - T), False
        y = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.c_proj(y.permute(0, 2, 1, 3).reshape(B, T, C))

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}"


class MLP(Module):
    """``c_proj(gelu(c_fc(x)))`` with a hidden width of ``4 * n_embd``."""

    def __init__(self, n_embd: int, bias: bool = True, approximate: str = "tanh"):
        super().__init__()
        self.c_fc = Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = GELU(approximate)
        self.c_proj = Linear(4 * n_embd, n_embd, bias=bias)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, n_embd: int, n_head: int, bias: bool = True):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, bias)
        self.ln_2 = LayerNorm(n_embd)
        self.mlp = MLP(n_embd, bias)

    def forward(self, x, cache: dict | None = None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))
