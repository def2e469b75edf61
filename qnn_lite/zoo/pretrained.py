"""``load_pretrained(name)``: a zoo model with its shipped float weights, checked against a SHA-256.

The checkpoints are ``.npz`` files in ``qnn_lite/zoo/checkpoints/`` holding the model's
``state_dict`` (plus the recorded first training losses, ``_trajectory``). They are made
by ``tools/train_zoo.py`` (fixed seeds; it rewrites the table below); a file whose hash
differs from the table is refused, so a reader always gets the weights the book was run with.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

CHECKPOINT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")

# name -> (dataset, test accuracy, sha256 of checkpoints/<name>.npz); written by tools/train_zoo.py
# BEGIN CHECKPOINTS
CHECKPOINTS: dict = {
    'digits_cnn': ('digits', 0.9639, 'bda798eaabd04a7470aa765043a6f66f4cd4067f225dce09d26f6b80d415b55b'),
    'digits_mlp': ('digits', 0.9389, '5573a0bf290452cafc922010573d72b8ccb08b93550a06025c9a6d934e1d5a0a'),
    'mobilenetv2_tiny': ('distorted_digits', 0.8915, 'a13ab5b22fa75633638724e3b23c5be88de96299679516be83c3a6648b8affec'),
    'resnet8': ('distorted_digits', 0.9260, '96d2ab892a1e901174756ba9b5701dd08c9374075928963fae38f50a9d9ad2de'),
    'vgg_small': ('distorted_digits', 0.9330, '4005727383a7ae0ff2ef02e9bd4f71f80002952227511f9dd1e1092818f3f519'),
}
# END CHECKPOINTS


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_path(name: str) -> str:
    return os.path.join(CHECKPOINT_DIR, f"{name}.npz")


def load_pretrained(name: str, path=None):
    """Build zoo model ``name`` (seed 0) and load its checkpoint; return it in eval mode.

    ``path`` defaults to the shipped file. Raises ``ValueError`` for an unknown name and
    when the file's SHA-256 is not the one listed in ``CHECKPOINTS`` (a changed or damaged
    file); ``FileNotFoundError`` when the file is missing.
    """
    from . import BUILDERS
    if name not in CHECKPOINTS:
        raise ValueError(f"name must be one of {sorted(CHECKPOINTS)}, got {name!r}")
    path = checkpoint_path(name) if path is None else os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint for {name!r} not found at {path!r}; "
                                f"regenerate with: python tools/train_zoo.py")
    digest = sha256(path)
    expected = CHECKPOINTS[name][2]
    if digest != expected:
        raise ValueError(f"checkpoint {path!r} has SHA-256 {digest}, expected {expected}: the file was "
                         f"changed or damaged; regenerate with: python tools/train_zoo.py")
    model = BUILDERS[name][0](0)
    with np.load(path) as f:
        model.load_state_dict({k: f[k] for k in f.files if not k.startswith("_")})
    return model.eval()
