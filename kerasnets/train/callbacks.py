"""Callbacks of the training loop: MLflow per-epoch metrics, epoch timing, NaN guard, early
stopping, the main output's metric names, GAN sample grids, validation on the weights' moving
average and the k best epochs' weights; ``training_callbacks`` lists them in the order the loop
needs."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
import numpy as np

from kerasnets.rules import metric_mode

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
    """Hands every epoch's metrics and learning rate to the run's tracker (step = epoch, from
    1), which logs them in the tracking process while the next epoch trains; a tracker that
    could not open its store or create its run stops training here, at the epoch's end.

    A deep copy (keras-tuner copies callbacks) logs to the same tracker.
    """

    def __init__(self, tracker, prefix: str = "") -> None:
        super().__init__()
        self.tracker, self.prefix = tracker, prefix

    def __deepcopy__(self, memo):
        return type(self)(self.tracker, self.prefix)

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.check()
        metrics = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        lr = None if "learning_rate" in metrics else current_learning_rate(self.model)
        if lr is not None:
            metrics["learning_rate"] = lr
        self.tracker.log_metrics({self.prefix + k: v for k, v in metrics.items()}, step=epoch + 1)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class StopOnNaN(keras.callbacks.Callback):
    """Stop at the first non-finite loss and remember the epoch (TerminateOnNaN semantics)."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        losses = [v for k, v in (logs or {}).items() if k == "loss" or k.endswith("_loss") and "val" not in k]
        if any(not math.isfinite(float(v)) for v in losses):
            self.epoch = epoch + 1
            self.model.stop_training = True


class AliasMainOutput(keras.callbacks.Callback):
    """With auxiliary outputs, expose the main output's metrics (``names``: accuracy, top-k
    accuracy) under their plain names, as a single-output model logs them."""

    def __init__(self, main: str, names: list[str] | tuple[str, ...] = ("accuracy",)) -> None:
        super().__init__()
        self.main, self.names = main, tuple(names)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            for name in self.names:
                key = f"{prefix}{self.main}_{name}"
                if key in logs:
                    logs[f"{prefix}{name}"] = logs[key]


class SampleGrid(keras.callbacks.Callback):
    """Logs a grid of generator samples from a fixed noise vector after every epoch."""

    def __init__(self, tracker, count: int = 36) -> None:
        super().__init__()
        self.tracker, self.count = tracker, count

    def on_epoch_end(self, epoch, logs=None):
        from kerasnets.plots import image_grid

        images = np.clip((np.asarray(self.model.sample(self.count, seed=1234)) + 1) * 127.5, 0, 255)
        args = (images, f"samples after epoch {epoch + 1}")
        self.tracker.log_drawing(image_grid, args, f"samples/epoch_{epoch + 1:03d}.png")


def early_stopping(section) -> keras.callbacks.EarlyStopping:
    """Keras' EarlyStopping for a recipe's ``regularization.early_stopping`` section."""
    return keras.callbacks.EarlyStopping(
        monitor=section.monitor,
        patience=section.patience,
        min_delta=section.min_delta,
        restore_best_weights=section.restore_best_weights,
        mode=metric_mode(section.monitor),
    )


class EmaValidation(keras.callbacks.Callback):
    """With ``optimizer.ema_momentum``: validate each epoch on the weights' moving average.

    The averages are swapped in when validation begins (Keras' own
    ``optimizer.finalize_variable_values``, which ``fit`` also calls once it ends) and the raw
    weights back at the epoch's end, after early stopping and ``KeepBest`` have seen the
    averaged ones and before the checkpoint saves the raw ones (the averages are optimizer
    variables: a resumed run gets both back).
    """

    def __init__(self) -> None:
        super().__init__()
        self._raw: list[np.ndarray] | None = None

    def on_test_begin(self, logs=None):
        variables = self.model.trainable_variables
        self._raw = [keras.ops.convert_to_numpy(v) for v in variables]
        self.model.optimizer.finalize_variable_values(variables)

    def on_epoch_end(self, epoch, logs=None):
        if self._raw is not None:
            for variable, value in zip(self.model.trainable_variables, self._raw, strict=True):
                variable.assign(value)
            self._raw = None


