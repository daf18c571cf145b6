"""Occlusion sensitivity (Zeiler & Fergus 2014, Fig. 7): slide a grey square over the image
and record the probability of the true class with each part of the image hidden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from kerasnets.explain.base import ExplainOptions, class_index, pick_images, register
from kerasnets.explain.plotting import Cell, picture, save_grid

BATCH = 256


def occlusion_map(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    target: int,
    patch: int,
    stride: int,
    fill: np.ndarray | float,
) -> np.ndarray:
    """Per pixel, the mean probability of ``target`` over every occluder position covering
    that pixel (``image`` is a model input; ``fill`` the grey it is hidden with)."""
    height, width = image.shape[:2]
    ys = sorted({*range(0, height - patch + 1, stride), max(0, height - patch)})
    xs = sorted({*range(0, width - patch + 1, stride), max(0, width - patch)})
    corners = [(y, x) for y in ys for x in xs]
    probabilities = []
    for start in range(0, len(corners), BATCH):
        batch = np.repeat(image[None], len(corners[start : start + BATCH]), axis=0)
        for b, (y, x) in enumerate(corners[start : start + BATCH]):
            batch[b, y : y + patch, x : x + patch] = fill
        probabilities.append(predict(batch)[:, target])
    probabilities = np.concatenate(probabilities)
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for p, (y, x) in zip(probabilities, corners, strict=True):
        total[y : y + patch, x : x + patch] += p
        count[y : y + patch, x : x + patch] += 1
    return total / np.maximum(count, 1)


@register(
    "occlusion",
    options=("images", "class", "patch", "stride"),
    doc="probability of the true class as a grey square hides each part of the image",
)
def occlusion(model, splits, options: ExplainOptions) -> list[Path]:
    height, width = splits.input_shape[:2]
    patch = min(options.patch or max(2, round(min(height, width) / 5)), height, width)
    stride = options.stride or max(1, patch // 3)
    fill = splits.normalize(splits.x_train.mean(axis=(0, 1, 2), keepdims=True)[0])  # the mean pixel
    index = pick_images(splits.y_test, options.images or 4, options.seed)
    chosen = class_index(options.klass, splits.class_names)

    def predict(batch):
        return np.asarray(model(batch, training=False))

    rows = []
    for i in index:
        x = splits.normalize(splits.x_test[i])
        target = int(splits.y_test[i]) if chosen is None else chosen
        p0 = float(predict(x[None])[0, target])
        heat = occlusion_map(predict, x, target, patch, stride, fill)
        first = picture(splits.x_test[i])
        name = splits.class_names[target]
        first.title = f"{splits.class_names[splits.y_test[i]]}: p({name}) = {p0:.3f}"
        drop = p0 - heat
        limit = max(float(np.abs(drop).max()), 1e-6)
        rows.append(
            [
                first,
                Cell(heat, f"p({name}) with occluder", "viridis", 0.0, 1.0, True),
                Cell(drop, "drop in p (red: evidence)", "RdBu_r", -limit, limit, True),
            ]
        )
    title = f"Occlusion sensitivity: {patch}x{patch} mean-grey square, stride {stride}"
    return [save_grid(rows, options.out / "occlusion.png", title, None, 2.2)]
