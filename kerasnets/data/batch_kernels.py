"""Whole-batch versions of the commonest albumentations transforms.

albumentations spends 15-45 us of Python per image and call (sampling, matrix building,
wrappers) around a 3 us OpenCV kernel; for small images that, not the pixels, is the cost.
These kernels read the validated arguments of the albumentations instance, draw every image's
parameters for the whole batch at once with numpy and keep only the OpenCV call per image.
Sampling follows the albumentations definitions (same ranges, probability ``p``, matrix
order, centre, interpolation, border); a transform with an option they do not cover runs
through albumentations itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Kernel:
    supports: Callable[[Any], bool]
    apply: Callable[[Any, np.ndarray, np.random.Generator], np.ndarray]


def _chosen(p: float, count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.random(count) < p


def _flip(axis: int) -> Kernel:
    def apply(t, images, rng):
        chosen = _chosen(t.p, len(images), rng)
        out = images.copy()
        out[chosen] = np.flip(images[chosen], axis=axis)
        return out

    return Kernel(lambda t: True, apply)


def _pad_supports(t) -> bool:
    return (
        t.position == "center"
        and t.border_mode == 0
        and t.pad_height_divisor is None
        and t.pad_width_divisor is None
        and t.min_height is not None
        and t.min_width is not None
        and np.ndim(t.fill) == 0
        and t.p == 1.0
    )


def _pad(t, images, rng):
    _, height, width, _ = images.shape
    dh, dw = max(0, t.min_height - height), max(0, t.min_width - width)
    top, left = dh // 2, dw // 2
    return np.pad(images, ((0, 0), (top, dh - top), (left, dw - left), (0, 0)), constant_values=t.fill)


def _crop_supports(t) -> bool:
    return not getattr(t, "pad_if_needed", False) and t.p == 1.0


def _crop(t, images, rng):
    count, height, width, _ = images.shape
    if (t.height, t.width) == (height, width):
        return images
    ys = rng.integers(0, height - t.height + 1, count)
    xs = rng.integers(0, width - t.width + 1, count)
    return np.stack([im[y : y + t.height, x : x + t.width] for im, y, x in zip(images, ys, xs, strict=True)])


def _affine_supports(t) -> bool:
    return (
        not t.fit_output
        and not t.balanced_scale
        and t.border_mode == 0
        and np.ndim(t.fill) == 0
        and isinstance(t.scale, dict)
        and isinstance(t.shear, dict)
    )


def _uniform(bounds, count, rng) -> np.ndarray:
    low, high = (bounds, bounds) if np.ndim(bounds) == 0 else bounds
    return rng.uniform(low, high, count)


def _affine(t, images, rng):
    count, height, width, channels = images.shape
    scale_x = _uniform(t.scale["x"], count, rng)
    scale_y = scale_x if t.keep_ratio else _uniform(t.scale["y"], count, rng)
    if t.translate_px is not None:
        (x0, x1), (y0, y1) = t.translate_px["x"], t.translate_px["y"]
        tx = rng.integers(int(x0), int(x1) + 1, count).astype(float)
        ty = rng.integers(int(y0), int(y1) + 1, count).astype(float)
    else:
        tx = np.trunc(_uniform(t.translate_percent["x"], count, rng) * width)  # int() as albumentations
        ty = np.trunc(_uniform(t.translate_percent["y"], count, rng) * height)
    shear_x = np.tan(np.deg2rad(-_uniform(t.shear["x"], count, rng)))  # albumentations negates shear
    shear_y = np.tan(np.deg2rad(-_uniform(t.shear["y"], count, rng)))
    angle = np.deg2rad(_uniform(t.rotate, count, rng) % 360)
    cx, cy = width / 2 - 0.5, height / 2 - 0.5  # albumentations' image centre

    def stack(rows):  # (3, 3) nested lists of (count,) arrays -> (count, 3, 3)
        return np.stack([np.stack(np.broadcast_arrays(*row), axis=-1) for row in rows], axis=-2)

    zero, one = np.zeros(count), np.ones(count)
    cos, sin = np.cos(angle), np.sin(angle)
    # shift_center @ translate @ shear @ rotate @ scale @ shift_topleft, as albumentations does
    matrix = stack([[one, zero, cx + tx], [zero, one, cy + ty], [zero, zero, one]])
    matrix = matrix @ stack([[one, shear_x, zero], [shear_y, one, zero], [zero, zero, one]])
    matrix = matrix @ stack([[cos, sin, zero], [-sin, cos, zero], [zero, zero, one]])
    matrix = matrix @ stack(
        [[scale_x, zero, -scale_x * cx], [zero, scale_y, -scale_y * cy], [zero, zero, one]]
    )
    chosen = _chosen(t.p, count, rng)
    import cv2

    out = images.copy()
    for i in np.flatnonzero(chosen):
        warped = cv2.warpAffine(
            images[i],
            matrix[i, :2],
            (width, height),
            flags=t.interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(t.fill,) * 4,  # a bare scalar would fill the first channel only
        )
        out[i] = warped.reshape(height, width, channels)
    return out


BATCH_KERNELS: dict[str, Kernel] = {
    "HorizontalFlip": _flip(axis=2),
    "VerticalFlip": _flip(axis=1),
    "PadIfNeeded": Kernel(_pad_supports, _pad),
    "RandomCrop": Kernel(_crop_supports, _crop),
    "Affine": Kernel(_affine_supports, _affine),
}


def batch_kernel(transform) -> Kernel | None:
    """The whole-batch kernel for an albumentations transform instance, if one covers it."""
    kernel = BATCH_KERNELS.get(type(transform).__name__)
    try:
        return kernel if kernel is not None and kernel.supports(transform) else None
    except AttributeError:  # an albumentations version with other attribute names
        return None
