"""``classify`` and ``sequence``: labels, with the classification extras (auxiliary heads,
test-time augmentation, confusion matrix) that only these tasks use."""

from __future__ import annotations

import keras
import numpy as np

from kerasnets.rules import is_multilabel, resolved_loss, task_metrics, top_k_metric
from kerasnets.train.callbacks import AliasMainOutput
from kerasnets.train.components import LOSSES
from kerasnets.train.tasks.base import TASKS, Task

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet's auxiliary classifiers (Szegedy et al. 2014)


def make_loss(recipe) -> tuple[keras.losses.Loss, bool]:
    """The classification loss and whether labels must be one-hot.

    Labels that are already per-class vectors (a multi-label data set) and the 0/1 labels of a
    single sigmoid unit (``model.num_classes: 1``) are never one-hot encoded; a ``linear`` head
    takes cross-entropy from logits."""
    name, smoothing = resolved_loss(recipe), recipe.regularization.label_smoothing
    encodable = not (is_multilabel(recipe.data) or recipe.model.num_classes == 1)
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(label_smoothing=smoothing), encodable
    if name == "mse":
        return keras.losses.MeanSquaredError(), encodable
    logits = recipe.task.name == "classify" and recipe.model.head_activation == "linear"
    soft_labels = smoothing > 0 or bool(recipe.augment_batch)  # MixUp/CutMix mix one-hot labels
    one_hot = LOSSES.get(name) or (name == "cross_entropy" and soft_labels)
    if one_hot:
        return keras.losses.CategoricalCrossentropy(from_logits=logits, label_smoothing=smoothing), True
    return keras.losses.SparseCategoricalCrossentropy(from_logits=logits), False


#: Keras metrics by the names ``kerasnets.rules.HEAD_RULES`` logs (besides the loss).
EPOCH_METRICS = {
    "accuracy": lambda: "accuracy",
    "binary_accuracy": lambda: keras.metrics.BinaryAccuracy(name="binary_accuracy"),
    "auc": lambda: keras.metrics.AUC(name="auc"),
}


def main_output(model: keras.Model) -> keras.Model:
    """The main output only (auxiliary heads are for training)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=model.name)


def top_k_accuracy(labels: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of ``labels`` (integers) among the ``k`` highest ``probabilities`` (Keras' metric)."""
    metric = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
    metric.update_state(labels, probabilities)
    return float(metric.result())


def evaluate_tta(
    model: keras.Model, splits, recipe, batch_size: int, top_k: int | None = None
) -> dict[str, float]:
    """Test accuracy (and top-k accuracy when ``top_k``) with the softmax averaged over
    test-time views (``eval.tta``): the image and its mirror, or AlexNet's ten crops (real
    crops of the ``crop.eval_side`` image)."""
    import tensorflow as tf

    from kerasnets.data.geometry import TTA_VIEWS
    from kerasnets.data.stream import view_dataset

    size = tuple(splits.input_shape[:2])
    make = TTA_VIEWS[recipe.eval.tta]
    views = lambda image: make(image, size, recipe.crop.eval_side, recipe.eval.crop_fraction)  # noqa: E731
    labels, averaged = [], []
    for images, target in view_dataset(
        splits.x_test, splits.y_test, batch_size, views, splits.mean, splits.std
    ):
        rows, many = int(images.shape[0]), int(images.shape[1])
        flat = tf.reshape(images, (rows * many, *images.shape[2:]))
        averaged.append(np.asarray(model.predict_on_batch(flat)).reshape(rows, many, -1).mean(axis=1))
        labels.append(target.numpy())
    labels, probabilities = np.concatenate(labels), np.concatenate(averaged)
    metrics = {"test_accuracy_tta": float(np.mean(np.argmax(probabilities, axis=-1) == labels))}
    if top_k:
        metrics[f"test_top_{top_k}_accuracy_tta"] = top_k_accuracy(labels, probabilities, top_k)
    return metrics


