"""What a run logs besides its per-epoch metrics: the data set inputs, the model summary, the
augmentation preview, learning curves, task figures, the saved model (with its signature and
input example, registered on request), data statistics and the history."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnets.data.files import ImageFiles
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


def log_model_summary(tracker, model: keras.Model) -> None:
    """``model_summary.txt``: the per-layer table and Keras' summary (read-only over the layers,
    so it runs beside ``fit``)."""
    tracker.log_text(model_summary_text(model), "model_summary.txt")


def preview_job(recipe: Any, splits, task, augmenter):
    """The augmentation preview in two steps: one training batch taken here (TensorFlow, the
    calling thread), and a function that draws and logs it (any thread: a plain Figure)."""
    from kerasnets.preview import preview_figure

    images, targets = preview_batch(recipe, splits, task, 32, augmenter)
    mean, std = task.stats(splits)  # a GAN scales to [-1, 1]
    what = ", ".join(next(iter(step)) for step in recipe.augment + recipe.augment_batch) or "no augmentation"

    def draw_and_log(tracker) -> None:
        figure = preview_figure(images, targets, splits.class_names, mean, std, f"training input: {what}")
        tracker.log_figure(figure, "augmentation_preview.png")

    return draw_and_log


def history_csv(history: dict[str, list[float]]) -> str:
    """One line per metric: its name, then its value at every epoch."""
    buffer = io.StringIO()
    for key, values in history.items():
        buffer.write(",".join([key, *(f"{v:.6g}" for v in values)]) + "\n")
    return buffer.getvalue()


def log_results(tracker, recipe: Any, model: keras.Model, history, figures, splits, task, beside):
    """Versions, data statistics, learning curves and task figures (rendered and logged by the
    ``beside`` worker while this thread logs the model), the model and its history; returns the
    logged model's ``ModelInfo`` (None when not logged)."""
    from kerasnets.plots import learning_curves

    figures = [(learning_curves(history), "learning_curves.png"), *figures]
    beside.submit("log the figures", _log_figures, tracker, figures)
    tracker.log_text(json.dumps(package_versions(), indent=2), "versions.json")
    mean, std = task.stats(splits)  # what the model saw
    tracker.log_text(
        json.dumps({"class_names": splits.class_names, "mean": mean, "std": std}, indent=2), "data.json"
    )
    info = log_model_once(tracker, recipe, model, splits, task)
    tracker.log_text(history_csv(history), "history.csv")
    beside.wait()
    return info


def _log_figures(tracker, figures) -> None:
    """Render and log each figure, then free it (pyplot's: the caller's thread does not use
    pyplot meanwhile)."""
    import matplotlib.pyplot as plt

    for figure, name in figures:
        tracker.log_figure(figure, name)
        plt.close(figure)


def log_model_once(tracker, recipe: Any, model: keras.Model, splits, task):
    """``model.keras`` and (``tracking.log_model``) the MLflow model, with its signature and
    input example, serialised once: ``model.keras`` is the logged model's own file, copied.
    Returns the MLflow ``ModelInfo`` (None when not logged)."""
    info = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        if recipe.tracking.log_model:
            signature, example = model_signature(model, splits, task)
            info = tracker.log_keras_model(model, signature=signature, input_example=example)
            if info is not None:
                _copy_logged_file(info, "data/model.keras", path)
        if not path.exists():
            model.save(path)
        tracker.log_file(path)
    return info


def _copy_logged_file(info, name: str, path: Path) -> None:
    """A file of a logged model, copied (local store) or downloaded (remote) to ``path``."""
    try:
        import mlflow

        location = mlflow.get_logged_model(info.model_id).artifact_location
        local = location.removeprefix("file://") if location.startswith("file://") else None
        if local is not None and Path(local, name).is_file():
            shutil.copyfile(Path(local, name), path)
        else:
            got = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location}/{name}", dst_path=str(path.parent)
            )
            if Path(got) != path:
                shutil.move(got, path)
    except Exception:  # noqa: BLE001 - the caller saves the model itself
        path.unlink(missing_ok=True)


