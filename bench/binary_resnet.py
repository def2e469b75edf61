"""Inference time of chapter 6's binary ResNet on the XNOR-popcount kernel vs the same network in float.

Four runs of one network shape (``recipes.binary_resnet``: float stem, ``--depth`` 3x3 blocks at
``--width`` channels with a shortcut around every conv, global pool, float classifier), on a batch
of ``--batch`` 16x16 images:

* ours, binary on the kernel — ``to_xnor(binary_resnet("irnet"))``: every block's conv is
  ``kernels.bgemm.binary_conv2d`` (XNOR + popcount on packed bits);
* ours, fake-binary — the same model before ``to_xnor`` (float conv of +-1 values);
* ours, float — ``float_resnet`` (float conv, ReLU instead of sign);
* torch CPU, float — the same float network in PyTorch (weights copied; 1 thread).

Each time is the best of ``--repeat`` forward passes after warm-up. The script also checks that the
kernel model's predictions equal the fake-binary model's and that torch's logits match ours.

Run:  OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. /work/torchvenv/bin/python bench/binary_resnet.py
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qnn_lite.autograd import Tensor  # noqa: E402
from qnn_lite.recipes.binary_resnet import binary_resnet, float_resnet  # noqa: E402
from qnn_lite.transforms.xnor import to_xnor  # noqa: E402
from zoo_speed import best_of  # noqa: E402  (best of `repeat` runs after warm-up, in ms)


def torch_twin(model):
    """``float_resnet`` rebuilt in PyTorch with the same weights."""
    import torch
    tnn = torch.nn

    def conv(c):
        t = tnn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
        t.weight.data = torch.from_numpy(c.weight.data.copy())
        return t

    def bn(b):
        t = tnn.BatchNorm2d(b.weight.data.shape[0], eps=b.eps)
        t.weight.data, t.bias.data = torch.from_numpy(b.weight.data.copy()), torch.from_numpy(b.bias.data.copy())
        t.running_mean.data = torch.from_numpy(np.asarray(b.running_mean, np.float32).copy())
        t.running_var.data = torch.from_numpy(np.asarray(b.running_var, np.float32).copy())
        return t

    class Block(tnn.Module):
        def __init__(self, blk):
            super().__init__()
            self.conv, self.bn = conv(blk.conv), bn(blk.bn)

        def forward(self, x):
            return self.bn(self.conv(torch.relu(x))) + x

    feats = model.features
    stem = tnn.Sequential(conv(feats.stem[0]), bn(feats.stem[1]))
    blocks = [Block(b) for n, b in feats.named_children() if n != "stem"]
    fc = tnn.Linear(model.fc.in_features, model.fc.out_features)
    fc.weight.data = torch.from_numpy(model.fc.weight.data.copy())
    fc.bias.data = torch.from_numpy(model.fc.bias.data.copy())
    return tnn.Sequential(stem, *blocks, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), fc).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    x = np.random.default_rng(0).random((args.batch, 1, 16, 16)).astype(np.float32)
    binary = binary_resnet("irnet", args.width, args.depth, seed=0).eval()
    kernel = to_xnor(binary)
    flt = float_resnet(args.width, args.depth, seed=0).eval()
    same = np.array_equal(kernel(Tensor(x)).data.argmax(1), binary(Tensor(x)).data.argmax(1))
    rows = [("ours, binary on XNOR-popcount kernel", best_of(lambda: kernel(Tensor(x)), args.repeat)),
            ("ours, fake-binary (float conv of +-1)", best_of(lambda: binary(Tensor(x)), args.repeat)),
            ("ours, float", best_of(lambda: flt(Tensor(x)), args.repeat))]
    try:
        import torch
        torch.set_num_threads(1)
        tm = torch_twin(flt)
        with torch.no_grad():
            err = float(np.abs(tm(torch.from_numpy(x)).numpy() - flt(Tensor(x)).data).max())
            rows.append(("torch CPU, float (1 thread)", best_of(lambda: tm(torch.from_numpy(x)), args.repeat)))
    except ImportError:
        err = None
    base = rows[0][1]
    print(f"binary ResNet inference: width {args.width}, depth {args.depth} binary 3x3 convs, "
          f"batch {args.batch} x 1x16x16, best of {args.repeat}")
    print(f"{'network':<40} {'ms / batch':>11} {'vs kernel':>10}")
    for name, t in rows:
        print(f"{name:<40} {t:>11.2f} {t / base:>9.2f}x")
    print(f"kernel predictions == fake-binary predictions: {same}")
    if err is not None:
        print(f"torch vs ours (float), max |logit difference|: {err:.2e}")


if __name__ == "__main__":
    main()
