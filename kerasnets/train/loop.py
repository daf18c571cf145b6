"""``run(recipe)`` and ``resume(run_id)``: build -> compile -> fit -> evaluate, each a call into
the module that owns it (tasks, callbacks, artifacts, data inputs, tracking)."""

from __future__ import annotations

import math
import sys
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasnets.data.inputs import make_augmenter, make_pipelines
from kerasnets.data.pipeline import Splits, load_splits
from kerasnets.errors import KerasnetsError, Problem, RecipeError, TrainingDiverged
from kerasnets.recipe import Recipe, load_recipe
from kerasnets.rules import with_input_size
from kerasnets.tracking import NullTracker, git_commit, sigterm_as_interrupt, tracking_uri
from kerasnets.tracking_process import TrackingProcess, open_tracking
from kerasnets.train.artifacts import (
    log_datasets,
    log_history,
    log_model_summary,
    log_preview,
    log_results,
    register_model,
)
from kerasnets.train.beside import Beside
from kerasnets.train.build import build_or_explain, check_monitors
from kerasnets.train.callbacks import SkippedFiles, keep_best, training_callbacks
from kerasnets.train.checkpoint import (
    completed_epochs,
    merge_history,
    relog_missing_epochs,
    restore,
    run_checkpoint,
)
from kerasnets.train.optimizers import make_optimizer
from kerasnets.train.runtime import Runtime, apply_runtime, resolve_runtime, strategy_scope
from kerasnets.train.tasks import TASKS
from kerasnets.version import __version__
from kerasnets.weights.initial import load_initial_weights, log_initial_weights
from kerasnets.weights.phases import set_trainable, training_phases


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


def resolved_recipe(recipe: Recipe, runtime: Runtime) -> Recipe:
    """The recipe with its ``auto`` knobs and its image size replaced by what actually runs."""
    train = recipe.train.model_copy(
        update={
            "jit_compile": runtime.jit_compile,
            "steps_per_execution": runtime.steps_per_execution,
            "mixed_precision": runtime.mixed_precision,
            "distribute": runtime.distribute,
        }
    )
    return with_input_size(recipe).model_copy(update={"train": train})


def run_name(recipe: Recipe, recipe_path: str | None) -> str:
    """``tracking.run_name``, else the recipe file's stem, else ``<model>-<dataset>``."""
    if recipe.tracking.run_name:
        return recipe.tracking.run_name
    if recipe_path:
        return Path(recipe_path).stem
    return f"{recipe.model.name}-{recipe.data.dataset}"


def run_tags(recipe: Recipe, recipe_path: str | None, parent_run_id: str | None, extra: dict[str, str]):
    """The MLflow tags of a run: versions, recipe, model, data set, parent, git commit."""
    tags = {
        "kerasnets.version": __version__,
        "recipe": recipe_path or "(in memory)",
        "model": recipe.model.name,
        "dataset": recipe.data.dataset,
        **recipe.tracking.tags,
        **extra,
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


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
    tracking: TrackingProcess | None = None,
) -> RunResult:
    """Train and evaluate ``recipe``; track it in MLflow unless ``tracking.enabled`` is false.

    Data are loaded and the model is built (either may fail) before any MLflow run exists;
    once the run is open, any failure ends it FAILED, Ctrl-C or SIGTERM ends it KILLED.
    ``parent_run_id`` nests the run under another (a sweep); ``tags`` are added to the run's
    tags. ``splits`` skips loading (callers that run many recipes on the same data).
    ``resume_run_id`` reopens that run and continues from its last checkpointed epoch.
    ``tracking``: the run's tracking process, already started by the caller (``open_tracking``:
    the command line starts it before importing TensorFlow, so that its own start overlaps).
    """
    uri = tracking_uri(recipe.tracking.uri)
    # the tracking process imports MLflow and opens the store while this one loads and builds
    process = tracking if tracking is not None else open_tracking(recipe)
    try:
        return _load_build_and_train(
            recipe, uri, process, data_dir, recipe_path, echo, splits, parent_run_id, tags, resume_run_id
        )
    finally:
        if process is not None:
            process.close()  # a failure before the run started: no run is created


