"""Figures logged with every run: learning curves and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: dict[str, list[float]]):
    """Loss and accuracy per epoch, training against validation, plus the learning rate."""
    plt = _pyplot()
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("learning_rate", "learning rate")]
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

    plt = _pyplot()
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
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.4f})")
    fig.tight_layout()
    return fig
