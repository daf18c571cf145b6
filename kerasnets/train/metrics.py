"""Metrics of per-step predictions ``(N, T, classes)`` against class indices ``(N, T)``.

Per-step accuracy is Keras' sparse categorical accuracy, which averages over every step of
every sequence; whole-sequence accuracy counts a sequence as right only when all its steps are.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def sequence_accuracy(truth: np.ndarray, predictions: np.ndarray) -> float:
    """The share of sequences whose every step is right: ``truth`` and ``predictions`` are
    class indices ``(N, T)``."""
    return float(np.mean(np.all(np.asarray(truth) == np.asarray(predictions), axis=-1)))


class SequenceAccuracy(keras.metrics.Metric):
    """Whole-sequence accuracy: the share of sequences whose argmax is right at every step
    (targets ``(N, T)`` class indices, predictions ``(N, T, classes)`` probabilities)."""

    def __init__(self, name: str = "sequence_accuracy", dtype=None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.right = self.add_variable(shape=(), initializer="zeros", name="right")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        predicted = ops.argmax(y_pred, axis=-1)
        truth = ops.reshape(ops.cast(y_true, predicted.dtype), ops.shape(predicted))
        steps = ops.reshape(ops.equal(truth, predicted), (ops.shape(predicted)[0], -1))
        right = ops.cast(ops.all(steps, axis=-1), self.dtype)
        weight = ops.ones_like(right) if sample_weight is None else ops.cast(sample_weight, self.dtype)
        weight = ops.reshape(weight, (ops.shape(right)[0], -1))[:, 0]  # one weight per sequence
        self.right.assign_add(ops.sum(right * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.right, self.count)

    def reset_state(self) -> None:
        self.right.assign(0.0)
        self.count.assign(0.0)
