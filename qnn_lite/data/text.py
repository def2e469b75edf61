"""A character-level text corpus for the tiny GPT: Python's own help pages, shipped and hash-checked.

``load_text()`` is ``pydoc_data.topics`` (the pages behind ``help('if')``) as ASCII, ~465 K
characters, under the PSF License v2 (``data/corpora/LICENSE``; rebuilt by
``tools/make_text_corpus.py``). The vocabulary is fixed: the 95 printable ASCII characters and
``'\\n'`` (96 symbols), so ``encode``/``decode`` need no fitted tokenizer.
The split is by position: the first 90 % of characters train, the last 10 % validate.
"""
from __future__ import annotations

import gzip
import hashlib
import pathlib

import numpy as np

CORPUS_PATH = pathlib.Path(__file__).with_name("corpora") / "python_topics.txt.gz"
CORPUS_SHA256 = "48021ae6e4744f058691ffcbde1730b3c63d16748563671dc33180bcabf7f1fe"
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
VOCAB_SIZE = len(CHARS)  # 96
_INDEX = np.full(128, -1, dtype=np.int64)
_INDEX[[ord(c) for c in CHARS]] = np.arange(VOCAB_SIZE)


def load_text() -> str:
    """The whole corpus as one ``str``; raises if the shipped file's SHA-256 does not match."""
    text = gzip.decompress(CORPUS_PATH.read_bytes())
    digest = hashlib.sha256(text).hexdigest()
    if digest != CORPUS_SHA256:
        raise ValueError(f"{CORPUS_PATH} is corrupt or changed: sha256 {digest}, expected {CORPUS_SHA256}")
    return text.decode("ascii")


def encode(text: str) -> np.ndarray:
    """Characters -> int64 token ids ``(len(text),)``; a character outside the vocabulary is an error."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    ids = np.where(codes < 128, _INDEX[np.minimum(codes, 127)], -1)
    if (ids < 0).any():
        bad = sorted({text[i] for i in np.flatnonzero(ids < 0)[:20]})
        raise ValueError(f"text has characters outside the vocabulary (printable ASCII and '\\n'): {bad!r}")
    return ids


def decode(ids) -> str:
    """Token ids -> characters."""
    ids = np.asarray(ids)
    if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise ValueError(f"ids must be integers in 0..{VOCAB_SIZE - 1}, got {ids.dtype} "
                         f"in {ids.min()}..{ids.max()}")
    return "".join(CHARS[i] for i in ids.reshape(-1))


def load_char_corpus(split: str = "train", val_fraction: float = 0.1) -> np.ndarray:
    """Token ids of the ``'train'`` (first ``1 - val_fraction``) or ``'val'`` (the rest) part."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if not isinstance(val_fraction, float) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a float in (0, 1), got {val_fraction!r}")
    ids = encode(load_text())
    cut = int(round(len(ids) * (1 - val_fraction)))
    return ids[:cut] if split == "train" else ids[cut:]


def random_windows(ids: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator):
    """A training batch ``(x, y)``, each ``(batch_size, block_size)``: random windows, ``y`` = ``x`` shifted by 1."""
    if len(ids) <= block_size:
        raise ValueError(f"ids must be longer than block_size={block_size}, got {len(ids)} tokens")
    start = rng.integers(0, len(ids) - block_size, size=batch_size)
    rows = start[:, None] + np.arange(block_size + 1)
    w = ids[rows]
    return w[:, :-1], w[:, 1:]


def sequential_windows(ids: np.ndarray, block_size: int, max_windows: int | None = None):
    """Non-overlapping ``(x, y)`` windows ``(n, block_size)`` from the start of ``ids`` (for perplexity)."""
    n = (len(ids) - 1) // block_size
    if max_windows is not None:
        n = min(n, max_windows)
    if n < 1:
        raise ValueError(f"ids ({len(ids)} tokens) must hold at least one window of block_size+1={block_size + 1}")
    x = ids[:n * block_size].reshape(n, block_size)
    y = ids[1:n * block_size + 1].reshape(n, block_size)
    return x, y