def labelled_predictions(net: keras.Model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(labels, class probabilities) over a dataset, in one pass: the labels that came with
    the images (an unreadable image file is left out with its label)."""
    labels, outputs = [], []
    for images, target in dataset:
        labels.append(np.asarray(target))
        outputs.append(np.asarray(net.predict_on_batch(images)))
    return np.concatenate(labels), np.concatenate(outputs)


def predicted_classes(
    labels: np.ndarray, probabilities: np.ndarray, multilabel: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(true, predicted) class per example for the confusion matrix; ``(None, None)`` for
    multi-label targets. One sigmoid unit predicts class 1 above 0.5."""
    if multilabel:
        return None, None  # several (or no) classes per example
    if probabilities.shape[-1] == 1:
        return labels.reshape(-1).astype(int), (probabilities[:, 0] > 0.5).astype(int)
    true = labels if labels.ndim == 1 else np.argmax(labels, axis=-1)
    return true, np.argmax(probabilities, axis=-1)


@TASKS.register("classify")
class Classify(Task):
    """Labels, one softmax per output (GoogLeNet's auxiliary heads weigh AUX_LOSS_WEIGHT)."""

    name = "classify"

    @property
    def head(self) -> str:
        return self.recipe.model.head_activation if self.name == "classify" else "softmax"

    @property
    def metric_names(self) -> list[str]:
        """The per-epoch metrics besides the loss (accuracy; binary accuracy and AUC for a
        sigmoid head)."""
        return [m for m in task_metrics(self.name, self.head) if m != "loss"]

    @property
    def headline(self) -> str:
        return f"test_{self.metric_names[0]}"

    def one_hot(self) -> bool:
        return make_loss(self.recipe)[1]

    def outputs(self, model):
        return len(model.outputs)

    def top_k(self, model: keras.Model) -> str | None:
        """``top_{k}_accuracy`` when the model has more than ``eval.top_k`` classes."""
        classes = int(model.outputs[0].shape[-1])
        return top_k_metric(self.name, self.recipe.eval.top_k, classes, self.head)

    def epoch_metrics(self, model: keras.Model) -> list:
        """The main output's metrics: those of its head, and Keras' top-k accuracy for its labels."""
        main = [EPOCH_METRICS[m]() for m in self.metric_names]
        name = self.top_k(model)
        if name is None:
            return main
        metrics = keras.metrics
        one_hot = make_loss(self.recipe)[1]
        metric = metrics.TopKCategoricalAccuracy if one_hot else metrics.SparseTopKCategoricalAccuracy
        return [*main, metric(k=self.recipe.eval.top_k, name=name)]

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        loss = make_loss(self.recipe)[0]
        outputs = len(model.outputs)
        weights = None if outputs == 1 else [1.0] + [AUX_LOSS_WEIGHT] * (outputs - 1)
        main = self.epoch_metrics(model)
        metrics = main if outputs == 1 else [main] + [[] for _ in range(outputs - 1)]
        model.compile(
            optimizer=optimizer,
            loss=loss if outputs == 1 else [loss] * outputs,
            loss_weights=weights,
            metrics=metrics,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def callbacks(self, model, tracker):
        if len(model.outputs) > 1:
            names = [*self.metric_names, *filter(None, [self.top_k(model)])]
            return [AliasMainOutput(model.outputs[0]._keras_history.operation.name, names)]
        return []

    def inference(self, model):
        net = main_output(model)
        if net is not model:
            net.compile(loss=make_loss(self.recipe)[0], metrics=self.epoch_metrics(net))
        return net

    def evaluate(self, net, pipelines, splits, batch_size):
        values = net.evaluate(pipelines.test, verbose=0, return_dict=True)
        labels, probabilities = labelled_predictions(net, pipelines.test)
        self.labels, self.predictions = predicted_classes(
            labels, probabilities, is_multilabel(self.recipe.data)
        )
        metrics = {"test_loss": float(values["loss"])}
        metrics |= {f"test_{m}": float(values[m]) for m in self.metric_names}
        top = self.top_k(net)
        if top:
            metrics[f"test_{top}"] = float(values[top])
        if len(labels) < len(splits.y_test):
            metrics["skipped_files_test"] = float(len(splits.y_test) - len(labels))
        if self.rules.tta and self.recipe.eval.tta != "none":
            k = self.recipe.eval.top_k if top else None
            metrics |= evaluate_tta(net, splits, self.recipe, batch_size, k)
        return metrics

    def figures(self, net, splits):
        from kerasnets.plots import confusion_matrix_figure

        if self.labels is None:
            return []  # multi-label: no one class per image to confuse
        args = (self.labels, self.predictions, splits.class_names)
        return [(confusion_matrix_figure, args, "confusion_matrix.png")]


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
        values = net.evaluate(pipelines.test, verbose=0, return_dict=True)
        probabilities = net.predict(pipelines.test, verbose=0)  # (N, T, classes)
        self.predictions = np.argmax(probabilities[:, -1], axis=-1)
        self.labels = splits.y_test
        metrics = {
            "test_loss": float(values["loss"]),
            "test_accuracy": float(np.mean(self.predictions == splits.y_test)),
            "test_step_accuracy": float(values["accuracy"]),
        }
        top, k = self.top_k(net), self.recipe.eval.top_k
        if top:  # like test_accuracy, from the last step
            metrics[f"test_{top}"] = top_k_accuracy(splits.y_test, probabilities[:, -1], k)
        return metrics
