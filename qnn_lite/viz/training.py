"""Figures of chapter 02 (autograd): a computation graph, im2col's columns, training curves.

* :func:`graph_nodes` — the tensors of a graph in topological order (inputs first, output last).
* :func:`plot_graph` — a small expression's graph: one box per tensor (name, value and, for
  leaves after ``backward()``, ``.grad``), one ellipse per Function, arrows along the data flow.
* :func:`plot_im2col` — an image with its conv windows outlined, next to the ``im2col`` matrix
  whose rows are those windows (same colours).
* :func:`plot_history` — loss and accuracy per epoch from the dicts :func:`qnn_lite.train.fit` returns.

Every function returns a ``matplotlib.figure.Figure`` (built without pyplot, so nothing stays open).
Artists carry a ``gid`` ("value", "op", "edge", "window", "row") so tests can count what was drawn.
"""
from __future__ import annotations

import numpy as np

from ..autograd.conv import im2col
from ..autograd.tensor import Tensor

__all__ = ["graph_nodes", "plot_graph", "plot_im2col", "plot_history"]

_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan"]


def _parents(t: Tensor) -> list:
    """The Tensors a tensor was computed from (constants passed as numbers are not nodes)."""
    ctx = t._ctx
    return [] if ctx is None else [p for p in ctx.parents if isinstance(p, Tensor)]


