"""`fit` and `evaluate`: the training loop every chapter uses, with a quiet-under-test progress bar.

One epoch of ``fit`` is the loop the reader writes by hand in chapter 02::

    for X, y in train_loader:
        loss = loss_fn(model(X), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

The tqdm progress bar is off when ``progress=False`` or when the environment
variable ``QNN_LITE_QUIET=1`` (set by the test suite and nbval).
"""
from __future__ import annotations

import os

import numpy as np

from .autograd.tensor import no_grad


def _quiet() -> bool:
    return os.environ.get("QNN_LITE_QUIET", "") not in ("", "0")


def evaluate(model, loader) -> float:
    """Accuracy in [0, 1] of ``argmax(model(X))`` over ``loader``, in eval mode and without a graph.

    The model's previous train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with no_grad():
            for X, y in loader:
                correct += int((model(X).data.argmax(axis=1) == y).sum())
                total += len(y)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("loader must yield at least one sample, got an empty loader")
    return correct / total


def fit(model, train_loader, loss_fn, optimizer, epochs: int, val_loader=None, scheduler=None,
        progress: bool | None = None) -> dict:
    """Train for ``epochs`` epochs; return ``{"train_loss", "train_acc", "val_acc"}`` lists, one entry per epoch.

    ``train_loss`` is the sample-weighted mean loss over the epoch, ``train_acc``
    the accuracy on the training batches as they were seen (in train mode),
    ``val_acc`` ``evaluate(model, val_loader)`` (absent without ``val_loader``).
    ``scheduler.step()`` is called once per epoch.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    show = (not _quiet()) if progress is None else (bool(progress) and not _quiet())
    history = {"train_loss": [], "train_acc": []}
    if val_loader is not None:
        history["val_acc"] = []
    bar = None
    if show:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * len(train_loader), desc="fit", unit="batch", leave=True)
    try:
        for epoch in range(epochs):
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for X, y in train_loader:
                out = model(X)
                loss = loss_fn(out, y)
                if not np.isfinite(loss.data).all():
                    raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch + 1}; "
                                             f"try a smaller lr")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                n = len(y)
                loss_sum += float(loss.data) * n
                correct += int((out.data.argmax(axis=1) == y).sum())
                seen += n
                if bar is not None:
                    bar.update(1)
            history["train_loss"].append(loss_sum / max(seen, 1))
            history["train_acc"].append(correct / max(seen, 1))
            if val_loader is not None:
                history["val_acc"].append(evaluate(model, val_loader))
            if scheduler is not None:
                scheduler.step()
            if bar is not None:
                post = {"loss": f"{history['train_loss'][-1]:.4f}"}
                if val_loader is not None:
                    post["val_acc"] = f"{history['val_acc'][-1]:.3f}"
                bar.set_postfix(post)
    finally:
        if bar is not None:
            bar.close()
    return history
