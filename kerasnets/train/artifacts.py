"""What a run logs besides its per-epoch metrics: the model summary, the augmentation preview,
learning curves, task figures, the saved model, data statistics and the history."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import keras

from kerasnets.data.inputs import preview_batch
from kerasnets.tracking import package_versions


def model_summary_text(model: keras.Model) -> str:
    """The per-layer table (shapes, parameters, activation memory, mult-adds) and Keras' summary."""
    from kerasnets.models.summary import format_text, summarize

    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=110)
    try:
        table = format_text(summarize(model))
    except Exception as exc:  # noqa: BLE001 - a summary must never stop a run
        table = f"(per-layer table unavailable: {exc})"
    return table + "\n\n" + "\n".join(lines)


def log_preview(tracker, recipe: Any, splits, task, augmenter) -> None:
    """A grid of one training batch as the model sees it (``augmentation_preview.png``)."""
    import matplotlib.pyplot as plt

    from kerasnets.preview import preview_figure

    images, targets = preview_batch(recipe, splits, task, 32, augmenter)
    mean, std = task.stats(splits)  # a GAN scales to [-1, 1]
    what = ", ".join(next(iter(step)) for step in recipe.augment + recipe.augment_batch) or "no augmentation"
    figure = preview_figure(images, targets, splits.class_names, mean, std, f"training input: {what}")
    tracker.log_figure(figure, "augmentation_preview.png")
    plt.close(figure)


def history_csv(history: dict[str, list[float]]) -> str:
    """One line per metric: its name, then its value at every epoch."""
    buffer = io.StringIO()
    for key, values in history.items():
        buffer.write(",".join([key, *(f"{v:.6g}" for v in values)]) + "\n")
    return buffer.getvalue()


def log_results(tracker, recipe: Any, model: keras.Model, history, figures, splits, task) -> None:
    """Versions, data statistics, learning curves and task figures, the model and its history."""
    import matplotlib.pyplot as plt

    from kerasnets.plots import learning_curves

    tracker.log_text(json.dumps(package_versions(), indent=2), "versions.json")
    mean, std = task.stats(splits)  # what the model saw
    tracker.log_text(
        json.dumps({"class_names": splits.class_names, "mean": mean, "std": std}, indent=2), "data.json"
    )
    for figure, name in [(learning_curves(history), "learning_curves.png"), *figures]:
        tracker.log_figure(figure, name)
        plt.close(figure)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        tracker.log_file(path)
    if recipe.tracking.log_model:
        tracker.log_keras_model(model)
    tracker.log_text(history_csv(history), "history.csv")
