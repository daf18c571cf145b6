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
    """Undo the normalisation and draw the batch as one grid image (8 per row, pixel values
    0-255 as they are, no per-image rescaling) with each sample's label above it. One axes
    and one image, not one axes per sample: about a fifth of the drawing time. A plain
    ``Figure`` (not pyplot's), so that a run may draw it in a worker thread."""
    from matplotlib.figure import Figure

    pixels = np.clip(images * np.float32(std) + np.float32(mean), 0, 255).astype(np.uint8)
    count, h, w, channels = pixels.shape
    cols = min(8, count)
    rows = int(np.ceil(count / cols))
    gap, label = max(2, w // 8), max(6, h // 3)  # pixels between columns; room for a label
    cell_h, cell_w = h + label, w + gap
    canvas = np.full((rows * cell_h, cols * cell_w - gap, channels), 255, np.uint8)
    for i, image in enumerate(pixels):
        row, col = divmod(i, cols)
        canvas[row * cell_h + label : (row + 1) * cell_h, col * cell_w : col * cell_w + w] = image
    width = 1.6 * cols
    height = width * canvas.shape[0] / canvas.shape[1] + (0.4 if title else 0.0)
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - (0.4 / height if title else 0.0)))
    grey = channels == 1
    ax.imshow(canvas[..., 0] if grey else canvas, cmap="gray" if grey else None, vmin=0, vmax=255)
    ax.axis("off")
    for i, target in enumerate(targets[:count]):
        row, col = divmod(i, cols)
        text = label_text(target, class_names)
        if text:
            x, y = col * cell_w + w / 2, row * cell_h + label - 1
            ax.text(x, y, text, ha="center", va="bottom", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9, y=1.0 - 0.05 / height)
    return fig
