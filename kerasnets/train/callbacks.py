"""Callbacks of the training loop: MLflow per-epoch metrics and epoch timing."""

from __future__ import annotations

import logging
import time

import keras

log = logging.getLogger("kerasnets")


def current_learning_rate(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - a schedule object or no optimizer
        return None


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch (``seconds``), for throughput figures."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class MlflowMetrics(keras.callbacks.Callback):
    """Logs every epoch's metrics and learning rate to one MLflow run (step = epoch, from 1).

    It holds only the tracking URI and run id, so it survives ``copy.deepcopy`` (keras-tuner
    copies callbacks); logging trouble is a warning and never stops training.
    """

    def __init__(self, tracking_uri: str, run_id: str, prefix: str = "") -> None:
        super().__init__()
        self.tracking_uri, self.run_id, self.prefix = tracking_uri, run_id, prefix
        self._client = None

    def __deepcopy__(self, memo):
        return type(self)(self.tracking_uri, self.run_id, self.prefix)

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        lr = None if "learning_rate" in metrics else current_learning_rate(self.model)
        if lr is not None:
            metrics["learning_rate"] = lr
        try:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(self.prefix + k, v, now, epoch + 1) for k, v in metrics.items()]
            self.client.log_batch(self.run_id, metrics=batch)
        except Exception as exc:  # noqa: BLE001 - logging must never kill training
            log.warning("MLflow: could not log epoch %d metrics: %s", epoch + 1, exc)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
