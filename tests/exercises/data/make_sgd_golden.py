"""Generate sgd_golden.json: torch.optim.SGD trajectories for the cases of exercise 2.3.

Run with a PyTorch venv (not part of the test suite): python make_sgd_golden.py
Data: numpy default_rng(seed) draws p0 (5,) then grads (steps, 5), as the check does.
"""
import json
from pathlib import Path

import numpy as np
import torch

CASES = [([0.1], 0.9, 0.0), ([0.1, 0.1, 0.1], 0.9, 0.0), ([0.1, 0.05, 0.01], 0.9, 0.0), ([0.1, 0.1], 0.8, 0.01)]

out = []
for lrs, momentum, wd in CASES:
    rng = np.random.default_rng(0)
    p0, grads = rng.normal(size=5), rng.normal(size=(len(lrs), 5))
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=momentum, weight_decay=wd)
    traj = []
    for lr, g in zip(lrs, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.param_groups[0]["lr"] = lr
        opt.step()
        traj.append(p.detach().numpy().tolist())
    out.append({"lrs": lrs, "momentum": momentum, "weight_decay": wd, "params": traj})
Path(__file__).with_name("sgd_golden.json").write_text(json.dumps(out, indent=1) + "\n")
print(f"torch {torch.__version__}: wrote {len(out)} cases")