def model_signature(model: keras.Model, splits, task, count: int = 2):
    """(signature, input example) from ``count`` test inputs as the model sees them, or from
    standard-normal noise of the model's input shape when the data are not its input (a GAN's
    generator); (None, None) for a model MLflow cannot describe (several inputs)."""
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
        from mlflow.models import infer_signature

        output = model(example, training=False)
        output = (
            {k: keras.ops.convert_to_numpy(v) for k, v in output.items()}
            if isinstance(output, dict)
            else (
                [keras.ops.convert_to_numpy(v) for v in output]
                if isinstance(output, list | tuple)
                else keras.ops.convert_to_numpy(output)
            )
        )
        if isinstance(output, list):
            output = dict(zip(model.output_names, output, strict=True))
        return infer_signature(example, output), example
    except Exception:  # noqa: BLE001 - a model without signature still logs
        return None, None


def headline(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def register_model(tracker, recipe: Any, info, metrics: dict[str, float], recipe_path: str | None) -> Any:
    """``tracking.register_as``: the logged model as a new version, described by the run's
    final metrics (also its ``metric.<name>`` tags)."""
    name = recipe.tracking.register_as
    if not name or info is None:
        return None
    source = f" ({recipe_path})" if recipe_path and not recipe_path.startswith("(") else ""
    description = (
        f"{recipe.model.name} on {recipe.data.dataset}{source}, run {tracker.run_id}: {headline(metrics)}"
    )
    tags = {f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()}
    tags.update({"model": recipe.model.name, "dataset": recipe.data.dataset, "run_id": tracker.run_id})
    return tracker.register_model(info.model_uri, name, description, tags)


# ----------------------------------------------------------------------------- data set inputs

#: arrays up to this size are hashed whole for their digest; larger ones by evenly spaced rows
DIGEST_BYTES = 64 * 2**20
CONTEXTS = {"train": "training", "validation": "validation", "test": "test"}


def digest(x: Any, y: np.ndarray) -> str:
    """A short content hash of one split: the labels and the images (all of them up to
    ``DIGEST_BYTES``, else evenly spaced rows); image files by path and size, never decoded."""
    h = hashlib.blake2b(digest_size=16)
    if isinstance(x, ImageFiles):
        for path in x.paths:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = -1
            h.update(f"{path}\0{size}\n".encode())
    else:
        x = np.asarray(x)
        step = max(1, -(-x.nbytes // DIGEST_BYTES))
        h.update(repr((x.shape, str(x.dtype), step)).encode())
        h.update(np.ascontiguousarray(x[::step]).data)
    h.update(np.ascontiguousarray(y).data)
    return h.hexdigest()[:16]


def dataset_inputs(recipe: Any, splits) -> list[tuple[Any, str, dict[str, str]]]:
    """Each split as an MLflow data set (name ``<dataset>-<split>``, source, digest, size)
    with its context: ``training``, ``validation``, ``test``."""
    import mlflow.data
    from mlflow.data.meta_dataset import MetaDataset

    source = _source(recipe.data.dataset, splits.source)
    parts = {
        "train": (splits.x_train, splits.y_train),
        "validation": (splits.x_val, splits.y_val),
        "test": (splits.x_test, splits.y_test),
    }
    inputs = []
    for split, (x, y) in parts.items():
        if y is None or not len(y):
            continue
        name, key = f"{recipe.data.dataset}-{split}", digest(x, y)
        tags = {"examples": str(len(y))}
        if hasattr(x, "paths"):  # image files: described, not loaded
            dataset = MetaDataset(source, name=name, digest=key)
        else:
            dataset = mlflow.data.from_numpy(x, source=source, targets=y, name=name, digest=key)
        inputs.append((dataset, CONTEXTS[split], tags))
    return inputs


def _source(dataset: str, text: str):
    """A folder or file the data came from, else a description (download, generated...)."""
    if text and Path(text).exists():
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source

        with warnings.catch_warnings():  # MLflow registers two local-file sources and says so
            warnings.simplefilter("ignore", UserWarning)
            return resolve_dataset_source(str(Path(text).resolve()))
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource({"dataset": dataset, "source": text or "unknown"})


def log_datasets(tracker, recipe: Any, splits) -> None:
    try:
        inputs = dataset_inputs(recipe, splits)
    except Exception as exc:  # noqa: BLE001 - describing the data must never stop a run
        import logging

        logging.getLogger("kerasnets").warning("MLflow: could not describe the data set: %s", exc)
        return
    tracker.log_datasets(inputs)