def _load_build_and_train(
    recipe, uri, process, data_dir, recipe_path, echo, splits, parent_run_id, tags, resume_run_id
) -> RunResult:
    runtime = resolve_runtime(recipe.train, recipe.task.name, recipe_path)
    recipe = resolved_recipe(recipe, runtime)
    apply_runtime(recipe.train, runtime)
    splits = splits or load_splits(recipe.data, data_dir)
    check_monitors(recipe, recipe.model.num_classes or splits.num_classes, recipe_path)
    check_first_batch(recipe, len(splits.y_train), runtime.replicas, recipe_path)
    task = TASKS.get(recipe.task.name)(recipe)
    # built, compiled (optimizers), restored and trained in one scope: under MirroredStrategy
    # every variable is mirrored on each replica's device
    with strategy_scope(runtime):
        shape = task.input_shape(splits)
        extra = task.model_options(splits)
        model = build_or_explain(recipe, shape, splits.num_classes, recipe_path, runtime.replicas, extra)
        origin = load_initial_weights(recipe, model, uri, recipe_path) if not resume_run_id else None
        augmenter = make_augmenter(recipe, splits)
        if process is None:
            tracker = NullTracker()
        else:
            tags = run_tags(recipe, recipe_path, parent_run_id, tags or {})
            name = None if "mlflow.runName" in tags else run_name(recipe, recipe_path)  # sweeps name trials
            tracker = process.start(
                recipe.tracking.experiment,
                name,
                tags,
                resume_run_id,
                description=recipe.description,
                system_metrics=recipe.tracking.system_metrics,
                log_model=recipe.tracking.log_model,
            )
        # the worker thread works beside training (model summary, data set digests)
        with sigterm_as_interrupt(), tracker, Beside() as beside:
            if origin is not None:
                echo(origin.summary())
                log_initial_weights(tracker, origin)
            return _train(recipe, splits, runtime, tracker, echo, task, model, augmenter, beside)


def check_first_batch(recipe: Recipe, examples: int, replicas: int, file: str | None) -> None:
    """Under MirroredStrategy Keras averages the first batch over the replicas to build the
    model, which fails unless it splits evenly (keras-team/keras#19246): a recipe error here."""
    first = min(global_batch_size(recipe, examples, replicas), examples)
    if replicas > 1 and first % replicas:
        message = (
            f"the first batch ({first} examples) does not split evenly over {replicas} replicas; "
            f"set data.limit so the training split is a multiple of {replicas}, or an integer batch size"
        )
        raise RecipeError(file or "(recipe)", [Problem("data.batch_size", message)])


def global_batch_size(recipe: Recipe, examples: int, replicas: int) -> int:
    """Examples per step over all replicas: ``data.batch_size`` on each replica (``full``:
    every training example, shared out among the replicas)."""
    if recipe.data.batch_size == "full":
        return examples
    return int(recipe.data.batch_size) * replicas


def _train(recipe: Recipe, splits: Splits, runtime: Runtime, tracker, echo, task, model, augmenter, beside):
    checkpoint = run_checkpoint(tracker)
    try:
        return _train_with(recipe, splits, runtime, tracker, echo, task, model, augmenter, beside, checkpoint)
    finally:
        if checkpoint is not None:
            checkpoint.close()  # a remote checkpoint's local copy; the store keeps it for a resume


