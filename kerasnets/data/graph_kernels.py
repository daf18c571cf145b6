"""In-graph versions of the whole-batch kernels: no Python, no GIL, per batch.

When every transform of a recipe's ``augment:`` list has one (flips, centred constant
padding, random crops, bilinear affine warps), the input pipeline runs the augmentation as
TensorFlow ops, compiled with XLA into a few fused loops, inside its parallel map instead of
a ``tf.numpy_function``. On a 2-core machine every microsecond spent augmenting is taken from
training: per 32x32 image the numpy kernels cost about 35 us of CPU, TensorFlow's
``ImageProjectiveTransformV3`` about 14 us, these XLA-fused gathers about 7 us.

Parameters are drawn per image with stateless random ops from the batch seed, from the same
distributions as ``kerasnets.data.batch_kernels`` (and so albumentations); the pixels follow
the same geometry (``cv2.warpAffine`` conventions: integer pixel centres, constant border), so
for the same parameters the output equals the numpy kernels' (flips, padding and crops
exactly; warps up to one grey level where float rounding falls on a .5).
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

    seeds = [seed + [0, i] for i in range(7)]  # seed + [0, 7] decides p; blocks of 8 per stage
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


def _invert_affine(matrices):
    """Inverse of (count, 3, 3) affine matrices (last row 0 0 1), in closed form."""
    a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
    d, e, f = matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2]
    det = a * e - b * d
    return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det]


def warp(images, matrices, fill: float):
    """Warp uint8 ``images`` by forward ``matrices`` like ``cv2.warpAffine`` with bilinear
    interpolation and a constant border: each output pixel reads its four source neighbours
    (``fill`` outside the image). Written as gathers and element-wise ops, which XLA fuses."""
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    a, b, c, d, e, f = (tf.cast(v, tf.float32)[:, None, None] for v in _invert_affine(matrices))
    ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    source_x, source_y = a * xs + b * ys + c, d * xs + e * ys + f  # (count, H, W)
    x0, y0 = tf.floor(source_x), tf.floor(source_y)
    wx, wy = (source_x - x0)[..., None], (source_y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    flat = tf.reshape(tf.cast(images, tf.float32), (count, height * width, channels))

    def tap(y, x):
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        index = tf.clip_by_value(y, 0, height - 1) * width + tf.clip_by_value(x, 0, width - 1)
        values = tf.gather(flat, tf.reshape(index, (count, height * width)), batch_dims=1)
        return tf.where(inside[..., None], tf.reshape(values, (count, height, width, channels)), fill)

    out = (tap(y0, x0) * (1 - wx) + tap(y0, x0 + 1) * wx) * (1 - wy)
    out += (tap(y0 + 1, x0) * (1 - wx) + tap(y0 + 1, x0 + 1) * wx) * wy
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), images.dtype)


def _affine_supports(t) -> bool:
    # bilinear only (OpenCV's fixed-point nearest neighbour rounds ties its own way)
    return batch_kernels.BATCH_KERNELS["Affine"].supports(t) and t.interpolation == 1


def _affine(t, images, seed):
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    matrices = affine_matrices(t, count, height, width, seed)
    chosen = _chosen(t.p, count, seed + [0, 7])  # inside this transform's block of 8
    identity = tf.eye(3, batch_shape=[count], dtype=tf.float64)
    matrices = tf.where(chosen[:, None, None], matrices, identity)
    return tf.where(chosen[:, None, None, None], warp(images, matrices, float(t.fill)), images)


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
