"""How the zoo's checkpoints are trained: one short, seeded recipe shared by ``tools/train_zoo.py`` and the tests.

SGD (momentum 0.9, weight decay 5e-4) with a cosine learning-rate schedule over the
epochs (Loshchilov & Hutter, 2017), cross-entropy, batches of 64 shuffled with ``seed``.
``train_model`` records the loss of every step, so a test can re-run the first steps
and check they follow the script's trajectory (the checkpoint keeps the first ones).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..data import DataLoader, load_digits, load_distorted_digits, load_mnist1d
from ..optim import SGD, CosineAnnealingLR
from ..train import evaluate
from ..validate import check_choice, check_int

DATASETS = ("digits", "distorted_digits", "mnist1d")

# the shipped checkpoints: name -> (dataset, epochs, lr); seed 0 for the weights and the batches
RECIPES = {
    "resnet8": ("distorted_digits", 5, 0.05),
    "mobilenetv2_tiny": ("distorted_digits", 5, 0.05),
    "vgg_small": ("distorted_digits", 5, 0.05),
    "digits_cnn": ("digits", 5, 0.05),
    "digits_mlp": ("digits", 10, 0.05),
}
TRAJECTORY_STEPS = 8   # the first losses kept in each checkpoint, re-checked by the tests


def load_dataset(name: str, flat: bool = False, cache_dir=None):
    """``(X_train, y_train, X_test, y_test)`` of a zoo dataset: ``digits`` (8x8), ``distorted_digits``
    (16x16, the default setting) or ``mnist1d`` (``(N, 1, 1, 40)``). ``flat=True``: ``(N, features)``."""
    check_choice(name, "name", DATASETS)
    if name == "digits":
        return load_digits(seed=0, flat=flat)
    if name == "distorted_digits":
        d = load_distorted_digits(cache_dir=cache_dir)
    else:
        d = load_mnist1d(cache_dir=cache_dir)
    if flat:
        return d[0].reshape(len(d[0]), -1), d[1], d[2].reshape(len(d[2]), -1), d[3]
    return d


def train_model(model, data, epochs: int, lr: float = 0.05, seed: int = 0, batch_size: int = 64,
                max_steps: int | None = None):
    """Train ``model`` in place on ``data = (X_train, y_train, X_test, y_test)``.

    Returns ``(model in eval mode, test accuracy, per-step training losses)``. ``max_steps``
    stops early (for tests); the accuracy is then measured after the steps taken.
    """
    epochs, seed = check_int(epochs, "epochs", lo=1), check_int(seed, "seed", lo=0)
    X, y, X_test, y_test = data
    train = DataLoader(X, y, batch_size=batch_size, shuffle=True, seed=seed)
    test = DataLoader(X_test, y_test, batch_size=500)
    nn.manual_seed(seed)   # Dropout's stream, if any
    opt = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        for xb, yb in train:
            loss = loss_fn(model(xb), yb)
            if not np.isfinite(loss.data).all():
                raise FloatingPointError(f"loss became {float(loss.data)} at step {len(losses)}; try a smaller lr")
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
            if max_steps is not None and len(losses) >= max_steps:
                return model.eval(), evaluate(model, test), losses
        sched.step()
    return model.eval(), evaluate(model, test), losses
