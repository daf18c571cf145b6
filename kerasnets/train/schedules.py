"""Learning-rate schedules, applied per epoch by a callback that logs the rate it sets."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras

from kerasnets.rules import TASK_RULES, metric_mode

EpochSchedule = Callable[[int], float]  # epoch (0-based) -> learning rate


def _with_warmup(schedule: EpochSchedule, base_lr: float, warmup: int) -> EpochSchedule:
    """Linear warm-up: epoch ``e < warmup`` runs at ``base_lr * (e + 1) / (warmup + 1)``, then
    the schedule starts from its own epoch 0."""
    if not warmup:
        return schedule
    return lambda epoch: base_lr * (epoch + 1) / (warmup + 1) if epoch < warmup else schedule(epoch - warmup)


def epoch_schedule(section, base_lr: float, epochs: int) -> EpochSchedule | None:
    """The per-epoch function of a schedule section; ``None`` for ``plateau`` (a callback)."""
    warmup = section.warmup_epochs or 0
    factor = section.factor if section.factor is not None else 0.1
    table: dict[str, EpochSchedule] = {
        "constant": lambda epoch: base_lr,
        "step": lambda epoch: base_lr * factor ** (epoch // (section.step_size or 30)),
        "exponential": lambda epoch: (
            base_lr * (section.factor if section.factor is not None else 0.9) ** epoch
        ),
        "cosine": lambda epoch: _cosine(epoch, base_lr, max(epochs - warmup, 1), section.alpha or 0.0),
    }
    if section.name == "plateau":
        return None
    return _with_warmup(table[section.name], base_lr, warmup)


def _cosine(epoch: int, base_lr: float, total: int, alpha: float) -> float:
    progress = min(epoch / total, 1.0)
    return base_lr * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)))


def schedule_callback(
    section, base_lr: float, epochs: int, task: str = "classify", default_monitor: str | None = None
) -> keras.callbacks.Callback:
    """A callback that sets the learning rate each epoch (or divides it on a plateau of the
    monitored metric: ``default_monitor`` (``rules.plateau_monitor`` of the recipe), else the
    task's default one, when the recipe names none)."""
    if section.name == "plateau":
        monitor = section.monitor or default_monitor or TASK_RULES[task].plateau_monitor
        return keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            factor=section.factor if section.factor is not None else 0.1,
            patience=section.patience if section.patience is not None else 5,
            min_lr=section.min_lr or 0.0,
            mode=metric_mode(monitor),
        )
    return keras.callbacks.LearningRateScheduler(epoch_schedule(section, base_lr, epochs))
