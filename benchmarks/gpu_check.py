"""Training throughput per architecture and input source, then one real recipe: a short check
of a GPU machine (under 8 minutes on one H100/H200).

    python benchmarks/gpu_check.py [--data-dir DIR] [--epochs 15] [--max-seconds 20]
    python benchmarks/gpu_check.py --quick        # CPU smoke run: tiny sizes, well under a minute

Prints a table of training images/s for LeNet-5 (32x32x1), ResNet-20 (32x32x3), ResNet-50
(224x224x3) and VGG-16 (224x224x3), each fed three ways:

- ``synthetic``: one batch repeated (``tf.data.Dataset.from_tensors(batch).repeat()``): the
  model's own speed, no input pipeline;
- ``in-memory``: kerasnets' ``make_dataset`` over uint8 arrays (flip + normalise);
- ``folder``: the streamed folder pipeline over generated JPEGs (``ImageFiles`` +
  ``make_dataset``, as ``folder_pipeline.py`` builds it: random-resized crop at 224, resize at 32).

Mixed precision, XLA and steps_per_execution are what ``resolve_runtime`` picks for this
device (printed above the table). With two or more GPUs each source is also measured under
``tf.distribute.MirroredStrategy`` over the first two (global batch = 2 x the batch per
replica). Each figure: one warm-up execution (tracing, XLA compilation, pipeline start) is
left out, then a fixed number of steps is timed (cut short after ``--max-seconds``).
Then ``recipes/fashion_mnist_resnet20.yaml`` trains for ``--epochs`` epochs (tracking off) and
its test accuracy and wall time are printed. The data directory is ``--data-dir``, else
``KERASNETS_DATA_DIR``, else ``../shared/data`` beside the repository (as the tests find it).

``--quick`` (any machine, meant for a CPU): batch 8, two steps per execution, three timed
executions, a 64-image folder, ResNet-50 and VGG-16 skipped; the recipe for one epoch on 256
training images, tested on the first 500 test images.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("KERASNETS_OFFLINE", "1")  # a check never downloads

sys.path.insert(0, str(Path(__file__).resolve().parent))
from folder_pipeline import make_jpegs, streamed_dataset, training_dataset, training_geometry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "fashion_mnist_resnet20.yaml"
SOURCES = ("synthetic", "in-memory", "folder")
CLASSES = 10


@dataclass(frozen=True)
class Arch:
    """One table row: a registry model at its input shape, batch per replica and timed steps
    on a GPU (about 10 s each on one H100/H200, estimated), and its generated JPEG folder."""

    label: str
    model: str
    shape: tuple[int, int, int]
    batch: int
    steps: int
    jpeg_sides: tuple[int, int]  # shortest and longest side of the generated JPEGs
    crop: bool  # random-resized crop (ImageNet training) or a plain resize (CIFAR-size)


ARCHITECTURES = (
    Arch("LeNet-5", "lenet5", (32, 32, 1), 256, 2048, (32, 48), crop=False),
    Arch("ResNet-20", "resnet20", (32, 32, 3), 256, 1024, (32, 48), crop=False),
    Arch("ResNet-50", "resnet50", (224, 224, 3), 128, 256, (256, 400), crop=True),
    Arch("VGG-16", "vgg16", (224, 224, 3), 64, 320, (256, 400), crop=True),
)


@dataclass(frozen=True)
class Settings:
    """Sizes of one check: the GPU defaults or ``--quick``."""

    quick: bool
    folder_images: int  # JPEGs per generated folder (and images in the in-memory arrays)
    max_seconds: float
    epochs: int

    def batch(self, arch: Arch) -> int:
        return 8 if self.quick else arch.batch

    def steps(self, arch: Arch, steps_per_execution: int) -> int:
        """Timed steps: whole executions, at least two."""
        executions = 3 if self.quick else max(2, math.ceil(arch.steps / steps_per_execution))
        return executions * steps_per_execution

    def skipped(self, arch: Arch) -> str | None:
        return "skipped (--quick)" if self.quick and arch.shape[0] > 32 else None


@dataclass
class Row:
    """Measured images/s of one architecture, keyed by (replicas, source); a failed
    measurement holds its short reason instead."""

    label: str
    shape: tuple[int, int, int]
    batch: int | None  # None: not measured
    rates: dict[tuple[int, str], float | str] = field(default_factory=dict)
    note: str | None = None


def format_rate(rate: float | str | None, note: str | None) -> str:
    if rate is None:
        return note or "-"
    if isinstance(rate, str):
        return rate
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"


def align(cells: list[str], widths: list[int]) -> str:
    """The first cell left-aligned, the others right-aligned, two spaces apart."""
    padded = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(padded)


def column_title(replicas: int, source: str, unit: str) -> str:
    """``folder (2 GPUs)``; on a CPU just ``folder (CPU)``."""
    where = unit if unit == "CPU" else f"{replicas} {unit}" + "s" * (replicas > 1)
    return f"{source} ({where})"


def format_table(rows: list[Row], replicas: tuple[int, ...], unit: str = "GPU") -> str:
    """Plain-text table: one line per architecture, one column per (replicas, source)."""
    columns = [(n, source) for n in replicas for source in SOURCES]
    header = ["architecture", "input", "batch/replica"] + [column_title(n, s, unit) for n, s in columns]
    lines = [header] + [
        [row.label, "x".join(map(str, row.shape)), str(row.batch or "-")]
        + [format_rate(row.rates.get(column), row.note) for column in columns]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [align(line, widths) for line in lines]
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]]) + "\n(training images/s)"


def device_line(gpus: int) -> str:
    if gpus == 0:
        return "no GPU: CPU figures"
    if gpus == 1:
        return "1 GPU: no 2-GPU column"
    return (
        f"{gpus} GPUs: the 2-GPU columns use MirroredStrategy over /gpu:0 and /gpu:1 "
        "with XLA off and steps_per_execution 1 (see replica_runtime)"
    )


def runtime_line(runtime) -> str:
    return (
        f"resolve_runtime defaults on {runtime.device}: mixed precision {runtime.mixed_precision}, "
        f"XLA {'on' if runtime.jit_compile else 'off'}, steps_per_execution {runtime.steps_per_execution}"
    )


def full_batches(dataset, batch: int, shape: tuple[int, int, int]):
    """Drop a short last batch and fix the shapes: every source then has the same element spec,
    so a model traces (and XLA compiles) its training step once for all three."""
    import tensorflow as tf

    dataset = dataset.filter(lambda images, labels: tf.shape(images)[0] == batch)
    return dataset.map(
        lambda images, labels: (
            tf.ensure_shape(images, (batch, *shape)),
            tf.ensure_shape(tf.cast(labels, tf.int32), (batch,)),
        )
    )


def input_sources(arch: Arch, batch: int, folder: Path, count: int) -> dict[str, object]:
    """The three repeated datasets of global batches ``batch`` for ``arch``."""
    import tensorflow as tf

    size, channels = arch.shape[:2], arch.shape[2]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, *arch.shape), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, count).astype(np.int32)
    geometry = training_geometry(size, crop=False)
    in_memory = full_batches(training_dataset(images, labels, CLASSES, batch, geometry), batch, arch.shape)
    streamed = streamed_dataset(folder, size, channels, batch, arch.crop)
    synthetic = tf.data.Dataset.from_tensors(next(iter(in_memory)))
    return {
        "synthetic": synthetic.repeat(),
        "in-memory": in_memory.repeat(),
        "folder": full_batches(streamed, batch, arch.shape).repeat(),
    }


def replica_runtime(runtime, replicas: int):
    """``resolve_runtime``'s choice on one device. Under MirroredStrategy: XLA off (Keras's own
    ``auto`` there; with it, each replica's step reads the other's variables and fails) and
    steps_per_execution 1 (Keras 3's multi-step loop fails: keras-team/keras#19246)."""
    return runtime if replicas == 1 else replace(runtime, jit_compile=False, steps_per_execution=1)


def compiled_model(arch: Arch, runtime, strategy):
    """The registry model, built and compiled in ``strategy``'s scope (SGD, sparse CE)."""
    import keras

    from kerasnets.models import build

    with strategy.scope():
        model = build(arch.model, arch.shape, CLASSES)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=runtime.jit_compile,
            steps_per_execution=runtime.steps_per_execution,
        )
    return model


