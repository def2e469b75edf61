"""Retrain every zoo checkpoint with fixed seeds, write qnn_lite/zoo/checkpoints/*.npz and their SHA-256s.

    OPENBLAS_NUM_THREADS=1 python tools/train_zoo.py             # all models (~10 min on a busy 2-core laptop)
    OPENBLAS_NUM_THREADS=1 python tools/train_zoo.py digits_mlp  # just some

Each model is built with seed 0 and trained by ``qnn_lite.zoo.training.train_model`` with its
``RECIPES`` entry (dataset, epochs, lr). The checkpoint holds the ``state_dict`` and the first
``TRAJECTORY_STEPS`` training losses (``_trajectory``), which a test re-computes. The script
rewrites the ``CHECKPOINTS`` table in ``qnn_lite/zoo/pretrained.py`` and prints the accuracy table.
"""
from __future__ import annotations

import os
import re
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from qnn_lite.zoo import BUILDERS  # noqa: E402
from qnn_lite.zoo import pretrained  # noqa: E402
from qnn_lite.zoo.training import RECIPES, TRAJECTORY_STEPS, load_dataset, train_model  # noqa: E402


def train_one(name: str):
    dataset, epochs, lr = RECIPES[name]
    build, in_shape = BUILDERS[name]
    data = load_dataset(dataset, flat=len(in_shape) == 1)
    model, acc, losses = train_model(build(0), data, epochs, lr=lr, seed=0)
    arrays = {k: np.array(v) for k, v in model.state_dict().items()}
    arrays["_trajectory"] = np.array(losses[:TRAJECTORY_STEPS])
    os.makedirs(pretrained.CHECKPOINT_DIR, exist_ok=True)
    path = pretrained.checkpoint_path(name)
    np.savez_compressed(path, **arrays)
    return dataset, acc, pretrained.sha256(path)


def write_table(table: dict) -> None:
    src_path = pretrained.__file__
    src = open(src_path).read()
    body = "CHECKPOINTS: dict = {\n" + "".join(
        f"    {name!r}: ({ds!r}, {acc:.4f}, {sha!r}),\n" for name, (ds, acc, sha) in sorted(table.items())) + "}\n"
    src = re.sub(r"(# BEGIN CHECKPOINTS\n).*?(# END CHECKPOINTS)", lambda m: m.group(1) + body + m.group(2),
                 src, flags=re.S)
    with open(src_path, "w") as f:
        f.write(src)


def main(argv: list[str]) -> int:
    os.environ.setdefault("QNN_LITE_QUIET", "1")
    names = argv or list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"unknown model(s) {unknown}; choose from {list(RECIPES)}")
        return 2
    table = dict(pretrained.CHECKPOINTS)
    print(f"| model | dataset | epochs | params | test acc | train s |\n|---|---|---|---|---|---|")
    for name in names:
        t = time.perf_counter()
        ds, acc, sha = train_one(name)
        table[name] = (ds, acc, sha)
        params = sum(p.data.size for p in BUILDERS[name][0](0).parameters())
        print(f"| {name} | {ds} | {RECIPES[name][1]} | {params} | {100 * acc:.2f} % | "
              f"{time.perf_counter() - t:.0f} |", flush=True)
        write_table(table)
    total = sum(os.path.getsize(pretrained.checkpoint_path(n)) for n in table)
    print(f"checkpoints: {len(table)} files, {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
