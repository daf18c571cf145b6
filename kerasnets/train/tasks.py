"""Tasks: what a recipe's model learns, and what that changes in the one training loop.

``classify`` and ``sequence`` learn labels; ``reconstruct`` and ``denoise`` learn the clean
(standardised) input back, the latter from a copy corrupted on the fly; ``segment`` learns a
class per pixel; ``generate`` trains a GAN. Each task brings its loss, metrics, end-of-run
figures and pictures; the loop (``kerasnets.train.loop``) stays the same for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from kerasnets.registry import Registry

TASKS: Registry[type[Task]] = Registry("task")


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean peak signal-to-noise ratio (dB) over images in 0..255 pixel space."""
    error = np.mean(
        (clean.astype(np.float64) - other.astype(np.float64)) ** 2, axis=tuple(range(1, clean.ndim))
    )
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(error, 1e-10))))


def corrupt(images, seed, kind: str, level: float, low: float, high: float):
    """Corrupt a standardised batch in graph: gaussian noise (std ``level``), salt and pepper
    or masking noise (a share ``level`` of pixels set to black/white, or to black)."""
    import tensorflow as tf

    seed = tf.stack([seed, tf.constant(17, tf.int64)])
    if kind == "gaussian":
        return images + level * tf.random.stateless_normal(tf.shape(images), seed=seed)
    hit = tf.random.stateless_uniform(tf.shape(images)[:-1], seed=seed)[..., None] < level
    if kind == "masking":
        return tf.where(hit, tf.cast(low, images.dtype), images)
    white = tf.random.stateless_uniform(tf.shape(images)[:-1], seed=seed + [0, 1])[..., None] < 0.5
    return tf.where(hit, tf.where(white, tf.cast(high, images.dtype), tf.cast(low, images.dtype)), images)


def _pixels(images: np.ndarray, mean, std) -> np.ndarray:
    return np.clip(images * np.float32(std) + np.float32(mean), 0, 255)


class Task:
    """Defaults shared by the tasks; subclasses override what differs."""

    name = ""
    headline = "test_loss"  # the metric printed at the end of a run

    def __init__(self, recipe) -> None:
        self.recipe = recipe

    # -- data
    def stats(self, splits) -> tuple[list[float], list[float]]:
        return splits.mean, splits.std

    def input_shape(self, splits) -> tuple[int, ...]:
        from kerasnets.data.pipeline import layout_shape

        return layout_shape(splits.input_shape, self.recipe.data.layout)

    def one_hot(self) -> bool:
        return False

    def target_fn(self, splits) -> Callable | None:
        return None

    def validation(self, pipelines):
        return pipelines.validation

    # -- model
    def compile(self, model: keras.Model, optimizer, jit_compile: bool, steps_per_execution: int) -> None:
        raise NotImplementedError

    def callbacks(self, model: keras.Model, tracker, splits) -> list[keras.callbacks.Callback]:
        return []

    def inference(self, model: keras.Model) -> keras.Model:
        return model

    # -- results
    def evaluate(self, net: keras.Model, pipelines, splits, batch_size: int) -> dict[str, float]:
        raise NotImplementedError

    def figures(self, net: keras.Model, splits) -> list[tuple[Any, str]]:
        """(matplotlib figure, artifact name) pairs logged at the end of the run."""
        return []