def images_per_second(model, dataset, batch: int, steps: int, spe: int, max_seconds: float) -> float:
    """Fit ``spe`` steps to warm up (tracing, XLA compilation), then time a fit of ``steps``
    steps, wall clock (``fit`` returns once the device is done), stopped after ``max_seconds``."""
    import keras

    model.fit(dataset.take(spe), epochs=1, shuffle=False, verbose=0)
    ends: list[int] = []
    start = time.perf_counter()

    def mark(step: int, logs: dict) -> None:
        ends.append(step)
        if time.perf_counter() - start > max_seconds:
            model.stop_training = True

    clock = keras.callbacks.LambdaCallback(on_train_batch_end=mark)
    clock.async_safe = True  # Keras then does not wait for the device after every execution
    model.fit(dataset.take(steps), epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    return (max(ends) + 1) * batch / (time.perf_counter() - start)


def measure(arch: Arch, settings: Settings, runtime, tmp: Path, strategies: dict[int, object]) -> Row:
    """Images/s of ``arch`` from each source, for each number of replicas."""
    import keras

    if settings.skipped(arch):
        return Row(arch.label, arch.shape, None, note=settings.skipped(arch))
    batch = settings.batch(arch)
    row = Row(arch.label, arch.shape, batch)
    folder = jpeg_folder(tmp, arch, settings.folder_images)
    for replicas, strategy in strategies.items():
        keras.backend.clear_session()
        chosen = replica_runtime(runtime, replicas)
        spe = chosen.steps_per_execution
        model = compiled_model(arch, chosen, strategy)
        global_batch, steps = batch * replicas, settings.steps(arch, spe)
        sources = input_sources(arch, global_batch, folder, settings.folder_images)
        for source, dataset in sources.items():
            where = f"{arch.label} {source} ({replicas} replica{'s' * (replicas > 1)})"
            try:  # one failed figure (out of memory, say) must not lose the others
                rate = images_per_second(model, dataset, global_batch, steps, spe, settings.max_seconds)
            except Exception as error:
                row.rates[(replicas, source)] = f"failed: {type(error).__name__}"
                print(f"  {where}: failed: {type(error).__name__}: {str(error)[-300:]}")
                continue
            row.rates[(replicas, source)] = rate
            print(f"  {where}: {rate:,.1f} images/s")
    return row


def jpeg_folder(tmp: Path, arch: Arch, count: int) -> Path:
    """The generated JPEG folder for ``arch``'s image sides (made once, shared by equal sides)."""
    folder = tmp / f"jpeg_{arch.jpeg_sides[0]}_{arch.jpeg_sides[1]}"
    return folder if folder.is_dir() else make_jpegs(folder, count, CLASSES, arch.jpeg_sides)


def strategies_for(gpus: int) -> dict[int, object]:
    import tensorflow as tf

    strategies = {1: tf.distribute.get_strategy()}
    if gpus >= 2:
        strategies[2] = tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])
    return strategies


