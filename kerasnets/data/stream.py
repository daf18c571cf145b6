"""The streamed image-file pipeline: paths in, batches out, all in the tf.data graph.

Paths are shuffled (the whole list: it holds strings, not pixels), then each file is read,
decoded (``tf.io.decode_image``; WebP by ``tf.io.decode_webp``), converted to the channel count
and brought to the model's size by the split's geometry (``kerasnets.data.geometry``), in
parallel, before batching; the batch then goes through the same stage as in-memory data
(augmentation, normalisation, labels). Memory holds the paths, the shuffle order and a few
prefetched batches, whatever the number of files.

A file that cannot be read or decoded is dropped (``ignore_errors``), never a crash; each
split counts the images it delivered, so ``skipped`` = files - delivered after a full pass.
With ``data.cache`` the decoded images are cached (in memory or in files under a folder) after
the first epoch and shuffled with a buffer of ``data.shuffle_buffer`` images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from kerasnets.data.files import ImageFiles, decode
from kerasnets.data.geometry import Geometry


class DeliveredCounter:
    """Counts the images a split's pipeline delivered since the last ``reset``."""

    def __init__(self) -> None:
        with tf.device("/cpu:0"):
            self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    def tick(self, image, label):
        self.count.assign_add(1)
        return image, label

    def reset(self) -> None:
        self.count.assign(0)

    def value(self) -> int:
        return int(self.count.numpy())


def file_dataset(
    files: ImageFiles,
    labels: Any,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None,
    geometry: Geometry,
    stage: Callable,
    counter: DeliveredCounter | None = None,
    cache: str = "none",
    shuffle_buffer: int | None = None,
):
    """Batches of ``stage(images, labels, batch_seed)`` from the files, decoded in parallel."""
    autotune = tf.data.AUTOTUNE
    count = len(files)
    ds = tf.data.Dataset.from_tensor_slices((files.paths, labels))
    channels = files.channels
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def viewed(ds, image_of: Callable):
        """Each element's image through the geometry, with its own seed."""
        return tf.data.Dataset.zip((ds, seeds)).map(
            lambda pair, s: (geometry.view(image_of(pair[0]), tf.stack([s, 0])), pair[1]),
            num_parallel_calls=autotune,
            deterministic=True,
        )

    def readable(ds):
        """Unreadable files dropped, the delivered ones counted."""
        ds = ds.ignore_errors()
        return ds if counter is None else ds.map(counter.tick)

    if cache == "none":
        if shuffle:
            ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        ds = readable(viewed(ds, lambda path: decode(path, channels)))
    else:  # decoded images cached, then shuffled in a buffer and viewed afresh every epoch
        ds = ds.map(lambda p, y: (decode(p, channels), y), num_parallel_calls=autotune, deterministic=True)
        ds = readable(ds).cache("" if cache == "memory" else str(cache))
        if shuffle:
            ds = ds.shuffle(min(count, shuffle_buffer or count), seed=seed, reshuffle_each_iteration=True)
        ds = viewed(ds, lambda image: image)
    ds = ds.batch(batch_size, num_parallel_calls=autotune, deterministic=True)
    batch_seeds = tf.data.Dataset.random(
        seed=None if seed is None else seed + 1, rerandomize_each_iteration=True
    )
    ds = tf.data.Dataset.zip((ds, batch_seeds)).map(
        lambda batch, s: stage(batch[0], batch[1], s), num_parallel_calls=autotune, deterministic=True
    )
    return ds.prefetch(autotune)


def view_dataset(x: Any, labels: Any, batch_size: int, views: Callable, mean: list[float], std: list[float]):
    """Test-time views of in-memory images or image files: batches of normalised
    ``(B, V, H, W, C)`` views and their labels (an unreadable file is left out with its label)."""
    autotune = tf.data.AUTOTUNE
    if isinstance(x, ImageFiles):
        ds = tf.data.Dataset.from_tensor_slices((x.paths, labels))
        ds = ds.map(lambda p, y: (views(decode(p, x.channels)), y), num_parallel_calls=autotune)
        ds = ds.ignore_errors()
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, labels))
        ds = ds.map(lambda image, y: (views(image), y), num_parallel_calls=autotune)
    mean_t, std_t = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)
    ds = ds.batch(batch_size).map(lambda images, y: ((tf.cast(images, tf.float32) - mean_t) / std_t, y))
    return ds.prefetch(autotune)
