"""Throughput of the augmentation input pipeline, alone and while training, side by side in
one process against (a) no augmentation and (b) the naive per-image ``tf.numpy_function``.

    python benchmarks/pipeline.py [--quick] [--rounds 5] [--epochs 3]

Cases: ``cifar_standard`` at 32x32 with ResNet-20 (CIFAR-shaped synthetic images: CIFAR-10
batches are not on this machine; speed does not depend on the pixels), MNIST distortions with
LeNet-5 (real MNIST when KERASNETS_DATA_DIR has it, else synthetic 28x28), and a heavy pipeline
(Affine + ColorJitter + CoarseDropout) at 32x32 and 224x224, pipeline alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

ROOT = Path(__file__).resolve().parents[1]
HEAVY = [
    {"Affine": {"scale": [0.9, 1.1], "rotate": [-15, 15], "translate_percent": [-0.1, 0.1], "p": 1.0}},
    {"ColorJitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 1.0}},
    {
        "CoarseDropout": {
            "num_holes_range": [1, 4],
            "hole_height_range": [0.1, 0.25],
            "hole_width_range": [0.1, 0.25],
            "p": 1.0,
        }
    },
]


def naive_dataset(x, y, steps, batch_size, mean, std, seed=0):
    """The per-image version users write first: one numpy_function call per image."""
    import numpy as np
    import tensorflow as tf

    from kerasnets.data.augment import build_transforms

    compose = build_transforms(steps)
    shape = x.shape[1:]

    def augment_one(image):
        return compose(image=image)["image"].reshape(image.shape)

    def one(image, label):
        image = tf.numpy_function(augment_one, [image], tf.uint8)
        image.set_shape(shape)
        return image, label

    mean_t, std_t = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).shuffle(len(y), seed=seed)
    ds = ds.map(one, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    ds = ds.map(
        lambda im, lb: ((tf.cast(im, tf.float32) - mean_t) / std_t, lb), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def ours_dataset(x, y, steps, batch_size, mean, std, seed=0, in_graph=True):
    from kerasnets.data.augment import BatchAugmenter
    from kerasnets.data.pipeline import make_dataset

    augmenter = BatchAugmenter(steps, in_graph=in_graph) if steps else None
    return make_dataset(
        x,
        y,
        batch_size,
        shuffle=True,
        seed=seed,
        num_classes=int(y.max()) + 1,
        one_hot=False,
        mean=mean,
        std=std,
        augmenter=augmenter,
    )


def pipeline_rate(ds, n: int, repeats: int = 2) -> float:
    """Images/s of iterating the dataset (first pass warms up and is not counted)."""
    for _ in ds:
        pass
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in ds:
            pass
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def training_rate(model_name, ds, input_shape, num_classes, n, epochs) -> float:
    import keras

    from kerasnets.models import build
    from kerasnets.recipe import TrainSection
    from kerasnets.train.callbacks import EpochTimer
    from kerasnets.train.runtime import resolve_runtime

    runtime = resolve_runtime(TrainSection())
    keras.utils.set_random_seed(0)
    model = build(model_name, input_shape, num_classes)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=runtime.jit_compile,
        steps_per_execution=runtime.steps_per_execution,
    )
    timer = EpochTimer()
    model.fit(ds, epochs=epochs, callbacks=[timer], verbose=0)
    return n / statistics.median(timer.seconds[1:])


def load_case(name: str, n: int):
    import numpy as np

    from kerasnets.data.datasets import load, search_dirs

    if name == "mnist":
        try:
            raw = load("mnist", search_dirs())
            padded = np.pad(raw.x_train[:n], ((0, 0), (2, 2), (2, 2), (0, 0)))  # LeNet-5's 32x32
            return padded, raw.y_train[:n], "MNIST 32x32"
        except Exception:  # noqa: BLE001 - fall back to synthetic digits-shaped data
            pass
        raw = load("synthetic", [], num_samples=n, shape=(32, 32, 1))
        return raw.x_train, raw.y_train, "synthetic 32x32x1"
    size = {"cifar": 32, "heavy32": 32, "heavy224": 224}[name]
    raw = load("synthetic", [], num_samples=n, shape=(size, size, 3))
    return raw.x_train, raw.y_train.astype(np.int32), f"synthetic {size}x{size}x3"


def fragment(name: str):
    from kerasnets.recipe import load_recipe

    return load_recipe(ROOT / "recipes" / "fragments" / "augment" / f"{name}.yaml").augment


def main() -> None:
    parser = argparse.ArgumentParser(description="input-pipeline throughput")
    parser.add_argument("--quick", action="store_true", help="smaller sets, fewer epochs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds of the LeNet-5 training case")
    args = parser.parse_args()

    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kerasnets.models import names

    scale = 4 if args.quick else 1
    cases = [
        ("mnist", "lenet5", "mnist_distortions", 60000 // scale, 128),
        ("cifar", "resnet20", "cifar_standard", 20000 // scale, 128),
        ("heavy32", None, None, 20000 // scale, 128),
        ("heavy224", None, None, 2000 // scale, 64),
    ]
    print(f"{os.cpu_count()} CPU cores; images/s (median of steady passes)")
    header = f"{'case':42s} {'none':>9s} {'naive':>9s} {'numpy':>9s} {'ours':>9s}  ours/naive  ours/none"
    print(header)
    print("(numpy: the whole-batch numpy kernels in a numpy_function; ours: what kerasnets runs,")
    print(" in-graph kernels where every transform has one)")
    for data_name, model, steps_name, n, batch in cases:
        x, y, what = load_case(data_name, n)
        steps = fragment(steps_name) if steps_name else HEAVY
        mean, std = [127.5] * x.shape[-1], [64.0] * x.shape[-1]
        builders = {
            "none": partial(ours_dataset, x, y, [], batch, mean, std),
            "naive": partial(naive_dataset, x, y, steps, batch, mean, std),
            "numpy": partial(ours_dataset, x, y, steps, batch, mean, std, in_graph=False),
            "ours": partial(ours_dataset, x, y, steps, batch, mean, std),
        }
        label = f"{steps_name or 'heavy'} pipeline, {what}"
        rates = {k: pipeline_rate(make(), len(y)) for k, make in builders.items()}
        print(
            f"{label:42s} {rates['none']:9,.0f} {rates['naive']:9,.0f} {rates['numpy']:9,.0f} "
            f"{rates['ours']:9,.0f}"
            f"  {rates['ours'] / rates['naive']:9.2f}x {rates['ours'] / rates['none']:9.2f}x",
            flush=True,
        )
        if model is None:
            continue
        if model not in names():
            print(f"  (training with {model} skipped: not registered)")
            continue
        rates, ratios = _paired_training(
            model, builders, x, y, args.epochs, args.rounds if model == "lenet5" else 1
        )
        label = f"  training {model} on it"
        print(
            f"{label:42s} {rates['none']:9,.0f} {rates['naive']:9,.0f} {rates['numpy']:9,.0f} "
            f"{rates['ours']:9,.0f}"
            f"  {rates['ours'] / rates['naive']:9.2f}x {statistics.median(ratios):9.2f}x",
            flush=True,
        )
        if len(ratios) > 1:
            shown = ", ".join(f"{r:.2f}" for r in ratios)
            print(
                f"    ours/none per round (alternating order): {shown}; "
                f"median {statistics.median(ratios):.2f}"
            )


def _paired_training(model, builders, x, y, epochs: int, rounds: int):
    """Median training rates over ``rounds`` rounds (order alternating each round, so drift on
    a shared machine hits both sides) and the per-round ours/none ratios; the slow naive
    pipeline is trained once."""
    classes = int(y.max()) + 1
    train = lambda key: training_rate(model, builders[key](), x.shape[1:], classes, len(y), epochs)  # noqa: E731
    measured: dict[str, list[float]] = {"naive": [train("naive")]}
    ratios = []
    for round_ in range(rounds):
        order = ["none", "numpy", "ours"] if round_ % 2 == 0 else ["ours", "numpy", "none"]
        this = {key: train(key) for key in order}
        for key, rate in this.items():
            measured.setdefault(key, []).append(rate)
        ratios.append(this["ours"] / this["none"])
    return {key: statistics.median(values) for key, values in measured.items()}, ratios


if __name__ == "__main__":
    main()