def resolve_data_dir(given: str | None) -> Path | None:
    """``--data-dir``, else ``KERASNETS_DATA_DIR``, else ``../shared/data`` beside the repository."""
    if given:
        return Path(given)
    if os.environ.get("KERASNETS_DATA_DIR"):
        return Path(os.environ["KERASNETS_DATA_DIR"])
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def train_recipe(settings: Settings, data_dir: Path | None) -> str:
    """Train the Fashion-MNIST ResNet-20 recipe; one line with its test accuracy and wall time."""
    import keras

    from kerasnets.data.pipeline import load_splits
    from kerasnets.errors import KerasnetsError
    from kerasnets.recipe import load_recipe
    from kerasnets.train.loop import run

    overrides = [f"train.epochs={settings.epochs}", "tracking.enabled=false"]
    overrides += ["data.limit=256", "train.verbose=0"] if settings.quick else ["train.verbose=2"]
    keras.backend.clear_session()
    start = time.perf_counter()
    try:
        recipe = load_recipe(RECIPE, overrides)
        splits = load_splits(recipe.data, data_dir)
        if settings.quick:
            splits = replace(splits, x_test=splits.x_test[:500], y_test=splits.y_test[:500])
        result = run(recipe, data_dir=data_dir, recipe_path=str(RECIPE), splits=splits)
    except KerasnetsError as error:
        return f"{RECIPE.name}: not trained ({error})"
    seconds = time.perf_counter() - start
    trained = f"{settings.epochs} epoch{'s' * (settings.epochs > 1)}{', 256 images' * settings.quick}"
    return (
        f"{RECIPE.name} ({trained}): test accuracy {result.test_accuracy:.4f} "
        f"on {len(splits.y_test):,} test images, wall {seconds:.1f} s (data loading included)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a CPU smoke run")
    parser.add_argument("--data-dir", help="folder with fashion-mnist/ (default: see above)")
    parser.add_argument("--epochs", type=int, help="recipe epochs (default 15; 1 with --quick)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="cap on one measurement")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    from kerasnets.recipe import TrainSection
    from kerasnets.train.runtime import apply_runtime, resolve_runtime

    settings = Settings(
        quick=args.quick,
        folder_images=64 if args.quick else 2048,
        max_seconds=args.max_seconds,
        epochs=args.epochs or (1 if args.quick else 15),
    )
    train = TrainSection(steps_per_execution=2) if args.quick else TrainSection()
    runtime = resolve_runtime(train)
    apply_runtime(train, runtime)
    gpus = len(tf.config.list_physical_devices("GPU"))
    print(device_line(gpus))
    print(runtime_line(runtime) + (" (--quick)" if args.quick else ""))
    strategies = strategies_for(gpus)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasnets-gpu-check-") as tmp:
        for arch in ARCHITECTURES:
            rows.append(measure(arch, settings, runtime, Path(tmp), strategies))
    print()
    print(format_table(rows, tuple(strategies), "GPU" if gpus else "CPU"))
    print()
    print(train_recipe(settings, resolve_data_dir(args.data_dir)))
    print(f"gpu_check: {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
