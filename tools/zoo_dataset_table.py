"""The dataset table: float test accuracy of each zoo model on each dataset (mean +- std over seeds).

Every cell trains a fresh model with ``qnn_lite.zoo.training.train_model`` (SGD + cosine, the
same recipe as the checkpoints) for a short, fixed number of epochs; the first column is the
time to build the dataset from scratch (no cache). This measures which dataset separates the
architectures; it is how the zoo's dataset was chosen (README, "Model zoo").

    OPENBLAS_NUM_THREADS=1 python tools/zoo_dataset_table.py [--seeds 3] [--datasets digits mnist1d ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from qnn_lite import nn  # noqa: E402
from qnn_lite.zoo import mobilenetv2_tiny, resnet8, vgg_small  # noqa: E402
from qnn_lite.zoo.training import DATASETS, load_dataset, train_model  # noqa: E402

EPOCHS = {"digits": 6, "distorted_digits": 3, "mnist1d": 6}


def mlp(seed, in_shape, hidden=128):
    g = np.random.default_rng(seed)
    n = int(np.prod(in_shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(n, hidden, generator=g), nn.ReLU(),
                         nn.Linear(hidden, hidden, generator=g), nn.ReLU(), nn.Linear(hidden, 10, generator=g))


def logistic(seed, in_shape):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), 10, generator=np.random.default_rng(seed)))


MODELS = {"logistic": logistic, "mlp": mlp, "vgg_small": vgg_small, "resnet8": resnet8,
          "mobilenetv2_tiny": mobilenetv2_tiny}


def build_time(name: str) -> float:
    t = time.perf_counter()
    load_dataset(name, cache_dir=False)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    args = ap.parse_args(argv)
    os.environ.setdefault("QNN_LITE_QUIET", "1")
    rows = []
    for ds in args.datasets:
        built = build_time(ds)
        data = load_dataset(ds)
        in_shape = data[0].shape[1:]
        cells = []
        for name in args.models:
            t = time.perf_counter()
            accs = [train_model(MODELS[name](seed, in_shape), data, EPOCHS[ds], lr=0.05, seed=seed)[1]
                    for seed in range(args.seeds)]
            secs = (time.perf_counter() - t) / args.seeds
            cells.append(f"{100 * np.mean(accs):5.1f} +- {100 * np.std(accs):3.1f} ({secs:4.0f} s)")
            print(f"  {ds} {name}: {[round(100 * a, 1) for a in accs]} {secs:.0f} s/run", flush=True)
        rows.append((ds, f"{len(data[0])}/{len(data[2])}", EPOCHS[ds], built, cells))
    head = f"| dataset | train/test | epochs | build s | " + " | ".join(args.models) + " |"
    print("\n" + head + "\n|" + "---|" * (4 + len(args.models)))
    for ds, n, ep, built, cells in rows:
        print(f"| {ds} | {n} | {ep} | {built:.1f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
