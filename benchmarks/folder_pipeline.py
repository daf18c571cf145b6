"""Throughput and memory of the streamed image-folder pipeline.

    python benchmarks/folder_pipeline.py [--images 2000] [--batches 30] [--rounds 3] [--resnet50]
    python benchmarks/folder_pipeline.py --rss 1000 --rss 50000

Throughput: a generated folder of JPEGs (random sizes 256..400 px) through the ImageNet
training steps (decode, random-resized crop to 224x224, horizontal flip, normalise, batch 64)
three ways, measured in alternating rounds in one process (the machine is shared; ratios
side by side are what count):

- ``streamed``: kerasnets' folder pipeline (paths -> tf.data decode + crop, per image);
- ``in-memory``: the same steps from a uint8 array of the images decoded beforehand at 256x256;
- ``keras``: ``keras.utils.image_dataset_from_directory`` (decode + resize to 256x256) with the
  same crop, flip and normalisation mapped after it.

``--resnet50`` adds the ResNet-50 training rate (images/s) that the streamed pipeline feeds.

Memory: ``--rss N`` runs one epoch of the streamed pipeline over N generated 64x64 JPEGs in a
fresh process and prints its peak resident set size, so the figures for 1k and 50k images can
be compared (flat = the pipeline holds paths, not pixels).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = (224, 224)
BATCH = 64
MEAN, STD = [123.7, 116.3, 103.5], [58.4, 57.1, 57.4]


def make_jpegs(root: Path, count: int, classes: int = 10, sides: tuple[int, int] = (256, 400)) -> Path:
    """``count`` JPEGs of random sizes in ``classes`` class folders (seeded)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (sides[1], sides[1], 3), dtype=np.uint8)
    for i in range(count):
        folder = root / f"class_{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        height, width = rng.integers(sides[0], sides[1] + 1, 2)
        y, x = rng.integers(0, sides[1] - height + 1), rng.integers(0, sides[1] - width + 1)
        Image.fromarray(base[y : y + height, x : x + width]).save(folder / f"{i}.jpg", quality=90)
    return root


def training_geometry(size: tuple[int, int], crop: bool):
    """The random-resized crop of ImageNet training (``crop``) or a plain resize to ``size``."""
    from kerasnets.data.geometry import Geometry, random_resized_crop, resize

    if crop:
        view = lambda image, seed: random_resized_crop(image, seed, size, (0.08, 1.0), (0.75, 4 / 3))  # noqa: E731
        return Geometry(view, size, plain=False)
    return Geometry(lambda image, seed: resize(image, size), size, plain=True)


def training_dataset(x, labels: np.ndarray, num_classes: int, batch: int, geometry, stream=None):
    """kerasnets' training pipeline (``make_dataset``) over a uint8 array or ``ImageFiles``:
    geometry, horizontal flip, normalisation, batches of ``batch``; files stream when ``stream``."""
    from kerasnets.data.augment import BatchAugmenter
    from kerasnets.data.pipeline import make_dataset

    channels = x.shape[-1]
    return make_dataset(
        x, labels, batch, shuffle=True, seed=0, num_classes=num_classes, one_hot=False,
        mean=MEAN[:channels], std=STD[:channels], augmenter=BatchAugmenter([{"HorizontalFlip": {"p": 0.5}}]),
        geometry=geometry, stream=stream,
    )  # fmt: skip


def streamed_dataset(root: Path, size: tuple[int, int], channels: int, batch: int, crop: bool):
    """The streamed folder pipeline over ``root``: ``ImageFiles`` + ``make_dataset``."""
    from kerasnets.data.files import ImageFiles, list_class_folder
    from kerasnets.data.stream import DeliveredCounter

    paths, labels, classes = list_class_folder(root)
    files = ImageFiles(paths, size, channels)
    stream = {"counter": DeliveredCounter()}
    return training_dataset(files, labels, len(classes), batch, training_geometry(size, crop), stream)


