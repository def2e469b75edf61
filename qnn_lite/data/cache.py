"""Where generated datasets are kept: one visible folder, one ``.npz`` file per dataset and setting.

The folder is ``$QNN_LITE_CACHE`` if set, else ``~/.cache/qnn_lite``. A builder calls
:func:`cached` with a name and the settings that determine its arrays; the first call
builds and writes ``<folder>/<name>-<hash of settings>.npz``, later calls read it.
``cache_dir=False`` builds in memory and writes nothing. Delete the folder to rebuild.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np


def cache_dir(path=None) -> str:
    """The folder datasets are cached in: ``path``, else ``$QNN_LITE_CACHE``, else ``~/.cache/qnn_lite``."""
    if path is None:
        path = os.environ.get("QNN_LITE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "qnn_lite")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, None or False, got {path!r}")
    return os.fspath(path)


def cached(name: str, settings: dict, build, cache_dir_=None) -> dict:
    """``build()`` -> dict of arrays, read from / written to the cache (see the module docstring)."""
    if cache_dir_ is False:
        return build()
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir(cache_dir_)
    path = os.path.join(folder, f"{name}-{key}.npz")
    if os.path.exists(path):
        try:
            with np.load(path) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError):   # a half-written or damaged file: build again
            pass
    arrays = build()
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)   # atomic: another process never reads half a file
    return arrays