class _Regression(Task):
    """Reconstruction-style tasks: the target is the clean standardised image."""

    headline = "test_psnr"

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        model.compile(
            optimizer=optimizer,
            loss="mse",
            metrics=["mae"],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def _inputs(self, splits, clean: np.ndarray, seed: int = 0) -> np.ndarray:
        """The model's input for standardised clean images (``denoise``: a corrupted copy)."""
        return clean

    def evaluate(self, net, pipelines, splits, batch_size):
        clean = splits.normalize(splits.x_test)
        inputs = self._inputs(splits, clean)
        output = net.predict(inputs, batch_size=batch_size, verbose=0)
        truth = _pixels(clean, splits.mean, splits.std)
        metrics = {
            "test_loss": float(np.mean((output - clean) ** 2)),
            "test_psnr": psnr(truth, _pixels(output, splits.mean, splits.std)),
        }
        if inputs is not clean:
            metrics["test_noisy_psnr"] = psnr(truth, _pixels(inputs, splits.mean, splits.std))
            metrics["test_psnr_gain"] = metrics["test_psnr"] - metrics["test_noisy_psnr"]
        return metrics

    def figures(self, net, splits):
        from kerasnets.plots import image_rows

        images = splits.x_test[:10]
        clean = splits.normalize(images)
        inputs = self._inputs(splits, clean)
        output = _pixels(net.predict(inputs, verbose=0), splits.mean, splits.std)
        rows = [("input", images)]
        if inputs is not clean:
            rows.append(("noisy", _pixels(inputs, splits.mean, splits.std)))
        rows.append(("output", output))
        return [(image_rows(rows, f"{self.name}: test images"), "reconstructions.png")]


@TASKS.register("reconstruct")
class Reconstruct(_Regression):
    name = "reconstruct"

    def target_fn(self, splits):
        return lambda images, labels, seed: (images, images)


@TASKS.register("denoise")
class Denoise(_Regression):
    name = "denoise"

    def _bounds(self, splits) -> tuple[float, float]:
        mean, std = float(np.mean(splits.mean)), float(np.mean(splits.std))
        return (0 - mean) / std, (255 - mean) / std

    def target_fn(self, splits):
        task = self.recipe.task
        low, high = self._bounds(splits)
        return lambda images, labels, seed: (
            corrupt(images, seed, task.noise, task.noise_level, low, high),
            images,
        )

    def _inputs(self, splits, clean, seed=0):
        import tensorflow as tf

        task = self.recipe.task
        low, high = self._bounds(splits)
        return corrupt(
            tf.constant(clean), tf.constant(seed, tf.int64), task.noise, task.noise_level, low, high
        ).numpy()


@TASKS.register("classify")
class Classify(Task):
    """Labels (and the classification extras: auxiliary heads, TTA, confusion matrix)."""

    name = "classify"
    headline = "test_accuracy"

    def one_hot(self) -> bool:
        from kerasnets.train.loop import make_loss

        return make_loss(self.recipe)[1]

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        from kerasnets.train.loop import AUX_LOSS_WEIGHT, make_loss

        loss = make_loss(self.recipe)[0]
        outputs = len(model.outputs)
        weights = None if outputs == 1 else [1.0] + [AUX_LOSS_WEIGHT] * (outputs - 1)
        metrics = ["accuracy"] if outputs == 1 else [["accuracy"]] + [[] for _ in range(outputs - 1)]
        model.compile(
            optimizer=optimizer,
            loss=loss if outputs == 1 else [loss] * outputs,
            loss_weights=weights,
            metrics=metrics,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def callbacks(self, model, tracker, splits):
        from kerasnets.train.loop import AliasMainOutput

        if len(model.outputs) > 1:
            return [AliasMainOutput(model.outputs[0]._keras_history.operation.name)]
        return []

    def inference(self, model):
        from kerasnets.train.loop import inference_model, make_loss

        net = inference_model(model)
        if net is not model:
            net.compile(loss=make_loss(self.recipe)[0], metrics=["accuracy"])
        return net

    def evaluate(self, net, pipelines, splits, batch_size):
        test_loss, test_accuracy = (float(v) for v in net.evaluate(pipelines.test, verbose=0)[:2])
        self.predictions = np.argmax(net.predict(pipelines.test, verbose=0), axis=-1)
        metrics = {"test_loss": test_loss, "test_accuracy": test_accuracy}
        if self.recipe.eval.tta != "none":
            from kerasnets.train.loop import evaluate_tta

            metrics["test_accuracy_tta"] = evaluate_tta(
                net, splits, self.recipe.eval.tta, self.recipe.eval.crop_fraction, batch_size
            )
        return metrics

    def figures(self, net, splits):
        from kerasnets.plots import confusion_matrix_figure

        return [
            (
                confusion_matrix_figure(splits.y_test, self.predictions, splits.class_names),
                "confusion_matrix.png",
            )
        ]


@TASKS.register("sequence")
class Sequence(Classify):
    """Sequence classification: images read row by row (or pixel by pixel) as time steps.

    Many-to-one models are scored like classifiers. A many-to-many model (model option
    ``many_to_many: true``, output ``(N, T, classes)``) learns the sequence's label at every
    step; ``test_accuracy`` and the confusion matrix come from its last step (the one that has
    read the whole sequence forwards) and ``test_step_accuracy`` averages over all steps.
    """

    name = "sequence"

    def many_to_many(self) -> bool:
        return bool(self.recipe.model.options.get("many_to_many", False))

    def target_fn(self, splits):
        if not self.many_to_many():
            return None
        import tensorflow as tf

        steps = self.input_shape(splits)[0]

        def every_step(images, labels, seed):
            # sparse labels (N,) -> (N, T, 1), one-hot (N, C) -> (N, T, C): the same rank as
            # the output, which Keras' sparse losses and "accuracy" accept
            labels = labels[:, None] if labels.shape.rank == 1 else labels
            return images, tf.repeat(labels[:, None], steps, axis=1)

        return every_step

    def evaluate(self, net, pipelines, splits, batch_size):
        if not self.many_to_many():
            return super().evaluate(net, pipelines, splits, batch_size)
        test_loss, step_accuracy = (float(v) for v in net.evaluate(pipelines.test, verbose=0)[:2])
        probabilities = net.predict(pipelines.test, verbose=0)  # (N, T, classes)
        self.predictions = np.argmax(probabilities[:, -1], axis=-1)
        return {
            "test_loss": test_loss,
            "test_accuracy": float(np.mean(self.predictions == splits.y_test)),
            "test_step_accuracy": step_accuracy,
        }


#: Names of the first colours of ``Segment.figures``' palette: black, then tab20's (tab10 first).
SEGMENT_COLOURS = ("black", "blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive")


@TASKS.register("segment")
class Segment(Task):
    """A class per pixel: sparse cross-entropy, pixel accuracy and mean IoU."""

    name = "segment"
    headline = "test_mean_iou"

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        classes = int(model.outputs[0].shape[-1])
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy", keras.metrics.MeanIoU(classes, sparse_y_pred=False, name="mean_iou")],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def evaluate(self, net, pipelines, splits, batch_size):
        probabilities = net.predict(pipelines.test, verbose=0)
        self.predictions = np.argmax(probabilities, axis=-1)
        truth = splits.y_test
        classes = probabilities.shape[-1]
        ious = []
        for c in range(classes):
            union = np.sum((truth == c) | (self.predictions == c))
            if union:
                ious.append(np.sum((truth == c) & (self.predictions == c)) / union)
        loss = float(net.evaluate(pipelines.test, verbose=0)[0])
        return {
            "test_loss": loss,
            "test_pixel_accuracy": float(np.mean(self.predictions == truth)),
            "test_mean_iou": float(np.mean(ious)),
        }

    def figures(self, net, splits):
        from matplotlib import colormaps

        from kerasnets.plots import image_rows

        count = 8
        # class 0 black, the others tab20's colours (cycling); the title names the first ones
        names = splits.class_names
        tab20 = colormaps["tab20"].colors
        palette = np.array([(0.0, 0.0, 0.0), *tab20[::2], *tab20[1::2]])
        palette = 255.0 * palette[np.arange(len(names)) % len(palette)]
        rows = [
            ("image", splits.x_test[:count]),
            ("mask", palette[splits.y_test[:count]]),
            ("prediction", palette[self.predictions[:count]]),
        ]
        key = ", ".join(f"{n} {c}" for n, c in zip(names, SEGMENT_COLOURS, strict=False))
        return [(image_rows(rows, f"segmentation: test images ({key})"), "segmentation.png")]


@TASKS.register("generate")
class Generate(Task):
    """A GAN: images scaled to [-1, 1]; discriminator and generator losses per epoch."""

    name = "generate"
    headline = "g_loss"

    def stats(self, splits):
        channels = splits.input_shape[-1]
        return [127.5] * channels, [127.5] * channels

    def validation(self, pipelines):
        return None

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        from kerasnets.train.optimizers import make_optimizer

        model.compile(
            d_optimizer=optimizer,
            g_optimizer=make_optimizer(self.recipe.optimizer),  # same settings, own state
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def callbacks(self, model, tracker, splits):
        return [SampleGrid(tracker)] if tracker.run_id else []

    def evaluate(self, net, pipelines, splits, batch_size):
        return {}

    def inference(self, model):
        return model.generator

    def figures(self, net, splits):
        return []


class SampleGrid(keras.callbacks.Callback):
    """Logs a grid of generator samples from a fixed noise vector after every epoch."""

    def __init__(self, tracker, count: int = 36) -> None:
        super().__init__()
        self.tracker, self.count = tracker, count

    def on_epoch_end(self, epoch, logs=None):
        import matplotlib.pyplot as plt

        from kerasnets.plots import image_grid

        images = np.asarray(self.model.sample(self.count, seed=1234))
        figure = image_grid(np.clip((images + 1) * 127.5, 0, 255), f"samples after epoch {epoch + 1}")
        self.tracker.log_figure(figure, f"samples/epoch_{epoch + 1:03d}.png")
        plt.close(figure)
