"""``run(recipe)``: the one place that builds, compiles, fits and evaluates."""

from __future__ import annotations

import io
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnets import __version__
from kerasnets.data.pipeline import Splits, load_splits, make_dataset
from kerasnets.errors import TrainingDiverged
from kerasnets.models import build
from kerasnets.recipe import Recipe
from kerasnets.tracking import (
    Tracker,
    check_store,
    git_commit,
    package_versions,
    sigterm_as_interrupt,
    tracking_uri,
)
from kerasnets.train.callbacks import EpochTimer, MlflowMetrics
from kerasnets.train.checkpoint import RunCheckpoint, checkpoint_dir, restore
from kerasnets.train.components import LOSSES
from kerasnets.train.optimizers import make_optimizer
from kerasnets.train.regularizers import apply_kernel_policy, make_initializer, make_regularizer
from kerasnets.train.runtime import Runtime, apply_runtime, resolve_runtime
from kerasnets.train.schedules import schedule_callback

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet's auxiliary classifiers (Szegedy et al. 2014)


@dataclass
class RunResult:
    """What a run produced: figures, the trained (inference) model and where it is logged."""

    test_loss: float | None
    test_accuracy: float | None
    history: dict[str, list[float]]
    params: int
    seconds_per_epoch: float
    images_per_second: float
    model: Any = field(repr=False)
    run_id: str | None = None
    artifact_uri: str | None = None
    experiment_id: str | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    test_accuracy_tta: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class _NoTracker:
    """Stands in for ``Tracker`` when tracking is disabled."""

    run_id = artifact_uri = experiment_id = uri = None
    resumed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


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
    """With auxiliary outputs, expose the main output's metrics as plain ``accuracy`` etc."""

    def __init__(self, main: str) -> None:
        super().__init__()
        self.main = main

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            key = f"{prefix}{self.main}_accuracy"
            if key in logs:
                logs[f"{prefix}accuracy"] = logs[key]


def build_model(recipe: Recipe, input_shape: tuple[int, ...], num_classes: int, seed: int | None = None):
    """The recipe's model with its regularisation and initialisation applied (uncompiled)."""
    options = recipe.model.options
    if recipe.regularization.dropout is not None:
        options["dropout"] = recipe.regularization.dropout
    model = build(recipe.model.name, input_shape, recipe.model.num_classes or num_classes, **options)
    kernel = recipe.regularization.kernel
    init = recipe.init
    apply_kernel_policy(
        model,
        regularizer=make_regularizer(kernel.l1, kernel.l2),
        initializer=make_initializer(init.kernel, init.leaky_slope, seed) if init.kernel else None,
    )
    return model


def make_loss(recipe: Recipe) -> tuple[keras.losses.Loss, bool]:
    """The loss and whether labels must be one-hot."""
    name, smoothing = recipe.train.loss, recipe.regularization.label_smoothing
    soft_labels = smoothing > 0 or bool(recipe.augment_batch)  # MixUp/CutMix mix one-hot labels
    one_hot = LOSSES.get(name) or (name == "cross_entropy" and soft_labels)
    if name == "mse":
        return keras.losses.MeanSquaredError(), True
    if one_hot:
        return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing), True
    return keras.losses.SparseCategoricalCrossentropy(), False


def compile_model(
    model: keras.Model, recipe: Recipe, runtime: Runtime, steps_per_epoch: int
) -> tuple[bool, int]:
    """Compile for the recipe's task with its optimiser; returns (one-hot labels, number of outputs)."""
    from kerasnets.train.tasks import TASKS

    task = TASKS.get(recipe.task.name)(recipe)
    task.compile(
        model,
        make_optimizer(recipe.optimizer),
        runtime.jit_compile,
        max(1, min(runtime.steps_per_execution, steps_per_epoch)),
    )
    return task.one_hot(), len(model.outputs)


def inference_model(model: keras.Model) -> keras.Model:
    """The main output only (auxiliary heads are for training)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=model.name)


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


def make_augmenter(recipe: Recipe, splits: Splits):
    """The recipe's albumentations Compose, built once, checked to keep the image shape."""
    if not recipe.augment:
        return None
    from kerasnets.data.augment import BatchAugmenter

    augmenter = BatchAugmenter(recipe.augment)
    augmenter.check_shape(splits.x_train[0])
    return augmenter


@dataclass
class Pipelines:
    train: Any
    validation: Any
    test: Any


