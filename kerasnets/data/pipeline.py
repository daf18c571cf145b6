"""From raw arrays to tf.data: splits, resizing, channel conversion, normalisation, batching."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasnets.data.datasets import RawData, load, search_dirs


@dataclass
class Splits:
    """Float32 images ``(N, H, W, C)`` and int32 labels for train, validation and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    mean: list[float]
    std: list[float]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": 0 if self.y_val is None else len(self.y_val),
                "test": len(self.y_test)}


def _stratified_split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    stratify = y if np.bincount(y).min() >= 2 else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=stratify)


def resize_images(x: np.ndarray, size: tuple[int, int] | None, method: str) -> np.ndarray:
    """Reach ``size`` by bilinear resizing or by centred zero padding (centre crop if smaller)."""
    if size is None or tuple(x.shape[1:3]) == tuple(size):
        return x
    if method == "pad":
        out = np.zeros((x.shape[0], *size, x.shape[3]), dtype=x.dtype)
        h, w = min(size[0], x.shape[1]), min(size[1], x.shape[2])
        sy, sx = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
        dy, dx = (size[0] - h) // 2, (size[1] - w) // 2
        out[:, dy:dy + h, dx:dx + w] = x[:, sy:sy + h, sx:sx + w]
        return out
    import tensorflow as tf

    chunks = [tf.image.resize(x[i:i + 4096].astype(np.float32), size, antialias=True).numpy()
              for i in range(0, len(x), 4096)]
    return np.concatenate(chunks)


def convert_channels(x: np.ndarray, channels: int | None) -> np.ndarray:
    if channels is None or x.shape[-1] == channels:
        return x
    if channels == 3:
        return np.repeat(x, 3, axis=-1)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (x.astype(np.float32) @ weights)[..., None]


def prepare(raw: RawData, data: Any) -> Splits:
    """Split (with ``data.seed``), resize, convert and normalise (statistics from the
    training split only)."""
    seed = data.seed
    x, y = raw.x_train, raw.y_train
    if raw.x_test is None:
        x, x_test, y, y_test = _stratified_split(x, y, data.test_split, seed)
    else:
        x_test, y_test = raw.x_test, raw.y_test
    if data.limit is not None and data.limit < len(y):
        keep = np.random.default_rng(seed).permutation(len(y))[: data.limit]
        x, y = x[keep], y[keep]
    x_val = y_val = None
    if data.validation_split > 0:
        x, x_val, y, y_val = _stratified_split(x, y, data.validation_split, seed)
    size = tuple(data.image_size) if data.image_size else None

    def shape(images: np.ndarray) -> np.ndarray:
        images = convert_channels(resize_images(images, size, data.resize), data.channels)
        return images.astype(np.float32, copy=False)

    x, x_test = shape(x), shape(x_test)
    x_val = shape(x_val) if x_val is not None else None
    if data.normalize == "standardize":
        mean = x.mean(axis=(0, 1, 2))
        std = x.std(axis=(0, 1, 2)) + 1e-7
    elif data.normalize == "scale":
        mean, std = np.zeros(x.shape[-1]), np.full(x.shape[-1], 255.0)
    else:
        mean, std = np.zeros(x.shape[-1]), np.ones(x.shape[-1])
    mean, std = mean.astype(np.float32), std.astype(np.float32)

    def norm(images: np.ndarray | None) -> np.ndarray | None:
        return None if images is None else (images - mean) / std

    return Splits(norm(x), y.astype(np.int32), norm(x_val), None if y_val is None else y_val.astype(np.int32),
                  norm(x_test), y_test.astype(np.int32), list(raw.class_names), raw.source,
                  mean.tolist(), std.tolist())


def load_splits(data: Any, data_dir: str | Path | None = None) -> Splits:
    """Load the recipe's data set from the first place that has it and prepare the splits."""
    search = search_dirs(data.dir, str(data_dir) if data_dir else None)
    size = tuple(data.image_size) if data.image_size else None
    raw = load(data.dataset, search, image_size=size, **data.options)
    return prepare(raw, data)


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int | None,
                 num_classes: int, one_hot: bool, outputs: int = 1):
    """A tf.data pipeline that shuffles indices and gathers whole batches at once, as Keras
    does for arrays: no per-example work, and the arrays travel as a dataset element rather
    than as graph constants (which tf.data's default graph rewrites would copy every epoch)."""
    import tensorflow as tf

    indices = tf.data.Dataset.range(len(y))
    if shuffle:
        indices = indices.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    arrays = tf.data.Dataset.from_tensors((tf.convert_to_tensor(x), tf.convert_to_tensor(y))).repeat()
    ds = tf.data.Dataset.zip((indices.batch(batch_size), arrays))

    def gather(index, data):
        images, labels = data
        target = tf.gather(labels, index)
        if one_hot:
            target = tf.one_hot(target, num_classes)
        if outputs > 1:
            target = tuple([target] * outputs)
        return tf.gather(images, index), target

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)
