"""A hash of what training produces, to prove a speed-up changed no bits.

The chapters' checked numbers (accuracies after training, QAT results) depend on
every float the training loop computes. A change to the hot path (an op's
forward/backward, the engine, the optimizer) must therefore leave them
bit-identical. Run this before and after the change, with the test suite's
environment, and compare the hashes::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python tools/train_fingerprint.py            # prints the hash
    OPENBLAS_NUM_THREADS=1 .venv/bin/python tools/train_fingerprint.py out.npz    # also saves the arrays

It trains, with fixed seeds: the benchmark's MLP and CNN (2 epochs each, SGD with
momentum), the book's digits CNN with and without batch norm and its MLP
(3 epochs), and 8-bit fake-quant QAT and 4-bit LSQ QAT (Adam) on a trained CNN,
and hashes every parameter and buffer (and the test accuracies).
Then run the same with OPENBLAS_NUM_THREADS=2: the hash should not change either.
"""
from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]

import train_speed  # noqa: E402  (bench/train_speed.py: the benchmark's models and loop)
from qnn_lite.data import load_digits  # noqa: E402
from qnn_lite.recipes.digits import digits_cnn, digits_loaders, digits_mlp, train_digits_model  # noqa: E402
from qnn_lite.transforms.fake_quant import default_qat_qconfig, lsq_qconfig  # noqa: E402
from qnn_lite.transforms.qat import prepare_qat  # noqa: E402
from qnn_lite.recipes.finetune import qat_finetune


def trained_arrays() -> dict:
    arrays = {}

    def keep(tag, model):
        for name, value in model.state_dict().items():
            arrays[f"{tag}.{name}"] = np.array(value)

    X, y, _, _ = load_digits()
    for kind in ("MLP", "CNN"):
        model, epoch = train_speed.qnn_training(kind, X, y)
        epoch()
        epoch()
        keep(kind, model)
    for bn in (True, False):
        model, acc = train_digits_model(digits_cnn(0, batch_norm=bn), epochs=3)
        keep(f"digits_cnn_bn{bn}", model)
        arrays[f"digits_cnn_bn{bn}.accuracy"] = np.array(acc)
    model, acc = train_digits_model(digits_mlp(0), epochs=3)
    keep("digits_mlp", model)
    arrays["digits_mlp.accuracy"] = np.array(acc)
    train_loader, _ = digits_loaders(64, 0, False)
    for tag, qconfig in (("qat8", default_qat_qconfig(8, 8)), ("lsq4", lsq_qconfig(4, 4))):
        base, _ = train_digits_model(digits_cnn(0), epochs=2)
        qmodel = prepare_qat(base, qconfig)
        qat_finetune(qmodel, train_loader, epochs=1)
        keep(tag, qmodel)
    return arrays


def fingerprint(arrays: dict) -> str:
    h = hashlib.sha1()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def main(argv: list[str]) -> int:
    os.environ.setdefault("QNN_LITE_QUIET", "1")
    arrays = trained_arrays()
    if argv:
        np.savez(argv[0], **arrays)
    print(f"{len(arrays)} arrays, sha1 {fingerprint(arrays)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
