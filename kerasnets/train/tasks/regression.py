"""``reconstruct`` and ``denoise``: the model learns the clean (standardised) input back, the
latter from a copy corrupted on the fly."""

from __future__ import annotations

import numpy as np

from kerasnets.train.tasks.base import TASKS, Task, to_pixels


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


class Regression(Task):
    """Reconstruction-style tasks: the target is the clean standardised image."""

    headline = "test_psnr"

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        model.compile(
            optimizer=optimizer,
            loss=self.rules.default_loss,
            metrics=["mae"],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def model_inputs(self, splits, clean: np.ndarray, seed: int = 0) -> np.ndarray:
        """The model's input for standardised clean images (``denoise``: a corrupted copy)."""
        return clean

    def evaluate(self, net, pipelines, splits, batch_size):
        clean = splits.normalize(splits.x_test)
        inputs = self.model_inputs(splits, clean)
        output = net.predict(inputs, batch_size=batch_size, verbose=0)
        truth = to_pixels(clean, splits.mean, splits.std)
        metrics = {
            "test_loss": float(np.mean((output - clean) ** 2)),
            "test_psnr": psnr(truth, to_pixels(output, splits.mean, splits.std)),
        }
        if inputs is not clean:
            metrics["test_noisy_psnr"] = psnr(truth, to_pixels(inputs, splits.mean, splits.std))
            metrics["test_psnr_gain"] = metrics["test_psnr"] - metrics["test_noisy_psnr"]
        return metrics

    def figures(self, net, splits):
        from kerasnets.plots import image_rows

        images = splits.x_test[:10]
        clean = splits.normalize(images)
        inputs = self.model_inputs(splits, clean)
        output = to_pixels(net.predict(inputs, verbose=0), splits.mean, splits.std)
        rows = [("input", images)]
        if inputs is not clean:
            rows.append(("noisy", to_pixels(inputs, splits.mean, splits.std)))
        rows.append(("output", output))
        return [(image_rows, (rows, f"{self.name}: test images"), "reconstructions.png")]


@TASKS.register("reconstruct")
class Reconstruct(Regression):
    name = "reconstruct"

    def target_fn(self, splits):
        return lambda images, labels, seed: (images, images)


@TASKS.register("denoise")
class Denoise(Regression):
    name = "denoise"

    def bounds(self, splits) -> tuple[float, float]:
        """Black and white in standardised units (salt and pepper values)."""
        mean, std = float(np.mean(splits.mean)), float(np.mean(splits.std))
        return (0 - mean) / std, (255 - mean) / std

    def target_fn(self, splits):
        task = self.recipe.task
        low, high = self.bounds(splits)
        return lambda images, labels, seed: (
            corrupt(images, seed, task.noise, task.noise_level, low, high),
            images,
        )

    def model_inputs(self, splits, clean, seed=0):
        import tensorflow as tf

        task = self.recipe.task
        low, high = self.bounds(splits)
        return corrupt(
            tf.constant(clean), tf.constant(seed, tf.int64), task.noise, task.noise_level, low, high
        ).numpy()