def make_pipelines(
    recipe: Recipe,
    splits: Splits,
    batch_size: int,
    one_hot: bool,
    outputs: int = 1,
    augmenter=None,
    task=None,
) -> Pipelines:
    """Training (augmented, mixed, shuffled), validation and test (untouched) datasets."""
    from kerasnets.data.batch_mix import parse_steps
    from kerasnets.train.tasks import TASKS

    task = task or TASKS.get(recipe.task.name)(recipe)
    mean, std = task.stats(splits)
    common = {
        "batch_size": batch_size,
        "seed": recipe.train.seed,
        "num_classes": splits.num_classes,
        "one_hot": one_hot,
        "mean": mean,
        "std": std,
        "layout": recipe.data.layout,
        "target_fn": task.target_fn(splits),
    }
    train = make_dataset(
        splits.x_train,
        splits.y_train,
        shuffle=True,
        outputs=outputs,
        augmenter=augmenter,
        mixers=parse_steps(recipe.augment_batch),
        **common,
    )
    validation = None
    if splits.y_val is not None:
        validation = make_dataset(splits.x_val, splits.y_val, shuffle=False, outputs=outputs, **common)
    test = make_dataset(splits.x_test, splits.y_test, shuffle=False, **common)
    return Pipelines(train, validation, test)


def preview_batch(recipe: Recipe, splits: Splits, count: int = 32, augmenter=None):
    """One training batch of ``count`` samples as the model sees them: (images, targets),
    with sequences shown as the images they were read from."""
    from kerasnets.train.tasks import TASKS

    task = TASKS.get(recipe.task.name)(recipe)
    pipelines = make_pipelines(recipe, splits, count, task.one_hot(), augmenter=augmenter, task=task)
    images, targets = next(iter(pipelines.train))
    return images.numpy().reshape(-1, *splits.input_shape), targets.numpy()


def _throughput(seconds: list[float], images: int) -> tuple[float, float]:
    steady = seconds[1:] if len(seconds) > 1 else seconds
    per_epoch = float(np.mean(steady)) if steady else 0.0
    return per_epoch, (images / per_epoch if per_epoch else 0.0)


def _batch_size(recipe: Recipe, n_train: int) -> int:
    size = recipe.data.batch_size
    return n_train if size == "full" else int(size)


def _resolved(recipe: Recipe, runtime: Runtime) -> Recipe:
    """The recipe with the ``auto`` knobs replaced by what actually runs."""
    train = recipe.train.model_copy(
        update={
            "jit_compile": runtime.jit_compile,
            "steps_per_execution": runtime.steps_per_execution,
            "mixed_precision": runtime.mixed_precision,
        }
    )
    return recipe.model_copy(update={"train": train})


