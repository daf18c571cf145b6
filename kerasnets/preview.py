"""A grid of training samples exactly as the input pipeline hands them to the model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def label_text(target: np.ndarray, class_names: Sequence[str]) -> str:
    """``'cat'`` for a hard label; ``'cat 0.70 / dog 0.30'`` for a mixed one."""
    target = np.asarray(target)
    if target.ndim > 1:  # an image or a mask: no label to print
        return ""
    if target.ndim == 0:
        return class_names[int(target)]
    top = np.argsort(target)[::-1][:2]
    if target[top[1]] < 1e-3:
        return class_names[int(top[0])]
    return " / ".join(f"{class_names[int(i)]} {target[i]:.2f}" for i in top)


def preview_figure(
    images: np.ndarray,
    targets: np.ndarray,
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    title: str = "",
):
    """Undo the normalisation and draw the batch in a grid with each sample's label. A plain
    ``Figure`` (not pyplot's): a run draws it in a worker thread while training goes on."""
    from matplotlib.figure import Figure

    pixels = np.clip(images * np.float32(std) + np.float32(mean), 0, 255).astype(np.uint8)
    count = len(pixels)
    cols = min(8, count)
    rows = int(np.ceil(count / cols))
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, target in zip(axes.flat, pixels, targets, strict=False):
        ax.imshow(
            image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None
        )
        ax.set_title(label_text(target, class_names), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