def _train_with(recipe, splits, runtime, tracker, echo, task, model, augmenter, beside, checkpoint):
    n_train = len(splits.y_train)
    batch_size = global_batch_size(recipe, n_train, runtime.replicas)  # the pipelines' batches
    steps = max(1, min(runtime.steps_per_execution, math.ceil(n_train / batch_size)))
    folder = checkpoint.folder if checkpoint and tracker.resumed else None  # a fresh run: not waited for
    if folder is not None:
        checkpoint.fetch()  # from the artifact store when it is not a local folder
    phases = training_phases(recipe)
    done = completed_epochs(folder) if folder is not None else 0
    current = next((i for i, p in enumerate(phases) if p.end > max(done - 1, 0)), len(phases) - 1)
    _enter_phase(phases[current], model, task, runtime, steps, tracker, echo, len(phases))
    prior = _start(recipe, splits, runtime, tracker, echo, task, model, batch_size, folder)
    if tracker.active and not tracker.resumed:
        beside.submit("log the model summary", log_model_summary, tracker, model)
        beside.submit("log the data set inputs", log_datasets, tracker, recipe, splits)
    pipelines = make_pipelines(recipe, splits, batch_size, task, augmenter, task.outputs(model))
    if tracker.active and task.previews_input:
        log_preview(tracker, recipe, splits, task, augmenter)
    verbose = recipe.train.verbose if recipe.train.verbose is not None else (1 if sys.stdout.isatty() else 2)
    seconds: list[float] = []
    skipped = SkippedFiles(pipelines.counters, splits.sizes(), echo)
    keeper = keep_best(recipe)
    for index in range(current, len(phases)):
        phase = phases[index]
        if index > current:
            _enter_phase(phase, model, task, runtime, steps, tracker, echo, len(phases))
        first = len(prior)
        last = first + max(0, phase.end - max(phase.start, first))
        callbacks, timer, guard = training_callbacks(
            phase.recipe, task, model, tracker, checkpoint, prior, keeper
        )
        with unknown_length_ok():
            fit = model.fit(
                pipelines.train,
                validation_data=pipelines.validation,
                epochs=last,
                shuffle=False,
                callbacks=[*callbacks, skipped] if pipelines.counters else callbacks,
                verbose=verbose,
                initial_epoch=first,
            )
        if guard.epoch is not None:
            raise TrainingDiverged(f"training diverged: the loss became NaN/inf at epoch {guard.epoch}")
        seconds += timer.seconds
        done_now = len(next(iter(fit.history.values()), []))
        prior = prior + [{k: float(v[i]) for k, v in fit.history.items()} for i in range(done_now)]
    history = merge_history(prior, {})
    if tracker.active:  # drawn by the tracking process while this one evaluates
        log_history(tracker, history)
    if keeper is not None:
        _apply_keep_best(keeper, model, tracker, echo)
    net = task.inference(model)
    with unknown_length_ok():
        metrics = task.evaluate(net, pipelines, splits, batch_size)
    if skipped.skipped:
        metrics.update({f"skipped_files_{split}": float(n) for split, n in skipped.skipped.items()})
    result = _result(metrics, history, int(model.count_params()), seconds, n_train, net, tracker)
    tracker.log_metrics(
        {
            **metrics,
            "params": result.params,
            "seconds_per_epoch": result.seconds_per_epoch,
            "images_per_second": result.images_per_second,
            "epochs_completed": len(result.epoch_seconds),
        }
    )
    beside.wait()  # the model summary and data sets handed to the tracker
    if tracker.active:
        log_results(tracker, recipe, net, task.figures(net, splits), splits, task)
        register_model(tracker, recipe, metrics, tracker.tags.get("recipe"))
    if recipe.explain and tracker.active:
        from kerasnets.explain.runner import explain_after_training

        explain_after_training(net, splits, recipe.explain, tracker, echo)
    if checkpoint is not None:
        checkpoint.discard()  # finished: the logged model supersedes it
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    speed = f"{result.seconds_per_epoch:.2f} s/epoch, {result.images_per_second:,.0f} images/s"
    echo(f"{shown}{'; ' if shown else ''}{speed}")
    return result


def _apply_keep_best(keeper, model, tracker, echo) -> None:
    """End on the kept epochs' mean (or best) weights, before the test evaluation; the kept
    epochs go to the run's tag ``keep_best.epochs`` (best first)."""
    epochs = keeper.apply(model)
    if not epochs:
        echo(f"keep_best: no epoch logged {keeper.monitor}; the last weights stay")
        return
    how = "mean of" if keeper.average else "best of"
    listed = ", ".join(map(str, epochs))
    tracker.set_tags({"keep_best.epochs": listed, "keep_best.monitor": keeper.monitor})
    echo(f"keep_best: final weights = {how} epochs {listed} (by {keeper.monitor})")