def run(
    recipe: Recipe,
    *,
    data_dir: str | Path | None = None,
    recipe_path: str | None = None,
    echo: Callable[[str], None] = print,
    splits: Splits | None = None,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    resume_run_id: str | None = None,
) -> RunResult:
    """Train and evaluate ``recipe``; track it in MLflow unless ``tracking.enabled`` is false.

    Data are loaded (and may fail) before any MLflow run exists; once the run is open, any
    failure ends it FAILED, Ctrl-C or SIGTERM ends it KILLED. ``parent_run_id`` nests the run
    under another (a sweep); ``tags`` are added to the run's tags. ``splits`` skips loading
    (callers that run many recipes on the same data). ``resume_run_id`` reopens that run
    and continues from its last checkpointed epoch (see ``resume``).
    """
    runtime = resolve_runtime(recipe.train)
    recipe = _resolved(recipe, runtime)
    apply_runtime(recipe.train, runtime)
    splits = splits or load_splits(recipe.data, data_dir)
    augmenter = make_augmenter(recipe, splits)
    uri = tracking_uri(recipe.tracking.uri)
    if recipe.tracking.enabled:
        check_store(uri)
    tags = {
        "kerasnets.version": __version__,
        "recipe": recipe_path or "(in memory)",
        "model": recipe.model.name,
        "dataset": recipe.data.dataset,
        **recipe.tracking.tags,
        **(tags or {}),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    tracker_context = (
        Tracker(uri, recipe.tracking.experiment, recipe.tracking.run_name, tags, resume_run_id)
        if recipe.tracking.enabled
        else _NoTracker()
    )
    with sigterm_as_interrupt(), tracker_context as tracker:
        return _train(recipe, splits, runtime, tracker, echo, augmenter)


def _train(recipe: Recipe, splits: Splits, runtime: Runtime, tracker, echo, augmenter=None) -> RunResult:
    from kerasnets.train.tasks import TASKS

    task = TASKS.get(recipe.task.name)(recipe)
    n_train = len(splits.y_train)
    batch_size = _batch_size(recipe, n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    input_shape = task.input_shape(splits)
    resumed = bool(getattr(tracker, "resumed", False))
    if not resumed:
        tracker.log_params(
            {
                **recipe.flatten(),
                "resolved.batch_size": str(batch_size),
                "resolved.device": runtime.device,
                "data.source": splits.source,
                **{f"data.size.{k}": str(v) for k, v in splits.sizes().items()},
                "data.input_shape": str(list(input_shape)),
            }
        )
        tracker.log_text(recipe.to_yaml(), "recipe.yaml")

    model = build_model(recipe, input_shape, splits.num_classes, recipe.train.seed)
    task.compile(
        model,
        make_optimizer(recipe.optimizer),
        runtime.jit_compile,
        max(1, min(runtime.steps_per_execution, steps_per_epoch)),
    )
    params = int(model.count_params())
    folder = checkpoint_dir(tracker.artifact_uri, tracker.run_id) if tracker.run_id else None
    state = restore(model, folder) if resumed and folder else None
    prior: list[dict[str, float]] = state["history"] if state else []
    if resumed:
        _relog_missing_epochs(tracker, prior)
        echo(f"resuming run {tracker.run_id} after epoch {len(prior)} of {recipe.train.epochs}")
    else:
        tracker.log_text(model_summary_text(model), "model_summary.txt")
    echo(
        f"{recipe.model.name} ({recipe.task.name}): {params:,} parameters; {recipe.data.dataset} "
        f"{splits.sizes()} at {input_shape}; {runtime.device}, batch {batch_size}"
    )

    outputs = len(model.outputs) if recipe.task.name in ("classify", "sequence") else 1
    pipelines = make_pipelines(recipe, splits, batch_size, task.one_hot(), outputs, augmenter, task)
    _log_preview(tracker, recipe, splits, augmenter)
    timer, nan_guard = EpochTimer(), StopOnNaN()
    callbacks: list[keras.callbacks.Callback] = [*task.callbacks(model, tracker, splits), timer, nan_guard]
    if getattr(model, "optimizer", None) is not None:  # a GAN keeps its two optimizers to itself
        callbacks.append(
            schedule_callback(recipe.schedule, recipe.optimizer.learning_rate, recipe.train.epochs)
        )
    stopping = recipe.regularization.early_stopping
    if stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=stopping.monitor,
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                restore_best_weights=stopping.restore_best_weights,
                mode="max" if "acc" in stopping.monitor or "iou" in stopping.monitor else "min",
            )
        )
    if folder is not None:
        callbacks.append(RunCheckpoint(folder, prior))  # before the metrics: see _relog_missing_epochs
    if tracker.run_id:
        callbacks.append(MlflowMetrics(tracker.uri, tracker.run_id))
    verbose = recipe.train.verbose if recipe.train.verbose is not None else (1 if sys.stdout.isatty() else 2)
    fit = model.fit(
        pipelines.train,
        validation_data=task.validation(pipelines),
        epochs=recipe.train.epochs,
        shuffle=False,
        callbacks=callbacks,
        verbose=verbose,
        initial_epoch=len(prior),
    )
    history = _merge_history(prior, fit.history)
    if nan_guard.epoch is not None:
        raise TrainingDiverged(f"training diverged: the loss became NaN/inf at epoch {nan_guard.epoch}")

    net = task.inference(model)
    metrics = task.evaluate(net, pipelines, splits, batch_size)
    seconds_per_epoch, images_per_second = _throughput(timer.seconds, n_train)
    final = {
        **metrics,
        "params": params,
        "seconds_per_epoch": seconds_per_epoch,
        "images_per_second": images_per_second,
        "epochs_completed": len(timer.seconds),
    }
    tracker.log_metrics(final)
    _log_artifacts(tracker, recipe, net, history, task.figures(net, splits) if tracker.run_id else [], splits)
    if recipe.explain and tracker.run_id:
        from kerasnets.explain.runner import explain_after_training

        explain_after_training(net, splits, recipe.explain, tracker, echo)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # finished: the logged model supersedes it
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    echo(f"{shown}{'; ' if shown else ''}{seconds_per_epoch:.2f} s/epoch, {images_per_second:,.0f} images/s")
    return RunResult(
        metrics.get("test_loss"),
        metrics.get("test_accuracy"),
        history,
        params,
        seconds_per_epoch,
        images_per_second,
        net,
        tracker.run_id,
        tracker.artifact_uri,
        tracker.experiment_id,
        list(timer.seconds),
        metrics.get("test_accuracy_tta"),
        metrics,
    )


