"""Loaders for dataset files a reader already has on disk: MNIST-style IDX and CIFAR-10 python batches.

Nothing here downloads. Give the path of a folder (or file) you have; a missing or
malformed file raises an error that names the path and what was expected.

* IDX (LeCun et al., 1998; the MNIST and Fashion-MNIST format): a big-endian header
  ``0x00 0x00 <type> <ndim>``, then ``ndim`` 32-bit sizes, then the data. Files may be
  gzipped (``.gz``).
* CIFAR-10 (Krizhevsky, 2009), "python version": pickled dicts with ``b"data"``
  (``(10000, 3072)`` uint8, channel-major 32x32) and ``b"labels"``, in files
  ``data_batch_1..5`` and ``test_batch``.
"""
from __future__ import annotations

import gzip
import os
import pickle

import numpy as np

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path) -> bytes:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path!r}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"could not read {path!r}: {e}") from e


def read_idx(path) -> np.ndarray:
    """The array stored in one IDX file (``.gz`` allowed): ``uint8`` images ``(N, H, W)`` or labels ``(N,)``."""
    raw = _read_bytes(path)
    what = "an IDX file (header 0x00 0x00 <type> <ndim>, then ndim big-endian uint32 sizes, then the data)"
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] < 1:
        raise ValueError(f"{path!r} is not {what}; its first bytes are {raw[:4]!r}")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path!r} is truncated: the header promises {ndim} sizes; expected {what}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    n = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != n:
        raise ValueError(f"{path!r} holds {len(body)} data bytes but its header {shape} of {dtype} "
                         f"needs {n}; expected {what}")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: str, names) -> str:
    for name in names:
        for candidate in (name, name + ".gz"):
            p = os.path.join(folder, candidate)
            if os.path.isfile(p):
                return p
    raise FileNotFoundError(f"none of {[n + '[.gz]' for n in names]} found in {folder!r}")


def load_mnist(path, kind: str = "train"):
    """``(X, y)`` from MNIST or Fashion-MNIST IDX files in the folder ``path``.

    ``kind="train"`` reads ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``,
    ``kind="test"`` the ``t10k-`` pair (optionally ``.gz``). ``X`` is float32
    ``(N, 1, 28, 28)`` in [0, 1] (pixels / 255), ``y`` int64 ``(N,)``.
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no folder at {folder!r}: expected the folder holding the MNIST IDX files")
    prefix = "train" if kind == "train" else "t10k"
    img_path = _find(folder, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"])
    lab_path = _find(folder, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"])
    X, y = read_idx(img_path), read_idx(lab_path)
    if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"expected images (N, H, W) in {img_path!r} and N labels in {lab_path!r}, "
                         f"got shapes {X.shape} and {y.shape}")
    return (X.astype(np.float32) / 255.0)[:, None], y.astype(np.int64)


def _cifar_batch(path: str):
    raw = _read_bytes(path)
    what = "a CIFAR-10 python batch (a pickled dict with b'data' (N, 3072) uint8 and b'labels')"
    try:
        d = pickle.loads(raw, encoding="bytes")
        data, labels = np.asarray(d[b"data"]), np.asarray(d[b"labels"])
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not that format"
        raise ValueError(f"{path!r} is not {what}: {type(e).__name__}: {e}") from e
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path!r} is not {what}: data {data.shape}, labels {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(path, kind: str = "train"):
    """``(X, y)`` from the CIFAR-10 python batches in the folder ``path`` (``cifar-10-batches-py``).

    ``kind="train"`` joins ``data_batch_1..5``; ``kind="test"`` reads ``test_batch``.
    ``X`` is float32 ``(N, 3, 32, 32)`` in [0, 1], ``y`` int64 ``(N,)``.
    """
    if kind not in ("train", "test"):
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no folder at {folder!r}: expected the 'cifar-10-batches-py' folder")
    names = [f"data_batch_{i}" for i in range(1, 6)] if kind == "train" else ["test_batch"]
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise FileNotFoundError(f"{folder!r} lacks {missing}: expected the CIFAR-10 python batches")
    parts = [_cifar_batch(os.path.join(folder, n)) for n in names]
    X = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    return X, np.concatenate([p[1] for p in parts]).astype(np.int64)
