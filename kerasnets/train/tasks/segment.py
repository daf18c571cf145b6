"""``segment``: a class per pixel, scored by pixel accuracy and mean IoU."""

from __future__ import annotations

import keras
import numpy as np

from kerasnets.train.tasks.base import TASKS, Task

#: Names of the first colours of ``Segment.figures``' palette: black, then tab20's (tab10 first).
SEGMENT_COLOURS = ("black", "blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive")


def mean_iou(truth: np.ndarray, predictions: np.ndarray, classes: int) -> float:
    """Intersection over union averaged over the classes present in truth or prediction."""
    ious = []
    for c in range(classes):
        union = np.sum((truth == c) | (predictions == c))
        if union:
            ious.append(np.sum((truth == c) & (predictions == c)) / union)
    return float(np.mean(ious))


@TASKS.register("segment")
class Segment(Task):
    """A class per pixel: sparse cross-entropy, pixel accuracy and mean IoU."""

    name = "segment"
    headline = "test_mean_iou"

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        classes = int(model.outputs[0].shape[-1])
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",  # the task's cross_entropy, labels per pixel
            metrics=["accuracy", keras.metrics.MeanIoU(classes, sparse_y_pred=False, name="mean_iou")],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def evaluate(self, net, pipelines, splits, batch_size):
        probabilities = net.predict(pipelines.test, verbose=0)
        self.predictions = np.argmax(probabilities, axis=-1)
        truth = splits.y_test
        loss = float(net.evaluate(pipelines.test, verbose=0)[0])
        return {
            "test_loss": loss,
            "test_pixel_accuracy": float(np.mean(self.predictions == truth)),
            "test_mean_iou": mean_iou(truth, self.predictions, probabilities.shape[-1]),
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
        return [(image_rows, (rows, f"segmentation: test images ({key})"), "segmentation.png")]