def pipelines(root: Path) -> dict[str, object]:
    import tensorflow as tf

    from kerasnets.data.files import decode, list_class_folder
    from kerasnets.data.geometry import resize

    paths, labels, classes = list_class_folder(root)
    geometry = training_geometry(SIZE, crop=True)
    view = geometry.view
    streamed = streamed_dataset(root, SIZE, 3, BATCH, crop=True)
    decoded = np.stack([resize(decode(tf.constant(p), 3), (256, 256)).numpy() for p in paths])
    in_memory = training_dataset(decoded, labels, len(classes), BATCH, geometry)

    flip_and_normalise = lambda images, y: (  # noqa: E731
        (tf.cast(tf.image.random_flip_left_right(images), tf.float32) - MEAN) / STD,
        y,
    )
    keras_ds = __import__("keras").utils.image_dataset_from_directory(
        root, image_size=(256, 256), batch_size=None, shuffle=True, seed=0, verbose=False
    )
    keras_ds = keras_ds.map(
        lambda image, y: (view(tf.cast(image, tf.uint8), tf.constant([0, 0])), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    keras_ds = keras_ds.batch(BATCH).map(flip_and_normalise, num_parallel_calls=tf.data.AUTOTUNE)
    return {"streamed": streamed, "in-memory": in_memory, "keras": keras_ds.prefetch(tf.data.AUTOTUNE)}


def images_per_second(dataset, batches: int) -> float:
    iterator = iter(dataset.repeat())
    next(iterator)  # warm-up: graph tracing and the first files
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(iterator)
        seen += int(images.shape[0])
    return seen / (time.perf_counter() - start)


def resnet50_rate(dataset, steps: int = 6) -> float:
    from kerasnets.models import build

    model = build("resnet50", (*SIZE, 3), 10)
    model.compile("sgd", "sparse_categorical_crossentropy")
    small = dataset.unbatch().batch(16)
    model.fit(small.take(1), verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(small.take(steps), verbose=0)
    return 16 * steps / (time.perf_counter() - start)


def peak_rss(count: int) -> None:
    """Child process: one epoch over ``count`` 64x64 JPEGs; prints the peak RSS in MB."""
    from kerasnets.data.files import ImageFiles, list_class_folder
    from kerasnets.data.geometry import Geometry, resize
    from kerasnets.data.pipeline import make_dataset

    with tempfile.TemporaryDirectory() as folder:
        root = make_jpegs(Path(folder), count, sides=(48, 80))
        paths, labels, _ = list_class_folder(root)
        geometry = Geometry(lambda image, seed: resize(image, (64, 64)), (64, 64), plain=True)
        dataset = make_dataset(
            ImageFiles(paths, (64, 64), 3), labels, 128, shuffle=True, seed=0, num_classes=10,
            one_hot=False, mean=MEAN, std=STD, geometry=geometry, stream={},
        )  # fmt: skip
        seen = sum(int(images.shape[0]) for images, _ in dataset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count:>7,} images  {seen:>7,} delivered  peak RSS {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resnet50", action="store_true")
    parser.add_argument("--rss", type=int, action="append", help="peak RSS for N images (repeatable)")
    parser.add_argument("--child-rss", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_rss:
        peak_rss(args.child_rss)
        return
    if args.rss:
        for count in args.rss:
            subprocess.run([sys.executable, __file__, "--child-rss", str(count)], check=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        root = make_jpegs(Path(folder), args.images)
        datasets = pipelines(root)
        rates: dict[str, list[float]] = {name: [] for name in datasets}
        for _ in range(args.rounds):
            for name, dataset in datasets.items():
                rates[name].append(images_per_second(dataset, args.batches))
        print(
            f"{args.images} JPEGs (256..400 px) -> random-resized crop 224 + flip + normalise, batch {BATCH}"
        )
        base = np.median(rates["streamed"])
        for name, values in rates.items():
            median = float(np.median(values))
            ratio = median / base
            print(f"{name:>10}: {median:8.1f} images/s (median of {args.rounds}; {ratio:.2f}x streamed)")
        if args.resnet50:
            rate = resnet50_rate(datasets["streamed"])
            print(f"  resnet50 training fed by the streamed pipeline: {rate:.1f} images/s")


if __name__ == "__main__":
    main()
