"""What a run logs besides its per-epoch metrics: the data set inputs, the model summary, the
augmentation preview, learning curves, task figures, the saved model (with its signature and
input example, registered on request), data statistics and the history. Figures are handed to
the tracker as drawings (a plotting function and its data) and drawn in the tracking process."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import keras
import numpy as np

from kerasnets.data.inputs import preview_batch
from kerasnets.dataset_inputs import describe_splits

log = logging.getLogger("kerasnets")


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


def log_model_summary(tracker, model: keras.Model) -> None:
    """``model_summary.txt``: the per-layer table and Keras' summary (read-only over the layers,
    so it runs beside ``fit``)."""
    tracker.log_text(model_summary_text(model), "model_summary.txt")


def log_preview(tracker, recipe: Any, splits, task, augmenter) -> None:
    """The augmentation preview: one training batch taken here (TensorFlow), drawn and logged
    by the tracker (in the tracking process)."""
    from kerasnets.preview import preview_figure

    images, targets = preview_batch(recipe, splits, task, 32, augmenter)
    mean, std = task.stats(splits)  # a GAN scales to [-1, 1]
    what = ", ".join(next(iter(step)) for step in recipe.augment + recipe.augment_batch) or "no augmentation"
    title = f"training input: {what}"
    tracker.log_drawing(
        preview_figure, (images, targets, splits.class_names, mean, std, title), "augmentation_preview.png"
    )


def history_csv(history: dict[str, list[float]]) -> str:
    """One line per metric: its name, then its value at every epoch."""
    buffer = io.StringIO()
    for key, values in history.items():
        buffer.write(",".join([key, *(f"{v:.6g}" for v in values)]) + "\n")
    return buffer.getvalue()


def log_history(tracker, history: dict[str, list[float]]) -> None:
    """``history.csv`` and the learning curves (drawn by the tracker)."""
    from kerasnets.plots import learning_curves

    tracker.log_drawing(learning_curves, (history,), "learning_curves.png")
    tracker.log_text(history_csv(history), "history.csv")


def log_results(tracker, recipe: Any, model: keras.Model, drawings, splits, task) -> None:
    """The task's figures (drawn by the tracker), versions, data statistics and the model
    (``model.keras`` and, with ``tracking.log_model``, the MLflow model)."""
    for draw, args, name in drawings:
        tracker.log_drawing(draw, args, name)
    tracker.log_versions()
    mean, std = task.stats(splits)  # what the model saw
    tracker.log_text(
        json.dumps({"class_names": splits.class_names, "mean": mean, "std": std}, indent=2), "data.json"
    )
    log_model_once(tracker, recipe, model, splits, task)


def log_model_once(tracker, recipe: Any, model: keras.Model, splits, task) -> None:
    """``model.keras`` and (``tracking.log_model``) the MLflow model, with its signature and
    input example, from one serialisation: the MLflow model copies the saved file."""
    path = tracker.staging / "model.keras"
    model.save(path)
    if recipe.tracking.log_model:
        example, output = signature_arrays(model, splits, task)
        tracker.log_model(path, example, output, keras.__version__, keras.backend.backend())
    tracker.hand_over(path)


def signature_arrays(model: keras.Model, splits, task, count: int = 2):
    """(input example, output) for the model's MLflow signature, from ``count`` test inputs as
    the model sees them, or from standard-normal noise of the model's input shape when the
    data are not its input (a GAN's generator); (None, None) for a model MLflow cannot
    describe (several inputs)."""
    try:
        shape = tuple(int(d) for d in model.input_shape[1:])
    except (TypeError, ValueError, AttributeError):
        return None, None
    try:
        images = np.asarray(splits.x_test[np.arange(min(count, len(splits.y_test)))], dtype=np.float32)
        mean, std = task.stats(splits)
        example = ((images - np.float32(mean)) / np.float32(std)).reshape((len(images), *shape))
    except (ValueError, TypeError, IndexError):
        example = np.random.default_rng(0).standard_normal((count, *shape)).astype(np.float32)
    try:
        output = model(example, training=False)
    except Exception:  # noqa: BLE001 - a model without signature still logs
        return None, None
    if isinstance(output, dict):
        return example, {k: keras.ops.convert_to_numpy(v) for k, v in output.items()}
    if isinstance(output, list | tuple):
        arrays = [keras.ops.convert_to_numpy(v) for v in output]
        return example, dict(zip(model.output_names, arrays, strict=True))
    return example, keras.ops.convert_to_numpy(output)


def headline(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def register_model(tracker, recipe: Any, metrics: dict[str, float], recipe_path: str | None) -> None:
    """``tracking.register_as``: the logged model as a new version, described by the run's
    final metrics (also its ``metric.<name>`` tags)."""
    name = recipe.tracking.register_as
    if not name or not recipe.tracking.log_model:
        return
    source = f" ({recipe_path})" if recipe_path and not recipe_path.startswith("(") else ""
    description = (
        f"{recipe.model.name} on {recipe.data.dataset}{source}, run {tracker.run_id}: {headline(metrics)}"
    )
    tags = {f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()}
    tags.update({"model": recipe.model.name, "dataset": recipe.data.dataset, "run_id": tracker.run_id})
    tracker.register_model(name, description, tags)


def log_datasets(tracker, recipe: Any, splits) -> None:
    """The splits as MLflow dataset inputs (described here, made in the tracking process)."""
    try:
        described = describe_splits(recipe, splits)
    except Exception as exc:  # noqa: BLE001 - describing the data must never stop a run
        log.warning("MLflow: could not describe the data set: %s", exc)
        return
    tracker.log_splits(described)
