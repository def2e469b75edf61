"""The book's reusable models: seeded builders for the 8x8 digits and a quick trainer (optionally cached).

Every chapter that needs "a small trained network" builds it here, so the chapters agree
on what "the digits CNN" is and a reader can rebuild it in one line::

    from qnn_lite.recipes.digits import digits_cnn, train_digits_model
    model, acc = train_digits_model(digits_cnn(seed=0), epochs=5, lr=0.05, seed=0)

* :func:`digits_mlp` — ``Linear(64, hidden) -> ReLU -> Linear(hidden, 10)`` on flat ``(N, 64)`` images.
* :func:`digits_cnn` — two 3x3 conv blocks (Conv2d -> BatchNorm2d -> ReLU [-> MaxPool2d(2)]),
  ``Flatten``, ``Linear(., 10)`` on ``(N, 1, 8, 8)`` images. The default is the small pooled
  variant (8 and 16 channels, 64 features into the classifier), which trains in seconds;
  ``digits_cnn(channels=(16, 32), pool=False)`` is the wider unpooled one
  (``Linear(2048, 10)``). The layers are children ``"0", "1", ...`` of one ``Sequential``,
  the form ``qnn_lite.transforms.ptq.fuse_modules`` / ``prepare`` / ``convert_to_integer`` expect.
* :func:`digits_loaders` — the train / test ``DataLoader`` pair every chapter uses.
* :func:`compare_to_float` — how far a quantized model is from its float original on a test set:
  accuracy, the SQNR of the logits and the share of predictions that agree.
* :func:`train_digits_model` — SGD with momentum and cross-entropy on the digits training
  split; returns the model (eval mode) and its test accuracy. Pass a dict as ``cache=`` to keep
  results in it, keyed by the model's structure and initial weights and the training settings,
  so training the same model twice with the same dict (a chapter's tables, two tests) costs one
  training. Without ``cache`` every call trains. Nothing is written to disk.

Builders are deterministic: the same ``seed`` gives identical weights, drawn from a private
``np.random.default_rng(seed)`` (the global ``nn.manual_seed`` stream is not touched).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from .. import nn
from ..autograd.tensor import Tensor, no_grad
from ..data import DataLoader, load_digits
from ..optim import SGD
from ..train import evaluate, fit
from ..validate import check_int
from ..zoo.digits import digits_cnn, digits_mlp  # the builders live in the zoo; the trainer here uses them

__all__ = ["digits_mlp", "digits_cnn", "digits_loaders", "train_digits_model", "compare_to_float"]


def digits_loaders(batch_size: int = 64, seed: int = 0, flat: bool = False, test_batch_size: int = 512):
    """``(train_loader, test_loader)`` over ``load_digits(seed=0, flat=flat)`` (1437 / 360 images).

    The training loader shuffles with ``seed``; the test loader keeps the order (batches of
    ``test_batch_size``). The split itself is always ``load_digits``' seed-0 split.
    """
    X_train, y_train, X_test, y_test = load_digits(seed=0, flat=flat)
    train = DataLoader(X_train, y_train, batch_size=check_int(batch_size, "batch_size", 1), shuffle=True,
                       seed=check_int(seed, "seed", 0))
    test = DataLoader(X_test, y_test, batch_size=check_int(test_batch_size, "test_batch_size", 1))
    return train, test


def _takes_flat_input(model) -> bool:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return False
        if isinstance(m, nn.Linear):
            return True
    raise ValueError("model must contain a Conv2d or a Linear layer to train on digits")


def _fingerprint(model) -> str:
    h = hashlib.sha1(repr(model).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def train_digits_model(model, epochs: int = 5, lr: float = 0.05, seed: int = 0, batch_size: int = 64,
                       momentum: float = 0.9, cache: dict | None = None):
    """Train ``model`` in place on the digits; return ``(model, test_accuracy)`` with ``model`` in eval mode.

    ``fit`` with ``SGD(lr, momentum)``, ``CrossEntropyLoss`` and ``digits_loaders(batch_size, seed)``
    (flat images if the first weight layer is a Linear). Dropout, if any, is seeded with ``seed``.
    ``cache``: a dict owned by the caller, or None (train every time). With a dict, a second call
    with a model of the same structure and initial weights and the same settings loads the
    trained weights stored in it instead of training again.
    ``model.history`` holds ``fit``'s history (train loss / accuracy per epoch).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a qnn_lite.nn.Module, got {type(model).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < np.inf:
        raise ValueError(f"lr must be a positive finite float, got {lr!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a float in [0, 1), got {momentum!r}")
    seed, batch_size, flat = check_int(seed, "seed", 0), check_int(batch_size, "batch_size", 1), _takes_flat_input(model)
    key = (_fingerprint(model), int(epochs), float(lr), seed, batch_size, float(momentum))
    if cache is not None and not isinstance(cache, dict):
        raise TypeError(f"cache must be a dict or None, got {type(cache).__name__}")
    store = {} if cache is None else cache
    if key not in store:
        train_loader, test_loader = digits_loaders(batch_size, seed, flat)
        nn.manual_seed(seed)  # Dropout's stream
        history = fit(model, train_loader, nn.CrossEntropyLoss(),
                      SGD(model.parameters(), lr=float(lr), momentum=float(momentum)), epochs=int(epochs))
        store[key] = (OrderedDict(model.state_dict()), evaluate(model, test_loader), history)
    state, acc, history = store[key]
    model.load_state_dict(state)
    model.history = {k: list(v) for k, v in history.items()}
    return model.eval(), acc


def _logits(model, X) -> np.ndarray:
    if callable(getattr(model, "eval", None)):
        model.eval()
    with no_grad():
        out = model(Tensor(X))
    return np.asarray(getattr(out, "data", out), dtype=np.float64)


def compare_to_float(float_model, model, X, y) -> dict:
    """``{"accuracy", "sqnr_db", "agreement"}`` of ``model`` against ``float_model`` on inputs ``X (N, ...)``.

    ``accuracy = mean(argmax model(X) == y)``; ``sqnr_db = 10 log10(sum l^2 / sum (l_hat - l)^2)`` with
    ``l`` the float logits and ``l_hat`` the model's (``inf`` if they are equal); ``agreement`` = share
    of inputs on which both predict the same class. ``model`` may be any callable returning logits
    (e.g. an ``IntegerModel``); both run without a graph, in eval mode.
    """
    X = np.asarray(getattr(X, "data", X), dtype=np.float32)
    y = np.asarray(y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X and y must be non-empty and of one length, got {len(X)} and {len(y)}")
    ref, out = _logits(float_model, X), _logits(model, X)
    if out.shape != ref.shape:
        raise ValueError(f"model must return logits shaped like float_model's {ref.shape}, got {out.shape}")
    noise = np.sum((out - ref) ** 2)
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))
    return {"accuracy": float(np.mean(out.argmax(1) == y)), "sqnr_db": sqnr,
            "agreement": float(np.mean(out.argmax(1) == ref.argmax(1)))}
