"""In-graph versions of the whole-batch kernels: no Python, no GIL, per batch.

When every transform of a recipe's ``augment:`` list has one (flips, centred constant
padding, random crops, bilinear affine warps), the input
pipeline runs the augmentation as TensorFlow ops inside its parallel map instead of a
``tf.numpy_function``: on a 2-core machine the Python kernels hold the GIL while the model
trains and cost LeNet-5 about a fifth of its speed.

Parameters are drawn per image with stateless random ops from the batch seed, from the same
distributions as ``kerasnets.data.batch_kernels`` (and so albumentations); the pixels follow
the same geometry (``cv2.warpAffine`` conventions: integer pixel centres, constant border), so
for the same parameters the output equals the numpy kernels' up to bilinear rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasnets.data import batch_kernels


@dataclass(frozen=True)
class GraphKernel:
    supports: Callable[[Any], bool]
    apply: Callable[[Any, Any, Any], Any]  # (transform, uint8 images, seed pair) -> images


def _uniform(bounds, count, seed, dtype=None):
    import tensorflow as tf

    low, high = (bounds, bounds) if np.ndim(bounds) == 0 else bounds
    return tf.random.stateless_uniform([count], seed, float(low), float(high), dtype=dtype or tf.float64)


def _chosen(p: float, count, seed):
    import tensorflow as tf

    return tf.random.stateless_uniform([count], seed) < p


def _flip(axis: int) -> GraphKernel:
    def apply(t, images, seed):
        import tensorflow as tf

        chosen = _chosen(t.p, tf.shape(images)[0], seed)
        return tf.where(chosen[:, None, None, None], tf.reverse(images, [axis]), images)

    return GraphKernel(lambda t: True, apply)


def _pad(t, images, seed):
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]
    dh, dw = max(0, t.min_height - height), max(0, t.min_width - width)
    top, left = dh // 2, dw // 2
    paddings = [[0, 0], [top, dh - top], [left, dw - left], [0, 0]]
    return tf.pad(images, paddings, constant_values=tf.cast(t.fill, images.dtype))


def _crop(t, images, seed):
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]
    if (t.height, t.width) == (height, width):
        return images
    count = tf.shape(images)[0]
    ys = tf.random.stateless_uniform([count], seed, 0, height - t.height + 1, dtype=tf.int32)
    xs = tf.random.stateless_uniform([count], seed + [0, 1], 0, width - t.width + 1, dtype=tf.int32)
    rows = ys[:, None] + tf.range(t.height)[None]
    cols = xs[:, None] + tf.range(t.width)[None]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def affine_matrices(t, count, height: int, width: int, seed):
    """Per-image 3x3 forward matrices, sampled and composed as albumentations does."""
    import tensorflow as tf

    seeds = [seed + [0, i] for i in range(7)]
    scale_x = _uniform(t.scale["x"], count, seeds[0])
    scale_y = scale_x if t.keep_ratio else _uniform(t.scale["y"], count, seeds[1])
    if t.translate_px is not None:
        (x0, x1), (y0, y1) = t.translate_px["x"], t.translate_px["y"]
        draw = lambda low, high, s: tf.cast(  # noqa: E731
            tf.random.stateless_uniform([count], s, int(low), int(high) + 1, dtype=tf.int32), tf.float64
        )
        tx, ty = draw(x0, x1, seeds[2]), draw(y0, y1, seeds[3])
    else:
        trunc = lambda v: tf.sign(v) * tf.floor(tf.abs(v))  # noqa: E731 - int() as albumentations
        tx = trunc(_uniform(t.translate_percent["x"], count, seeds[2]) * width)
        ty = trunc(_uniform(t.translate_percent["y"], count, seeds[3]) * height)
    shear_x = tf.tan(-_uniform(t.shear["x"], count, seeds[4]) * np.pi / 180)
    shear_y = tf.tan(-_uniform(t.shear["y"], count, seeds[5]) * np.pi / 180)
    angle = tf.math.floormod(_uniform(t.rotate, count, seeds[6]), 360.0) * np.pi / 180
    return compose_affine(scale_x, scale_y, tx, ty, shear_x, shear_y, angle, height, width)


def compose_affine(scale_x, scale_y, tx, ty, shear_x, shear_y, angle, height: int, width: int):
    """shift_center @ translate @ shear @ rotate @ scale @ shift_topleft, (count, 3, 3) float64."""
    import tensorflow as tf

    cx, cy = width / 2 - 0.5, height / 2 - 0.5
    zero, one = tf.zeros_like(scale_x), tf.ones_like(scale_x)

    def stack(rows):
        return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)

    cos, sin = tf.cos(angle), tf.sin(angle)
    matrix = stack([[one, zero, cx + tx], [zero, one, cy + ty], [zero, zero, one]])
    matrix = matrix @ stack([[one, shear_x, zero], [shear_y, one, zero], [zero, zero, one]])
    matrix = matrix @ stack([[cos, sin, zero], [-sin, cos, zero], [zero, zero, one]])
    return matrix @ stack([[scale_x, zero, -scale_x * cx], [zero, scale_y, -scale_y * cy], [zero, zero, one]])


def warp(images, matrices, interpolation: int, fill: float):
    """Warp uint8 ``images`` by forward ``matrices`` like ``cv2.warpAffine`` (constant border;
    ``interpolation`` is OpenCV's flag: 0 nearest, 1 bilinear)."""
    import tensorflow as tf

    inverse = tf.linalg.inv(matrices)
    inverse = inverse / inverse[:, 2:3, 2:3]
    transforms = tf.cast(tf.reshape(inverse, (-1, 9))[:, :8], tf.float32)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=float(fill),
        interpolation="NEAREST" if interpolation == 0 else "BILINEAR",
        fill_mode="CONSTANT",
    )
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), images.dtype)


def _affine_supports(t) -> bool:
    # bilinear only: OpenCV's fixed-point nearest neighbour rounds ties unlike TensorFlow
    return batch_kernels.BATCH_KERNELS["Affine"].supports(t) and t.interpolation == 1


def _affine(t, images, seed):
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    matrices = affine_matrices(t, count, height, width, seed)
    chosen = _chosen(t.p, count, seed + [1, 0])
    identity = tf.eye(3, batch_shape=[count], dtype=tf.float64)
    matrices = tf.where(chosen[:, None, None], matrices, identity)
    return tf.where(chosen[:, None, None, None], warp(images, matrices, t.interpolation, t.fill), images)


GRAPH_KERNELS: dict[str, GraphKernel] = {
    "HorizontalFlip": _flip(axis=2),
    "VerticalFlip": _flip(axis=1),
    "PadIfNeeded": GraphKernel(batch_kernels.BATCH_KERNELS["PadIfNeeded"].supports, _pad),
    "RandomCrop": GraphKernel(batch_kernels.BATCH_KERNELS["RandomCrop"].supports, _crop),
    "Affine": GraphKernel(_affine_supports, _affine),
}


def graph_kernel(transform) -> GraphKernel | None:
    """The in-graph kernel for an albumentations transform instance, if one covers it."""
    kernel = GRAPH_KERNELS.get(type(transform).__name__)
    try:
        return kernel if kernel is not None and kernel.supports(transform) else None
    except AttributeError:
        return None
