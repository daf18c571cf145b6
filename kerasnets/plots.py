"""Figures logged with every run: learning curves, the confusion matrix, per-step predictions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: dict[str, list[float]]):
    """Loss and accuracy per epoch, training against validation, plus the learning rate
    (a GAN: the discriminator and generator losses)."""
    plt = pyplot()
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("step_accuracy", "per-step accuracy")]
    panels += [("sequence_accuracy", "whole-sequence accuracy"), ("learning_rate", "learning rate")]
    panels += [("d_loss", "discriminator loss"), ("g_loss", "generator loss")]
    panels = [(k, t) for k, t in panels if k in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", ms=3, label="train" if key != "learning_rate" else "lr")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if key == "learning_rate":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix_figure(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]):
    """A counts heat map with the count in each cell (rows: true class)."""
    from sklearn.metrics import confusion_matrix

    plt = pyplot()
    n = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(n)))
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    if n <= 30:
        ax.set_xticks(range(n), class_names, rotation=90)
        ax.set_yticks(range(n), class_names)
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > threshold else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.4f})")
    fig.tight_layout()
    return fig


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image.astype(np.uint8), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
    ax.axis("off")


def image_rows(rows: Sequence[tuple[str, np.ndarray]], title: str = ""):
    """One row of images per (label, images 0..255) pair: input / noisy / output, etc."""
    plt = pyplot()
    cols = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols, 1.45 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(cols):
            axes[r, c].axis("off")
            if c < len(images):
                _show(axes[r, c], images[c])
        axes[r, 0].set_title(label, fontsize=8, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, title: str = ""):
    """A square grid of images (0..255)."""
    plt = pyplot()
    side = int(np.ceil(np.sqrt(len(images))))
    fig, axes = plt.subplots(side, side, figsize=(1.1 * side, 1.1 * side), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image in zip(axes.flat, images, strict=False):
        _show(ax, image)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


#: How a token index of a one-hot input prints in ``step_predictions_figure`` (10 is the '+'
#: of ``digit_strings``' additions).
TOKEN_SYMBOLS = "0123456789+"


def step_predictions_figure(
    inputs: np.ndarray, truth: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]
):
    """Per-step predictions of a few test sequences: a signal ``(N, T, 1)`` is drawn with its
    true and predicted class per step; one-hot tokens ``(N, T, F)`` are written out with the
    target and the prediction, wrong steps in brackets."""
    plt = pyplot()
    count = len(truth)
    signal = inputs.shape[-1] == 1
    fig, axes = plt.subplots(count, 1, figsize=(10 if signal else 7, (1.6 if signal else 0.5) * count + 0.6))
    axes = np.atleast_1d(axes)
    for ax, x, true, pred in zip(axes, inputs, truth, predictions, strict=True):
        if signal:
            steps = np.arange(len(true))
            ax.plot(steps, x[:, 0], color="black", lw=0.8)
            twin = ax.twinx()
            twin.step(steps, true, where="mid", color="tab:green", lw=1, label="true")
            twin.step(steps, pred, where="mid", color="tab:red", lw=1, ls="--", label="predicted")
            twin.set_yticks(range(len(class_names)), class_names, fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        tokens = "".join(TOKEN_SYMBOLS[t] if t < len(TOKEN_SYMBOLS) else f"<{t}>" for t in np.argmax(x, -1))
        shown = " ".join(
            class_names[p] if p == t else f"[{class_names[p]}]" for p, t in zip(pred, true, strict=True)
        )
        target = " ".join(class_names[t] for t in true)
        ax.text(
            0.0,
            0.5,
            f"{tokens}  ->  {target}   predicted: {shown}",
            family="monospace",
            fontsize=9,
            va="center",
        )
        ax.axis("off")
    if signal:
        axes[0].figure.legend(
            *axes[0].figure.axes[1].get_legend_handles_labels(), loc="upper right", fontsize=7
        )
    wrong = int(np.sum(np.any(truth != predictions, axis=-1)))
    fig.suptitle(f"per-step predictions of {count} test sequences ({wrong} with a wrong step)", fontsize=9)
    fig.tight_layout()
    return fig
