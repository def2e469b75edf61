"""Generate tests/data/torch_golden_nn.npz: PyTorch reference values for tests/nn.

Not run by the suite (it imports torch). Regenerate with:
    /tmp/torchvenv/bin/python tests/data/make_torch_golden_nn.py
Holds: SGD / Adam trajectories on a tiny quadratic, StepLR / CosineAnnealingLR
learning rates, conv2d / max_pool2d / avg_pool2d / batch_norm / cross_entropy
outputs and gradients on fixed random inputs.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
out = {}
rng = np.random.default_rng(1234)

# ---- optimizers on f(p) = sum(0.5 * a * p^2 + b * p), grad = a * p + b ----------
a = rng.uniform(0.5, 2.0, size=(3, 2))
b = rng.standard_normal((3, 2))
p0 = rng.standard_normal((3, 2))
out["quad_a"], out["quad_b"], out["quad_p0"] = a, b, p0
configs = {
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    "sgd_damp_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam_default": (torch.optim.Adam, dict(lr=0.1)),
    "adam_betas_wd": (torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
}
for name, (cls, kw) in configs.items():
    p = torch.tensor(p0, requires_grad=True)
    opt = cls([p], **kw)
    traj = []
    for _ in range(6):
        opt.zero_grad()
        p.grad = torch.tensor(a) * p.detach() + torch.tensor(b)
        opt.step()
        traj.append(p.detach().numpy().copy())
    out[f"opt_{name}"] = np.stack(traj)

# ---- schedules ------------------------------------------------------------------
for name, make in {"steplr": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
                   "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01)}.items():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched = make(opt)
    lrs = []
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    out[f"lr_{name}"] = np.array(lrs)

# ---- conv2d -------------------------------------------------------------------------
for tag, (stride, padding) in {"s1p1": (1, 1), "s2p0": (2, 0), "s2p1": (2, (1, 0))}.items():
    x = rng.standard_normal((2, 2, 5, 4))
    w = rng.standard_normal((3, 2, 3, 2))
    bias = rng.standard_normal(3)
    gy_shape = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(bias), stride, padding).shape
    gy = rng.standard_normal(tuple(gy_shape))
    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, bias))
    y = F.conv2d(xt, wt, bt, stride, padding)
    y.backward(torch.tensor(gy))
    out.update({f"conv_{tag}_x": x, f"conv_{tag}_w": w, f"conv_{tag}_b": bias, f"conv_{tag}_gy": gy,
                f"conv_{tag}_y": y.detach().numpy(), f"conv_{tag}_dx": xt.grad.numpy(),
                f"conv_{tag}_dw": wt.grad.numpy(), f"conv_{tag}_db": bt.grad.numpy()})

# ---- pools ----------------------------------------------------------------------------
x = rng.standard_normal((1, 2, 5, 6))
for tag, fn in {"max": lambda t: F.max_pool2d(t, 3, 2, 1), "avg": lambda t: F.avg_pool2d(t, 3, 2, 1)}.items():
    xt = torch.tensor(x, requires_grad=True)
    y = fn(xt)
    gy = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(gy))
    out.update({f"pool_{tag}_y": y.detach().numpy(), f"pool_{tag}_gy": gy, f"pool_{tag}_dx": xt.grad.numpy()})
out["pool_x"] = x

# ---- batch norm (training, two steps; then eval) --------------------------------------
for tag, shape in {"1d": (5, 3), "2d": (3, 3, 2, 2)}.items():
    bn = torch.nn.BatchNorm1d(3) if tag == "1d" else torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(rng.standard_normal(3)))
        bn.bias.copy_(torch.tensor(rng.standard_normal(3)))
    out[f"bn{tag}_weight"], out[f"bn{tag}_bias"] = bn.weight.detach().numpy().copy(), bn.bias.detach().numpy().copy()
    xs = [rng.standard_normal(shape) * 2 + 1 for _ in range(2)]
    for k, xk in enumerate(xs):
        xt = torch.tensor(xk, requires_grad=True)
        y = bn(xt)
        gy = rng.standard_normal(shape)
        y.backward(torch.tensor(gy))
        out.update({f"bn{tag}_x{k}": xk, f"bn{tag}_y{k}": y.detach().numpy(), f"bn{tag}_gy{k}": gy,
                    f"bn{tag}_dx{k}": xt.grad.numpy()})
    out[f"bn{tag}_running_mean"] = bn.running_mean.numpy().copy()
    out[f"bn{tag}_running_var"] = bn.running_var.numpy().copy()
    bn.eval()
    out[f"bn{tag}_eval_y"] = bn(torch.tensor(xs[0])).detach().numpy()

# ---- cross-entropy --------------------------------------------------------------------
z = rng.standard_normal((5, 4)) * 3
z[0] += 500.0  # large logits: must stay finite
target = np.array([0, 3, 1, 1, 2])
for red in ("mean", "sum", "none"):
    zt = torch.tensor(z, requires_grad=True)
    loss = F.cross_entropy(zt, torch.tensor(target), reduction=red)
    g = rng.standard_normal(tuple(loss.shape))
    loss.backward(torch.tensor(g))
    out.update({f"ce_{red}_loss": loss.detach().numpy(), f"ce_{red}_g": g, f"ce_{red}_dz": zt.grad.numpy()})
out["ce_z"], out["ce_target"] = z, target

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_golden_nn.npz")
np.savez_compressed(path, **out)
print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} arrays)")
