"""Per-image geometry in the TensorFlow graph: how an image of any size becomes the model's
input size. Training views (``crop.train``): a plain resize, Inception's random-resized crop
(Szegedy et al. 2015) or VGG's scale jittering (shorter side drawn in [S_min, S_max], then a
random crop; Simonyan & Zisserman 2015). Evaluation views: a plain resize, or the shorter side
resized to ``crop.eval_side`` and a centre crop; AlexNet's ten crops (four corners and the
centre, each also flipped; Krizhevsky et al. 2012) are real crops of that resized image.

Every function takes and returns one uint8 ``(H, W, C)`` image (ten crops: ``(10, H, W, C)``),
so the streamed folder pipeline runs them per image before batching and the in-memory one
maps them over a gathered batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

View = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (image, seed pair) -> image


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def resize(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize (antialiased when shrinking) to ``size``, back to uint8."""
    return _to_uint8(tf.image.resize(tf.cast(image, tf.float32), size, antialias=True))


def resize_shorter(image: tf.Tensor, side: tf.Tensor | int) -> tf.Tensor:
    """Resize so that the shorter side is ``side``, keeping the aspect ratio."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    target = tf.cast(tf.math.maximum(tf.round(shape * scale), tf.cast(side, tf.float32)), tf.int32)
    return resize(image, target)


def center_crop(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    shape = tf.shape(image)
    top, left = (shape[0] - size[0]) // 2, (shape[1] - size[1]) // 2
    return image[top : top + size[0], left : left + size[1]]


def random_resized_crop(
    image: tf.Tensor,
    seed: tf.Tensor,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> tf.Tensor:
    """A crop of a random share ``scale`` of the area and aspect ratio ``ratio``, resized to ``size``."""
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return resize(tf.slice(image, begin, extent), size)


def scale_jitter(
    image: tf.Tensor, seed: tf.Tensor, size: tuple[int, int], min_side: int, max_side: int
) -> tf.Tensor:
    """VGG's multi-scale training: shorter side S uniform in [min_side, max_side], random crop."""
    side = tf.random.stateless_uniform([], seed, min_side, max_side + 1, dtype=tf.int32)
    resized = resize_shorter(image, side)
    crop_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    channels = tf.shape(image)[-1]
    return tf.image.stateless_random_crop(resized, [size[0], size[1], channels], crop_seed)


def eval_view(image: tf.Tensor, size: tuple[int, int], eval_side: int | None) -> tf.Tensor:
    """The evaluation image: resized to ``size``, or shorter side to ``eval_side`` + centre crop."""
    if eval_side is None:
        return resize(image, size)
    return center_crop(resize_shorter(image, eval_side), size)


def ten_crops(image: tf.Tensor, size: tuple[int, int], eval_side: int | None, fraction: float) -> tf.Tensor:
    """AlexNet's ten views ``(10, H, W, C)``: four corner crops and the centre crop, and their
    mirror images. With ``eval_side`` they are real ``size`` crops of the image whose shorter
    side is ``eval_side``; without it, crops of ``fraction`` of the ``size`` image resized back."""
    if eval_side is None:
        base = resize(image, size)
        crop = (max(1, round(size[0] * fraction)), max(1, round(size[1] * fraction)))
    else:
        base, crop = resize_shorter(image, eval_side), size
    shape = tf.shape(base)
    height, width = shape[0], shape[1]
    corners = [
        (0, 0),
        (0, width - crop[1]),
        (height - crop[0], 0),
        (height - crop[0], width - crop[1]),
        ((height - crop[0]) // 2, (width - crop[1]) // 2),
    ]
    crops = [base[y : y + crop[0], x : x + crop[1]] for y, x in corners]
    if eval_side is None and crop != tuple(size):
        crops = [resize(c, size) for c in crops]
    views = []
    for c in crops:
        views += [c, tf.reverse(c, axis=[1])]
    return tf.stack(views)


def flip_views(image: tf.Tensor, size: tuple[int, int], eval_side: int | None) -> tf.Tensor:
    """The evaluation image and its mirror image ``(2, H, W, C)``."""
    view = eval_view(image, size, eval_side)
    return tf.stack([view, tf.reverse(view, axis=[1])])


#: crop.train name -> the view it builds from the crop section
TRAIN_VIEWS: dict[str, Callable[[Any, tuple[int, int]], View]] = {
    "none": lambda crop, size: lambda image, seed: resize(image, size),
    "random_resized": lambda crop, size: (
        lambda image, seed: random_resized_crop(image, seed, size, tuple(crop.scale), tuple(crop.ratio))
    ),
    "scale_jitter": lambda crop, size: (
        lambda image, seed: scale_jitter(image, seed, size, crop.min_side, crop.max_side)
    ),
}

#: eval.tta mode -> (image, size, eval_side, crop_fraction) -> (V, H, W, C) views
TTA_VIEWS: dict[str, Callable[..., tf.Tensor]] = {
    "hflip": lambda image, size, side, fraction: flip_views(image, size, side),
    "ten_crop": ten_crops,
}


@dataclass(frozen=True)
class Geometry:
    """What turns a stored image into the model's input for one split: ``view(image, seed)``,
    and whether it is only a resize to ``size`` (which in-memory images already have)."""

    view: View
    size: tuple[int, int]
    plain: bool


def train_geometry(crop: Any, size: tuple[int, int]) -> Geometry:
    return Geometry(TRAIN_VIEWS[crop.train](crop, size), size, crop.train == "none")


def eval_geometry(crop: Any, size: tuple[int, int]) -> Geometry:
    side = crop.eval_side
    return Geometry(lambda image, seed: eval_view(image, size, side), size, side is None)


def map_over_batch(view: View, images: tf.Tensor, batch_seed: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Apply a per-image view to a batch, each image with its own seed."""
    count = tf.shape(images, out_type=tf.int64)[0]
    seeds = tf.stack([tf.fill([count], tf.cast(batch_seed, tf.int64)), tf.range(count)], axis=1)
    channels = images.shape[-1]
    spec = tf.TensorSpec((size[0], size[1], channels), tf.uint8)
    return tf.map_fn(lambda pair: view(pair[0], pair[1]), (images, seeds), fn_output_signature=spec)
