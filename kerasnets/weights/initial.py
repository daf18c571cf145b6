"""The recipe's starting weights: ``init.weights`` (ImageNet) or ``init.from_run`` (a run or
a ``.keras`` file), loaded into the freshly built model before any run is opened."""

from __future__ import annotations

from typing import Any

import keras

from kerasnets.errors import KerasnetsError, Problem, RecipeError
from kerasnets.weights.report import WeightsReport


def load_initial_weights(
    recipe: Any, model: keras.Model, uri: str, file: str | None = None
) -> WeightsReport | None:
    """Load the recipe's starting weights into ``model``; None when it starts from scratch.
    Any failure is a ``RecipeError`` at the key that asked for the weights."""
    init = recipe.init
    key = "init.weights" if init.weights else "init.from_run"
    try:
        if init.weights:
            from kerasnets.weights.imagenet import load_imagenet

            return load_imagenet(model, recipe.model.name, init.weights, init.new_head, init.exclude)
        if init.from_run:
            from kerasnets.weights.transfer import copy_layers, is_model_file, read_model_file, read_run_model

            if is_model_file(init.from_run):
                source, description, run_id = read_model_file(init.from_run), init.from_run, None
            else:
                source, run_id = read_run_model(init.from_run, uri)
                description = f"run {run_id}"
            report = copy_layers(source, model, init.layers, init.exclude, description)
            report.source_run = run_id
            return report
    except KerasnetsError as exc:
        message = str(exc)
        if message.startswith(("init.layers:", "init.exclude:")):
            key, message = message.split(": ", 1)
        raise RecipeError(file or "(recipe)", [Problem(key, message)]) from None
    return None


def log_initial_weights(tracker, report: WeightsReport | None) -> None:
    """Counts as metrics, the layer lists as ``init_weights.json``, and the source as tags
    (``init.source_run`` links the run it started from, for the lineage in the MLflow UI)."""
    if report is None:
        return
    tags = {"init.source": report.source}
    if report.source_run:
        tags["init.source_run"] = report.source_run
    if report.preprocessing:
        tags["init.preprocessing"] = report.preprocessing
    tracker.set_tags(tags)
    tracker.log_metrics({"init_copied_layers": len(report.copied), "init_fresh_layers": len(report.fresh)})
    tracker.log_text(report.to_json(), "init_weights.json")
