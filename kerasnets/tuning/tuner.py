"""The hypermodel and the tuner: sampled values -> the trial's recipe -> ``loop.run``.

``RecipeHyperModel.build(hp)`` declares the sweep's space on ``hp`` and returns the base
recipe with the sampled values written in. ``SweepTuner.run_trial`` validates it and trains
it with ``kerasnets.train.loop.run``, the same function as ``kerasnets run``: the tuned model
and the real one cannot drift apart, and every trial is an ordinary tracked run, nested under
the sweep's parent run.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
from rich.markup import escape

from kerasnets.recipe import Recipe, validate
from kerasnets.recipe_files import deep_merge
from kerasnets.tuning.oracles import make_oracle
from kerasnets.tuning.records import EXECUTION_TAG, TRIAL_TAG, SweepRecords
from kerasnets.tuning.sweep import (
    BooleanSpace,
    ChoiceSpace,
    FloatSpace,
    Sweep,
    choice_items,
    tuner_labels,
    when_items,
)

HYPERBAND_KEYS = {
    "tuner/epochs": "hyperband.epochs",
    "tuner/bracket": "hyperband.bracket",
    "tuner/round": "hyperband.round",
    "tuner/trial_id": "hyperband.promoted_from",
}


class RecipeHyperModel(kt.HyperModel):
    """hp -> the trial's recipe mapping: the one builder for tuning (STYLE 3.6, item 5)."""

    def __init__(self, sweep: Sweep) -> None:
        super().__init__(name=sweep.name)
        self.sweep = sweep

    def sample(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """Declare every space entry on ``hp`` (under its conditions); the active labels by key."""
        values: dict[str, Any] = {}
        for key, entry in self.sweep.space.items():
            scopes = [
                hp.conditional_scope(parent, tuner_labels(self.sweep, parent, wanted))
                for parent, wanted in when_items(entry)
            ]
            for scope in scopes:
                scope.__enter__()
            try:
                value = _declare(hp, key, entry)
            finally:
                for scope in reversed(scopes):
                    scope.__exit__(None, None, None)
            if value is not None:
                values[key] = value
        return values

    def build(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """The base recipe with this trial's values written in (validated by the tuner)."""
        data = self.sweep.trial_data(self.sample(hp))
        epochs = hp.values.get("tuner/epochs")  # hyperband's budget for this trial
        return deep_merge(data, {"train": {"epochs": int(epochs)}}) if epochs else data


def _declare(hp: kt.HyperParameters, key: str, entry) -> Any:
    if isinstance(entry, FloatSpace):
        return hp.Float(
            key,
            entry.min,
            entry.max,
            step=entry.step,
            sampling="log" if entry.log else "linear",
            default=entry.default,
        )
    if isinstance(entry, ChoiceSpace):
        labels = [label for label, _ in choice_items(entry)]
        default = None if entry.default is None else next(x for x in labels if str(x) == str(entry.default))
        return hp.Choice(key, labels, default=default)
    if isinstance(entry, BooleanSpace):
        return hp.Boolean(key, default=entry.default)
    return hp.Int(
        key,
        entry.min,
        entry.max,
        step=entry.step,
        sampling="log" if entry.log else "linear",
        default=entry.default,
    )


def objective_value(result, name: str, mode: str) -> float:
    """A final metric as it is, or a per-epoch metric at its best epoch."""
    if name in result.metrics:
        return float(result.metrics[name])
    series = [v for v in result.history.get(name, []) if math.isfinite(v)]
    if not series:
        known = sorted({*result.metrics, *result.history})
        raise kt.errors.FailedTrialError(
            f"objective {name!r} is not among the run's metrics: {', '.join(known)}"
        )
    return max(series) if mode == "max" else min(series)


class SweepTuner(kt.Tuner):
    """Runs each trial's recipe through ``loop.run`` as a child run of the sweep's parent."""

    def __init__(
        self,
        sweep: Sweep,
        oracle: kt.Oracle,
        records: SweepRecords,
        *,
        directory: str,
        data_dir: str | None = None,
        echo: Callable[[str], None] = print,
        **kwargs,
    ) -> None:
        self.sweep, self.records, self.data_dir, self.echo = sweep, records, data_dir, echo
        self._splits: tuple[str, Any] | None = None
        self._started: dict[str, float] = {}
        super().__init__(
            oracle,
            RecipeHyperModel(sweep),
            directory=directory,
            project_name=sweep.name,
            executions_per_trial=sweep.file.executions_per_trial,
            **kwargs,
        )

    # ------------------------------------------------------------------ one trial

    def run_trial(self, trial, *args, **kwargs) -> float:
        keras.backend.clear_session()
        gc.collect()
        values = self.hypermodel.sample(trial.hyperparameters)
        data = self.hypermodel.build(trial.hyperparameters)
        scores = [self._execute(trial, values, data, e) for e in range(self.executions_per_trial)]
        return float(sum(scores) / len(scores))

    def _execute(self, trial, values: dict[str, Any], data: dict[str, Any], execution: int) -> float:
        from kerasnets.train.loop import run

        objective = self.sweep.file.objective
        tags = self._tags(trial, execution)
        existing = self.records.find_child(trial.trial_id, execution)
        if existing is not None and existing.info.status == "FINISHED":  # finished, not yet recorded
            score = self.records.best_objective_of(existing, objective.name, objective.mode)
            if score is not None:
                self.records.log_outcome(existing.info.run_id, values, score)
                return score
        if existing is not None and existing.info.status == "FAILED":
            raise kt.errors.FailedTrialError(existing.data.tags.get("failure", "the trial's run failed"))
        resume_id = None
        if existing is not None:  # interrupted: continue it from its last whole epoch
            if existing.data.params:
                resume_id = existing.info.run_id
            else:
                self.records.discard(existing)
        try:
            recipe = validate(
                self._execution_data(data, execution), f"{self.sweep.path} trial {trial.trial_id}"
            )
            result = run(
                recipe,
                data_dir=self.data_dir,
                recipe_path=str(self.sweep.recipe_path),
                echo=lambda line: self.echo(f"    {escape(str(line))}"),
                splits=self._data(recipe),
                parent_run_id=self.records.parent_run_id,
                tags=tags,
                resume_run_id=resume_id,
            )
            score = objective_value(result, objective.name, objective.mode)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - diverged, out of memory, bad combination...: next trial
            reason = f"{type(exc).__name__}: {exc}".strip()
            self.records.record_failure(trial.trial_id, execution, tags, values, reason)
            raise kt.errors.FailedTrialError(reason) from exc
        self.records.log_outcome(result.run_id, values, score)
        return score

    @staticmethod
    def _execution_data(data: dict[str, Any], execution: int) -> dict[str, Any]:
        """Execution i trains with seed + i; Keras's per-epoch lines give way to the progress line
        unless the recipe asks for them."""
        train = dict(data.get("train") or {})
        if train.get("seed", 0) is not None:
            train["seed"] = train.get("seed", 0) + execution
        train.setdefault("verbose", 0)
        if train["verbose"] is None:
            train["verbose"] = 0
        return {**data, "train": train}

    def _tags(self, trial, execution: int) -> dict[str, str]:
        name = f"{self.sweep.name}-trial-{self._number(trial)}"
        if self.executions_per_trial > 1:
            name += f"-{execution}"
        tags = {
            "sweep.name": self.sweep.name,
            "sweep.file": str(self.sweep.path),
            TRIAL_TAG: trial.trial_id,
            EXECUTION_TAG: str(execution),
            "mlflow.runName": name,
        }
        for key, tag in HYPERBAND_KEYS.items():
            if key in trial.hyperparameters.values:
                tags[tag] = str(trial.hyperparameters.values[key])
        return tags

    def _data(self, recipe: Recipe):
        """Load the data once per data section (the batch size does not change the splits)."""
        from kerasnets.data.pipeline import load_splits

        key = json.dumps(recipe.data.model_dump(mode="json", exclude={"batch_size"}), sort_keys=True)
        if self._splits is None or self._splits[0] != key:
            self._splits = (key, load_splits(recipe.data, self.data_dir))
        return self._splits[1]

    # ------------------------------------------------------------------ progress

    def on_trial_begin(self, trial) -> None:
        self._started[trial.trial_id] = time.perf_counter()
        self.echo(f"[bold]trial {self._number(trial)}/{self.oracle.max_trials}[/] {self._shown(trial)}")

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)
        objective = self.sweep.file.objective.name
        seconds = time.perf_counter() - self._started.pop(trial.trial_id, time.perf_counter())
        best = self.oracle.get_best_trials(1)
        best_text = (
            f"best {best[0].score:.4f} (trial {self._number(best[0])})"
            if best and best[0].score is not None
            else "best: none yet"
        )
        status = trial.status
        if status == "COMPLETED":
            score = self.oracle.get_trial(trial.trial_id).score
            outcome = f"[green]{objective} {score:.4f}[/]"
        else:
            reason = (trial.message or "").strip().splitlines()[-1:] or [""]
            outcome = f"[red]{status}[/] {escape(reason[0][:200])}"
        self.echo(
            f"trial {self._number(trial)}/{self.oracle.max_trials} {self._shown(trial)} -> {outcome} | "
            f"{best_text} | {seconds:.1f} s"
        )

    def _number(self, trial) -> int:
        return int(trial.trial_id) + 1

    def _shown(self, trial) -> str:
        values = trial.hyperparameters.values
        parts = [f"{k}={_short(v)}" for k, v in values.items() if not k.startswith("tuner/")]
        if "tuner/epochs" in values:
            parts.append(f"epochs={values['tuner/epochs']}")
        return escape(", ".join(parts))


def make_tuner(
    sweep: Sweep,
    records: SweepRecords,
    folder: Path,
    *,
    max_trials: int | None = None,
    data_dir: str | None = None,
    echo: Callable[[str], None] = print,
) -> SweepTuner:
    """The sweep's tuner with its oracle, its state in ``folder`` (reloaded when there)."""
    logging.getLogger("tensorflow").setLevel(
        logging.ERROR
    )  # retracing notes: one model per trial is the point
    with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner's "Reloading Tuner from ..."
        return SweepTuner(
            sweep,
            make_oracle(sweep, max_trials),
            records,
            directory=str(folder.parent),
            data_dir=data_dir,
            echo=echo,
        )


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
