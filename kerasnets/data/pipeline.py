"""From raw arrays to tf.data: splits, resizing, channel conversion, normalisation, batching."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasnets.data.datasets import RawData, load, search_dirs
from kerasnets.data.files import STATS_SAMPLE, ImageFiles
from kerasnets.weights.imagenet_table import PREPROCESSING


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

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """Float32 images as the model sees them (image files are decoded first)."""
        if isinstance(images, ImageFiles):
            images = images[:]
        return (images.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.y_train),
            "validation": 0 if self.y_val is None else len(self.y_val),
            "test": len(self.y_test),
        }


def take(x: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of an image array, or those files of an ``ImageFiles`` (not decoded)."""
    return x.subset(index) if isinstance(x, ImageFiles) else x[index]


def _stratified_split(x: Any, y: np.ndarray, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    stratify = y if y.ndim == 1 and np.bincount(y).min() >= 2 else None  # masks: a plain split
    keep, held = train_test_split(np.arange(len(y)), test_size=fraction, random_state=seed, stratify=stratify)
    return take(x, keep), take(x, held), y[keep], y[held]


def resize_images(x: np.ndarray, size: tuple[int, int] | None, method: str) -> np.ndarray:
    """Reach ``size`` by bilinear resizing or by centred zero padding (centre crop if smaller)."""
    if size is None or tuple(x.shape[1:3]) == tuple(size):
        return x
    if method == "pad":
        out = np.zeros((x.shape[0], *size, x.shape[3]), dtype=x.dtype)
        h, w = min(size[0], x.shape[1]), min(size[1], x.shape[2])
        sy, sx = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
        dy, dx = (size[0] - h) // 2, (size[1] - w) // 2
        out[:, dy : dy + h, dx : dx + w] = x[:, sy : sy + h, sx : sx + w]
        return out
    import tensorflow as tf

    chunks = [
        tf.image.resize(x[i : i + 4096].astype(np.float32), size, antialias=True).numpy()
        for i in range(0, len(x), 4096)
    ]
    return np.concatenate(chunks)


def resize_masks(y: np.ndarray, size: tuple[int, int] | None, method: str) -> np.ndarray:
    """Per-pixel label masks follow their images: nearest-neighbour resize or zero padding
    (class labels and multi-hot label vectors are returned as they are)."""
    if y.ndim < 3 or size is None or tuple(y.shape[1:3]) == tuple(size):
        return y
    if method == "pad":
        return resize_images(y[..., None], size, "pad")[..., 0]
    rows = (np.arange(size[0]) * y.shape[1] / size[0]).astype(int)
    cols = (np.arange(size[1]) * y.shape[2] / size[1]).astype(int)
    return y[:, rows][:, :, cols]


def layout_shape(image_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The model's input shape for a data layout: images, rows as time steps, or pixels."""
    height, width, channels = image_shape
    return {"image": image_shape, "rows": (height, width * channels), "pixels": (height * width, channels)}[
        layout
    ]


def convert_channels(x: np.ndarray, channels: int | None) -> np.ndarray:
    if channels is None or x.shape[-1] == channels:
        return x
    if channels == 3:
        return np.repeat(x, 3, axis=-1)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (x.astype(np.float32) @ weights)[..., None]


def prepare(raw: RawData, data: Any) -> Splits:
    """Split (with ``data.seed``), resize and convert channels; images stay uint8 and the
    per-channel statistics (from the training split only) are applied batch by batch.
    Image files (``ImageFiles``) are split as a list and decoded later, in the pipeline; their
    statistics come from a seeded sample of ``STATS_SAMPLE`` training files."""
    seed = data.seed
    x, y = raw.x_train, raw.y_train
    if raw.x_test is None:
        x, x_test, y, y_test = _stratified_split(x, y, data.test_split, seed)
    else:
        x_test, y_test = raw.x_test, raw.y_test
    if data.limit is not None and data.limit < len(y):
        keep = np.sort(np.random.default_rng(seed).permutation(len(y))[: data.limit])
        x, y = take(x, keep), y[keep]
    x_val = y_val = None
    if raw.x_val is not None:
        x_val, y_val = raw.x_val, raw.y_val
    elif data.validation_split > 0:
        x, x_val, y, y_val = _stratified_split(x, y, data.validation_split, seed)
    size = tuple(data.image_size) if data.image_size else None

    def shape(images: Any) -> Any:
        if images is None:
            return None
        if isinstance(images, ImageFiles):  # decoded at their size in the pipeline
            return images.with_channels(data.channels)
        images = convert_channels(resize_images(images, size, data.resize), data.channels)
        return np.clip(np.rint(images), 0, 255).astype(np.uint8) if images.dtype != np.uint8 else images

    x, x_val, x_test = shape(x), shape(x_val), shape(x_test)
    channels = x.shape[-1]
    if data.normalize == "standardize":
        pixels = x.sample(STATS_SAMPLE, seed) if isinstance(x, ImageFiles) else x
        mean = pixels.mean(axis=(0, 1, 2), dtype=np.float64)
        std = pixels.std(axis=(0, 1, 2), dtype=np.float64) + 1e-7
    elif data.normalize == "scale":
        mean, std = np.zeros(channels), np.full(channels, 255.0)
    elif data.normalize in PREPROCESSING:  # keras.applications modes, in RGB
        mean, std, _ = PREPROCESSING[data.normalize]
        mean, std = np.resize(mean, channels), np.resize(std, channels)
    else:
        mean, std = np.zeros(channels), np.ones(channels)
    labels = lambda v: None if v is None else resize_masks(v, size, data.resize).astype(np.int32)
    return Splits(
        x,
        labels(y),
        x_val,
        labels(y_val),
        x_test,
        labels(y_test),
        list(raw.class_names),
        raw.source,
        [float(m) for m in mean],
        [float(s) for s in std],
    )


def load_splits(data: Any, data_dir: str | Path | None = None) -> Splits:
    """Load the recipe's data set from the first place that has it and prepare the splits."""
    search = search_dirs(data.dir, str(data_dir) if data_dir else None)
    size = tuple(data.image_size) if data.image_size else None
    raw = load(data.dataset, search, image_size=size, **data.options)
    return prepare(raw, data)


def make_dataset(
    x: Any,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None,
    num_classes: int,
    one_hot: bool,
    mean: list[float],
    std: list[float],
    outputs: int = 1,
    augmenter=None,
    mixers: list[tuple[Any, dict[str, Any]]] = (),
    layout: str = "image",
    target_fn=None,
    geometry=None,
    stream: dict[str, Any] | None = None,
):
    """The input pipeline: shuffled index batches gather whole uint8 batches (as Keras does for
    arrays), the albumentations ``augmenter`` runs on whole batches in tf.data's parallel
    workers, then normalisation, one-hot labels and batch mixers (MixUp/CutMix) run in graph.

    Lists whose transforms all have in-graph kernels (``kerasnets.data.graph_kernels``) run
    as TensorFlow ops instead, holding no GIL.
    The arrays travel as a dataset element, not as graph constants (tf.data's default graph
    rewrites would copy them every epoch). Each batch gets a seed from a reproducible stream
    that changes every epoch, so augmentation is deterministic for a given recipe seed.
    ``layout`` reshapes images into sequences; ``target_fn(images, targets, seed)`` turns a
    batch into (inputs, targets) for tasks other than classification.

    ``geometry`` (``kerasnets.data.geometry.Geometry``) brings each image to the model's size
    (random crops for training, a centre crop for evaluation) before augmentation. ``x`` may
    be ``ImageFiles``: then the files stream through ``kerasnets.data.stream`` (``stream``
    holds its counter, cache and shuffle buffer) and meet the same batch stage."""
    import tensorflow as tf

    if isinstance(x, ImageFiles) and geometry is None:  # files are decoded at their size
        from kerasnets.data.geometry import Geometry, resize

        geometry = Geometry(lambda image, seed: resize(image, x.size), tuple(x.size), True)
    count = len(y)
    full = count // batch_size
    mean_t = tf.constant(mean, tf.float32)
    std_t = tf.constant(std, tf.float32)
    image_shape = (*geometry.size, x.shape[-1]) if geometry is not None else tuple(x.shape[1:])

    def stage(images, target, batch_seed):
        """One uint8 batch at the model's size -> what the model trains on."""
        if augmenter is not None and getattr(augmenter, "in_graph", False):
            images = augmenter.apply_in_graph(images, batch_seed)
        elif augmenter is not None:
            rows = images.shape[0]
            images = tf.numpy_function(augmenter, [images, batch_seed], images.dtype, stateful=False)
            images.set_shape((rows, *image_shape))
        images = (tf.cast(images, tf.float32) - mean_t) / std_t
        if one_hot:
            target = tf.one_hot(target, num_classes)
        for mixer, options in mixers:
            images, target = mixer(images, target, batch_seed, **options)
        if target_fn is not None:
            images, target = target_fn(images, target, batch_seed)
        if layout != "image":
            images = tf.reshape(images, (-1, *layout_shape(tuple(image_shape), layout)))
        if outputs > 1:
            target = tuple([target] * outputs)
        return images, target

    if isinstance(x, ImageFiles):
        from kerasnets.data.stream import file_dataset

        return file_dataset(
            x, y, batch_size, shuffle=shuffle, seed=seed, geometry=geometry, stage=stage, **(stream or {})
        )

    def epoch(epoch_seed):
        # one permutation per epoch, cut into batches in one reshape (as Keras does for arrays:
        # an element-wise shuffle buffer costs ~4% of LeNet-5's training time)
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([epoch_seed, 0]))
        batches = tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: full * batch_size], (full, batch_size))
        )
        if count % batch_size:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size :]))
        seeds = tf.data.Dataset.range(full + 1).map(lambda i: epoch_seed * 1_000_003 + i)
        return tf.data.Dataset.zip((batches, seeds))

    # a reproducible seed per epoch (a new one each time the dataset is iterated)
    indices = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1).flat_map(epoch)
    arrays = tf.data.Dataset.from_tensors((tf.convert_to_tensor(x), tf.convert_to_tensor(y))).repeat()
    ds = tf.data.Dataset.zip((indices, arrays))
    ds = ds.apply(tf.data.experimental.assert_cardinality(full + (1 if count % batch_size else 0)))
    reshape = geometry is not None and (not geometry.plain or tuple(x.shape[1:3]) != tuple(geometry.size))

    def batch(index_and_seed, data):
        (index, batch_seed), (images, labels) = index_and_seed, data
        index = tf.ensure_shape(index, [None])
        images, target = tf.gather(images, index), tf.gather(labels, index)
        if reshape:
            from kerasnets.data.geometry import map_over_batch

            images = map_over_batch(geometry.view, images, batch_seed, geometry.size)
        images.set_shape((index.shape[0], *image_shape))
        return stage(images, target, batch_seed)

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    ds = ds.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)