class KeepBest(keras.callbacks.Callback):
    """The weights of the ``k`` best epochs by ``monitor`` (its direction from
    ``rules.metric_mode``), kept in memory; ``apply`` ends training on their mean (timm's
    checkpoint averaging) or, without ``average``, on the best epoch's weights.

    One instance serves every phase of a run (the model's weights keep their order). A resumed
    run ranks only the epochs it trains itself: the kept weights are not checkpointed.
    """

    def __init__(self, k: int, monitor: str, average: bool = True) -> None:
        super().__init__()
        self.k, self.monitor, self.average = k, monitor, average
        self.sign = 1.0 if metric_mode(monitor) == "max" else -1.0
        self.kept: list[tuple[float, int, list[np.ndarray]]] = []  # (signed score, epoch, weights)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        score = self.sign * float(value)
        if len(self.kept) == self.k and score <= self.kept[-1][0]:
            return
        weights = [np.array(w, copy=True) for w in self.model.get_weights()]
        self.kept.append((score, epoch + 1, weights))
        self.kept.sort(key=lambda item: (-item[0], item[1]))  # best first; ties: the earlier epoch
        del self.kept[self.k :]

    @property
    def epochs(self) -> list[int]:
        """The kept epochs (from 1), best first."""
        return [epoch for _, epoch, _ in self.kept]

    def final_weights(self) -> list[np.ndarray]:
        """The mean of the kept weights (float ones; others, such as seed-generator states,
        from the best epoch), or the best epoch's weights without ``average``."""
        best = self.kept[0][2]
        if not self.average:
            return best
        stacks = zip(*(weights for _, _, weights in self.kept), strict=True)
        return [
            np.mean(stack, axis=0).astype(first.dtype) if np.issubdtype(first.dtype, np.floating) else first
            for first, stack in zip(best, stacks, strict=True)
        ]

    def apply(self, model: keras.Model) -> list[int]:
        """Set ``model``'s weights to ``final_weights``; returns the kept epochs ([] if none)."""
        if not self.kept:
            return []
        model.set_weights(self.final_weights())
        return self.epochs


def keep_best(recipe) -> KeepBest | None:
    """The recipe's ``train.keep_best`` as a callback (None when off)."""
    from kerasnets.rules import keep_best_monitor

    section = recipe.train.keep_best
    if section is None:
        return None
    return KeepBest(section.k, keep_best_monitor(recipe), section.average)


class SkippedFiles(keras.callbacks.Callback):
    """Image files: after the first epoch, how many files of each split the pipeline could not
    read (files listed - images delivered), in ``skipped``; printed once when any were."""

    def __init__(self, counters: dict[str, Any], sizes: dict[str, int], echo) -> None:
        super().__init__()
        self.counters, self.sizes, self.echo = counters, sizes, echo
        self.skipped: dict[str, int] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.skipped is None:
            for counter in self.counters.values():
                counter.reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.skipped is not None:
            return
        self.skipped = {
            split: self.sizes[split] - counter.value()
            for split, counter in self.counters.items()
            if split != "test"
        }
        if any(self.skipped.values()):
            counts = ", ".join(f"{n} of {self.sizes[s]} {s}" for s, n in self.skipped.items() if n)
            self.echo(f"skipped unreadable image files: {counts}")


def training_callbacks(
    recipe,
    task,
    model: keras.Model,
    tracker,
    checkpoint,
    prior: list[dict[str, float]],
    keeper: KeepBest | None = None,
) -> tuple[list[keras.callbacks.Callback], EpochTimer, StopOnNaN]:
    """The fit's callbacks in order: the task's own (metric aliases first, so the others see
    them), timer, NaN guard, learning-rate schedule, early stopping, ``keeper`` (the run's
    ``KeepBest``), the EMA swap-back (after those two, which see the averaged weights),
    checkpoint, then MLflow (which logs what the checkpoint has saved: see
    ``checkpoint.relog_missing_epochs``)."""
    from kerasnets.rules import plateau_monitor
    from kerasnets.train.checkpoint import RunCheckpoint
    from kerasnets.train.schedules import schedule_callback

    timer, guard = EpochTimer(), StopOnNaN()
    callbacks = [*task.callbacks(model, tracker), timer, guard]
    if task.rules.schedules is None:  # tasks limited to 'constant' keep their optimizers' own rate
        lr, epochs = recipe.optimizer.learning_rate, recipe.train.epochs
        monitor = plateau_monitor(recipe)  # a sigmoid head's val_auc
        callbacks.append(schedule_callback(recipe.schedule, lr, epochs, task.name, monitor))
    if recipe.regularization.early_stopping is not None:
        callbacks.append(early_stopping(recipe.regularization.early_stopping))
    if keeper is not None:
        callbacks.append(keeper)
    if recipe.optimizer.ema_momentum is not None:
        callbacks.append(EmaValidation())
    if checkpoint is not None:  # a StoreCheckpoint (uploaded once saved, where remote)
        callbacks.append(RunCheckpoint(checkpoint, prior))
    if tracker.active:
        callbacks.append(MlflowMetrics(tracker))
    return callbacks, timer, guard