@contextmanager
def unknown_length_ok():
    """Image files: the number of batches is learnt in the first pass (a skipped file shortens
    it), which Keras reports as input that "ran out of data"; that is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def _enter_phase(phase, model, task, runtime, steps: int, tracker, echo, count: int) -> None:
    """Freeze what the phase leaves out (transfer learning only), compile with its optimizer
    and log its trainable and frozen parameter counts."""
    if count > 1 or phase.trainable != "all":
        trainable, frozen = set_trainable(model, phase.trainable, phase.top_blocks)
        lr = phase.recipe.optimizer.learning_rate
        tracker.log_params(
            {
                f"transfer.phase{phase.number}.trainable_params": str(trainable),
                f"transfer.phase{phase.number}.frozen_params": str(frozen),
                f"transfer.phase{phase.number}.epochs": f"{phase.start + 1}-{phase.end}",
                f"transfer.phase{phase.number}.learning_rate": str(lr),
            }
        )
        echo(
            f"phase {phase.number} (epochs {phase.start + 1}-{phase.end}, learning rate {lr:g}): "
            f"{trainable:,} trainable, {frozen:,} frozen parameters"
        )
    optimizer = make_optimizer(phase.recipe.optimizer, phase.recipe.train.accumulate)
    task.compile(model, optimizer, runtime.jit_compile, steps)


def _start(recipe, splits, runtime, tracker, echo, task, model, batch_size, folder) -> list[dict[str, float]]:
    """Log what the run is about to do (a fresh run) or restore its checkpoint (a resumed one);
    returns the logs of the epochs already done."""
    input_shape = task.input_shape(splits)
    prior: list[dict[str, float]] = []
    if tracker.resumed:
        state = restore(model, folder) if folder else None
        prior = state["history"] if state else []
        relog_missing_epochs(tracker, prior)
        echo(f"resuming run {tracker.run_id} after epoch {len(prior)} of {recipe.train.epochs}")
    else:
        tracker.log_params(
            {
                **recipe.flatten(),
                "resolved.batch_size": str(math.ceil(batch_size / runtime.replicas)),  # per replica
                "resolved.replicas": str(runtime.replicas),
                "resolved.global_batch_size": str(batch_size),
                "resolved.device": runtime.device,
                "data.source": splits.source,
                **{f"data.size.{k}": str(v) for k, v in splits.sizes().items()},
                "data.input_shape": str(list(input_shape)),
            }
        )
        tracker.log_text(recipe.to_yaml(), "recipe.yaml")
    replicas = f" ({runtime.replicas} replicas, mirrored)" if runtime.replicas > 1 else ""
    echo(
        f"{recipe.model.name} ({recipe.task.name}): {model.count_params():,} parameters; "
        f"{recipe.data.dataset} {splits.sizes()} at {input_shape}; {runtime.device}{replicas}, "
        f"batch {batch_size}"
    )
    return prior


def _result(metrics, history, params, seconds: list[float], images: int, net, tracker) -> RunResult:
    steady = seconds[1:] if len(seconds) > 1 else seconds
    per_epoch = float(np.mean(steady)) if steady else 0.0
    rate = images / per_epoch if per_epoch else 0.0
    return RunResult(
        metrics.get("test_loss"),
        metrics.get("test_accuracy"),
        history,
        params,
        per_epoch,
        rate,
        net,
        tracker.run_id,
        tracker.artifact_uri,
        tracker.experiment_id,
        list(seconds),
        metrics.get("test_accuracy_tta"),
        metrics,
    )


def resume(
    run_id: str,
    *,
    data_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
    uri: str | None = None,
) -> RunResult:
    """Continue an interrupted run in the same MLflow run from its last completed epoch."""
    from mlflow import MlflowClient

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
