"""Training-step time of every zoo model, qnn_lite vs PyTorch CPU (1 thread), and the depthwise conv alone.

One step = forward, cross-entropy, zero_grad, backward, SGD(momentum) step on a batch of
64 random images of the model's input shape. The PyTorch model is built from ours module
by module (same layers, same weights), so both run the same network. Each time is the
best of ``--repeat`` steps after warm-up; the two frameworks alternate. Target (issue 13):
qnn_lite <= 2x PyTorch per training step.

Run:  OPENBLAS_NUM_THREADS=1 PYTHONPATH=. /work/torchvenv/bin/python bench/zoo_speed.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import qnn_lite.nn as nn  # noqa: E402
from qnn_lite.autograd import Tensor  # noqa: E402
from qnn_lite.autograd.conv import conv2d  # noqa: E402
from qnn_lite.optim import SGD  # noqa: E402
from qnn_lite.zoo import BUILDERS  # noqa: E402

TARGET = 2.0


def to_torch(m):
    """The torch twin of a qnn_lite module tree (same weights); composite modules reuse our forward."""
    import torch
    tnn = torch.nn
    if isinstance(m, nn.Conv2d):
        t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                       m.groups, bias=m.bias is not None)
    elif isinstance(m, nn.Linear):
        t = tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    elif isinstance(m, nn.BatchNorm2d):
        t = tnn.BatchNorm2d(m.num_features, m.eps, m.momentum)
    else:
        simple = {nn.ReLU: tnn.ReLU, nn.ReLU6: tnn.ReLU6, nn.Identity: tnn.Identity, nn.Flatten: tnn.Flatten,
                  nn.Hardswish: tnn.Hardswish}
        if type(m) in simple:
            return simple[type(m)]()
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return tnn.AdaptiveAvgPool2d(m.output_size)
        if isinstance(m, nn.MaxPool2d):
            return tnn.MaxPool2d(m.kernel_size, m.stride, m.padding)
        if isinstance(m, nn.Sequential):
            return tnn.Sequential(*[to_torch(c) for c in m])
        if isinstance(m, nn.Add):
            return type("Add", (tnn.Module,), {"forward": lambda self, a, b: a + b})()
        twin = type(type(m).__name__, (tnn.Module,), {"forward": type(m).forward})()
        for k, v in vars(m).items():
            if not k.startswith("_") and k != "training":
                setattr(twin, k, v)
        for name, child in m._modules.items():
            setattr(twin, name, to_torch(child))
        return twin
    sd = {k: torch.tensor(np.array(v)) for k, v in m.state_dict().items()}
    t.load_state_dict(sd)
    return t


def best_of(fn, repeat: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def qnn_step(model, X, y):
    opt, loss_fn = SGD(model.parameters(), lr=0.01, momentum=0.9), nn.CrossEntropyLoss()
    xt = Tensor(X)

    def step():
        loss = loss_fn(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def torch_step(model, X, y):
    import torch
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), torch.nn.CrossEntropyLoss()
    xt, yt = torch.tensor(X), torch.tensor(y)

    def step():
        loss = loss_fn(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for name, (build, in_shape) in BUILDERS.items():
        model = build(0)
        X = rng.random((args.batch, *in_shape), dtype=np.float32)
        y = rng.integers(0, 10, args.batch)
        tmodel = to_torch(model)
        ours = best_of(qnn_step(model, X, y), args.repeat)
        theirs = best_of(torch_step(tmodel, X, y), args.repeat)
        rows.append((name, ours, theirs))
    for shape in ((64, 64, 8, 8), (64, 96, 8, 8), (64, 96, 4, 4)):
        C = shape[1]
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
        xq, wq = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

        def ours_dw():
            conv2d(xq, wq, None, 1, 1, 1, C).sum().backward()

        def torch_dw():
            torch.nn.functional.conv2d(xt, wt, None, 1, 1, 1, C).sum().backward()
        rows.append((f"depthwise 3x3 {shape}", best_of(ours_dw, args.repeat), best_of(torch_dw, args.repeat)))
    print(f"{'training step, batch ' + str(args.batch) + ', 1 thread':<40} {'qnn_lite ms':>11} "
          f"{'torch ms':>9} {'ratio':>6}  target <= {TARGET}x")
    for name, ours, theirs in rows:
        ratio = ours / theirs
        print(f"{name:<40} {ours:11.2f} {theirs:9.2f} {ratio:6.2f}  {'met' if ratio <= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
