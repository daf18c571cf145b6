"""Image files as a data set: class folders listed once, pixels decoded only when read.

``ImageFiles`` stands where an in-memory data set has its ``(N, H, W, C)`` uint8 array: it
holds paths, and the pipeline (``kerasnets.data.stream``) decodes, resizes and batches them in
the tf.data graph. Indexing it (``files[:8]``) decodes those images at the model's input size,
for the few pictures that explain and previews draw; ``subset`` picks files without decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kerasnets.errors import DataError

#: what tf.io decodes in the graph (GIF: the first frame)
STREAMED_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: files read for the normalisation statistics (a seeded sample of the training split)
STATS_SAMPLE = 1000
SPLIT_FOLDERS = {"train": ("train",), "validation": ("val", "validation"), "test": ("test",)}


@dataclass
class ImageFiles:
    """Paths of images at ``size`` (height, width) with ``channels`` channels once decoded."""

    paths: np.ndarray  # of str
    size: tuple[int, int]
    channels: int = 3

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size[0], self.size[1], self.channels)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 4

    def subset(self, index: np.ndarray) -> ImageFiles:
        """The files at ``index``, still undecoded."""
        return replace(self, paths=self.paths[np.asarray(index)])

    def with_channels(self, channels: int | None) -> ImageFiles:
        return self if channels is None else replace(self, channels=channels)

    def __getitem__(self, index: Any) -> np.ndarray:
        """Decoded uint8 images (an int gives one ``(H, W, C)`` image), resized as evaluation does."""
        if isinstance(index, (int, np.integer)):
            return self[np.array([index])][0]
        paths = self.paths[index]
        return np.stack([decode_file(p, self.size, self.channels) for p in np.atleast_1d(paths)])

    def mean(self, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> np.ndarray:
        """The mean over a bounded sample of the files (for a mean pixel)."""
        return self.sample(STATS_SAMPLE).mean(axis=axis, keepdims=keepdims, dtype=dtype)

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """Up to ``count`` decoded images drawn without replacement (seeded); unreadable ones left out."""
        import tensorflow as tf

        from kerasnets.data.geometry import resize

        order = np.random.default_rng(seed).permutation(len(self.paths))[:count]
        files = tf.data.Dataset.from_tensor_slices(self.paths[np.sort(order)])
        decoded = files.map(  # in parallel, in order; a corrupt file is dropped as in training
            lambda path: resize(decode(path, self.channels), self.size),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).ignore_errors()
        images = [image.numpy() for image in decoded]
        if not images:
            raise DataError(f"none of {len(order)} sampled image files could be read (e.g. {self.paths[0]})")
        return np.stack(images)


def decode_file(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """One file as the evaluation pipeline sees it (TensorFlow's decoder and resize)."""
    import tensorflow as tf

    from kerasnets.data.geometry import resize

    return resize(decode(tf.constant(str(path)), channels), size).numpy()


def decode(path: Any, channels: int) -> Any:
    """A uint8 ``(H, W, channels)`` image tensor from a PNG, JPEG, BMP, GIF (first frame) or
    WebP file, in the graph (a corrupt file raises, which the pipeline's ``ignore_errors`` drops)."""
    import tensorflow as tf

    data = tf.io.read_file(path)
    webp = tf.strings.regex_full_match(tf.strings.lower(path), r".*\.webp")
    image = tf.cond(
        webp,
        lambda: tf.io.decode_webp(data, channels=3)[0],
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
    )
    image = tf.ensure_shape(image, [None, None, 3])
    return tf.image.rgb_to_grayscale(image) if channels == 1 else image


def list_class_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Files and labels under ``root/<class>/``, classes sorted by name."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class sub-folders found")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(
            str(p) for p in (root / name).rglob("*") if p.suffix.lower() in STREAMED_SUFFIXES and p.is_file()
        )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"{root}: no images ({', '.join(STREAMED_SUFFIXES)}) in the class folders")
    return np.asarray(paths), np.asarray(labels, dtype=np.int32), classes


def split_folders(root: Path) -> dict[str, Path]:
    """The ``train/``, ``val/`` (or ``validation/``) and ``test/`` sub-folders that exist."""
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found if "train" in found else {}


def first_image_size(path: str) -> tuple[int, int]:
    """(height, width) of an image file from its header."""
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width
