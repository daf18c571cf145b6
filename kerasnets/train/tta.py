"""Test-time augmentation: average the softmax over flipped (and cropped) views."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def _crops(images: np.ndarray, fraction: float) -> Iterator[np.ndarray]:
    """AlexNet's five crops (four corners and the centre), each resized back to full size."""
    import tensorflow as tf

    height, width = images.shape[1:3]
    ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))
    corners = [
        (0, 0),
        (0, width - cw),
        (height - ch, 0),
        (height - ch, width - cw),
        ((height - ch) // 2, (width - cw) // 2),
    ]
    for y, x in corners:
        crop = images[:, y : y + ch, x : x + cw]
        yield tf.image.resize(crop, (height, width)).numpy() if (ch, cw) != (height, width) else crop


def views(images: np.ndarray, mode: str, crop_fraction: float = 0.875) -> Iterator[np.ndarray]:
    """The views of a batch of normalised images for one TTA mode."""
    if mode == "hflip":
        yield images
        yield images[:, :, ::-1]
    elif mode == "ten_crop":
        for crop in _crops(images, crop_fraction):
            yield crop
            yield crop[:, :, ::-1]
    else:
        raise ValueError(f"unknown TTA mode {mode!r}; valid: hflip, ten_crop")


def tta_predict(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    mode: str,
    crop_fraction: float = 0.875,
    chunk: int = 2048,
) -> np.ndarray:
    """Mean class probabilities over the views, computed ``chunk`` images at a time."""
    outputs = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        probabilities = [predict(np.ascontiguousarray(view)) for view in views(part, mode, crop_fraction)]
        outputs.append(np.mean(probabilities, axis=0))
    return np.concatenate(outputs)