def graph_nodes(root: Tensor) -> list:
    """Every Tensor ``root`` depends on, each once, in topological order (parents before children).

    Depth-first post-order, as micrograd's ``backward`` builds it (Karpathy, 2020), written as a
    loop. Reversed, it is an order in which ``backward`` may visit the nodes: a node is reached
    only after every node that used it has sent its gradient.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"root must be a qnn_lite Tensor, got {type(root).__name__}")
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in reversed(_parents(node)):
            if id(p) not in seen:
                stack.append((p, False))
    return order


def _label(t: Tensor, name: str | None) -> str:
    head = name if name is not None else ("leaf" if t.is_leaf else "")
    if t.data.size == 1:
        text = f"{head}\n{float(t.data.reshape(-1)[0]):.4f}".strip("\n")
        if t.grad is not None and np.size(t.grad) == 1:
            text += f"\ngrad {float(np.reshape(t.grad, -1)[0]):.4f}"
        return text
    return f"{head}\nshape {t.shape}".strip("\n")


def plot_graph(root: Tensor, names: dict | None = None, figsize=(8, 3.2)):
    """Draw the graph behind ``root``: tensors as boxes, Functions as ellipses, arrows along the data flow.

    ``names`` maps labels to tensors (``{"x": x, "w": w}``) to name the boxes. A tensor's column
    is its depth (longest path from an input), so every arrow points right. Leaves that need a
    gradient are green, constants grey, intermediate results blue.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch

    nodes = graph_nodes(root)
    if names is not None and not isinstance(names, dict):
        raise TypeError(f"names must be a dict {{label: Tensor}} or None, got {type(names).__name__}")
    label_of = {id(t): k for k, t in (names or {}).items()}

    depth: dict = {}
    for t in nodes:  # topological order: parents are done first
        ps = _parents(t)
        depth[id(t)] = 0 if not ps else 1 + max(depth[id(p)] for p in ps)
    columns: dict = {}
    for t in nodes:
        columns.setdefault(depth[id(t)], []).append(t)
    pos = {}
    for d, col in columns.items():
        for i, t in enumerate(col):
            pos[id(t)] = (2.0 * d, (len(col) - 1) / 2 - i)

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    bw, bh = 0.9, 0.62
    for t in nodes:
        x, y = pos[id(t)]
        color = ("#d9f2d9" if t.requires_grad else "#e6e6e6") if t.is_leaf else "#dbe8f6"
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh, boxstyle="round,pad=0.04",
                                    fc=color, ec="0.3", lw=1, gid="value"))
        ax.text(x, y, _label(t, label_of.get(id(t))), ha="center", va="center", fontsize=7.5)
        if t.is_leaf:
            continue
        op_x, op_y = x - 1.0, y
        ax.add_patch(Ellipse((op_x, op_y), 0.62, 0.36, fc="white", ec="tab:red", lw=1.2, gid="op"))
        ax.text(op_x, op_y, t._ctx.fn.__name__, ha="center", va="center", fontsize=7, color="tab:red")
        ax.add_patch(FancyArrowPatch((op_x + 0.31, op_y), (x - bw / 2 - 0.04, y), arrowstyle="-|>",
                                     mutation_scale=8, color="0.3", lw=0.9, gid="edge"))
        for p in _parents(t):
            px, py = pos[id(p)]
            ax.add_patch(FancyArrowPatch((px + bw / 2 + 0.04, py), (op_x - 0.31, op_y), arrowstyle="-|>",
                                         mutation_scale=8, color="0.3", lw=0.9, gid="edge",
                                         connectionstyle="arc3,rad=0.0"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def plot_im2col(x, kernel_size: int = 3, stride: int = 1, padding: int = 0, figsize=(8, 3)):
    """Left: a one-channel image ``(H, W)`` (or ``(1, 1, H, W)``) with every conv window outlined.
    Right: ``im2col`` of it, one row per window in the window's colour.

    For a ``k x k`` kernel the matrix has ``OH * OW`` rows and ``k * k`` columns; a convolution
    is this matrix times the flattened kernel. Keep the image small (at most 9 windows).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = np.asarray(x.data if isinstance(x, Tensor) else x)
    if img.ndim == 4 and img.shape[:2] == (1, 1):
        img = img[0, 0]
    if img.ndim != 2:
        raise ValueError(f"x must be a 2-D image (H, W) or (1, 1, H, W), got shape {img.shape}")
    cols = im2col(img[None, None], kernel_size, stride, padding)
    oh = (img.shape[0] + 2 * padding - kernel_size) // stride + 1
    ow = (img.shape[1] + 2 * padding - kernel_size) // stride + 1
    if len(cols) > len(_COLORS):
        raise ValueError(f"plot_im2col draws at most {len(_COLORS)} windows, got {len(cols)} "
                         f"(image {img.shape}, kernel_size {kernel_size}, stride {stride}); use a smaller image")
    fig = Figure(figsize=figsize, layout="constrained")
    ax_img, ax_col = fig.subplots(1, 2, width_ratios=[img.shape[1] + 2 * padding, cols.shape[1]])
    padded = np.pad(img, padding)
    ax_img.imshow(padded, cmap="Greys", alpha=0.25, vmin=padded.min(), vmax=padded.max() + 1e-9)
    for (i, j), v in np.ndenumerate(padded):
        ax_img.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8)
    for r in range(len(cols)):
        i, j = divmod(r, ow)
        inset = 0.08 * (r % 4)  # stagger the outlines so overlapping windows stay visible
        ax_img.add_patch(Rectangle((j * stride - 0.5 + inset, i * stride - 0.5 + inset),
                                   kernel_size - 2 * inset, kernel_size - 2 * inset, fill=False,
                                   ec=_COLORS[r], lw=2, gid="window", clip_on=False))
    ax_img.set_title(f"image {img.shape}, {kernel_size}x{kernel_size} windows"
                     + (f", padding {padding}" if padding else ""), fontsize=9)
    ax_img.set_xticks([])
    ax_img.set_yticks([])

    ax_col.imshow(cols, cmap="Greys", alpha=0.25, aspect="equal")
    for (i, j), v in np.ndenumerate(cols):
        ax_col.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8)
    for r in range(len(cols)):
        ax_col.add_patch(Rectangle((-0.45, r - 0.42), cols.shape[1] - 0.1, 0.84, fill=False, ec=_COLORS[r],
                                   lw=2, gid="row", clip_on=False))
    ax_col.set_title(f"im2col: {oh * ow} rows (windows) x {cols.shape[1]} columns (kernel taps)", fontsize=9)
    ax_col.set_xticks(range(cols.shape[1]))
    ax_col.set_yticks(range(len(cols)))
    ax_col.tick_params(labelsize=7)
    return fig


def plot_history(histories: dict, figsize=(8, 3)):
    """Left: training loss per epoch; right: training (dashed) and test/validation accuracy (solid), in %.

    ``histories`` maps a label to a :func:`qnn_lite.train.fit` history
    (``{"train_loss": [...], "train_acc": [...], "val_acc": [...]}``; ``val_acc`` optional).
    One line per label and key, one marker per epoch.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not isinstance(histories, dict) or not histories:
        raise ValueError(f"histories must be a non-empty dict {{label: history}}, got {histories!r}")
    for label, h in histories.items():
        if not isinstance(h, dict) or not h.get("train_loss"):
            raise ValueError(f"history {label!r} must be a dict with a non-empty 'train_loss' list, got {h!r}")
        lengths = {k: len(h[k]) for k in ("train_loss", "train_acc", "val_acc") if k in h}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"history {label!r} must have one entry per epoch in every list, got lengths {lengths}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for k, (label, h) in enumerate(histories.items()):
        color = _COLORS[k % len(_COLORS)]
        epochs = np.arange(1, len(h["train_loss"]) + 1)
        ax_loss.plot(epochs, h["train_loss"], marker="o", ms=3, color=color, label=label)
        if "train_acc" in h:
            ax_acc.plot(epochs, 100 * np.asarray(h["train_acc"]), ls="--", marker="o", ms=2.5, color=color,
                        alpha=0.7, label=f"{label} train")
        if "val_acc" in h:
            ax_acc.plot(epochs, 100 * np.asarray(h["val_acc"]), marker="o", ms=3, color=color,
                        label=f"{label} test")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    ax_loss.legend(fontsize=8)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend(fontsize=8)
    ax_acc.grid(alpha=0.3)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