def _merge_history(prior: list[dict[str, float]], new: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-key lists over all epochs: the checkpointed ones, then this fit's."""
    keys = list(dict.fromkeys([*(k for logs in prior for k in logs), *new]))
    return {
        k: [logs.get(k, float("nan")) for logs in prior] + [float(v) for v in new.get(k, [])] for k in keys
    }


def _relog_missing_epochs(tracker, prior: list[dict[str, float]]) -> None:
    """Checkpoints are written before an epoch's metrics are logged; if the process died in
    between, log that epoch's metrics now, so the run has every epoch exactly once."""
    history = _safe_metric_steps(tracker, "loss")
    for epoch, logs in enumerate(prior, start=1):
        if epoch not in history:
            tracker.log_metrics(logs, step=epoch)


def _safe_metric_steps(tracker, key: str) -> set[int]:
    try:
        return {m.step for m in tracker.client.get_metric_history(tracker.run_id, key)}
    except Exception:  # noqa: BLE001 - then nothing is re-logged
        return set()


def resume(
    run_id: str,
    *,
    data_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
    uri: str | None = None,
) -> RunResult:
    """Continue an interrupted run in the same MLflow run from its last completed epoch."""
    from mlflow import MlflowClient

    from kerasnets.errors import KerasnetsError
    from kerasnets.recipe import load_recipe

    client = MlflowClient(tracking_uri(uri))
    try:
        previous = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MlflowException for unknown ids
        raise KerasnetsError(f"no run {run_id!r} in the tracking store {tracking_uri(uri)}") from None
    if previous.info.status == "FINISHED":
        raise KerasnetsError(f"run {run_id} has already finished; nothing to resume")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "recipe.yaml", tmp)
        except Exception:  # noqa: BLE001
            raise KerasnetsError(f"run {run_id} has no recipe.yaml artifact; it cannot be resumed") from None
        recipe = load_recipe(path, [f"tracking.uri={tracking_uri(uri)}"])
    recipe_path = previous.data.tags.get("recipe")
    return run(recipe, data_dir=data_dir, recipe_path=recipe_path, echo=echo, resume_run_id=run_id)


def evaluate_tta(model, splits: Splits, mode: str, crop_fraction: float, batch_size: int) -> float:
    """Test accuracy with the softmax averaged over test-time views."""
    from kerasnets.train.tta import tta_predict

    probabilities = tta_predict(
        lambda x: model.predict(x, batch_size=batch_size, verbose=0),
        splits.normalize(splits.x_test),
        mode,
        crop_fraction,
    )
    return float(np.mean(np.argmax(probabilities, axis=-1) == splits.y_test))


def _log_preview(tracker, recipe: Recipe, splits: Splits, augmenter) -> None:
    if not tracker.run_id:
        return
    import matplotlib.pyplot as plt

    from kerasnets.preview import preview_figure
    from kerasnets.train.tasks import TASKS

    images, targets = preview_batch(recipe, splits, 32, augmenter)
    mean, std = TASKS.get(recipe.task.name)(recipe).stats(splits)  # a GAN scales to [-1, 1]
    what = ", ".join(next(iter(step)) for step in recipe.augment + recipe.augment_batch) or "no augmentation"
    figure = preview_figure(images, targets, splits.class_names, mean, std, f"training input: {what}")
    tracker.log_figure(figure, "augmentation_preview.png")
    plt.close(figure)


def _log_artifacts(tracker, recipe: Recipe, model, history, figures, splits: Splits) -> None:
    if not tracker.run_id:
        return
    import json

    import matplotlib.pyplot as plt

    from kerasnets.plots import learning_curves
    from kerasnets.train.tasks import TASKS

    tracker.log_text(json.dumps(package_versions(), indent=2), "versions.json")
    mean, std = TASKS.get(recipe.task.name)(recipe).stats(splits)  # what the model saw
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
    buffer = io.StringIO()
    for key, values in history.items():
        buffer.write(",".join([key, *(f"{v:.6g}" for v in values)]) + "\n")
    tracker.log_text(buffer.getvalue(), "history.csv")
